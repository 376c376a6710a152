import Testing
@testable import GatewayCore

@Suite struct ConcurrencyGateTests {
    @Test func withoutALimitEveryCallRuns() {
        var g = ConcurrencyGate(limit: nil)
        for _ in 0..<100 { #expect(g.acquire() == .run) }
        #expect(g.running == 100 && g.waiting.isEmpty)
    }

    @Test(arguments: [1, 2, 7])
    func upToTheLimitRunThenUpToTheQueueWaitThenRefused(_ limit: Int) {
        var g = ConcurrencyGate(limit: limit, maxWaiting: 3)
        for _ in 0..<limit { #expect(g.acquire() == .run) }
        var tickets: [Int] = []
        for _ in 0..<3 {
            guard case .wait(let t) = g.acquire() else { Issue.record("expected a wait"); return }
            tickets.append(t)
        }
        #expect(Set(tickets).count == 3, "tickets are distinct")
        do { let v1 = g.acquire(); #expect(v1 == .reject) }
        #expect(g.running == limit && g.waiting == tickets)
    }

    @Test func slotsGoToWaitersInArrivalOrder() {
        var g = ConcurrencyGate(limit: 1, maxWaiting: 5)
        do { let v1 = g.acquire(); #expect(v1 == .run) }
        guard case .wait(let a) = g.acquire(), case .wait(let b) = g.acquire() else { Issue.record("expected waits"); return }
        do { let v1 = g.release(); #expect(v1 == a) }
        #expect(g.running == 1)
        do { let v1 = g.release(); #expect(v1 == b) }
        do { let v1 = g.release(); #expect(v1 == nil) }
        #expect(g.isIdle)
    }

    @Test func aNewCallDoesNotOvertakeWaiters() {
        var g = ConcurrencyGate(limit: 2, maxWaiting: 2)
        _ = g.acquire(); _ = g.acquire()
        guard case .wait(let a) = g.acquire() else { Issue.record("expected a wait"); return }
        do { let v1 = g.release(); #expect(v1 == a, "the freed slot goes to the waiter, not to the next arrival") }
        if case .run = g.acquire() { Issue.record("a newcomer overtook") }
    }

    @Test func aWithdrawnWaiterHoldsNothing() {
        var g = ConcurrencyGate(limit: 1, maxWaiting: 2)
        _ = g.acquire()
        guard case .wait(let a) = g.acquire(), case .wait(let b) = g.acquire() else { Issue.record("expected waits"); return }
        do { let v1 = g.withdraw(ticket: a); #expect(v1) }
        do { let v1 = g.withdraw(ticket: a); #expect(!v1, "withdrawn once") }
        do { let v1 = g.release(); #expect(v1 == b) }
        do { let v1 = g.withdraw(ticket: b); #expect(!v1, "already running: the caller must release instead") }
        do { let v1 = g.release(); #expect(v1 == nil && g.isIdle) }
    }

    /// Every order of the first call ending, both waiters' waits ending and the limit being
    /// raised: the gate's running count always equals the calls that hold a slot, and once they
    /// all release, the gate is idle (no slot lost or counted twice).
    @Test(arguments: permutations([0, 1, 2, 3]))
    func noSlotIsLostWhateverTheOrder(_ order: [Int]) {
        var g = ConcurrencyGate(limit: 1, maxWaiting: 2)
        do { let v1 = g.acquire(); #expect(v1 == .run) }
        guard case .wait(let a) = g.acquire(), case .wait(let b) = g.acquire() else { Issue.record("expected waits"); return }
        var holders: Set<String> = ["first"]
        let name = [a: "a", b: "b"]
        for event in order {
            switch event {
            case 0:
                holders.remove("first")
                if let next = g.release() { holders.insert(name[next]!) }
            case 1, 2:
                let ticket = event == 1 ? a : b
                // A wait that ends after the slot was given changes nothing: that call runs.
                if g.withdraw(ticket: ticket) { #expect(!holders.contains(name[ticket]!)) }
            default:
                for t in g.setLimit(2) { holders.insert(name[t]!) }
            }
            #expect(g.running == holders.count)
        }
        for _ in holders {
            if let next = g.release() { Issue.record("a waiter \(next) was still queued after every wait ended") }
        }
        #expect(g.isIdle)
    }

    @Test func raisingTheLimitAdmitsWaitersLoweringItAdmitsNone() {
        var g = ConcurrencyGate(limit: 1, maxWaiting: 3)
        _ = g.acquire()
        guard case .wait(let a) = g.acquire(), case .wait(let b) = g.acquire(), case .wait(let c) = g.acquire() else {
            Issue.record("expected waits"); return
        }
        do { let v1 = g.setLimit(3); #expect(v1 == [a, b]) }
        #expect(g.running == 3 && g.waiting == [c])
        do { let v1 = g.setLimit(1); #expect(v1 == []) }
        do { let v1 = g.release(); let v2 = g.release(); #expect(v1 == nil && v2 == nil, "over the new limit: no one admitted until below it") }
        do { let v1 = g.release(); #expect(v1 == c) }
        do { let v1 = g.setLimit(nil); #expect(v1 == [] && g.running == 1) }
    }

    @Test func theQueueDefaultsToTheLimit() {
        var g = ConcurrencyGate(limit: 2)
        #expect(g.maxWaiting == 2)
        _ = g.acquire(); _ = g.acquire(); _ = g.acquire(); _ = g.acquire()
        do { let v1 = g.acquire(); #expect(v1 == .reject) }
    }
}

func permutations(_ items: [Int]) -> [[Int]] {
    guard items.count > 1 else { return [items] }
    return items.indices.flatMap { i -> [[Int]] in
        var rest = items
        let head = rest.remove(at: i)
        return permutations(rest).map { [head] + $0 }
    }
}
