/// Per-service limits an operator sets at registration or update: how long one call may take and
/// how many calls may run at once on a replica. `nil` means the gateway's default (the call
/// timeout from `TOOL_CALL_TIMEOUT`; no concurrency limit).
public struct ServiceLimits: Sendable, Equatable {
    public var timeoutMs: Int?
    public var maxConcurrent: Int?

    public init(timeoutMs: Int? = nil, maxConcurrent: Int? = nil) {
        self.timeoutMs = timeoutMs
        self.maxConcurrent = maxConcurrent
    }

    public static let timeoutRange = 1...3_600_000
    public static let concurrencyRange = 1...100_000

    /// The call timeout in seconds, or `fallback` when none is set.
    public func timeout(default fallback: Double) -> Double {
        timeoutMs.map { Double($0) / 1000 } ?? fallback
    }

    public var json: JSON {
        .object([("timeoutMs", timeoutMs.map(JSON.int) ?? .null), ("maxConcurrent", maxConcurrent.map(JSON.int) ?? .null)])
    }

    /// `base` with the fields `body` names applied: a number sets a field, `null` clears it, an
    /// absent key keeps it. Any other key or value is an error naming it.
    public static func patch(_ base: ServiceLimits, with body: JSON) throws(ValidationError) -> ServiceLimits {
        guard let pairs = body.objectValue else { throw ValidationError("\"limits\" must be an object") }
        var out = base
        for (key, value) in pairs {
            switch key {
            case "timeoutMs": out.timeoutMs = try field(key, value, timeoutRange)
            case "maxConcurrent": out.maxConcurrent = try field(key, value, concurrencyRange)
            default: throw ValidationError("unknown field \"limits.\(key)\"")
            }
        }
        return out
    }

    private static func field(_ key: String, _ value: JSON, _ range: ClosedRange<Int>) throws(ValidationError) -> Int? {
        if case .null = value { return nil }
        guard case .number(let text) = value, let n = Int(text), range.contains(n) else {
            throw ValidationError("\"limits.\(key)\" must be null or an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return n
    }

    /// Stored form: the two columns as text (nil for SQL NULL).
    public init(columns timeout: String?, _ concurrent: String?) {
        timeoutMs = timeout.flatMap { Int($0) }
        maxConcurrent = concurrent.flatMap { Int($0) }
    }
}

public struct ValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
