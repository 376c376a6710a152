import Drivers
import GatewayCore
import Glibc
import HTTP
import Reactor

/// The gateway: runs the object graph `GatewayComponents` builds — listens, opens storage (retrying
/// until it answers), keeps the index in sync, serves the routes, stops gracefully.
@LoopActor
public final class GatewayApp {
    public let config: Configuration
    public let log: Log
    let parts: GatewayComponents
    let startedAt = EventLoop.main.now
    private var signals: [SignalWatcher] = []
    private var shuttingDown = false
    private static let livezBody = JSON.object([("status", .string("ok"))]).serialized()

    public init(config: Configuration, log: Log, env: [String: String]) {
        self.config = config
        self.log = log
        parts = GatewayComponents.build(config: config, log: log, env: env)
    }

    var index: ToolIndex { parts.snapshots.base }

    // MARK: start

    public func start() throws {
        mountRoutes()
        observe()
        parts.bus.redis?.start()
        try parts.server.listen(host: config.host, port: config.port, reusePort: config.reusePort)
        parts.replicas.start(address: "\(config.host.contains(":") ? "[\(config.host)]" : config.host):\(parts.server.boundPort)")
        for sig in [SIGINT, SIGTERM] {
            signals.append(SignalWatcher(signal: sig) { [unowned self] in self.shutdown(signal: sig) })
        }
        signal(SIGPIPE, SIG_IGN)
        log(.info, "listening", [("url", config.listenURL), ("storage", parts.store.kind),
                                 ("redis", config.redis == nil ? "disabled" : "\(config.redis!.host):\(config.redis!.port)")])
        printBanner()
        spawn { await self.openStorage() }
    }

    /// Metrics for every answered request, and the access log line.
    private func observe() {
        let metrics = parts.metrics
        let log = self.log
        let server = parts.server
        server.observer = { context, status in
            let seconds = EventLoop.clock() - context.startedAt
            metrics.httpRequests.inc(context.route, context.method, status)
            metrics.httpDuration.observe(seconds, label: context.route)
            if log.enabled(.info) {
                log(.info, "request", [("method", context.method), ("path", context.path), ("route", context.route),
                                       ("status", String(status)), ("ms", String(Double(Int(seconds * 1_000_000)) / 1000)),
                                       ("request_id", context.requestTag), ("conn", String(context.connectionID))])
            }
        }
        server.rejectionObserver = { status, reason, tag, connection in
            metrics.httpRequests.inc("rejected", "-", status)
            log(.info, "request", [("status", String(status)), ("route", "rejected"), ("reason", reason),
                                   ("request_id", tag), ("conn", String(connection))])
        }
        let m = metrics.registry
        m.gauge("mcp_gateway_registry_version", "The tool index's registry version on this replica.") { [unowned self] in Double(self.index.version) }
        m.gauge("mcp_gateway_services", "Services in the tool index.") { [unowned self] in Double(self.index.serviceCount) }
        m.gauge("mcp_gateway_tools", "Tools in the tool index.") { [unowned self] in Double(self.index.toolCount) }
        m.counter("mcp_gateway_index_reloads_total", "Full index reloads since start.") { [unowned self] in Double(self.parts.sync.reloads) }
        m.counter("mcp_gateway_index_deltas_total", "Index deltas (one service patched) since start.") { [unowned self] in Double(self.parts.sync.deltas) }
        m.gauge("mcp_gateway_storage_up", "1 when storage answers.") { [unowned self] in self.parts.storage.ready && self.parts.store.isHealthy ? 1 : 0 }
        m.gauge("mcp_gateway_redis_up", "1 when the Redis command connection is up (absent Redis: 0).") { [unowned self] in self.parts.bus.redis?.isReady == true ? 1 : 0 }
        m.gauge("mcp_gateway_redis_subscriber_up", "1 when the Redis subscriber connection is up.") { [unowned self] in self.parts.bus.subscriber?.isReady == true ? 1 : 0 }
        m.gauge("mcp_gateway_open_connections", "Open client connections.") { [unowned self] in Double(self.parts.server.connectionCount) }
        m.gauge("mcp_gateway_downstreams", "Downstream services by health state, as this replica sees them.", labels: ["state"]) { [unowned self] in
            let counts = self.parts.downstreams.monitor.counts()
            return DownstreamHealth.State.allCases.map { ([$0.rawValue], Double(counts[$0] ?? 0)) }
        }
        m.gauge("mcp_gateway_sse_listeners", "Open list_changed listener streams.") { [unowned self] in Double(self.parts.mcp.hub.count) }
        parts.router.add("GET", "/metrics") { _, context in
            context.send(HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
                                      body: Array(m.render().utf8)))
        }
    }

    /// What a person starting the gateway needs, once: where it listens, where data lives, the
    /// admin key when it was generated, and a command to try.
    private func printBanner() {
        var lines = ["mcp-gateway listening on \(config.listenURL)  (MCP endpoint: \(config.listenURL)/mcp)"]
        if case .sqlite(let path) = config.storage {
            lines.append("storage: embedded SQLite at \(path) (set DB_HOST or DATABASE_URL for PostgreSQL)")
        }
        if config.apiKey == nil {
            lines.append("admin API key (generated for this run; set API_KEY to keep one): \(parts.apiKey)")
        }
        let key = config.apiKey == nil ? parts.apiKey : "$API_KEY"
        lines.append("register a server:")
        lines.append("  curl -X POST \(config.listenURL)/register -H 'Content-Type: application/json' -H \"X-API-Key: \(key)\" -d '{\"name\":\"my-server\",\"url\":\"http://127.0.0.1:8000/mcp\"}'")
        Console.out(lines.joined(separator: "\n"))
    }

    /// Applies pending migrations, then keeps the index in sync; retries until storage answers.
    private func openStorage() async {
        var delay = 0.2
        while !shuttingDown {
            do {
                let applied = try await parts.store.migrate()
                if !applied.isEmpty { log(.info, "migrations applied", [("names", applied.joined(separator: ","))]) }
                parts.storage.ready = true
                parts.storage.failing = false
                startSync()
                return
            } catch {
                if !parts.storage.failing { log(.warn, "storage not ready, retrying", [("error", error.description)]) }
                parts.storage.failing = true
            }
            await sleep(seconds: delay)
            delay = min(delay * 2, 2)
        }
    }

    /// A first full reload, change events from the other replicas, the fence.
    private func startSync() {
        let sync = parts.sync
        let replicas = parts.replicas
        sync.start()
        if let r = config.redis {
            parts.bus.listen(settings: r, .init(
                registryEvent: { payload in sync.apply(event: payload) },
                sessionRevoked: { [unowned self] id in self.parts.mcp.revoke(id: id) },
                callCancelled: { [unowned self] key in
                    self.parts.mcp.relay.cancel(key: key, reason: "cancelled by the client (via another replica)")
                },
                healthChanged: { [unowned self] report in self.parts.downstreams.monitor.peers.record(report) },
                subscriptionChanged: { [unowned self] session, uri, on in self.parts.mcp.hub.setSubscribed(session: session, uri: uri, on) },
                heartbeat: { payload in replicas.received(payload) },
                reconnected: {
                    sync.check()
                    replicas.beat()
                }))
        }
    }

    // MARK: routes

    private func mountRoutes() {
        let router = parts.router
        router.add("GET", "/livez") { _, context in
            context.send(.json(200, bytes: GatewayApp.livezBody))
        }
        router.add("GET", "/health") { [unowned self] _, context in
            context.send(.json(200, self.healthReport()))
        }
        for path in ["/mcp", "/mcp/:view"] {
            router.add("OPTIONS", path) { [unowned self] request, context in
                context.send(self.preflight(request))
            }
        }
        parts.admin.mount(on: router)
        ConsoleAssets.mount(on: router)
        parts.mcp.mount(on: router)
        if config.testRoutes { TestRoutes.mount(on: router) }
    }

    func healthReport() -> JSON {
        let storageState = !parts.storage.ready ? "starting" : parts.store.isHealthy ? "up" : "down"
        var storage: [(String, JSON)] = [("kind", .string(parts.store.kind)), ("state", .string(storageState))]
        // Why storage is not ready, in stable words (the driver's own are in the log).
        if parts.storage.failing, !parts.storage.ready { storage.append(("error", .string("storage is not reachable yet; retrying"))) }
        let counts = parts.downstreams.monitor.counts()
        return .object([
            ("status", .string(storageState == "up" ? "ok" : "degraded")),
            ("storage", .object(storage)),
            ("redis", .object([("state", .string(parts.bus.state))])),
            ("registryVersion", .number(String(index.version))),
            ("storedVersion", .number(String(max(parts.sync.storedVersion, index.version)))),
            ("services", .int(index.serviceCount)),
            ("tools", .int(index.toolCount)),
            ("downstreams", .object(DownstreamHealth.State.allCases.map { ($0.rawValue, .int(counts[$0] ?? 0)) })),
            ("connections", .int(parts.server.connectionCount)),
            ("listeners", .int(parts.mcp.hub.count)),
            ("uptimeSeconds", .double((EventLoop.main.now - startedAt).rounded())),
        ])
    }

    func preflight(_ request: HTTPRequest) -> HTTPResponse {
        var headers: [(name: String, value: String)] = [
            ("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS"),
            ("Access-Control-Allow-Headers", "Content-Type, Accept, Authorization, Mcp-Session-Id, Mcp-Protocol-Version, Mcp-Method, Mcp-Name, Last-Event-ID"),
            ("Access-Control-Expose-Headers", "Mcp-Session-Id, Mcp-Protocol-Version, WWW-Authenticate"),
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

    // MARK: stop

    func shutdown(signal: Int32) {
        guard !shuttingDown else { return }
        shuttingDown = true
        log(.info, "shutting down", [("signal", signal == SIGINT ? "SIGINT" : "SIGTERM"),
                                     ("connections", String(parts.server.connectionCount))])
        parts.server.shutdown(timeout: config.shutdownTimeout) { [unowned self] in
            spawn {
                await self.parts.replicas.leave(within: 0.5)  // before the bus closes its connections
                self.log(.info, "stopped")
                self.signals.removeAll()
                self.parts.downstreams.stopWatching()
                self.parts.bus.stop()
                EventLoop.main.stop()
            }
        }
    }

    // MARK: migrate command

    /// `mcp-gateway migrate`: apply pending migrations and report them.
    public static func migrate(config: Configuration, log: Log, env: [String: String]) async -> Int32 {
        let store = GatewayComponents.makeStore(config: config, env: env, metrics: GatewayMetrics(), log: log)
        do {
            let applied = try await store.migrate()
            Console.out(applied.isEmpty ? "migrations: up to date" : "migrations applied: \(applied.joined(separator: ", "))")
            return 0
        } catch {
            Console.error("mcp-gateway: migrate failed: \(error.description)")
            return 1
        }
    }
}
