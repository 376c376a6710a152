/// One downstream's circuit breaker on this replica, as a value: calls ask to be admitted and
/// report how they went; time goes in as input.
///
/// - closed: calls pass; `failureThreshold` consecutive failures (connect refused, timeout, 5xx)
///   open the circuit.
/// - open: calls fail at once (`reject(retryAt:)`) until the cool-down has passed.
/// - half-open: one probe call is let through; its success closes the circuit, its failure opens
///   it again for another cool-down. Other calls meanwhile are rejected.
public struct CircuitBreaker: Sendable, Equatable {
    public struct Settings: Sendable, Equatable {
        public var failureThreshold: Int
        public var coolDown: Double
        public init(failureThreshold: Int = 5, coolDown: Double = 10) {
            self.failureThreshold = max(1, failureThreshold)
            self.coolDown = max(0, coolDown)
        }
    }

    public enum State: Sendable, Equatable {
        case closed(consecutiveFailures: Int)
        case open(until: Double)
        case halfOpen
    }

    public enum Admission: Sendable, Equatable {
        case allow
        /// The one call that decides whether the circuit closes again.
        case probe
        case reject(retryAt: Double)
    }

    /// A change of state worth a log line and a metric.
    public enum Transition: Sendable, Equatable {
        case opened(retryAt: Double)
        case halfOpened
        case closed
    }

    public private(set) var state: State = .closed(consecutiveFailures: 0)
    public let settings: Settings

    public init(settings: Settings = Settings()) { self.settings = settings }

    public var isOpen: Bool { if case .closed = state { return false }; return true }

    /// Whether a call may go out now. An open circuit whose cool-down has passed lets exactly
    /// one probe through.
    public mutating func admit(now: Double) -> (Admission, Transition?) {
        switch state {
        case .closed:
            return (.allow, nil)
        case .open(let until):
            guard now >= until else { return (.reject(retryAt: until), nil) }
            state = .halfOpen
            return (.probe, .halfOpened)
        case .halfOpen:
            return (.reject(retryAt: now + settings.coolDown), nil)
        }
    }

    /// A call (or health check) succeeded.
    public mutating func succeeded() -> Transition? {
        switch state {
        case .closed(let failures):
            if failures > 0 { state = .closed(consecutiveFailures: 0) }
            return nil
        case .halfOpen, .open:
            state = .closed(consecutiveFailures: 0)
            return .closed
        }
    }

    /// A call admitted while half-open ended without telling (cancelled by its caller): the next
    /// call may probe at once.
    public mutating func abandoned(now: Double) {
        if state == .halfOpen { state = .open(until: now) }
    }

    /// A call (or health check) failed in a way that says the downstream is unwell.
    public mutating func failed(now: Double) -> Transition? {
        switch state {
        case .closed(let failures):
            let count = failures + 1
            guard count >= settings.failureThreshold else {
                state = .closed(consecutiveFailures: count)
                return nil
            }
            state = .open(until: now + settings.coolDown)
            return .opened(retryAt: now + settings.coolDown)
        case .halfOpen:
            state = .open(until: now + settings.coolDown)
            return .opened(retryAt: now + settings.coolDown)
        case .open(let until):
            // A late failure of a call admitted before the circuit opened: the cool-down stands.
            _ = until
            return nil
        }
    }
}
