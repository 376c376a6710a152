/// What this replica knows of one downstream's health, as a value fed with the outcome of every
/// health check and every call (a successful call counts as a check). Time goes in as input.
///
/// - `down`: the last `downAfter` outcomes all failed;
/// - `degraded`: some recent failure, or the median latency of recent successes over
///   `degradedLatency` seconds;
/// - `healthy`: otherwise.
public struct DownstreamHealth: Sendable {
    public enum State: String, Sendable, CaseIterable {
        case healthy, degraded, down
    }

    public struct Settings: Sendable, Equatable {
        public var downAfter: Int
        public var degradedLatency: Double
        public init(downAfter: Int = 2, degradedLatency: Double = 1.0) {
            self.downAfter = max(1, downAfter)
            self.degradedLatency = degradedLatency
        }
    }

    public struct Transition: Sendable, Equatable {
        public let from: State
        public let to: State
    }

    public let settings: Settings
    public private(set) var state: State = .healthy
    /// When the current state began.
    public private(set) var since: Double
    public private(set) var lastError: String?
    public private(set) var lastCheckedAt: Double?
    public private(set) var consecutiveFailures = 0
    /// Latencies of recent successes, a ring of `window` entries.
    private var latencies: [Double] = []
    private var next = 0
    static let window = 128
    /// How many of `latencies` exceed `degradedLatency`: whether the median does is decided from
    /// this count, so a success costs no sort (the quantiles are sorted only when reported).
    private var slow = 0

    public init(settings: Settings = Settings(), now: Double) {
        self.settings = settings
        since = now
    }

    public mutating func succeeded(latency: Double, now: Double) -> Transition? {
        consecutiveFailures = 0
        lastCheckedAt = now
        let isSlow = latency > settings.degradedLatency
        if latencies.count < Self.window {
            latencies.append(latency)
        } else {
            if latencies[next] > settings.degradedLatency { slow -= 1 }
            latencies[next] = latency
        }
        if isSlow { slow += 1 }
        next = (next + 1) % Self.window
        return settle(now)
    }

    public mutating func failed(_ error: String, now: Double) -> Transition? {
        consecutiveFailures += 1
        lastCheckedAt = now
        lastError = error
        return settle(now)
    }

    /// Whether `latency(quantile: 0.5)` exceeds `degradedLatency`: the median (the element at
    /// index ⌈n/2⌉−1 of the sorted window) does exactly when at least n − that index values do.
    var medianIsSlow: Bool {
        let n = latencies.count
        guard n > 0 else { return false }
        let index = min(n - 1, max(0, Int((0.5 * Double(n)).rounded(.up)) - 1))
        return slow >= n - index
    }

    /// The `p`-quantile (0…1) of recent success latencies, in seconds.
    public func latency(quantile p: Double) -> Double? {
        guard !latencies.isEmpty else { return nil }
        let sorted = latencies.sorted()
        let index = min(sorted.count - 1, max(0, Int((p * Double(sorted.count)).rounded(.up)) - 1))
        return sorted[index]
    }

    private mutating func settle(_ now: Double) -> Transition? {
        let target: State
        if consecutiveFailures >= settings.downAfter {
            target = .down
        } else if consecutiveFailures > 0 || medianIsSlow {
            target = .degraded
        } else {
            target = .healthy
        }
        guard target != state else { return nil }
        let transition = Transition(from: state, to: target)
        state = target
        since = now
        return transition
    }
}
