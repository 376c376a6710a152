import GatewayCore
import Reactor

/// This replica's view of each downstream's health and its circuit breaker. Every relayed call
/// reports its outcome here (a successful call counts as a check, so busy services are never
/// pinged); a service with no recent success is checked with `ping` every `HEALTH_CHECK_INTERVAL`
/// (jittered ±20% so replicas and services spread out). Decisions are the pure values'
/// (`DownstreamHealth`, `CircuitBreaker`); this keeps them per service and runs the checks.
@LoopActor
final class DownstreamMonitor {
    struct Settings {
        var interval = 15.0
        var health = DownstreamHealth.Settings()
        var breaker = CircuitBreaker.Settings()
    }

    /// One downstream as this replica sees it.
    final class Service {
        let name: String
        var health: DownstreamHealth
        var breaker: CircuitBreaker
        var nextCheckAt: Double
        var checking = false
        var lastSuccessAt = -Double.infinity

        init(name: String, settings: Settings, now: Double, firstCheckAt: Double) {
            self.name = name
            health = DownstreamHealth(settings: settings.health, now: now)
            breaker = CircuitBreaker(settings: settings.breaker)
            nextCheckAt = firstCheckAt
        }
    }

    let settings: Settings
    private let log: Log
    private(set) var services: [String: Service] = [:]
    private let ticker = Timer {}
    /// Runs one health check of a service; the monitor bounds it with its own deadline.
    var check: (String) async -> String? = { _ in nil }
    /// A service changed state (for logs, metrics and the replica bus).
    var onTransition: (String, DownstreamHealth.Transition) -> Void = { _, _ in }
    /// Jitter only needs spread, not secrecy: a seeded generator, not a getrandom(2) per call.
    private var rng = SplitMix64(seed: UInt64(truncatingIfNeeded: Int(EventLoop.clock() * 1e9)))
    /// What the other replicas last announced about each service (from the replica bus).
    var peers = PeerHealth(maxAge: 86_400)

    init(settings: Settings, log: Log) {
        self.settings = settings
        self.log = log
        let tick = min(1.0, settings.interval / 4)
        ticker.setHandler { [unowned self] in self.checkDue() }
        ticker.start(after: tick, repeating: tick)
    }

    private func jittered(_ now: Double) -> Double {
        now + settings.interval * Double.random(in: 0.8...1.2, using: &rng)
    }

    /// Follows the services of a new snapshot: new ones are tracked (healthy until shown
    /// otherwise), gone ones forgotten.
    func retain(_ names: some Sequence<String>) {
        let now = EventLoop.main.now
        var keep: [String: Service] = [:]
        for name in names {
            keep[name] = services[name] ?? Service(name: name, settings: settings, now: now, firstCheckAt: jittered(now))
        }
        services = keep
        peers.forget(servicesNotIn: Set(keep.keys))
    }

    /// One service came (`present`) or went.
    func retain(one name: String, present: Bool) {
        if present {
            if services[name] == nil {
                let now = EventLoop.main.now
                services[name] = Service(name: name, settings: settings, now: now, firstCheckAt: jittered(now))
            }
        } else {
            services[name] = nil
            peers.forget(service: name)
        }
    }

    func state(of name: String) -> Service? { services[name] }

    /// What an operator sees of a service's health (`GET /services`): state, since when, the last
    /// error, recent latency and the circuit. A service this replica does not track yet is healthy.
    func report(_ name: String) -> JSON {
        guard let s = services[name] else { return .object([("state", .string(DownstreamHealth.State.healthy.rawValue))]) }
        var pairs: [(String, JSON)] = [
            ("state", .string(s.health.state.rawValue)),
            ("since", .string(Timestamp.iso8601(s.health.since))),
        ]
        if let checked = s.health.lastCheckedAt { pairs.append(("checkedAt", .string(Timestamp.iso8601(checked)))) }
        if let error = s.health.lastError { pairs.append(("lastError", .string(error))) }
        if let p50 = s.health.latency(quantile: 0.5), let p99 = s.health.latency(quantile: 0.99) {
            pairs.append(("latencyMs", .object([("p50", .double(Self.ms(p50))), ("p99", .double(Self.ms(p99)))])))
        }
        let circuit: String
        switch s.breaker.state {
        case .closed: circuit = "closed"
        case .open: circuit = "open"
        case .halfOpen: circuit = "half-open"
        }
        pairs.append(("circuit", .string(circuit)))
        let others = peers.views(of: name, now: Timestamp.now)
        if !others.isEmpty {
            pairs.append(("replicas", .array(others.map {
                .object([("replica", .string($0.replica)), ("state", .string($0.state)), ("since", .string(Timestamp.iso8601($0.at)))])
            })))
        }
        return .object(pairs)
    }

    static func ms(_ seconds: Double) -> Double { (seconds * 10_000).rounded() / 10 }

    /// Services by state, for `/health` and metrics.
    func counts() -> [DownstreamHealth.State: Int] {
        var out: [DownstreamHealth.State: Int] = [:]
        for s in services.values { out[s.health.state, default: 0] += 1 }
        return out
    }

    /// Whether a call to `name` may go out now.
    func admit(_ name: String) -> CircuitBreaker.Admission {
        guard let s = services[name] else { return .allow }
        let (admission, transition) = s.breaker.admit(now: EventLoop.main.now)
        if transition == .halfOpened { log(.info, "circuit half-open, probing", [("service", name)]) }
        return admission
    }

    /// A call or check succeeded after `latency` seconds.
    func succeeded(_ name: String, latency: Double) {
        guard let s = services[name] else { return }
        let now = EventLoop.main.now
        s.lastSuccessAt = now
        s.nextCheckAt = jittered(now)
        if s.breaker.succeeded() == .closed { log(.info, "circuit closed", [("service", name)]) }
        if let t = s.health.succeeded(latency: latency, now: now) { transition(s, t) }
    }

    /// A call or check failed in a way that says the downstream is unwell (unreachable, timeout,
    /// not answering MCP). A JSON-RPC error the downstream sent is an answer, not a failure.
    func failed(_ name: String, error: String) {
        guard let s = services[name] else { return }
        let now = EventLoop.main.now
        if case .opened(let retryAt)? = s.breaker.failed(now: now) {
            log(.warn, "circuit opened", [("service", name), ("retry_in_s", String(Double(Int((retryAt - now) * 10)) / 10)),
                                          ("error", error)])
        }
        if let t = s.health.failed(error, now: now) { transition(s, t) }
    }

    /// A call ended without an outcome (its caller cancelled it).
    func abandoned(_ name: String) {
        services[name]?.breaker.abandoned(now: EventLoop.main.now)
    }

    private func transition(_ s: Service, _ t: DownstreamHealth.Transition) {
        log(t.to == .healthy ? .info : .warn, "downstream health changed",
            [("service", s.name), ("from", t.from.rawValue), ("to", t.to.rawValue)] + (t.to == .healthy ? [] : [("error", s.health.lastError ?? "")]))
        onTransition(s.name, t)
    }

    /// Checks every service that is due: no success within the interval, and no check running.
    private func checkDue() {
        let now = EventLoop.main.now
        for s in services.values where !s.checking && now >= s.nextCheckAt {
            s.checking = true
            s.nextCheckAt = jittered(now)
            let name = s.name
            let deadline = min(settings.interval, 10)
            spawn { [weak self] in
                guard let self else { return }
                let started = EventLoop.clock()
                let error = await self.withDeadline(deadline) { await self.check(name) }
                guard let current = self.services[name], current === s else { return }  // forgotten meanwhile
                s.checking = false
                if let error { self.failed(name, error: error) } else { self.succeeded(name, latency: EventLoop.clock() - started) }
            }
        }
    }

    /// The check's error, or "health check timed out" when it takes longer than `seconds`.
    private func withDeadline(_ seconds: Double, _ body: @escaping @LoopActor () async -> String?) async -> String? {
        await withCheckedContinuation { (c: CheckedContinuation<String?, Never>) in
            var resumed = false
            let timer = Timer {}
            timer.setHandler {
                guard !resumed else { return }
                resumed = true
                c.resume(returning: "health check timed out after \(Int(seconds))s")
            }
            timer.start(after: seconds)
            spawn {
                let error = await body()
                timer.stop()
                guard !resumed else { return }
                resumed = true
                c.resume(returning: error)
            }
        }
    }
}

