import GatewayCore
import Glibc
import HTTP
import Reactor

/// The gateway: routes, the HTTP server, and (as they come up) storage, Redis and the tool index.
@LoopActor
public final class GatewayApp {
    public let config: Configuration
    public let log: Log
    let router = Router()
    var server: HTTPServer!
    public let startedAt = EventLoop.main.now
    private var signals: [SignalWatcher] = []
    private static let livezBody = JSON.object([("status", .string("ok"))]).serialized()

    public init(config: Configuration, log: Log) {
        self.config = config
        self.log = log
    }

    public func start() throws {
        var limits = HTTPLimits()
        limits.maxBodyBytes = config.maxBodyBytes
        limits.maxHeaderBytes = config.maxHeaderBytes
        limits.requestTimeout = config.requestTimeout
        limits.idleTimeout = config.idleTimeout
        limits.maxConnections = config.maxConnections
        let log = self.log
        let router = self.router
        server = HTTPServer(limits: limits, logger: { level, message in log(level, message) }) { request, context in
            router.route(request, context)
        }
        mountRoutes()
        try server.listen(host: config.host, port: config.port, reusePort: config.reusePort)
        for sig in [SIGINT, SIGTERM] {
            signals.append(SignalWatcher(signal: sig) { [unowned self] in self.shutdown(signal: sig) })
        }
        signal(SIGPIPE, SIG_IGN)
        log(.info, "listening", [("url", config.listenURL)])
    }

    private func mountRoutes() {
        router.add("GET", "/livez") { _, context in
            context.send(.json(200, bytes: GatewayApp.livezBody))
        }
        router.add("GET", "/health") { [unowned self] _, context in
            context.send(.json(200, self.healthReport()))
        }
        router.add("OPTIONS", "/mcp") { [unowned self] request, context in
            context.send(self.preflight(request))
        }
        if config.testRoutes { TestRoutes.mount(on: router) }
    }

    func healthReport() -> JSON {
        .object([
            ("status", .string("ok")),
            ("uptimeSeconds", .double((EventLoop.main.now - startedAt).rounded())),
            ("connections", .int(server.connectionCount)),
        ])
    }

    func preflight(_ request: HTTPRequest) -> HTTPResponse {
        var headers: [(name: String, value: String)] = [
            ("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS"),
            ("Access-Control-Allow-Headers", "Content-Type, Accept, Authorization, Mcp-Session-Id, Mcp-Protocol-Version, Mcp-Method, Mcp-Name, Last-Event-ID"),
            ("Access-Control-Expose-Headers", "Mcp-Session-Id, Mcp-Protocol-Version"),
            ("Access-Control-Max-Age", "86400"),
            ("Vary", "Origin"),
        ]
        if let origin = request.header("origin") {
            guard OriginPolicy(allowed: config.allowedOrigins).allows(origin) else {
                return .error(403, code: "forbidden_origin", message: "origin not allowed")
            }
            headers.append(("Access-Control-Allow-Origin", origin))
        } else {
            headers.append(("Access-Control-Allow-Origin", "*"))
        }
        return HTTPResponse(status: 204, headers: headers)
    }

    private var shuttingDown = false

    func shutdown(signal: Int32) {
        guard !shuttingDown else { return }
        shuttingDown = true
        log(.info, "shutting down", [("signal", signal == SIGINT ? "SIGINT" : "SIGTERM"),
                                     ("connections", String(server.connectionCount))])
        server.shutdown(timeout: config.shutdownTimeout) { [unowned self] in
            self.log(.info, "stopped")
            self.signals.removeAll()
            EventLoop.main.stop()
        }
    }
}
