import Drivers
@testable import Gateway
import GatewayCore
import LoopTesting
import Reactor
import Testing

/// The notification stream the gateway holds to each downstream, on the real loop against a
/// scripted downstream: list changes are reported, the stream is a 2026-07-28 listen, it is
/// reopened after it ends, and `stop` ends it for good and frees the watch.
@Suite struct DownstreamWatchTests {
    static let sseHead = IncomingHead(status: 200, headers: [("content-type", "text/event-stream")])
    static func event(_ json: String) -> [UInt8] { Array("event: message\ndata: \(json)\n\n".utf8) }

    @Test func listChangesAreReportedAndStopEndsTheStream() async {
        await onLoop {
            let transport = ScriptedTransport { _ in nil }
            var reported: [String] = []
            var watch: DownstreamWatch? = DownstreamWatch(
                service: "svc", url: "http://downstream.test/mcp", transport: transport, connectTimeout: 1,
                log: Log(level: "error", format: .text), onListChanged: { service, method in reported.append("\(service) \(method)") })
            watch!.start()
            #expect(await eventually { transport.heldCount == 1 })
            let request = transport.heldRequests[0]
            #expect(request.headers.contains { $0.name == "Mcp-Method" && $0.value == "subscriptions/listen" })
            let body = try? JSONParser.parse(request.body)
            #expect(body?["params"]?["notifications"]?["toolsListChanged"] == .bool(true))
            #expect(body?["params"]?["_meta"]?["io.modelcontextprotocol/protocolVersion"] == .string("2026-07-28"))

            transport.stream(Self.event(#"{"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged","params":{}}"#), head: Self.sseHead)
            transport.stream(Self.event(#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#), head: Self.sseHead)
            transport.stream(Self.event(#"{"jsonrpc":"2.0","method":"notifications/message","params":{}}"#), head: Self.sseHead)
            transport.stream(Self.event(#"{"jsonrpc":"2.0","method":"notifications/prompts/list_changed"}"#), head: Self.sseHead)
            #expect(reported == ["svc notifications/tools/list_changed", "svc notifications/prompts/list_changed"])

            let weakWatch = WeakBox(watch!)
            watch!.stop()
            #expect(await eventually { transport.heldCount == 0 }, "stop did not cancel the stream")
            watch = nil
            #expect(await eventually { weakWatch.isGone }, "the watch outlived its stop")
        }
    }

    @Test func anEndedStreamIsReopened() async {
        await onLoop {
            let transport = ScriptedTransport { _ in nil }
            let watch = DownstreamWatch(service: "svc", url: "http://downstream.test/mcp", transport: transport, connectTimeout: 1,
                                        log: Log(level: "error", format: .text), onListChanged: { _, _ in })
            watch.start()
            #expect(await eventually { transport.heldCount == 1 })
            transport.stream(Self.event(#"{"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged","params":{}}"#), head: Self.sseHead)
            #expect(transport.complete(with: ScriptedTransport.Reply(status: 200, headers: [("content-type", "text/event-stream")])))
            #expect(await eventually(timeout: 5) { transport.heldCount == 1 }, "not reopened after the backoff")
            #expect(transport.requests.count == 2)
            watch.stop()
            #expect(await eventually { transport.heldCount == 0 })
        }
    }

    @Test func aNewSetOfResourcesReopensTheStreamAskingForThem() async {
        await onLoop {
            let transport = ScriptedTransport { _ in nil }
            var updated: [String] = []
            let watch = DownstreamWatch(service: "svc", url: "http://downstream.test/mcp", transport: transport, connectTimeout: 1,
                                        log: Log(level: "error", format: .text), onListChanged: { _, _ in })
            watch.onResourceUpdated = { service, uri in updated.append("\(service) \(uri)") }
            watch.setResources(["config://app"])  // before start: only remembered
            watch.start()
            #expect(await eventually { transport.heldCount == 1 })
            func asked(_ r: OutgoingRequest) -> [String] {
                (try? JSONParser.parse(r.body))?["params"]?["notifications"]?["resourceSubscriptions"]?.arrayValue?.compactMap(\.stringValue) ?? []
            }
            #expect(asked(transport.heldRequests[0]) == ["config://app"])
            watch.setResources(["config://app", "file:///x"])
            #expect(await eventually { transport.requests.count == 2 && transport.heldCount == 1 }, "not reopened at once")
            #expect(asked(transport.heldRequests[0]) == ["config://app", "file:///x"])
            transport.stream(Self.event(#"{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"file:///x"}}"#), head: Self.sseHead)
            #expect(updated == ["svc file:///x"])
            watch.setResources(["config://app", "file:///x"])  // the same set: nothing happens
            await sleep(seconds: 0.05)
            #expect(transport.requests.count == 2)
            watch.stop()
            #expect(await eventually { transport.heldCount == 0 })
        }
    }

    @Test func aDownstreamWithoutListenIsWatchedOnItsSessionsGetStream() async {
        await onLoop {
            let transport = ScriptedTransport { request in
                if request.method == "GET" { return nil }  // the GET stream: held open
                guard let body = try? JSONParser.parse(request.body), let method = body["method"]?.stringValue else { return .accepted }
                guard let id = body["id"] else { return .accepted }
                switch method {
                case "subscriptions/listen": return ScriptedTransport.Reply(status: 400)
                case "initialize":
                    return .json(#"{"jsonrpc":"2.0","id":\#(id.text),"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"d","version":"1"}}}"#,
                                 headers: [("mcp-session-id", "sess-1")])
                default: return .json(#"{"jsonrpc":"2.0","id":\#(id.text),"result":{}}"#)
                }
            }
            let session = DownstreamSession(url: "http://downstream.test/mcp", timeout: 5, connectTimeout: 1, transport: transport)
            var reported: [String] = []
            let watch = DownstreamWatch(service: "svc", url: "http://downstream.test/mcp", transport: transport, connectTimeout: 1,
                                        log: Log(level: "error", format: .text), onListChanged: { _, method in reported.append(method) })
            watch.session = { session }
            watch.start()
            #expect(await eventually { transport.heldCount == 1 }, "no GET stream after the listen was refused")
            #expect(watch.mode == .handshake)
            let get = transport.heldRequests[0]
            #expect(get.method == "GET" && get.headers.contains { $0.name == "Mcp-Session-Id" && $0.value == "sess-1" })
            transport.stream(Self.event(#"{"jsonrpc":"2.0","method":"notifications/resources/list_changed"}"#), head: Self.sseHead)
            #expect(reported == ["notifications/resources/list_changed"])
            watch.setResources(["config://app"])
            @LoopActor func sent(_ method: String) -> [String] {
                transport.requests.compactMap { try? JSONParser.parse($0.body) }.filter { $0["method"]?.stringValue == method }
                    .compactMap { $0["params"]?["uri"]?.stringValue }
            }
            #expect(await eventually { sent("resources/subscribe") == ["config://app"] })
            watch.setResources([])
            #expect(await eventually { sent("resources/unsubscribe") == ["config://app"] })
            #expect(transport.heldCount == 1, "a subscription change reopened the GET stream")
            watch.stop()
            #expect(await eventually { transport.heldCount == 0 })
        }
    }
}
