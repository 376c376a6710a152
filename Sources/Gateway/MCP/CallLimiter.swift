import GatewayCore
import Reactor

/// The shell around each service's `ConcurrencyGate`: starts a call now or when a slot frees,
/// refuses it when the queue is full or its wait (`CALL_QUEUE_WAIT`) ends, and forgets a waiter
/// whose caller leaves. Services without a limit are not counted at all.
///
/// Ownership: the limiter's table holds each waiter; the waiter owns its timer, whose handler
/// refers to the limiter `unowned` and to nothing else; the caller's close handler holds the
/// waiter `weak`ly. A waiter leaves the table whichever way its wait ends.
@LoopActor
final class CallLimiter {
    @LoopActor private final class Waiter {
        let start: () -> Void
        let refuse: () -> Void
        let timer = Timer {}
        init(start: @escaping () -> Void, refuse: @escaping () -> Void) {
            self.start = start
            self.refuse = refuse
        }
    }

    private var gates: [String: ConcurrencyGate] = [:]
    private var waiters: [String: [Int: Waiter]] = [:]
    private let wait: Double

    init(wait: Double) { self.wait = wait }

    /// What a call holds after `enter`: a slot to give back, or nothing (unlimited service).
    enum Slot { case counted, uncounted }

    /// Starts the call through `start(slot)` now or once a slot frees; `refuse` when it cannot.
    /// `context` leaving while the call waits withdraws it (neither closure runs).
    func enter(service: String, limit: Int?, onClose: (@escaping () -> Void) -> Void,
               start: @escaping (Slot) -> Void, refuse: @escaping () -> Void) {
        guard limit != nil || gates[service] != nil else { return start(.uncounted) }
        var gate = gates[service] ?? ConcurrencyGate(limit: limit)
        let admitted = gate.limit == limit ? [] : gate.setLimit(limit)
        let admission = gate.acquire()
        gates[service] = gate
        startWaiters(service, admitted)
        switch admission {
        case .run:
            start(.counted)
        case .reject:
            refuse()
        case .wait(let ticket):
            let waiter = Waiter(start: { start(.counted) }, refuse: refuse)
            waiters[service, default: [:]][ticket] = waiter
            waiter.timer.setHandler { [unowned self] in self.expire(service, ticket) }
            waiter.timer.start(after: wait)
            onClose { [weak self, weak waiter] in
                guard let self, waiter != nil else { return }
                self.withdraw(service, ticket)
            }
        }
    }

    /// A counted call ended: its slot goes to the next waiter, if any.
    func leave(service: String) {
        guard var gate = gates[service] else { return }
        let next = gate.release()
        gates[service] = gate
        startWaiters(service, next.map { [$0] } ?? [])
        if gate.isIdle, gate.limit == nil { gates[service] = nil }
    }

    /// Whether `service` has a gate (a limit, or calls still counted under one just lifted).
    func isCounting(_ service: String) -> Bool { gates[service] != nil }

    /// Calls waiting for a slot, per service (for metrics and tests).
    func waitingCount(_ service: String) -> Int { gates[service]?.waiting.count ?? 0 }
    func runningCount(_ service: String) -> Int { gates[service]?.running ?? 0 }

    /// Services that left the registry: their gates go (waiters are refused).
    func retain(_ names: some Collection<String>) {
        let keep = Set(names)
        for service in gates.keys where !keep.contains(service) { forget(service) }
    }

    /// A service is gone: its gate goes, and its waiters are refused.
    func forget(_ service: String) {
        let pending = waiters.removeValue(forKey: service) ?? [:]
        gates[service] = nil
        for (_, w) in pending.sorted(by: { $0.key < $1.key }) {
            w.timer.stop()
            w.refuse()
        }
    }

    private func startWaiters(_ service: String, _ tickets: [Int]) {
        for ticket in tickets {
            guard let w = waiters[service]?.removeValue(forKey: ticket) else { continue }
            w.timer.stop()
            w.start()
        }
    }

    private func expire(_ service: String, _ ticket: Int) {
        guard gates[service]?.withdraw(ticket: ticket) == true, let w = waiters[service]?.removeValue(forKey: ticket) else { return }
        w.refuse()
    }

    private func withdraw(_ service: String, _ ticket: Int) {
        guard gates[service]?.withdraw(ticket: ticket) == true, let w = waiters[service]?.removeValue(forKey: ticket) else { return }
        w.timer.stop()
    }
}
