/// Token buckets per (client, tool): `perMinute` calls a minute, of which this replica takes its
/// share (`perMinute / replicas`), refilled continuously; a full minute's share is the burst.
/// Time is an input. Buckets unused long enough to be full again are forgotten, so memory
/// follows the clients of the last minute, bounded by `maxBuckets`.
public struct RateLimiter: Sendable {
    struct Bucket: Sendable {
        var tokens: Double
        var at: Double
    }

    private var buckets: [String: Bucket] = [:]
    public let maxBuckets: Int
    private var lastSweep = 0.0

    public init(maxBuckets: Int = 100_000) { self.maxBuckets = maxBuckets }

    public var count: Int { buckets.count }

    public enum Outcome: Sendable, Equatable {
        case allowed
        /// Seconds until one call is allowed again.
        case limited(retryAfter: Double)
    }

    public mutating func take(_ key: String, perMinute: Int, replicas: Int, now: Double) -> Outcome {
        let capacity = max(1, Double(perMinute) / Double(max(1, replicas)))
        let rate = capacity / 60
        var b = buckets[key] ?? Bucket(tokens: capacity, at: now)
        b.tokens = min(capacity, b.tokens + max(0, now - b.at) * rate)
        b.at = now
        if b.tokens >= 1 {
            b.tokens -= 1
            store(key, b, now: now)
            return .allowed
        }
        store(key, b, now: now)
        return .limited(retryAfter: (1 - b.tokens) / rate)
    }

    private mutating func store(_ key: String, _ b: Bucket, now: Double) {
        if buckets[key] == nil, buckets.count >= maxBuckets { sweep(now: now, force: true) }
        if buckets[key] != nil || buckets.count < maxBuckets { buckets[key] = b }
        if now - lastSweep > 60 { sweep(now: now, force: false) }
    }

    /// Forgets buckets idle for a minute (they would be full: the same as no bucket); when full
    /// and none is that old, the oldest half.
    private mutating func sweep(now: Double, force: Bool) {
        lastSweep = now
        buckets = buckets.filter { now - $0.value.at < 60 }
        if force, buckets.count >= maxBuckets {
            let cut = buckets.values.map(\.at).sorted()[buckets.count / 2]
            buckets = buckets.filter { $0.value.at > cut }
        }
    }
}
