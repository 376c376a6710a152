@testable import Drivers
import GatewayCore
import HTTP
import LoopTesting
import Reactor
import Testing

/// The reactor's HTTP client against the gateway's own HTTP server on loopback: keep-alive reuse,
/// streamed bodies, a server that closes idle connections, timeouts, cancellation, refused
/// connections, URLs it cannot take. (https: `ReactorHTTPSClientTests`.)
@Suite struct ReactorHTTPClientTests {
    /// One server for the whole test process (a server lives as long as the process: its
    /// before-sleep hook refers to it). Tests route by path.
    @LoopActor static var servers: [Double: HTTPServer] = [:]
    @LoopActor static var routes: [String: @LoopActor (HTTPRequest, ResponseContext) -> Void] = [:]

    /// A server whose idle connections close after `idleTimeout` seconds.
    @LoopActor static func base(idleTimeout: Double = 60) throws -> String {
        if servers[idleTimeout] == nil {
            var limits = HTTPLimits()
            limits.idleTimeout = idleTimeout
            let s = HTTPServer(limits: limits, logger: { _, _ in }) { request, context in
                if let route = routes[request.path] { route(request, context) } else { context.send(HTTPResponse(status: 404)) }
            }
            try s.listen(host: "127.0.0.1", port: 0)
            servers[idleTimeout] = s
        }
        return "http://127.0.0.1:\(servers[idleTimeout]!.boundPort)"
    }

    @LoopActor static func request(_ url: String, body: String = "", timeout: Double = 5) -> OutgoingRequest {
        var r = OutgoingRequest(url: url, timeout: timeout, connectTimeout: 1)
        r.body = Array(body.utf8)
        r.headers = [("Content-Type", "application/json")]
        return r
    }

    @Test func postsAndReusesOneConnection() async throws {
        try await onLoop {
            let base = try Self.base()
            Self.routes["/echo"] = { request, context in
                context.send(HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: request.body))
            }
            let client = ReactorHTTPClient()
            for i in 0..<10 {
                let response = try await client.perform(Self.request(base + "/echo", body: #"{"n":\#(i)}"#))
                #expect(response.head.status == 200)
                #expect(response.head.header("content-type") == "application/json")
                #expect(String(decoding: response.body, as: UTF8.self) == #"{"n":\#(i)}"#)
            }
            #expect(client.connectionsOpened == 1, "kept alive")
            #expect(client.idleConnectionCount == 1)
            #expect(client.inFlightCount == 0)
        }
    }

    /// `path` answers a chunked event stream: `data: 0` to `data: 4`, 5 ms apart.
    @LoopActor static func serveStream(at path: String) {
        routes[path] = { _, context in
            let stream = context.startStream(headers: [("Content-Type", "text/event-stream")])
            spawn {
                for i in 0..<5 {
                    stream.write(Array("data: \(i)\n\n".utf8))
                    await sleep(seconds: 0.005)
                }
                stream.end()
            }
        }
    }

    @Test func streamsAChunkedBodyAsItArrives() async throws {
        try await onLoop {
            let base = try Self.base()
            Self.serveStream(at: "/stream")
            let client = ReactorHTTPClient()
            var chunks: [String] = []
            var head: IncomingHead?
            let response = try await client.perform(Self.request(base + "/stream"), onHead: { head = $0 },
                                                    onData: { chunks.append(String(decoding: $0, as: UTF8.self)) }, handle: nil)
            #expect(head?.header("content-type") == "text/event-stream")
            #expect(response.body.isEmpty)
            #expect(chunks.joined() == (0..<5).map { "data: \($0)\n\n" }.joined())
            #expect(chunks.count >= 2, "delivered as it arrived, not at the end")
            // The connection is reusable after a chunked body.
            let again = try await client.perform(Self.request(base + "/stream"))
            #expect(String(decoding: again.body, as: UTF8.self).hasPrefix("data: 0"))
            #expect(client.connectionsOpened == 1)
        }
    }

    @Test func aConnectionTheServerClosedWhileIdleIsReplacedTransparently() async throws {
        try await onLoop {
            let base = try Self.base(idleTimeout: 0.3)
            Self.routes["/ok"] = { _, context in context.send(.json(200, .object([("ok", .bool(true))]))) }
            let client = ReactorHTTPClient()
            _ = try await client.perform(Self.request(base + "/ok"))
            await sleep(seconds: 0.6)  // the server's idle timeout (0.3 s) closes it
            let response = try await client.perform(Self.request(base + "/ok"))
            #expect(response.head.status == 200)
            #expect(client.connectionsOpened == 2)
        }
    }

    @Test func aSlowAnswerTimesOutAndFreesTheExchange() async throws {
        let outcome = try await onLoop { () -> String in
            let base = try Self.base()
            Self.routes["/never"] = { _, _ in }
            Self.routes["/ok"] = { _, context in context.send(.json(200, .object([("ok", .bool(true))]))) }
            let client = ReactorHTTPClient()
            _ = try await client.perform(Self.request(base + "/ok"))  // connected: what follows is the response timeout
            let started = EventLoop.clock()
            do {
                _ = try await client.perform(Self.request(base + "/never", timeout: 0.1))
                return "answered"
            } catch TransferError.timeout {
                let elapsed = EventLoop.clock() - started
                #expect(elapsed < 2)
                #expect(client.inFlightCount == 0)
                #expect(client.idleConnectionCount == 0, "a timed-out connection is not reused")
                return "timeout"
            }
        }
        #expect(outcome == "timeout")
    }

    @Test func aCancelledExchangeFailsAtOnce() async throws {
        let outcome = try await onLoop { () -> String in
            let base = try Self.base()
            Self.routes["/hang"] = { _, _ in }
            let client = ReactorHTTPClient()
            var handle: TransferHandle?
            spawn { await sleep(seconds: 0.05); handle?.cancel() }
            do {
                _ = try await client.perform(Self.request(base + "/hang"), onHead: nil, onData: nil, handle: { handle = $0 })
                return "answered"
            } catch TransferError.cancelled {
                return "cancelled"
            }
        }
        #expect(outcome == "cancelled")
    }

    @Test func aRefusedConnectionIsAConnectError() async throws {
        let outcome = await onLoop { () -> String in
            let client = ReactorHTTPClient()
            do {
                _ = try await client.perform(Self.request("http://127.0.0.1:1/mcp"))
                return "answered"
            } catch TransferError.connect(let message) {
                return message.isEmpty ? "empty" : "connect"
            } catch {
                return "\(error)"
            }
        }
        #expect(outcome == "connect")
    }

    @Test func aURLItCannotTakeIsAConnectError() async {
        let outcome = await onLoop { () -> String in
            let client = ReactorHTTPClient()
            do {
                _ = try await client.perform(Self.request("ftp://127.0.0.1/mcp"))
                return "answered"
            } catch TransferError.connect(let message) {
                return message
            } catch {
                return "\(error)"
            }
        }
        #expect(outcome.hasPrefix("unsupported URL"))
    }

    @Test func encodesTheRequestLineHostAndLength() async {
        let text = await onLoop { () -> String in
            var r = OutgoingRequest(url: "http://[::1]:9000/mcp?x=1", timeout: 1, connectTimeout: 1)
            r.body = Array("{}".utf8)
            r.headers = [("Accept", "application/json")]
            let (origin, target) = HTTPOrigin.parse(r.url)!
            return String(decoding: ReactorHTTPClient.encode(r, origin: origin, target: target), as: UTF8.self)
        }
        #expect(text == "POST /mcp?x=1 HTTP/1.1\r\nHost: [::1]:9000\r\nAccept: application/json\r\nContent-Length: 2\r\n\r\n{}")
    }
}
