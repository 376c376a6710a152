/// How many calls to one service run at once on this replica, and who waits for a slot. A pure
/// value: the shell asks it what to do and carries the answer out (start a call, answer a waiter
/// with an error), so every order of arrivals, finishes, expiries and departures is unit-tested.
///
/// The queue is bounded (`maxWaiting`): a call that finds it full is refused at once, and a waiter
/// whose wait ends without a slot is refused then. Slots go to waiters in arrival order.
public struct ConcurrencyGate: Sendable, Equatable {
    public enum Admission: Sendable, Equatable {
        /// A slot is taken: start the call (and `release()` when it ends).
        case run
        /// Wait for a slot under this ticket (and `withdraw` it if the wait ends first).
        case wait(ticket: Int)
        /// No slot and no room to wait.
        case reject
    }

    /// nil: no limit (every call runs at once).
    public private(set) var limit: Int?
    public let maxWaiting: Int
    public private(set) var running = 0
    public private(set) var waiting: [Int] = []
    private var nextTicket = 0

    public init(limit: Int?, maxWaiting: Int? = nil) {
        self.limit = limit
        self.maxWaiting = max(0, maxWaiting ?? limit ?? 0)
    }

    public var isIdle: Bool { running == 0 && waiting.isEmpty }

    public mutating func acquire() -> Admission {
        if waiting.isEmpty, limit.map({ running < $0 }) ?? true {
            running += 1
            return .run
        }
        guard waiting.count < maxWaiting else { return .reject }
        nextTicket += 1
        waiting.append(nextTicket)
        return .wait(ticket: nextTicket)
    }

    /// A running call ended. Returns the waiter that takes its slot, if any (it is now running).
    public mutating func release() -> Int? {
        precondition(running > 0, "release without a running call")
        running -= 1
        return admitWaiters().first
    }

    /// A waiter's wait ended (it timed out or its caller left). True when it was still waiting:
    /// then it holds nothing; false when it had already been given a slot (the caller must
    /// `release()` it).
    public mutating func withdraw(ticket: Int) -> Bool {
        guard let i = waiting.firstIndex(of: ticket) else { return false }
        waiting.remove(at: i)
        return true
    }

    /// The operator changed the limit. Returns the waiters that may start now.
    public mutating func setLimit(_ newLimit: Int?) -> [Int] {
        limit = newLimit
        return admitWaiters()
    }

    private mutating func admitWaiters() -> [Int] {
        var admitted: [Int] = []
        while !waiting.isEmpty, limit.map({ running < $0 }) ?? true {
            admitted.append(waiting.removeFirst())
            running += 1
        }
        return admitted
    }
}
