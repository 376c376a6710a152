@testable import Gateway
import GatewayCore
import HTTP
import LoopTesting
import Reactor
import Testing

/// Resource subscriptions in the hub: who wants which URI, and who gets an update.
@Suite struct ListenerHubTests {
    @LoopActor static func stream(_ sink: RecordingSink) -> ResponseStream {
        sink.context(for: HTTPRequest(method: "GET", target: "/mcp", headers: [])).startStream(headers: [])
    }

    @Test func updatesGoToSubscribedSessionsAndListensOnly() async {
        await onLoop {
            let hub = ListenerHub(keepAliveInterval: 3600)
            var changes = 0
            hub.onResourcesChanged = { changes += 1 }
            let a = RecordingSink(), b = RecordingSink(), c = RecordingSink()
            hub.add(Self.stream(a), session: "sa", subscriptionID: nil)
            hub.add(Self.stream(b), session: "sb", subscriptionID: nil)
            hub.add(Self.stream(c), session: nil, subscriptionID: .int(7), wants: [], resources: ["x://s/1"])
            hub.setSubscribed(session: "sa", uri: "x://s/1", true)
            hub.setSubscribed(session: "sz", uri: "x://s/2", true)  // a session with no stream here
            #expect(hub.wantedResources == ["x://s/1"], "only URIs of listeners on this replica are wanted")
            hub.notifyResourceUpdated("x://s/1")
            #expect(a.streamText.contains(#""method":"notifications/resources/updated","params":{"uri":"x://s/1"}"#))
            #expect(!b.streamText.contains("resources/updated"))
            #expect(c.streamText.contains(#""io.modelcontextprotocol/subscriptionId":7"#))
            hub.setSubscribed(session: "sa", uri: "x://s/1", false)
            let before = a.streamText
            hub.notifyResourceUpdated("x://s/1")
            #expect(a.streamText == before, "an unsubscribed session got an update")
            hub.endSession("sz")
            #expect(hub.sessionResources["sz"] == nil)
            c.disconnect()
            #expect(hub.wantedResources.isEmpty)
            #expect(changes >= 4)
        }
    }
}
