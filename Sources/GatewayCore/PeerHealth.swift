/// What the other replicas last said about each downstream's health (from the replica bus), so
/// `GET /services` on any replica shows every replica's view. Entries older than `maxAge` are
/// dropped: a replica that stopped talking is not shown forever.
public struct PeerHealth: Sendable {
    public struct Report: Sendable, Equatable {
        public let replica: String
        public let service: String
        public let state: String
        /// Seconds since the epoch.
        public let at: Double

        public init(replica: String, service: String, state: String, at: Double) {
            self.replica = replica; self.service = service; self.state = state; self.at = at
        }

        /// Parses a bus message; nil for anything malformed (a message is never trusted blindly).
        public init?(_ payload: String) {
            guard let v = try? JSONParser.parse(Array(payload.utf8)),
                  let replica = v["replica"]?.stringValue, !replica.isEmpty, replica.utf8.count <= 64,
                  let service = v["service"]?.stringValue, Validation.serviceNameProblem(service) == nil,
                  let state = v["state"]?.stringValue, ["healthy", "degraded", "down"].contains(state),
                  let at = v["at"]?.doubleValue, at.isFinite else { return nil }
            self.init(replica: replica, service: service, state: state, at: at)
        }

        public var json: JSON {
            .object([("replica", .string(replica)), ("service", .string(service)), ("state", .string(state)), ("at", .double(at))])
        }
    }

    public let maxAge: Double
    private var byService: [String: [String: Report]] = [:]

    public init(maxAge: Double) { self.maxAge = maxAge }

    public mutating func record(_ report: Report) {
        byService[report.service, default: [:]][report.replica] = report
    }

    /// The other replicas' latest views of `service`, by replica, that are not older than `maxAge`.
    public func views(of service: String, now: Double) -> [Report] {
        (byService[service] ?? [:]).values.filter { now - $0.at <= maxAge }.sorted { $0.replica < $1.replica }
    }

    public mutating func forget(service: String) { byService[service] = nil }

    public mutating func forget(servicesNotIn names: Set<String>) {
        byService = byService.filter { names.contains($0.key) }
    }
}
