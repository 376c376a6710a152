import Drivers
import GatewayCore
import HTTP
import Reactor

/// The gateway's object graph, built whole from the configuration before anything runs: every
/// part exists and is wired when `build` returns, and none is replaced afterwards.
@LoopActor
struct GatewayComponents {
    let apiKey: String
    let metrics: GatewayMetrics
    let bus: ReplicaBus
    let store: any RegistryStore
    let storage: StorageStatus
    let registry: Registry
    let snapshots: Snapshots
    let sync: IndexSync
    let downstreams: DownstreamPool
    let mcp: MCPEndpoint
    let admin: AdminAPI
    /// This replica's heartbeat and the live peers it hears (`GET /replicas`).
    let replicas: ReplicaHeartbeat
    /// The operator's event stream (`GET /events`).
    let events: EventFeed
    let router: Router
    let server: HTTPServer

    static func build(config: Configuration, log: Log, env: [String: String]) -> GatewayComponents {
        let metrics = GatewayMetrics()
        let apiKey = config.apiKey ?? generateKey()
        let redis = config.redis.map { RedisClient(settings: $0, name: "commands", log: { [log] level, m in log(level, m) }) }
        let bus = ReplicaBus(redis: redis, log: log)
        let store = makeStore(config: config, env: env, metrics: metrics, log: log)
        let storage = StorageStatus()
        let registry = Registry(store: store, signal: bus, config: config, log: log)

        let downstreams = DownstreamPool(
            timeout: config.toolCallTimeout + 5, connectTimeout: config.downstreamConnectTimeout,
            health: DownstreamMonitor.Settings(
                interval: config.healthCheckInterval,
                health: .init(downAfter: config.healthDownAfter, degradedLatency: config.healthDegradedLatency),
                breaker: .init(failureThreshold: config.circuitFailureThreshold, coolDown: config.circuitCoolDown)),
            log: log)
        let http = ReactorHTTPClient.shared
        metrics.registry.counter("mcp_gateway_downstream_connections_opened_total", "Connections opened to downstreams (http and https; kept alive and reused).") {
            Double(http.connectionsOpened)
        }
        metrics.registry.gauge("mcp_gateway_downstream_connections_open", "Connections to downstreams open now (carrying a request, or idle in the pool).") {
            Double(http.openConnectionCount)
        }
        metrics.registry.counter("mcp_gateway_downstream_tls_handshakes_total", "Full TLS handshakes with https downstreams.") { Double(http.tlsHandshakes) }
        metrics.registry.counter("mcp_gateway_downstream_tls_resumptions_total", "TLS handshakes that resumed a cached session.") { Double(http.tlsResumptions) }
        metrics.registry.counter("mcp_gateway_downstream_tls_failures_total", "TLS handshakes with downstreams that failed (verification, protocol, timeout).") {
            Double(http.tlsFailures)
        }
        let relay = ToolCallRelay(pool: downstreams, log: log, timeout: config.toolCallTimeout, queueWait: config.callQueueWait)
        relay.metrics = { [metrics] service, outcome, seconds in metrics.toolCall(service: service, outcome: outcome, seconds: seconds) }
        let snapshots = Snapshots(policy: config.downPolicy)
        let mcp = MCPEndpoint(config: config, log: log, secret: Array((config.sessionSecret ?? generateKey()).utf8),
                              index: { [unowned snapshots] in snapshots.current },
                              retained: { [unowned snapshots] v, view in snapshots.retained(version: v, view: view) }, relay: relay)
        mcp.unavailable = { [unowned snapshots] in snapshots.unavailable }
        mcp.onRequest = { [metrics] method, modern in metrics.mcp(method: method, modern: modern) }
        mcp.onRevoke = { [bus] id in bus.announceRevocation(id) }
        mcp.onForeignCancel = { [bus] key in bus.announceCancellation(key) }
        if config.authMode == .jwt, let jwks = config.jwksURL {
            mcp.jwt = JWTAuthenticator(jwksURL: jwks, issuer: config.jwtIssuer, audience: config.jwtAudience,
                                       scopeClaim: config.jwtScopeClaim, minRefreshInterval: config.jwksMinRefreshInterval, log: log)
        }
        if let endpoint = config.otlpEndpoint {
            let tracer = Tracer(endpoint: endpoint, log: log)
            mcp.tracer = tracer
            relay.tracer = tracer
            metrics.registry.gauge("mcp_gateway_trace_spans_dropped", "Spans dropped because the export queue was full.") { Double(tracer.dropped) }
            metrics.registry.gauge("mcp_gateway_trace_spans_exported", "Spans the collector accepted.") { Double(tracer.exported) }
            metrics.registry.gauge("mcp_gateway_trace_export_failures", "Span batches the collector refused or did not answer.") { Double(tracer.failedBatches) }
        }
        mcp.onRefused = { [metrics] status in metrics.authRefusals.inc([String(status)]) }
        mcp.onRateLimited = { [metrics] in metrics.rateLimited.inc() }
        if config.auditLog && log.enabled(.info) {
            relay.audit = { [log] who, method, service, outcome, seconds in
                log(.info, "audit", who.fields(method: method, service: service, outcome: outcome, seconds: seconds))
            }
        }

        let replicas = ReplicaHeartbeat(bus: bus, interval: config.replicaHeartbeatInterval, log: log,
                                        version: { [unowned snapshots] in snapshots.base.version })
        let events = EventFeed(keepAliveInterval: config.sseKeepAlive)
        // A new snapshot: pooled sessions and health follow it; listeners hear when the version
        // moved, and so do the other replicas (a heartbeat carries the version).
        let sync = IndexSync(store: store, signal: bus, log: log, pageSize: config.toolsPageSize, interval: config.versionCheckInterval,
                             current: { [unowned snapshots] in snapshots.base },
                             install: { [unowned snapshots, unowned downstreams, unowned mcp, unowned relay, unowned replicas] next, delta in
                                 let before = snapshots.current
                                 let changed = snapshots.swap(next)
                                 // A delta names its one service: the pool and the limiter follow it alone.
                                 downstreams.retain(next, changed: delta)
                                 if let delta {
                                     if next.service(named: delta) == nil { relay.limiter.forget(delta) }
                                 } else {
                                     relay.limiter.retain(downstreams.serviceNames)
                                 }
                                 if changed {
                                     mcp.notifyListChanges(from: before, to: snapshots.current)
                                     replicas.beat()
                                 }
                             })
        sync.onReload = { [metrics] seconds in metrics.reloadDuration.observe(seconds) }
        sync.onApplying = { [unowned events] version, previous, action, service in
            events.registryChange(version: version, previous: previous, action: action, service: service)
        }
        replicas.storedVersion = { [unowned sync] in sync.storedVersion }
        // Rate limits: each replica takes its share of a client's budget.
        mcp.liveReplicas = { [unowned replicas] in replicas.liveReplicaCount }
        // A service went down or came back: lists say so, and under `hide` they leave it out.
        downstreams.monitor.onTransition = { [unowned snapshots, unowned downstreams, unowned mcp, unowned events, bus] service, transition in
            events.healthChange(service: service, from: transition.from.rawValue, to: transition.to.rawValue)
            let down = downstreams.monitor.services.values.filter { $0.health.state == .down }.map(\.name)
            let before = snapshots.current
            if snapshots.setDown(down) { mcp.notifyListChanges(from: before, to: snapshots.current) }
            bus.announceHealth(service: service, transition: transition)
        }
        // Resource subscriptions: the downstream streams ask for what this replica's listeners
        // want; updates go back to them under the federated URI.
        mcp.onSubscription = { [bus] session, uri, on in bus.announceSubscription(session: session, uri: uri, on: on) }
        mcp.hub.onResourcesChanged = { [unowned mcp, unowned downstreams] in
            var wanted: [String: Set<String>] = [:]
            for uri in mcp.hub.wantedResources {
                if let (service, original) = FederatedURI.resolve(uri) { wanted[service, default: []].insert(original) }
            }
            downstreams.setResourceSubscriptions(wanted)
        }
        downstreams.onResourceUpdated = { [unowned mcp] service, uri in
            if let federated = FederatedURI.federate(service: service, uri: uri) { mcp.hub.notifyResourceUpdated(federated) }
        }
        downstreams.watching = config.watchDownstreams
        downstreams.onListChanged = { [unowned registry] service, method in registry.requestRefresh(service, reason: method) }
        registry.onChange = { [unowned sync] change, record in await sync.applyLocal(change, record: record) }
        registry.onAccessChange = { [unowned sync] change, access in
            if let access { await sync.applyLocal(change, record: nil, access: access) } else { sync.reload() }
        }

        let admin = AdminAPI(registry: registry, apiKey: apiKey, log: log, ready: { [unowned storage] in
            storage.ready ? nil : "storage is starting"
        })
        admin.health = { [unowned downstreams] name in downstreams.monitor.report(name) }
        admin.replicas = { [unowned replicas] in replicas.report }
        admin.openEvents = { [unowned events, unowned snapshots, bus] context in
            events.open(context, hello: .object([("replica", .string(bus.replicaID)),
                                                 ("version", .number(String(snapshots.base.version)))]))
        }

        var limits = HTTPLimits()
        limits.maxBodyBytes = config.maxBodyBytes
        limits.maxHeaderBytes = config.maxHeaderBytes
        limits.requestTimeout = config.requestTimeout
        limits.idleTimeout = config.idleTimeout
        limits.maxConnections = config.maxConnections
        let router = Router()
        let server = HTTPServer(limits: limits, logger: { level, message in log(level, message) }) { [router] request, context in
            router.route(request, context)
        }
        return GatewayComponents(apiKey: apiKey, metrics: metrics, bus: bus, store: store, storage: storage, registry: registry,
                                 snapshots: snapshots, sync: sync, downstreams: downstreams, mcp: mcp, admin: admin,
                                 replicas: replicas, events: events, router: router, server: server)
    }

    /// The registry store the configuration names (also what `mcp-gateway migrate` uses).
    static func makeStore(config: Configuration, env: [String: String], metrics: GatewayMetrics, log: Log) -> any RegistryStore {
        switch config.storage {
        case .postgres(let settings):
            let pool = PGPool(settings: settings, size: config.dbPoolSize, connectTimeout: config.dbConnectTimeout,
                              statementTimeout: config.dbStatementTimeout, log: { m in log(.warn, m) })
            return PostgresRegistryStore(pool: pool, env: env, readers: config.dbPoolSize)
        case .sqlite(let path):
            let sqlite = SQLiteRegistryStore(path: path, env: env)
            let timing = metrics.registry.histogram(
                "mcp_gateway_sqlite_call_seconds", "Time each embedded-SQLite store call took on its worker thread (off the loop).",
                buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1])
            sqlite.onTiming = { timing.observe($0) }
            metrics.registry.gauge("mcp_gateway_sqlite_call_max_seconds", "The longest embedded-SQLite store call so far.") {
                sqlite.longestCall
            }
            return sqlite
        }
    }

    static func generateKey() -> String {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        return "mgw_" + String((0..<32).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
    }
}

/// Whether storage is ready (migrations applied), and whether it ever failed to get there.
@LoopActor
final class StorageStatus {
    var ready = false
    var failing = false
}

/// The tool index this replica serves, and the few before it (so a `tools/list` cursor stays
/// valid across a reload). `base` is the registry's snapshot; `current` is what clients are
/// listed: `base`, or under the `hide` policy a view of it without the services that are down.
@LoopActor
final class Snapshots {
    private(set) var base = ToolIndex.empty
    private(set) var current = ToolIndex.empty
    private var recent: [ToolIndex] = []
    private let policy: Configuration.DownPolicy
    /// Services this replica sees as down, sorted.
    private var down: [String] = []
    private var views = 0
    /// The `mcp-gateway/unavailable` list for list results, serialized once per change.
    private(set) var unavailable: [UInt8]?

    init(policy: Configuration.DownPolicy = .keep) { self.policy = policy }

    /// Swaps in `next`; true when the version moved.
    func swap(_ next: ToolIndex) -> Bool {
        let changed = next.version != base.version
        base = next
        install(view(of: next))
        return changed
    }

    /// The services that are down now. True when the listed tools changed (a `hide` view came or went).
    func setDown(_ names: [String]) -> Bool {
        let sorted = names.sorted()
        guard sorted != down else { return false }
        down = sorted
        let before = current.hidden
        install(view(of: base))
        return current.hidden != before
    }

    private func view(of snapshot: ToolIndex) -> ToolIndex {
        guard policy == .hide, !down.isEmpty else { return snapshot }
        views += 1
        return snapshot.hiding(Set(down), view: views)
    }

    /// Where snapshots that are no longer kept are let go: freeing one built by a full reload (every
    /// definition of the registry) takes tens of milliseconds at 100k tools, not on the loop. The
    /// heap is trimmed there too, after them (`IndexSync` asks after a full reload).
    nonisolated static let releaser = BlockingWorker()

    private func install(_ next: ToolIndex) {
        if next !== current {
            recent.append(current)
            // Keep up to 8 snapshots of the new one's lineage (deltas share all but one service) and
            // one older (a listing begun before the last full reload can finish): memory stays
            // within two copies of the registry however often it reloads.
            var kept: [ToolIndex] = [], dropped: [ToolIndex] = []
            var older = false
            for s in recent.reversed() {
                if kept.count < 8 && (s.lineage == next.lineage || !older) {
                    if s.lineage != next.lineage { older = true }
                    kept.append(s)
                } else {
                    dropped.append(s)
                }
            }
            recent = kept.reversed()
            if !dropped.isEmpty {
                // The box is the only holder once `dropped` is emptied: the last release is the worker's.
                let box = ReleaseBox(dropped)
                dropped = []
                Self.releaser.submit { box.items = [] }
            }
        }
        current = next
        let present = down.filter { base.service(named: $0) != nil }
        unavailable = present.isEmpty ? nil : JSON.array(present.map { name in
            .object([("service", .string(name)), ("state", .string("down")), ("listed", .bool(policy == .keep))])
        }).serialized()
    }

    func retained(version: Int64, view: Int) -> ToolIndex? {
        if version == current.version && view == current.view { return current }
        return recent.last { $0.version == version && $0.view == view }
    }
}

/// Snapshots on their way to be freed off the loop (touched by the worker alone once handed over).
private final class ReleaseBox: @unchecked Sendable {
    var items: [ToolIndex]
    init(_ items: [ToolIndex]) { self.items = items }
}
