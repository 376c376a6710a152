import Drivers
import GatewayCore
import HTTP
import Reactor

/// The admin routes: register, update, delete and list downstream services. Every route needs
/// `X-API-Key`; errors are `{"error":{"code","message"}}` with the status DESIGN.md gives.
@LoopActor
final class AdminAPI {
    let registry: Registry
    private let apiKey: String
    private let log: Log
    /// nil when storage is ready; otherwise why not (→ 503).
    private let ready: () -> String?
    /// A service's health as this replica sees it.
    var health: (String) -> JSON = { _ in .object([("state", .string("healthy"))]) }
    /// `GET /replicas`: this replica and the live peers it hears on the replica bus.
    var replicas: () -> JSON = { .object([("replicas", .array([]))]) }
    /// `GET /events`: opens the operator's event stream on the context.
    var openEvents: (ResponseContext) -> Void = { $0.send(.error(404, code: "not_found", message: "no event feed")) }

    init(registry: Registry, apiKey: String, log: Log, ready: @escaping () -> String?) {
        self.registry = registry
        self.apiKey = apiKey
        self.log = log
        self.ready = ready
    }

    func mount(on router: Router) {
        router.add("POST", "/register") { [unowned self] r, c in self.guarded(r, c) { try await self.register(r) } }
        router.add("PUT", "/update/:name") { [unowned self] r, c in self.guarded(r, c) { try await self.update(r) } }
        router.add("DELETE", "/delete/:name") { [unowned self] r, c in self.guarded(r, c) { try await self.delete(r) } }
        router.add("GET", "/services") { [unowned self] r, c in self.guarded(r, c) { try await self.list() } }
        router.add("GET", "/services/:name") { [unowned self] r, c in self.guarded(r, c) { try await self.show(r) } }
        router.add("GET", "/services/:name/history") { [unowned self] r, c in self.guarded(r, c) { try await self.history(r) } }
        mountAccess(on: router)
        // Answered from what this replica holds: no storage needed.
        router.add("GET", "/replicas") { [unowned self] r, c in if self.admitted(r, c) { c.send(.json(200, self.replicas())) } }
        router.add("GET", "/events") { [unowned self] r, c in if self.admitted(r, c) { self.openEvents(c) } }
    }

    /// Constant-time comparison of the presented key (length is not secret-dependent timing).
    func authorized(_ request: HTTPRequest) -> Bool {
        guard let presented = request.header("x-api-key") else { return false }
        return AccessPolicy.constantTimeEqual(apiKey, presented)
    }

    /// True when the key is right; otherwise answers 401.
    func admitted(_ request: HTTPRequest, _ context: ResponseContext) -> Bool {
        guard authorized(request) else {
            let message = request.header("x-api-key") == nil ? "missing X-API-Key header" : "invalid API key"
            context.send(.error(401, code: "unauthorized", message: message))
            return false
        }
        return true
    }

    func guarded(_ request: HTTPRequest, _ context: ResponseContext,
                         _ body: @escaping @LoopActor () async throws -> HTTPResponse) {
        guard admitted(request, context) else { return }
        if let notReady = ready() {
            context.send(AdminError.unavailable(notReady).response)
            return
        }
        let log = self.log
        spawn {
            do {
                context.send(try await body())
            } catch {
                let error = error as? AdminError ?? .internalError("\(error)")
                // Storage and internal failures answer with a stable message; the detail is logged.
                if let detail = error.detail {
                    log(.warn, "admin request failed", [("route", context.route), ("status", String(error.status)),
                                                        ("request_id", context.requestTag), ("error", detail)])
                }
                context.send(error.response)
            }
        }
    }

    // MARK: routes

    private func register(_ request: HTTPRequest) async throws(AdminError) -> HTTPResponse {
        let body = try Self.jsonBody(request, required: true)
        guard let name = body["name"]?.stringValue else { throw AdminError.badRequest("body needs \"name\" (a string)") }
        guard let url = body["url"]?.stringValue else { throw AdminError.badRequest("body needs \"url\" (a string)") }
        if let problem = Validation.serviceNameProblem(name) { throw AdminError.badRequest(problem) }
        if let problem = Validation.serviceURLProblem(url) { throw AdminError.badRequest(problem) }
        try Self.rejectUnknownKeys(body, allowed: ["name", "url", "limits"])
        var limits = ServiceLimits()
        if let l = body["limits"] {
            do { limits = try ServiceLimits.patch(limits, with: l) } catch { throw AdminError.badRequest(error.description) }
        }
        if try Self.dryRun(request) {
            if try await registry.service(named: name) != nil { throw AdminError.conflict("a service named \(name) already exists") }
            let diff = try await registry.preview(name: name, url: url, existing: nil)
            return .json(200, Self.dryRunBody(name: name, url: url, diff: diff))
        }
        let (record, change, signal) = try await registry.register(name: name, url: url, limits: limits)
        return .json(201, Self.mutationBody(record: record, change: change, signal: signal))
    }

    private func update(_ request: HTTPRequest) async throws(AdminError) -> HTTPResponse {
        let name = request.parameters["name"] ?? ""
        if let problem = Validation.serviceNameProblem(name) { throw AdminError.notFound("no service named \(name): \(problem)") }
        let body = try Self.jsonBody(request, required: false)
        var url: String?
        var limits: JSON?
        if case .object = body {
            if let u = body["url"] {
                guard let s = u.stringValue else { throw AdminError.badRequest("\"url\" must be a string") }
                if let problem = Validation.serviceURLProblem(s) { throw AdminError.badRequest(problem) }
                url = s
            }
            if let l = body["limits"] {
                do { _ = try ServiceLimits.patch(ServiceLimits(), with: l) } catch { throw AdminError.badRequest(error.description) }
                limits = l
            }
            try Self.rejectUnknownKeys(body, allowed: ["url", "limits"])
        }
        if try Self.dryRun(request) {
            guard let existing = try await registry.service(named: name) else { throw AdminError.notFound("no service named \(name)") }
            let target = url ?? existing.url
            let diff = try await registry.preview(name: name, url: target, existing: existing)
            return .json(200, Self.dryRunBody(name: name, url: target, diff: diff))
        }
        let accepted = DefinitionReview.acceptedHashes(query: request.query)
        let (record, change, signal) = try await registry.update(name: name, url: url, limits: limits, accepted: accepted)
        return .json(200, Self.mutationBody(record: record, change: change, signal: signal))
    }

    private func delete(_ request: HTTPRequest) async throws(AdminError) -> HTTPResponse {
        let name = request.parameters["name"] ?? ""
        if Validation.serviceNameProblem(name) != nil { throw AdminError.notFound("no service named \(name)") }
        let (change, signal) = try await registry.delete(name: name)
        return .json(200, .object([
            ("deleted", .string(name)), ("version", .number(String(change.version))), ("redis", .string(signal)),
        ]))
    }

    private func list() async throws(AdminError) -> HTTPResponse {
        let services = try await registry.services()
        let last = try await registry.lastChanges()
        return .json(200, .object([
            ("services", .array(services.map { record in
                let body = Self.serviceJSON(record, full: false).setting("health", health(record.name))
                return last[record.name].map { body.setting("lastChange", Self.lastChangeJSON($0)) } ?? body
            })),
            ("count", .int(services.count)),
        ]))
    }

    private func show(_ request: HTTPRequest) async throws(AdminError) -> HTTPResponse {
        let name = request.parameters["name"] ?? ""
        guard Validation.serviceNameProblem(name) == nil, let record = try await registry.service(named: name) else {
            throw AdminError.notFound("no service named \(name)")
        }
        var body = Self.serviceJSON(record, full: true).setting("health", health(record.name))
        // When its definitions last changed, and why (an admin call, or the downstream's list_changed).
        if let last = try await registry.history(name: name, limit: 1).first {
            body = body.setting("lastChange", Self.lastChangeJSON(last))
        }
        return .json(200, body)
    }

    /// The newest changes of a service (live or deleted): `?limit=` 1...200, default 20.
    private func history(_ request: HTTPRequest) async throws(AdminError) -> HTTPResponse {
        let name = request.parameters["name"] ?? ""
        guard Validation.serviceNameProblem(name) == nil else { throw AdminError.notFound("no service named \(name)") }
        var limit = 20
        for pair in request.query.split(separator: "&") where pair.hasPrefix("limit=") {
            guard let n = Int(pair.dropFirst(6)), (1...historyKept).contains(n) else {
                throw AdminError.badRequest("limit must be an integer in 1...\(historyKept)")
            }
            limit = n
        }
        let changes = try await registry.history(name: name, limit: limit)
        if changes.isEmpty, try await registry.service(named: name) == nil {
            throw AdminError.notFound("no service named \(name)")
        }
        return .json(200, .object([
            ("service", .string(name)), ("changes", .array(changes.map(\.json))), ("count", .int(changes.count)),
        ]))
    }

    // MARK: bodies

    /// `?dryRun=true` (or `1`); any other value of `dryRun` is a 400, so a typo never stores.
    static func dryRun(_ request: HTTPRequest) throws(AdminError) -> Bool {
        for pair in request.query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.first == "dryRun" else { continue }
            switch parts.count > 1 ? String(parts[1]).lowercased() : "" {
            case "true", "1": return true
            case "false", "0": return false
            default: throw AdminError.badRequest("dryRun must be true or false")
            }
        }
        return false
    }

    static func dryRunBody(name: String, url: String, diff: DefinitionDiff.Result) -> JSON {
        .object([("dryRun", .bool(true)), ("name", .string(name)), ("url", .string(url))] + (diff.json.objectValue ?? []))
    }

    static func serviceJSON(_ r: ServiceRecord, full: Bool) -> JSON {
        let tools = r.tools
        let catalogs = [("resources", r.rawResources), ("resourceTemplates", r.rawTemplates), ("prompts", r.rawPrompts)].map {
            ($0.0, (try? JSONParser.parse($0.1))?.arrayValue ?? [])
        }
        var pairs: [(String, JSON)] = [
            ("name", .string(r.name)), ("url", .string(r.url)),
            ("createdAt", .string(r.createdAt)), ("updatedAt", .string(r.updatedAt)),
            ("toolCount", .int(tools.count)),
            ("tools", .array(tools.map { .string($0["name"]?.stringValue ?? "") })),
            ("resourceCount", .int(catalogs[0].1.count)), ("resourceTemplateCount", .int(catalogs[1].1.count)),
            ("promptCount", .int(catalogs[2].1.count)),
            ("limits", r.limits.json),
        ]
        if full {
            pairs.append(("definitions", .array(tools)))
            for (key, items) in catalogs { pairs.append((key, .array(items))) }
        }
        return .object(pairs)
    }

    /// When a service's definitions last changed, and why (`admin` or `downstream`).
    static func lastChangeJSON(_ c: ServiceChange) -> JSON {
        .object([("at", .string(c.at)), ("version", .number(String(c.version))), ("action", .string(c.action)),
                 ("cause", .string(c.cause))])
    }

    static func mutationBody(record: ServiceRecord, change: RegistryChange, signal: String) -> JSON {
        serviceJSON(record, full: false)
            .setting("version", .number(String(change.version)))
            .setting("redis", .string(signal))
    }

    static func jsonBody(_ request: HTTPRequest, required: Bool) throws(AdminError) -> JSON {
        if request.body.isEmpty {
            if required { throw AdminError.badRequest("request body must be a JSON object") }
            return .null
        }
        let type = request.header("content-type")?.lowercased() ?? ""
        guard type.hasPrefix("application/json") || type.hasSuffix("+json") else {
            throw AdminError.badRequest("Content-Type must be application/json")
        }
        let value: JSON
        do { value = try JSONParser.parse(request.body) } catch {
            throw AdminError.badRequest("malformed JSON: \(error.description)")
        }
        guard case .object = value else { throw AdminError.badRequest("request body must be a JSON object") }
        return value
    }

    static func rejectUnknownKeys(_ body: JSON, allowed: Set<String>) throws(AdminError) {
        for (k, _) in body.objectValue ?? [] where !allowed.contains(k) {
            throw AdminError.badRequest("unknown field \"\(k)\"")
        }
    }
}

/// Admin failures, mapped once to a status and error code.
enum AdminError: Error {
    case badRequest(String)
    case notFound(String)
    case conflict(String)
    /// Pinned definitions changed (409): the message and the changes to confirm.
    case definitionsChanged(String, JSON)
    case downstream(String)
    case unavailable(String)
    case internalError(String)

    /// What the client sees. Storage and internal failures get a stable message: their detail
    /// (a driver's words) is for the log, never for a client.
    var response: HTTPResponse {
        switch self {
        case .badRequest(let m): return .error(400, code: "bad_request", message: m)
        case .notFound(let m): return .error(404, code: "not_found", message: m)
        case .conflict(let m): return .error(409, code: "conflict", message: m)
        case .definitionsChanged(let m, let changes):
            return .json(409, .object([("error", .object([
                ("code", .string("definitions_changed")), ("message", .string(m)), ("changed", changes),
            ]))]))
        case .downstream(let m): return .error(502, code: "downstream_error", message: m)
        case .unavailable: return .error(503, code: "storage_unavailable", message: "storage is unavailable; retry later")
        case .internalError: return .error(500, code: "internal", message: "internal error; see the gateway's log")
        }
    }

    var status: Int {
        switch self {
        case .badRequest: return 400
        case .notFound: return 404
        case .conflict, .definitionsChanged: return 409
        case .downstream: return 502
        case .unavailable: return 503
        case .internalError: return 500
        }
    }

    /// The detail that goes to the log instead of the response.
    var detail: String? {
        switch self {
        case .unavailable(let m), .internalError(let m): return m
        default: return nil
        }
    }

    init(_ e: StoreError) {
        switch e {
        case .conflict(let m): self = .conflict(m)
        case .notFound(let m): self = .notFound(m)
        case .unavailable(let m): self = .unavailable(m)
        case .failed(let m): self = .internalError(m)
        case .refused(let m, let details): self = .definitionsChanged(m, details)
        case .unchanged: self = .internalError("unexpected: an admin update was skipped as unchanged")
        }
    }
}
