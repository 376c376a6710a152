import GatewayCore
import Reactor

public enum StoreError: Error, CustomStringConvertible, Sendable {
    case conflict(String)
    case notFound(String)
    case unavailable(String)
    case failed(String)
    /// A change review refused the mutation (pinned definitions changed): a message and details.
    case refused(String, JSON)
    /// An update asked to store only a change found the stored definitions equal to the new ones.
    case unchanged

    public var description: String {
        switch self {
        case .conflict(let m), .notFound(let m), .unavailable(let m), .failed(let m), .refused(let m, _): return m
        case .unchanged: return "nothing changed"
        }
    }
}

/// Durable registry storage. The admin API, the index and /mcp see only this.
@LoopActor
public protocol RegistryStore: AnyObject {
    var kind: String { get }
    var isHealthy: Bool { get }
    func migrate() async throws(StoreError) -> [String]
    func version() async throws(StoreError) -> Int64
    func service(named name: String) async throws(StoreError) -> ServiceRecord?
    func services() async throws(StoreError) -> [ServiceRecord]
    /// Each mutation runs `review` on the definitions it replaces (nil when there were none),
    /// inside its transaction, and stores what it returns as the service's history entry; a
    /// review that throws `StoreError.refused` rolls the mutation back.
    func register(name: String, url: String, definitions: ServiceDefinitions, limits: ServiceLimits, cause: String,
                  review: @escaping ChangeReview) async throws(StoreError) -> (ServiceRecord, RegistryChange)
    /// `limits` nil keeps the stored ones (a refresh must not write back limits it read before an
    /// operator's concurrent change). With `onlyIfChanged`, an update whose definitions equal the stored ones (compared in the
    /// transaction, so concurrent refreshes on several replicas store one change) throws `.unchanged`.
    func update(name: String, url: String?, definitions: ServiceDefinitions, limits: ServiceLimits?, cause: String,
                onlyIfChanged: Bool, review: @escaping ChangeReview) async throws(StoreError) -> (ServiceRecord, RegistryChange)
    func delete(name: String, cause: String, review: @escaping ChangeReview) async throws(StoreError) -> RegistryChange
    /// The newest `limit` history entries of `name` (live or deleted), newest first.
    func history(name: String, limit: Int) async throws(StoreError) -> [ServiceChange]
    /// Live virtual servers and unrevoked tokens.
    func accessConfig() async throws(StoreError) -> AccessConfig
    /// One change to virtual servers or tokens with its version bump, in one transaction.
    func mutateAccess(_ mutation: AccessMutation) async throws(StoreError) -> RegistryChange
    /// The newest history entry of every live service, by name, without its diff (one query).
    func lastChanges() async throws(StoreError) -> [String: ServiceChange]
}

/// Turns the stored definitions a mutation replaces (a JSON array's bytes, nil when none) into the
/// history entry's diff (JSON bytes); throws `StoreError.refused` to refuse the mutation.
public typealias ChangeReview = @Sendable (_ previous: [UInt8]?) throws -> [UInt8]

/// How many history entries are kept per service name.
let historyKept = 200
