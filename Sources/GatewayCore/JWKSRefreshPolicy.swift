/// When the gateway fetches the issuer's key set (JWKS): a pure value, time in Unix seconds as input.
///
/// - At start (nothing fetched yet), then every `maxAge` seconds after a good fetch.
/// - On a token whose `kid` is not in the set (the issuer rotated its keys), but at most once per
///   `minInterval` seconds, so tokens with made-up key ids cannot make the gateway hammer the issuer.
/// - After a failed fetch the old keys stay in use and nothing is fetched for `retryBase` seconds,
///   doubling with each further failure up to `retryMax`, whatever the reason to fetch.
/// - One fetch at a time: `shouldFetch` answers true once, then false until `fetched` reports it.
public struct JWKSRefreshPolicy: Sendable, Equatable {
    public let maxAge: Int64
    public let minInterval: Int64
    public let retryBase: Int64
    public let retryMax: Int64

    public private(set) var inFlight = false
    public private(set) var failures = 0
    /// A fetch is due from then on, with or without an unknown key id.
    public private(set) var dueAt: Int64 = .min
    /// No fetch starts before then (the unknown-kid rate limit, or the back-off after a failure).
    public private(set) var quietUntil: Int64 = .min

    public init(maxAge: Int64 = 300, minInterval: Int64 = 30, retryBase: Int64 = 1, retryMax: Int64 = 60) {
        self.maxAge = maxAge
        self.minInterval = minInterval
        self.retryBase = retryBase
        self.retryMax = retryMax
    }

    /// Whether to start a fetch now; true means the caller starts one and reports it to `fetched`.
    public mutating func shouldFetch(now: Int64, unknownKid: Bool) -> Bool {
        guard !inFlight, now >= quietUntil, unknownKid || now >= dueAt else { return false }
        inFlight = true
        return true
    }

    /// The fetch `shouldFetch` asked for ended: `ok` when a key set was fetched and parsed.
    public mutating func fetched(now: Int64, ok: Bool) {
        inFlight = false
        if ok {
            failures = 0
            dueAt = now + maxAge
            quietUntil = now + minInterval
        } else {
            let delay = min(retryBase << min(failures, 30), retryMax)
            failures += 1
            dueAt = now + delay
            quietUntil = now + delay
        }
    }
}
