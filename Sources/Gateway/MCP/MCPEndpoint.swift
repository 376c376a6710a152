import GatewayCore
import Glibc
import HTTP
import Reactor

/// `POST/GET/DELETE /mcp`: both protocol eras, answered from the current tool-index snapshot,
/// with `tools/call` relayed to the owning downstream.
@LoopActor
final class MCPEndpoint {
    typealias Request = MCPCall

    let config: Configuration
    let log: Log
    let index: () -> ToolIndex
    let retained: (Int64, Int) -> ToolIndex?
    /// The `mcp-gateway/unavailable` entries for list results (a JSON array's bytes), or nil when
    /// every service is up.
    var unavailable: () -> [UInt8]? = { nil }
    let hub: ListenerHub
    let relay: ToolCallRelay
    private let secret: [UInt8]
    private let origins: OriginPolicy
    /// Ended sessions, kept until they would have expired anyway.
    private var revoked: [String: Int64] = [:]
    static let sessionMaxAge: Int64 = 7 * 24 * 3600
    static let serverInfo = JSON.object([("name", .string("mcp-gateway")), ("version", .string(GatewayVersion.string))])
    static let instructions = "A federation gateway: tools of many MCP servers, named <service>__<tool>."

    init(config: Configuration, log: Log, secret: [UInt8], index: @escaping () -> ToolIndex,
         retained: @escaping (Int64, Int) -> ToolIndex?, relay: ToolCallRelay) {
        self.config = config
        self.log = log
        self.secret = secret
        self.index = index
        self.retained = retained
        self.relay = relay
        origins = OriginPolicy(allowed: config.allowedOrigins)
        hub = ListenerHub(keepAliveInterval: config.sseKeepAlive)
    }

    func mount(on router: Router) {
        router.add("POST", "/mcp") { [unowned self] r, c in self.post(r, c) }
        router.add("GET", "/mcp") { [unowned self] r, c in self.get(r, c) }
        router.add("DELETE", "/mcp") { [unowned self] r, c in self.delete(r, c) }
    }

    static var now: Int64 { Int64(time(nil)) }

    private func corsHeaders(_ request: HTTPRequest) -> [(name: String, value: String)] {
        guard let origin = request.header("origin") else { return [] }
        return [("Access-Control-Allow-Origin", origin), ("Access-Control-Expose-Headers", "Mcp-Session-Id, Mcp-Protocol-Version"), ("Vary", "Origin")]
    }

    /// Sessions whose signature was checked recently (the HMAC is skipped for them).
    private var verified: [String: SessionToken] = [:]

    /// The valid, unended session with this id, or nil.
    private func verify(_ id: String) -> SessionToken? {
        guard revoked[id] == nil else { return nil }
        let now = Self.now
        if let token = verified[id], now - token.issuedAt <= Self.sessionMaxAge { return token }
        guard let token = SessionToken.verify(id, secret: secret, now: now, maxAge: Self.sessionMaxAge) else { return nil }
        if verified.count >= 50_000 { verified.removeAll(keepingCapacity: true) }
        verified[id] = token
        return token
    }

    private static func accepts(_ request: HTTPRequest, _ type: String) -> Bool {
        let family = type.hasPrefix("text/") ? "text/*" : "application/*"
        return request.headerLists("accept", type, wildcards: ["*/*", family])
    }

    /// What the classifier needs of the HTTP request.
    private static func head(_ http: HTTPRequest, json: Bool) -> MCPRequestClassifier.Head {
        MCPRequestClassifier.Head(origin: http.header("origin"), protocolVersion: http.header("mcp-protocol-version"),
                                  sessionID: http.header("mcp-session-id"), mcpMethod: http.header("mcp-method"),
                                  mcpName: http.header("mcp-name"), acceptsJSON: json ? accepts(http, "application/json") : true,
                                  acceptsSSE: accepts(http, "text/event-stream"))
    }

    // MARK: the three methods: classify, then carry out the one action

    func post(_ http: HTTPRequest, _ context: ResponseContext) {
        var parseError: String?
        let body: JSON?
        do { body = try JSONParser.parse(http.body) } catch {
            body = nil
            parseError = error.description
        }
        let classified = MCPRequestClassifier.post(Self.head(http, json: true), body: body, parseError: parseError,
                                                   origins: origins, session: verify)
        if let (method, modern) = classified.observed { onRequest(method, modern) }
        carryOut(classified.action, http, context)
    }

    func get(_ http: HTTPRequest, _ context: ResponseContext) {
        carryOut(MCPRequestClassifier.get(Self.head(http, json: false), origins: origins, session: verify,
                                          hasStream: { [hub] in hub.hasStream(session: $0) }), http, context)
    }

    func delete(_ http: HTTPRequest, _ context: ResponseContext) {
        carryOut(MCPRequestClassifier.delete(Self.head(http, json: false), origins: origins, session: verify), http, context)
    }

    private func carryOut(_ action: MCPRequestClassifier.Action, _ http: HTTPRequest, _ context: ResponseContext) {
        let cors = corsHeaders(http)
        switch action {
        case .error(let status, let id, let code, let message, let data):
            // An Origin refusal carries no CORS headers: the browser must not read it.
            context.send(MCPReply.error(status, id: id, code: code, message: message, data: data, headers: status == 403 ? [] : cors))
        case .accepted:
            context.send(HTTPResponse(status: 202, headers: cors))
        case .methodNotAllowed:
            context.send(HTTPResponse(status: 405, headers: cors + [("Allow", "POST")]))
        case .initialize(let id, let version):
            initialize(id: id, version: version, context: context, cors: cors)
        case .cancel(let key, let reason):
            // Behind a load balancer the call may run on another replica: tell them all.
            if !relay.cancel(key: key, reason: reason) { onForeignCancel(key) }
            context.send(HTTPResponse(status: 202, headers: cors))
        case .dispatch(let call):
            dispatch(call, context, cors: cors)
        case .openStream(let token):
            let stream = context.startStream(headers: SSE.headers + cors + [("Mcp-Session-Id", token.id)])
            stream.write(Array(": stream open\n\n".utf8))
            hub.add(stream, session: token.id, subscriptionID: nil)
        case .endSession(let token):
            revoke(token)
            onRevoke(token.id)
            context.send(HTTPResponse(status: 204, headers: cors))
        }
    }

    private func initialize(id: JSON, version: String, context: ResponseContext, cors: [(name: String, value: String)]) {
        var random = SystemRandomNumberGenerator()
        let bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &random) }
        let token = SessionToken.issue(secret: secret, protocolVersion: version, now: Self.now, random: bytes)
        let result = JSON.object([
            ("protocolVersion", .string(version)),
            ("capabilities", Self.capabilities),
            ("serverInfo", Self.serverInfo),
            ("instructions", .string(Self.instructions)),
        ])
        log(.debug, "session opened", [("session", String(token.id.suffix(8))), ("version", version)])
        context.send(MCPReply.result(id: id, result, headers: cors + [("Mcp-Session-Id", token.id)]))
    }

    // MARK: methods

    var onRequest: (String, Bool) -> Void = { _, _ in }

    /// What the gateway serves, in `initialize` and `server/discover`.
    static let capabilities = JSON.object([
        ("tools", .object([("listChanged", .bool(true))])),
        ("resources", .object([("subscribe", .bool(true)), ("listChanged", .bool(true))])),
        ("prompts", .object([("listChanged", .bool(true))])),
        ("completions", .object([])),
    ])

    /// The serverInfo `_meta` entry every 2026-07-28 result carries.
    static let modernMeta = JSON.object([("io.modelcontextprotocol/serverInfo", serverInfo)])

    private func dispatch(_ request: Request, _ context: ResponseContext, cors: [(name: String, value: String)]) {
        switch request.method {
        case "tools/list":
            context.send(toolsList(request, cors: cors))
        case "resources/list":
            context.send(list(request, key: "resources", catalog: .resources, cors: cors))
        case "resources/templates/list":
            context.send(list(request, key: "resourceTemplates", catalog: .templates, cors: cors))
        case "prompts/list":
            context.send(list(request, key: "prompts", catalog: .prompts, cors: cors))
        case "tools/call":
            relay.call(request, context, index: index(), cors: cors)
        case "resources/read", "prompts/get", "completion/complete":
            route(request, context, cors: cors)
        case "resources/subscribe", "resources/unsubscribe":
            subscribe(request, context, on: request.method == "resources/subscribe", cors: cors)
        case "server/discover":
            context.send(MCPReply.result(id: request.id, discoverResult(), headers: cors))
        case "subscriptions/listen":
            listen(request, context, cors: cors)
        default:  // ping (handshake era): the classifier lets only served methods through
            context.send(MCPReply.result(id: request.id, .object([]), headers: cors))
        }
    }

    private func discoverResult() -> JSON {
        .object([
            ("supportedVersions", .array(MCPVersions.all.map { .string($0) })),
            ("capabilities", Self.capabilities),
            ("instructions", .string(Self.instructions)),
            ("resultType", .string("complete")),
            ("ttlMs", .int(0)),
            ("cacheScope", .string("public")),
            ("_meta", Self.modernMeta),
        ])
    }

    /// `,"_meta":{"io.modelcontextprotocol/serverInfo":…}` for results built as bytes.
    private static let modernMetaMember: [UInt8] = Array(#","_meta":"#.utf8) + modernMeta.serialized()

    /// Services that are down (and whether their tools are still listed), so a client can tell a
    /// tool that is gone from one whose server is down.
    static let unavailableKey = Array(#","mcp-gateway/unavailable":"#.utf8)

    func toolsList(_ request: Request, cors: [(name: String, value: String)]) -> HTTPResponse {
        list(request, key: "tools", catalog: nil, cors: cors)
    }

    /// A list result from the snapshot's pre-serialized pages (tools when `catalog` is nil).
    func list(_ request: Request, key: String, catalog: ToolIndex.Catalog?, cors: [(name: String, value: String)]) -> HTTPResponse {
        var snapshot = index()
        var page = 0
        if let cursor = request.params["cursor"] {
            guard let text = cursor.stringValue, let (version, p, view) = ToolIndex.decodeCursor(text),
                  let held = version == snapshot.version && view == snapshot.view ? snapshot : retained(version, view),
                  p < (catalog.map { held.pageCount($0) } ?? held.pageCount) else {
                return MCPReply.error(200, id: request.id, code: JSONRPCCode.invalidParams, message: "Invalid cursor", headers: cors)
            }
            snapshot = held
            page = p
        }
        var result: [UInt8] = Array("{\"\(key)\":".utf8)
        result += catalog.map { snapshot.page($0, page) } ?? snapshot.page(page)
        if page + 1 < (catalog.map { snapshot.pageCount($0) } ?? snapshot.pageCount) {
            result += Array(",\"nextCursor\":\"\(snapshot.cursor(forPage: page + 1))\"".utf8)
        }
        let unavailable = self.unavailable()
        if request.modern {
            result += Array(#","ttlMs":0,"cacheScope":"public","resultType":"complete""#.utf8)
            result += Self.modernMetaMember
            if let unavailable {  // one more key in the same _meta object
                result.removeLast()
                result += Self.unavailableKey
                result += unavailable
                result.append(UInt8(ascii: "}"))
            }
        } else if let unavailable {
            result += Array(#","_meta":{"#.utf8)
            result += Self.unavailableKey.dropFirst()
            result += unavailable
            result.append(UInt8(ascii: "}"))
        }
        result.append(UInt8(ascii: "}"))
        return HTTPResponse(status: 200, headers: MCPReply.jsonHeaders + cors,
                            body: MCPReply.envelope(id: request.idBytes, key: "result", raw: result))
    }

    /// `resources/read`, `prompts/get` and `completion/complete`: find the owner from the federated
    /// name or URI, relay with the downstream's own, map URIs in a read's contents back.
    private func route(_ request: Request, _ context: ResponseContext, cors: [(name: String, value: String)]) {
        let snapshot = index()
        func refuse(_ message: String, code: Int = JSONRPCCode.invalidParams) {
            context.send(MCPReply.error(200, id: request.id, code: code, message: message, headers: cors))
        }
        switch request.method {
        case "resources/read":
            guard let uri = request.params["uri"]?.stringValue else { return refuse("params.uri must be a string") }
            guard let (name, original) = FederatedURI.resolve(uri), let service = snapshot.service(named: name) else {
                // 2026-07-28 names a code for it; the handshake era answers invalid params.
                return refuse("Resource not found: \(uri)", code: request.modern ? JSONRPCCode.resourceNotFound : JSONRPCCode.invalidParams)
            }
            relay.forward(request, context, service: service, method: "resources/read",
                          params: request.params.setting("uri", .string(original)), label: original,
                          transform: { [modern = request.modern] raw in
                              RelayedResponse.federatingContents(raw, service: name, modern: modern) ?? raw
                          }, cors: cors)
        case "prompts/get":
            guard let name = request.params["name"]?.stringValue else { return refuse("params.name must be a string") }
            guard let (service, entry) = snapshot.prompt(named: name) else { return refuse("Unknown prompt: \(name)") }
            relay.forward(request, context, service: service, method: "prompts/get",
                          params: request.params.setting("name", .string(entry.originalName)), label: entry.originalName, cors: cors)
        default:  // completion/complete
            let ref = request.params["ref"] ?? .null
            switch ref["type"]?.stringValue {
            case "ref/prompt":
                guard let name = ref["name"]?.stringValue, let (service, entry) = snapshot.prompt(named: name) else {
                    return refuse("Unknown prompt: \(ref["name"]?.stringValue ?? "")")
                }
                relay.forward(request, context, service: service, method: "completion/complete",
                              params: request.params.setting("ref", ref.setting("name", .string(entry.originalName))),
                              label: entry.originalName, cors: cors)
            case "ref/resource":
                guard let uri = ref["uri"]?.stringValue, let (name, original) = FederatedURI.resolve(uri),
                      let service = snapshot.service(named: name) else {
                    return refuse("Unknown resource template: \(ref["uri"]?.stringValue ?? "")")
                }
                relay.forward(request, context, service: service, method: "completion/complete",
                              params: request.params.setting("ref", ref.setting("uri", .string(original))), label: original, cors: cors)
            default:
                refuse("params.ref.type must be ref/prompt or ref/resource")
            }
        }
    }

    /// Most resources one session may be subscribed to, and sessions with subscriptions per replica.
    static let maxSubscriptionsPerSession = 100
    static let maxSubscribedSessions = 10_000

    /// Called with (session, uri, on) after a local `resources/subscribe` or `unsubscribe`, so the
    /// other replicas (one of which may hold the session's GET stream) learn of it.
    var onSubscription: (String, String, Bool) -> Void = { _, _, _ in }

    /// `resources/subscribe` / `resources/unsubscribe` (handshake era): updates arrive on the
    /// session's GET stream, whichever replica holds it.
    private func subscribe(_ request: Request, _ context: ResponseContext, on: Bool, cors: [(name: String, value: String)]) {
        func refuse(_ code: Int, _ message: String) {
            context.send(MCPReply.error(200, id: request.id, code: code, message: message, headers: cors))
        }
        guard let session = request.session?.id else { return refuse(JSONRPCCode.invalidRequest, "resources/subscribe needs a session") }
        guard let uri = request.params["uri"]?.stringValue else { return refuse(JSONRPCCode.invalidParams, "params.uri must be a string") }
        if on {
            guard let (name, _) = FederatedURI.resolve(uri), index().service(named: name) != nil else {
                return refuse(JSONRPCCode.invalidParams, "Resource not found: \(uri)")
            }
            let mine = hub.sessionResources[session] ?? []
            if !mine.contains(uri) {
                if mine.count >= Self.maxSubscriptionsPerSession {
                    return refuse(JSONRPCCode.invalidParams, "a session may subscribe to at most \(Self.maxSubscriptionsPerSession) resources")
                }
                if mine.isEmpty && hub.sessionResources.count >= Self.maxSubscribedSessions {
                    return refuse(JSONRPCCode.internalError, "too many subscribed sessions on this gateway; retry later")
                }
            }
        }
        hub.setSubscribed(session: session, uri: uri, on)
        onSubscription(session, uri, on)
        context.send(MCPReply.result(id: request.id, .object([]), headers: cors))
    }

    private func listen(_ request: Request, _ context: ResponseContext, cors: [(name: String, value: String)]) {
        let wanted = request.params["notifications"]
        var honored: [(String, JSON)] = []
        var wants = Set<String>()
        for (key, method) in [("toolsListChanged", "notifications/tools/list_changed"),
                              ("resourcesListChanged", "notifications/resources/list_changed"),
                              ("promptsListChanged", "notifications/prompts/list_changed")] where wanted?[key]?.boolValue == true {
            honored.append((key, .bool(true)))
            wants.insert(method)
        }
        // Resource subscriptions: the URIs of registered services (at most the per-session cap).
        let snapshot = index()
        let resources = (wanted?["resourceSubscriptions"]?.arrayValue ?? []).compactMap(\.stringValue).filter {
            FederatedURI.resolve($0).map { snapshot.service(named: $0.service) != nil } ?? false
        }.prefix(Self.maxSubscriptionsPerSession)
        if !resources.isEmpty { honored.append(("resourceSubscriptions", .array(resources.map { .string($0) }))) }
        let stream = context.startStream(headers: SSE.headers + cors)
        let ack = JSONRPC.notification(method: "notifications/subscriptions/acknowledged", params: .object([
            ("_meta", .object([("io.modelcontextprotocol/subscriptionId", request.id)])),
            ("notifications", .object(honored)),
        ]))
        stream.write(MCPReply.event(ack.serialized()))
        if !honored.isEmpty { hub.add(stream, session: nil, subscriptionID: request.id, wants: wants, resources: Set(resources)) }
    }

    /// Ends a session here (also called when another replica announces the end).
    func revoke(_ token: SessionToken) {
        guard revoked[token.id] == nil else { return }
        revoked[token.id] = token.issuedAt + Self.sessionMaxAge
        verified[token.id] = nil
        hub.endSession(token.id)
        relay.cancelSession(token.id)
        log(.debug, "session ended", [("session", String(token.id.suffix(8)))])
        if revoked.count > 10_000 {
            let now = Self.now
            revoked = revoked.filter { $0.value > now }
        }
    }

    func revoke(id: String) {
        if let token = SessionToken.verify(id, secret: secret, now: Self.now, maxAge: Self.sessionMaxAge) { revoke(token) }
    }

    /// Called after a local DELETE so other replicas can learn of it.
    var onRevoke: (String) -> Void = { _ in }

    /// Called with `<session>|<request id>` for a cancellation of a call not running here.
    var onForeignCancel: (String) -> Void = { _ in }
}
