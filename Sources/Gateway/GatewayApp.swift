import Drivers
import GatewayCore
import Glibc
import HTTP
import Reactor

/// The gateway: routes, the HTTP server, storage, the Redis signal and the tool index.
@LoopActor
public final class GatewayApp {
    public let config: Configuration
    public let log: Log
    let env: [String: String]
    let router = Router()
    var server: HTTPServer!
    let startedAt = EventLoop.main.now
    private var signals: [SignalWatcher] = []
    private static let livezBody = JSON.object([("status", .string("ok"))]).serialized()

    var store: (any RegistryStore)?
    var registry: Registry?
    var redis: RedisClient?
    var sync: IndexSync?
    var bus: ReplicaBus!
    /// The current snapshot; swapped whole on reload.
    var index = ToolIndex.empty
    var storageReady = false
    var storageError: String?
    var apiKey = ""
    var admin: AdminAPI?
    var mcp: MCPEndpoint!
    var downstreams: DownstreamPool!
    /// Recent snapshots, so a tools/list cursor stays valid across a reload.
    var recent: [ToolIndex] = []
    let metrics = GatewayMetrics()

    public init(config: Configuration, log: Log, env: [String: String]) {
        self.config = config
        self.log = log
        self.env = env
    }

    // MARK: start

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
        apiKey = config.apiKey ?? Self.generateKey()
        setUpStorage()
        setUpMCP()
        mountRoutes()
        observe()
        try server.listen(host: config.host, port: config.port, reusePort: config.reusePort)
        for sig in [SIGINT, SIGTERM] {
            signals.append(SignalWatcher(signal: sig) { [unowned self] in self.shutdown(signal: sig) })
        }
        signal(SIGPIPE, SIG_IGN)
        log(.info, "listening", [("url", config.listenURL), ("storage", store?.kind ?? "none"),
                                 ("redis", config.redis == nil ? "disabled" : "\(config.redis!.host):\(config.redis!.port)")])
        printBanner()
        spawn { await self.openStorage() }
    }

    /// Metrics for every answered request, and the access log line.
    private func observe() {
        let metrics = self.metrics
        let log = self.log
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
        m.counter("mcp_gateway_index_reloads_total", "Full index reloads since start.") { [unowned self] in Double(self.sync?.reloads ?? 0) }
        m.counter("mcp_gateway_index_deltas_total", "Index deltas (one service patched) since start.") { [unowned self] in Double(self.sync?.deltas ?? 0) }
        m.gauge("mcp_gateway_storage_up", "1 when storage answers.") { [unowned self] in self.storageReady && (self.store?.isHealthy ?? false) ? 1 : 0 }
        m.gauge("mcp_gateway_redis_up", "1 when the Redis command connection is up (absent Redis: 0).") { [unowned self] in self.redis?.isReady == true ? 1 : 0 }
        m.gauge("mcp_gateway_redis_subscriber_up", "1 when the Redis subscriber connection is up.") { [unowned self] in self.bus.subscriber?.isReady == true ? 1 : 0 }
        m.gauge("mcp_gateway_open_connections", "Open client connections.") { [unowned self] in Double(self.server.connectionCount) }
        m.gauge("mcp_gateway_downstreams", "Downstream services by health state, as this replica sees them.", labels: ["state"]) { [unowned self] in
            let counts = self.downstreams.monitor.counts()
            return DownstreamHealth.State.allCases.map { ([$0.rawValue], Double(counts[$0] ?? 0)) }
        }
        m.gauge("mcp_gateway_sse_listeners", "Open list_changed listener streams.") { [unowned self] in Double(self.mcp.hub.count) }
        router.add("GET", "/metrics") { _, context in
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
            lines.append("admin API key (generated for this run; set API_KEY to keep one): \(apiKey)")
        }
        let key = config.apiKey == nil ? apiKey : "$API_KEY"
        lines.append("register a server:")
        lines.append("  curl -X POST \(config.listenURL)/register -H 'Content-Type: application/json' -H \"X-API-Key: \(key)\" -d '{\"name\":\"my-server\",\"url\":\"http://127.0.0.1:8000/mcp\"}'")
        Console.out(lines.joined(separator: "\n"))
    }

    static func generateKey() -> String {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        return "mgw_" + String((0..<32).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
    }

    private func setUpStorage() {
        if let r = config.redis {
            let client = RedisClient(settings: r, name: "commands", log: { [log] level, m in log(level, m) })
            redis = client
        }
        bus = ReplicaBus(redis: redis, log: log)
        switch config.storage {
        case .postgres(let settings):
            let pool = PGPool(settings: settings, size: config.dbPoolSize, connectTimeout: config.dbConnectTimeout,
                              statementTimeout: config.dbStatementTimeout, log: { [log] m in log(.warn, m) })
            store = PostgresRegistryStore(pool: pool, env: env, readers: config.dbPoolSize)
        case .sqlite(let path):
            let sqlite = SQLiteRegistryStore(path: path, env: env)
            let timing = metrics.registry.histogram(
                "mcp_gateway_sqlite_call_seconds", "Time each embedded-SQLite store call took on its worker thread (off the loop).",
                buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1])
            sqlite.onTiming = { timing.observe($0) }
            metrics.registry.gauge("mcp_gateway_sqlite_call_max_seconds", "The longest embedded-SQLite store call so far.") {
                sqlite.longestCall
            }
            store = sqlite
        }
        if let store {
            let registry = Registry(store: store, signal: bus, config: config, log: log)
            registry.onChange = { [unowned self] change, record in await self.sync?.applyLocal(change, record: record) }
            self.registry = registry
        }
        redis?.start()
    }

    private func setUpMCP() {
        let secret = Array((config.sessionSecret ?? Self.generateKey()).utf8)
        let health = DownstreamMonitor.Settings(
            interval: config.healthCheckInterval,
            health: .init(downAfter: config.healthDownAfter, degradedLatency: config.healthDegradedLatency),
            breaker: .init(failureThreshold: config.circuitFailureThreshold, coolDown: config.circuitCoolDown))
        downstreams = DownstreamPool(timeout: config.toolCallTimeout + 5, connectTimeout: config.downstreamConnectTimeout,
                                     health: health, log: log)
        let relay = ToolCallRelay(pool: downstreams, log: log, timeout: config.toolCallTimeout)
        relay.metrics = { [metrics] service, outcome, seconds in metrics.toolCall(service: service, outcome: outcome, seconds: seconds) }
        mcp = MCPEndpoint(config: config, log: log, secret: secret, index: { [unowned self] in self.index },
                          retained: { [unowned self] v in self.recent.first { $0.version == v } }, relay: relay)
        mcp.onRequest = { [metrics] method, modern in metrics.mcp(method: method, modern: modern) }
    }

    /// Swaps in a new snapshot; listeners hear of it when the version moved.
    func install(_ next: ToolIndex) {
        let changed = next.version != index.version
        recent.append(index)
        if recent.count > 4 { recent.removeFirst() }
        index = next
        downstreams.retain(next)
        if changed { mcp.hub.notifyToolsChanged() }
    }

    /// Applies pending migrations and loads the index, retrying until storage answers.
    private func openStorage() async {
        guard let store else { return }
        var delay = 0.2
        while !shuttingDown {
            do {
                let applied = try await store.migrate()
                if !applied.isEmpty { log(.info, "migrations applied", [("names", applied.joined(separator: ","))]) }
                storageReady = true
                storageError = nil
                startSync(store)
                return
            } catch {
                if storageError == nil { log(.warn, "storage not ready, retrying", [("error", error.description)]) }
                storageError = error.description
            }
            await sleep(seconds: delay)
            delay = min(delay * 2, 2)
        }
    }

    /// Starts keeping the index in sync: a first full reload, change events from Redis, the fence.
    private func startSync(_ store: any RegistryStore) {
        let sync = IndexSync(store: store, signal: bus, log: log, pageSize: config.toolsPageSize,
                             interval: config.versionCheckInterval,
                             current: { [unowned self] in self.index }, install: { [unowned self] in self.install($0) })
        self.sync = sync
        sync.onReload = { [metrics] seconds in metrics.reloadDuration.observe(seconds) }
        sync.reload()
        sync.check()
        if let r = config.redis {
            bus.listen(settings: r, .init(
                registryEvent: { payload in sync.apply(event: payload) },
                sessionRevoked: { [unowned self] id in self.mcp.revoke(id: id) },
                callCancelled: { [unowned self] key in
                    self.mcp.relay.cancel(key: key, reason: "cancelled by the client (via another replica)")
                },
                reconnected: { sync.check() }))
            mcp.onRevoke = { [bus] id in bus.announceRevocation(id) }
            mcp.onForeignCancel = { [bus] key in bus.announceCancellation(key) }
        }
    }

    // MARK: routes

    private func mountRoutes() {
        router.add("GET", "/livez") { _, context in
            context.send(.json(200, bytes: GatewayApp.livezBody))
        }
        router.add("GET", "/health") { [unowned self] _, context in
            let report = self.healthReport()
            context.send(.json(200, report))
        }
        router.add("OPTIONS", "/mcp") { [unowned self] request, context in
            context.send(self.preflight(request))
        }
        if let registry {
            let admin = AdminAPI(registry: registry, apiKey: apiKey, log: log, ready: { [unowned self] in
                self.storageReady ? nil : (self.storageError ?? "storage is starting")
            })
            admin.health = { [unowned self] name in self.downstreams.monitor.report(name) }
            admin.mount(on: router)
            self.admin = admin
        } else {
            let message = "no storage configured"
            for (method, path) in [("POST", "/register"), ("PUT", "/update/:name"), ("DELETE", "/delete/:name"),
                                   ("GET", "/services"), ("GET", "/services/:name")] {
                router.add(method, path) { _, context in
                    context.send(.error(503, code: "storage_unavailable", message: message))
                }
            }
        }
        mcp.mount(on: router)
        if config.testRoutes { TestRoutes.mount(on: router) }
    }

    func healthReport() -> JSON {
        let storageState: String
        if store == nil { storageState = "unavailable" }
        else if !storageReady { storageState = "starting" }
        else { storageState = store!.isHealthy ? "up" : "down" }
        var storage: [(String, JSON)] = [("kind", .string(store?.kind ?? "none")), ("state", .string(storageState))]
        // Why storage is not ready, in stable words (the driver's own are in the log).
        if storageError != nil, !storageReady { storage.append(("error", .string("storage is not reachable yet; retrying"))) }
        let ok = storageState == "up"
        return .object([
            ("status", .string(ok ? "ok" : "degraded")),
            ("storage", .object(storage)),
            ("redis", .object([("state", .string(bus.state))])),
            ("registryVersion", .number(String(index.version))),
            ("storedVersion", .number(String(sync?.storedVersion ?? index.version))),
            ("services", .int(index.serviceCount)),
            ("tools", .int(index.toolCount)),
            ("downstreams", .object(DownstreamHealth.State.allCases.map { state in
                (state.rawValue, .int(downstreams.monitor.counts()[state] ?? 0))
            })),
            ("connections", .int(server.connectionCount)),
            ("listeners", .int(mcp.hub.count)),
            ("uptimeSeconds", .double((EventLoop.main.now - startedAt).rounded())),
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

    // MARK: stop

    private var shuttingDown = false

    func shutdown(signal: Int32) {
        guard !shuttingDown else { return }
        shuttingDown = true
        log(.info, "shutting down", [("signal", signal == SIGINT ? "SIGINT" : "SIGTERM"),
                                     ("connections", String(server.connectionCount))])
        server.shutdown(timeout: config.shutdownTimeout) { [unowned self] in
            self.log(.info, "stopped")
            self.signals.removeAll()
            self.bus.stop()
            EventLoop.main.stop()
        }
    }

    // MARK: migrate command

    /// `mcp-gateway migrate`: apply pending migrations and report them.
    public func migrateOnly() async -> Int32 {
        setUpStorage()
        redis?.stop()
        guard let store else {
            Console.error("mcp-gateway: \(storageError ?? "no storage configured")")
            return 1
        }
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
