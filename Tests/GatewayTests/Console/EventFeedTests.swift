@testable import Gateway
import GatewayCore
import HTTP
import LoopTesting
import Reactor
import Testing

/// The operator's event stream without sockets: what each stream gets, each version once, the
/// stream cap, and that a stream the client left is forgotten (not kept alive by the feed).
@Suite struct EventFeedTests {
    @LoopActor static func open(_ feed: EventFeed, _ sink: RecordingSink) -> ResponseContext {
        let context = sink.context(for: HTTPRequest(method: "GET", target: "/events", headers: []))
        feed.open(context, hello: .object([("replica", .string("r1")), ("version", .int(5))]))
        return context
    }

    @Test func eachChangeOnceToEveryStream() async {
        await onLoop {
            let feed = EventFeed(keepAliveInterval: 3600)
            let a = RecordingSink(), b = RecordingSink()
            _ = Self.open(feed, a)
            _ = Self.open(feed, b)
            #expect(a.streamStatus == 200 && a.streamHeaders.contains { $0.name == "Content-Type" && $0.value == "text/event-stream" })
            feed.registryChange(version: 7, previous: 5, action: "register", service: "svc")
            feed.registryChange(version: 7, previous: 5, action: "register", service: "svc")  // its echo from Redis
            feed.registryChange(version: 9, previous: nil, action: "resync", service: nil)
            feed.healthChange(service: "svc", from: "healthy", to: "down")
            for sink in [a, b] {
                let text = sink.streamText
                #expect(text.hasPrefix("event: hello\ndata: {\"replica\":\"r1\",\"version\":5}\n\n"))
                #expect(text.components("event: registry\ndata: {\"version\":7,\"previous\":5,\"action\":\"register\",\"service\":\"svc\"}\n\n") == 1)
                #expect(text.contains("event: registry\ndata: {\"version\":9,\"previous\":null,\"action\":\"resync\",\"service\":null}\n\n"))
                #expect(text.contains("event: health\ndata: {\"service\":\"svc\",\"from\":\"healthy\",\"to\":\"down\",\"at\":\""))
            }
        }
    }

    @Test func aStreamTheClientLeftIsForgotten() async {
        await onLoop {
            let feed = EventFeed(keepAliveInterval: 3600)
            let sink = RecordingSink()
            weak var context = Self.open(feed, sink)
            #expect(feed.count == 1)
            sink.disconnect()
            #expect(feed.count == 0)
            #expect(context == nil, "the feed kept the request's context alive")
            feed.registryChange(version: 1, previous: 0, action: "register", service: "svc")  // nobody listening: no write
        }
    }

    @Test func streamsBeyondTheCapAreRefused() async {
        await onLoop {
            let feed = EventFeed(keepAliveInterval: 3600)
            let sinks = (0..<EventFeed.maxStreams).map { _ in RecordingSink() }
            for s in sinks { _ = Self.open(feed, s) }
            let extra = RecordingSink()
            _ = Self.open(feed, extra)
            #expect(extra.responses.map(\.status) == [503])
            #expect(feed.count == EventFeed.maxStreams)
        }
    }
}

extension String {
    fileprivate func components(_ needle: String) -> Int {
        var count = 0
        var rest = self[...]
        while let r = rest.firstRange(of: needle) {
            count += 1
            rest = rest[r.upperBound...]
        }
        return count
    }
}
