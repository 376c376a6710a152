import GatewayCore
import Reactor

public enum StoreError: Error, CustomStringConvertible, Sendable {
    case conflict(String)
    case notFound(String)
    case unavailable(String)
    case failed(String)

    public var description: String {
        switch self {
        case .conflict(let m), .notFound(let m), .unavailable(let m), .failed(let m): return m
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
    func register(name: String, url: String, tools: [JSON]) async throws(StoreError) -> (ServiceRecord, RegistryChange)
    func update(name: String, url: String?, tools: [JSON]) async throws(StoreError) -> (ServiceRecord, RegistryChange)
    func delete(name: String) async throws(StoreError) -> RegistryChange
}
