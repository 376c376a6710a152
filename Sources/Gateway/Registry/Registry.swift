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

    func register(name: String, url: String, limits: ServiceLimits) async throws(AdminError) -> (ServiceRecord, RegistryChange, String) {
        // A cheap early answer for a taken name; the unique index decides in the end.
        if try await service(named: name) != nil { throw AdminError.conflict("a service named \(name) already exists") }
        let definitions = try await fetchDefinitions(service: name, url: url)
        let tools = definitions.tools
        let (record, change): (ServiceRecord, RegistryChange)
        do {
            (record, change) = try await store.register(name: name, url: url, definitions: definitions, limits: limits, cause: "admin",
                                                        review: review(name, tools, accepted: []))
        } catch { throw AdminError(error) }
        log(.info, "service registered", [("service", name), ("tools", String(tools.count)), ("version", String(change.version))])
        return (record, change, await committed(change, record))
    }

    /// `limits` patches the stored ones (see `ServiceLimits.patch`); `accepted` confirms pinned changes.
    func update(name: String, url: String?, limits: JSON?, accepted: Set<String>) async throws(AdminError) -> (ServiceRecord, RegistryChange, String) {
        guard let existing = try await service(named: name) else { throw AdminError.notFound("no service named \(name)") }
        var merged = existing.limits
        if let limits {
            do { merged = try ServiceLimits.patch(existing.limits, with: limits) } catch { throw AdminError.badRequest(error.description) }
        }
        let definitions = try await fetchDefinitions(service: name, url: url ?? existing.url)
        let tools = definitions.tools
        let (record, change): (ServiceRecord, RegistryChange)
        do {
            (record, change) = try await store.update(name: name, url: url, definitions: definitions, limits: merged, cause: "admin",
                                                      onlyIfChanged: false, review: review(name, tools, accepted: accepted))
        } catch { throw AdminError(error) }
        log(.info, "service updated", [("service", name), ("tools", String(tools.count)), ("version", String(change.version))])
        return (record, change, await committed(change, record))
    }

    func delete(name: String) async throws(AdminError) -> (RegistryChange, String) {
        let change: RegistryChange
        do { change = try await store.delete(name: name, cause: "admin", review: review(name, [], accepted: [])) } catch { throw AdminError(error) }
        log(.info, "service deleted", [("service", name), ("version", String(change.version))])
        return (change, await committed(change, nil))
    }

    /// Services with a refresh running (true: another was asked for meanwhile).
    private var refreshing: [String: Bool] = [:]

    /// A downstream said a list changed: fetch its definitions again and store them as an update
    /// (cause `downstream`), once per burst: asks that arrive while one runs make one more run.
    func requestRefresh(_ name: String, reason: String) {
        if refreshing[name] != nil {
            refreshing[name] = true
            return
        }
        refreshing[name] = false
        spawn { [self] in
            await sleep(seconds: 0.1)  // let a burst of notifications settle
            repeat {
                refreshing[name] = false
                await refresh(name, reason: reason)
            } while refreshing[name] == true
            refreshing[name] = nil
        }
    }

    /// Re-fetches one service; stores nothing when nothing changed: the store compares inside the
    /// transaction (every replica hears the same notification; only the first to store finds a
    /// difference).
    private func refresh(_ name: String, reason: String) async {
        guard let existing = try? await service(named: name) else { return }
        let definitions: ServiceDefinitions
        do { definitions = try await fetchDefinitions(service: name, url: existing.url) } catch {
            log(.warn, "refresh after a downstream notification failed", [("service", name), ("reason", reason)])
            return
        }
        do {
            let (record, change) = try await store.update(name: name, url: nil, definitions: definitions, limits: nil,
                                                          cause: "downstream", onlyIfChanged: true,
                                                          review: review(name, definitions.tools, accepted: []))
            log(.info, "service refreshed", [("service", name), ("reason", reason), ("tools", String(definitions.tools.count)),
                                             ("version", String(change.version))])
            _ = await committed(change, record)
        } catch StoreError.unchanged {
            log(.debug, "downstream notification changed nothing", [("service", name), ("reason", reason)])
        } catch StoreError.refused(let message, _) {
            log(.warn, "downstream change refused (pinned definitions)", [("service", name), ("reason", reason), ("error", message)])
        } catch {
            log(.warn, "refresh not stored", [("service", name), ("error", error.description)])
        }
    }

    /// Called after a committed change of virtual servers or tokens, with them as stored now (nil
    /// when they could not be read back: the index then reloads), before the admin reply.
    var onAccessChange: (RegistryChange, AccessConfig?) async -> Void = { _, _ in }

    func accessConfig() async throws(AdminError) -> AccessConfig {
        do { return try await store.accessConfig() } catch { throw AdminError(error) }
    }

    /// Stores a change of virtual servers or tokens, installs it here, then signals the replicas.
    func mutateAccess(_ mutation: AccessMutation) async throws(AdminError) -> (RegistryChange, String) {
        let change: RegistryChange
        do { change = try await store.mutateAccess(mutation) } catch {
            if case .conflict = error, case .createVirtualServer(let vs) = mutation {
                throw AdminError.conflict("a virtual server named \(vs.name) already exists")
            }
            throw AdminError(error)
        }
        log(.info, "access changed", [("action", mutation.action), ("version", String(change.version))])
        await onAccessChange(change, try? await store.accessConfig())
        return (change, await signal.publish(change))
    }

    func history(name: String, limit: Int) async throws(AdminError) -> [ServiceChange] {
        do { return try await store.history(name: name, limit: limit) } catch { throw AdminError(error) }
    }

    func lastChanges() async throws(AdminError) -> [String: ServiceChange] {
        do { return try await store.lastChanges() } catch { throw AdminError(error) }
    }

    /// The review a mutation runs in its transaction: the diff for the history (flagged changes
    /// logged at warn), or a refusal when pinning is on and a flagged change was not accepted.
    private func review(_ service: String, _ tools: [JSON], accepted: Set<String>) -> ChangeReview {
        let pinned = config.pinDefinitions
        let log = self.log
        return { previous in
            let old = previous.flatMap { try? JSONParser.parse($0) }?.arrayValue ?? []
            switch DefinitionReview.review(service: service, previous: old, new: tools, pinned: pinned, accepted: accepted) {
            case .refuse(let changes):
                throw StoreError.refused(DefinitionReview.refusalMessage(service: service, changes), DefinitionReview.refusalDetails(changes))
            case .accept(let diff):
                let flagged = diff.changed.filter(\.flagged)
                if !flagged.isEmpty {
                    let names = flagged.map(\.tool).joined(separator: ",")
                    let hashes = flagged.map(\.newHash).joined(separator: ",")
                    // May run on the storage thread: Log is one write(2) per line, safe from any thread.
                    log(.warn, "definitions change under the same name", [("service", service), ("tools", names), ("new_hashes", hashes)])
                }
                return diff.json.serialized()
            }
        }
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

    /// What a downstream serves: its tools, and the resources, resource templates and prompts of
    /// the capabilities it announces (JSON arrays as it returned them).
    func fetchTools(service: String, url: String) async throws(AdminError) -> [JSON] {
        try await fetchDefinitions(service: service, url: url).tools
    }

    /// initialize → notifications/initialized → tools/list, then resources/list,
    /// resources/templates/list and prompts/list for each capability announced, every page
    /// (capped). A failure on anything announced fails the whole fetch.
    func fetchDefinitions(service: String, url: String) async throws(AdminError) -> ServiceDefinitions {
        let session = DownstreamSession(url: url, timeout: config.downstreamTimeout, connectTimeout: config.downstreamConnectTimeout)
        var out = ServiceDefinitions()
        do {
            try await session.initialize()
            out.tools = try await list(session, "tools/list", key: "tools", id: "name", maxLength: 256)
            let caps = session.capabilities
            if case .object = caps["resources"] ?? .null {
                out.resources = try await list(session, "resources/list", key: "resources", id: "uri")
                out.templates = try await list(session, "resources/templates/list", key: "resourceTemplates", id: "uriTemplate")
            }
            if case .object = caps["prompts"] ?? .null {
                out.prompts = try await list(session, "prompts/list", key: "prompts", id: "name", maxLength: 256)
            }
        } catch {
            session.close()
            let reason = DownstreamError(error).description
            log(.warn, "definition fetch failed", [("service", service), ("error", reason)])
            throw AdminError.downstream("\(service): \(reason)")
        }
        session.close()
        return out
    }

    /// Every page of a list method: the elements of `key` with a unique, non-empty string `id`.
    private func list(_ session: DownstreamSession, _ method: String, key: String, id: String, maxLength: Int = 2048) async throws -> [JSON] {
        var items: [JSON] = []
        var seen = Set<String>()
        var cursor: String?
        for page in 0..<config.toolsMaxPages {
            let params: JSON? = cursor.map { .object([("cursor", .string($0))]) }
            let result = try await session.request(method, params: params)
            guard let list = result[key]?.arrayValue else {
                throw DownstreamError.notMCP("\(method) result has no \(key) array")
            }
            for item in list {
                guard case .object = item, let value = item[id]?.stringValue, !value.isEmpty, value.utf8.count <= maxLength else {
                    throw DownstreamError.notMCP("an element of \(method) has no valid \(id)")
                }
                if seen.insert(value).inserted { items.append(item) }
            }
            guard let next = result["nextCursor"]?.stringValue else { break }
            if next == cursor { throw DownstreamError.notMCP("\(method) returned the same cursor twice") }
            cursor = next
            if page == config.toolsMaxPages - 1 {
                throw DownstreamError.notMCP("\(method) did not end within \(config.toolsMaxPages) pages")
            }
        }
        return items
    }
}
