import GatewayCore
import HTTP
import Reactor

/// Routes that exercise the HTTP server in end-to-end tests (large bodies, slow handlers, streams).
/// Mounted only with GATEWAY_TEST_ROUTES=1.
@LoopActor
enum TestRoutes {
    static func mount(on router: Router) {
        router.add("GET", "/_test/bytes/:n") { request, context in
            guard let n = Int(request.parameters["n"] ?? ""), n >= 0, n <= 1 << 30 else {
                context.send(.error(400, code: "bad_request", message: "n must be a byte count")); return
            }
            context.send(HTTPResponse(status: 200, headers: [("Content-Type", "application/octet-stream")],
                                      body: [UInt8](repeating: UInt8(ascii: "x"), count: n)))
        }
        router.add("POST", "/_test/echo") { request, context in
            context.send(HTTPResponse(status: 200, headers: [("Content-Type", "application/octet-stream")], body: request.body))
        }
        router.add("GET", "/_test/sleep/:ms") { request, context in
            guard let ms = Int(request.parameters["ms"] ?? ""), ms >= 0, ms <= 600_000 else {
                context.send(.error(400, code: "bad_request", message: "ms must be milliseconds")); return
            }
            spawn {
                await sleep(seconds: Double(ms) / 1000)
                context.send(.json(200, .object([("slept", .int(ms))])))
            }
        }
        router.add("GET", "/_test/sse/:count") { request, context in
            guard let count = Int(request.parameters["count"] ?? ""), count >= 0 else {
                context.send(.error(400, code: "bad_request", message: "count must be a number")); return
            }
            let stream = context.startStream(headers: SSE.headers)
            spawn {
                for i in 0..<count {
                    guard stream.isOpen else { return }
                    stream.write(Array("data: \(i)\n\n".utf8))
                    await sleep(seconds: 0.01)
                }
                stream.end()
            }
        }
    }
}
