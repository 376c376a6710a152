/// The registry versions already told about, so a change that reaches a replica twice (its own
/// commit, then the same event back from Redis; or a repeated message) is announced once. Bounded:
/// the oldest versions are forgotten first.
public struct RecentVersions: Sendable {
    public let capacity: Int
    private var seen: Set<Int64> = []
    private var order: [Int64] = []

    public init(capacity: Int = 256) { self.capacity = max(1, capacity) }

    /// True the first time `version` is offered (within the last `capacity` versions).
    public mutating func first(_ version: Int64) -> Bool {
        guard seen.insert(version).inserted else { return false }
        order.append(version)
        if order.count > capacity { seen.remove(order.removeFirst()) }
        return true
    }
}
