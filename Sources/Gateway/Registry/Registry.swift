import Drivers
import GatewayCore
import Reactor

/// Registers, updates and deletes services: fetch the tools from the downstream first, then one
/// transaction, then the change signal, then the local index. Nothing is stored when the
/// downstream cannot be used.
@LoopActor
final class Registry {
    let store: any RegistryStore
    let signal: ReplicaBus
    private let config: Configuration
    private let log: Log
    /// Called after every committed change, with the service as stored (nil when deleted), before
    /// the admin reply: the reply's version is already served here (read-your-writes).
    var onChange: (RegistryChange, ServiceRecord?) async -> Void = { _, _ in }

    init(store: any RegistryStore, signal: ReplicaBus, config: Configuration, log: Log) {
        self.store = store
        self.signal = signal
        self.config = config
        self.log = log
    }

    func services() async throws(AdminError) -> [ServiceRecord] {
        do { return try await store.services() } catch { throw AdminError(error) }
    }

    func service(named name: String) async throws(AdminError) -> ServiceRecord? {
        do { return try await store.service(named: name) } catch { throw AdminError(error) }
    }

    func register(name: String, url: String) async throws(AdminError) -> (ServiceRecord, RegistryChange, String) {
        // A cheap early answer for a taken name; the unique index decides in the end.
        if try await service(named: name) != nil { throw AdminError.conflict("a service named \(name) already exists") }
        let tools = try await fetchTools(service: name, url: url)
        let (record, change): (ServiceRecord, RegistryChange)
        do { (record, change) = try await store.register(name: name, url: url, tools: tools) } catch { throw AdminError(error) }
        log(.info, "service registered", [("service", name), ("tools", String(tools.count)), ("version", String(change.version))])
        return (record, change, await committed(change, record))
    }

    func update(name: String, url: String?) async throws(AdminError) -> (ServiceRecord, RegistryChange, String) {
        guard let existing = try await service(named: name) else { throw AdminError.notFound("no service named \(name)") }
        let tools = try await fetchTools(service: name, url: url ?? existing.url)
        let (record, change): (ServiceRecord, RegistryChange)
        do { (record, change) = try await store.update(name: name, url: url, tools: tools) } catch { throw AdminError(error) }
        log(.info, "service updated", [("service", name), ("tools", String(tools.count)), ("version", String(change.version))])
        return (record, change, await committed(change, record))
    }

    func delete(name: String) async throws(AdminError) -> (RegistryChange, String) {
        let change: RegistryChange
        do { change = try await store.delete(name: name) } catch { throw AdminError(error) }
        log(.info, "service deleted", [("service", name), ("version", String(change.version))])
        return (change, await committed(change, nil))
    }

    private func committed(_ change: RegistryChange, _ record: ServiceRecord?) async -> String {
        await onChange(change, record)
        return await signal.publish(change)
    }

    /// What a register (`existing` nil) or an update would change, fetched exactly as they fetch;
    /// nothing is stored, signalled or installed.
    func preview(name: String, url: String, existing: ServiceRecord?) async throws(AdminError) -> DefinitionDiff.Result {
        let tools = try await fetchTools(service: name, url: url)
        return DefinitionDiff.compare(service: name, old: existing?.tools ?? [], new: tools)
    }

    /// initialize → notifications/initialized → tools/list, every page (capped).
    func fetchTools(service: String, url: String) async throws(AdminError) -> [JSON] {
        let session = DownstreamSession(url: url, timeout: config.downstreamTimeout, connectTimeout: config.downstreamConnectTimeout)
        var tools: [JSON] = []
        var seen = Set<String>()
        var cursor: String?
        do {
            try await session.initialize()
            for page in 0..<config.toolsMaxPages {
                let params: JSON? = cursor.map { .object([("cursor", .string($0))]) }
                let result = try await session.request("tools/list", params: params)
                guard let list = result["tools"]?.arrayValue else {
                    throw DownstreamError.notMCP("tools/list result has no tools array")
                }
                for tool in list {
                    guard case .object = tool, let name = tool["name"]?.stringValue, !name.isEmpty, name.utf8.count <= 256 else {
                        throw DownstreamError.notMCP("a tool has no valid name")
                    }
                    if seen.insert(name).inserted { tools.append(tool) }
                }
                guard let next = result["nextCursor"]?.stringValue else { break }
                if next == cursor { throw DownstreamError.notMCP("tools/list returned the same cursor twice") }
                cursor = next
                if page == config.toolsMaxPages - 1 {
                    throw DownstreamError.notMCP("tools/list did not end within \(config.toolsMaxPages) pages")
                }
            }
        } catch {
            session.close()
            let reason = DownstreamError(error).description
            log(.warn, "tool fetch failed", [("service", service), ("error", reason)])
            throw AdminError.downstream("\(service): \(reason)")
        }
        session.close()
        return tools
    }
}
