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
        for path in ["/mcp", "/mcp/:view"] {
            router.add("POST", path) { [unowned self] r, c in self.admit(.post, r, c) }
            router.add("GET", path) { [unowned self] r, c in self.admit(.get, r, c) }
            router.add("DELETE", path) { [unowned self] r, c in self.admit(.delete, r, c) }
        }
        for path in ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp",
                     "/.well-known/oauth-protected-resource/mcp/:view"] {
            router.add("GET", path) { [unowned self] r, c in c.send(self.resourceMetadata(r)) }
        }
    }

    enum Verb { case post, get, delete }

    /// What a request acts on and for whom: the view's snapshot (the whole federation's on
    /// `/mcp`), taken once when the request arrives, and the authenticated client.
    struct Scope {
        let view: String?
        let principal: Principal
        let snapshot: ToolIndex
        /// The request's span (tracing on).
        var span: ActiveSpan? = nil
    }

    /// Traces (`OTEL_EXPORTER_OTLP_ENDPOINT`); nil: off, and then nothing here costs anything.
    var tracer: Tracer?

    /// A server span for the request: the client's `traceparent` header, or in `params._meta`.
    private func startSpan(_ http: HTTPRequest, _ body: JSON?, _ context: ResponseContext, _ scope: inout Scope) {
        guard let tracer else { return }
        let meta = body?["params"]?["_meta"]
        let parent = TraceContext.parse(http.header("traceparent"), state: http.header("tracestate"))
            ?? TraceContext.parse(meta?["traceparent"]?.stringValue, state: meta?["tracestate"]?.stringValue)
        let method = body?["method"]?.stringValue ?? http.method
        let span = tracer.server(parent, name: "mcp \(method)", attributes: [
            ("mcp.method", method), ("mcp.view", scope.view ?? "/mcp"), ("http.request.method", http.method),
            ("mcp.client", scope.principal.label),
        ])
        scope.span = span
        context.onFinish = { [weak tracer] in tracer?.end(span) }
    }

    /// Authenticates the client (`MCP_AUTH`), finds the view, then serves the request; or answers
    /// 401 (no valid credential), 403 (not for this view) or 404 (no such view) itself.
    /// Authentication comes first: an unauthenticated client learns nothing of which views exist.
    private func admit(_ verb: Verb, _ http: HTTPRequest, _ context: ResponseContext) {
        let view = http.parameters["view"]
        let decision: AccessDecision
        switch config.authMode {
        case .none:
            return serve(verb, http, context, view: view, principal: .anonymous(context.peer))
        case .token:
            decision = AccessPolicy.token(AccessPolicy.bearer(http.header("authorization")), access: index().access, view: view,
                                          nowMs: Int64(Timestamp.now * 1000))
        case .jwt:
            guard let jwt else { return refuse(http, context, view, .unauthorized("JWT validation is not configured")) }
            return jwt.authenticate(AccessPolicy.bearer(http.header("authorization")), view: view,
                                    resource: resourceURL(http, view: view)) { [weak self] decision in
                guard let self else { return }
                if case .allow(let principal) = decision {
                    self.serve(verb, http, context, view: view, principal: principal)
                } else {
                    self.refuse(http, context, view, decision)
                }
            }
        }
        if case .allow(let principal) = decision { return serve(verb, http, context, view: view, principal: principal) }
        refuse(http, context, view, decision)
    }

    private func serve(_ verb: Verb, _ http: HTTPRequest, _ context: ResponseContext, view: String?, principal: Principal) {
        var snapshot = index()
        if let view {
            guard let projected = snapshot.projection(view) else {
                return context.send(MCPReply.error(404, id: .null, code: JSONRPCCode.invalidRequest,
                                                   message: "No virtual server named \(view)", headers: corsHeaders(http)))
            }
            snapshot = projected
        }
        let scope = Scope(view: view, principal: principal, snapshot: snapshot)
        switch verb {
        case .post: post(http, context, scope)
        case .get: get(http, context, scope)
        case .delete: delete(http, context, scope)
        }
    }

    /// JWT validation (`MCP_AUTH=jwt`).
    var jwt: JWTAuthenticator?
    /// Counts refusals by status (401/403) and calls over a rate limit.
    var onRefused: (Int) -> Void = { _ in }
    var onRateLimited: () -> Void = {}

    private func refuse(_ http: HTTPRequest, _ context: ResponseContext, _ view: String?, _ decision: AccessDecision) {
        let metadata = metadataURL(http, view: view)
        let presented = http.header("authorization") != nil
        switch decision {
        case .allow:
            return
        case .unauthorized(let reason):
            onRefused(401)
            log(.info, "mcp request refused", [("status", "401"), ("reason", reason), ("view", view ?? "/mcp"),
                                               ("request_id", context.requestTag)])
            context.send(MCPReply.error(401, id: .null, code: JSONRPCCode.unauthorized, message: "Unauthorized: \(reason)",
                                        headers: corsHeaders(http) + [("WWW-Authenticate", AccessPolicy.challenge(metadataURL: metadata, invalidToken: presented))]))
        case .forbidden(let reason):
            onRefused(403)
            log(.info, "mcp request refused", [("status", "403"), ("reason", reason), ("view", view ?? "/mcp"),
                                               ("request_id", context.requestTag)])
            let scope = view.map { "mcp:\($0)" } ?? "mcp:*"
            context.send(MCPReply.error(403, id: .null, code: JSONRPCCode.forbidden, message: "Forbidden: \(reason)",
                                        headers: corsHeaders(http) + [("WWW-Authenticate",
                                            #"Bearer error="insufficient_scope", scope="\#(scope)", resource_metadata="\#(metadata)""#)]))
        }
    }

    /// The gateway's external base URL: `PUBLIC_URL`, else from the request's Host.
    private func baseURL(_ http: HTTPRequest) -> String {
        if let base = config.publicURL { return base }
        let host = http.header("host").flatMap { h in h.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "/") }) ? h : nil }
        return "http://" + (host ?? "\(config.host):\(config.port)")
    }

    func resourceURL(_ http: HTTPRequest, view: String?) -> String { baseURL(http) + "/mcp" + (view.map { "/" + $0 } ?? "") }

    private func metadataURL(_ http: HTTPRequest, view: String?) -> String {
        baseURL(http) + "/.well-known/oauth-protected-resource/mcp" + (view.map { "/" + $0 } ?? "")
    }

    /// RFC 9728 protected-resource metadata for `/mcp` (also at the bare well-known path) or a view.
    private func resourceMetadata(_ http: HTTPRequest) -> HTTPResponse {
        // Any well-formed view name gets its document, whether or not the view exists: the
        // metadata must not tell an unauthenticated client which views there are.
        let view = http.parameters["view"]
        if let view, Validation.serviceNameProblem(view) != nil {
            return .error(404, code: "not_found", message: "not a virtual server name")
        }
        let scopes = view.map { ["mcp:\($0)", "mcp:*"] } ?? ["mcp:*"]
        return .json(200, .object([
            ("resource", .string(resourceURL(http, view: view))),
            ("authorization_servers", .array(config.authorizationServers.map { .string($0) })),
            ("bearer_methods_supported", .array([.string("header")])),
            ("scopes_supported", .array(scopes.map { .string($0) })),
            ("resource_name", .string("mcp-gateway" + (view.map { " (\($0))" } ?? ""))),
        ]), headers: [("Access-Control-Allow-Origin", "*")])
    }

    static var now: Int64 { Int64(time(nil)) }

    private func corsHeaders(_ request: HTTPRequest) -> [(name: String, value: String)] {
        guard let origin = request.header("origin") else { return [] }
        return [("Access-Control-Allow-Origin", origin), ("Access-Control-Expose-Headers", "Mcp-Session-Id, Mcp-Protocol-Version, WWW-Authenticate"), ("Vary", "Origin")]
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

    private static func acceptsJSON(_ request: HTTPRequest) -> Bool {
        request.headerLists("accept", "application/json", or: "*/*", "application/*")
    }

    private static func acceptsSSE(_ request: HTTPRequest) -> Bool {
        request.headerLists("accept", "text/event-stream", or: "*/*", "text/*")
    }

    /// What the classifier needs of the HTTP request.
    private static func head(_ http: HTTPRequest, json: Bool) -> MCPRequestClassifier.Head {
        MCPRequestClassifier.Head(origin: http.header("origin"), protocolVersion: http.header("mcp-protocol-version"),
                                  sessionID: http.header("mcp-session-id"), mcpMethod: http.header("mcp-method"),
                                  mcpName: http.header("mcp-name"), acceptsJSON: json ? acceptsJSON(http) : true,
                                  acceptsSSE: acceptsSSE(http))
    }

    // MARK: the three methods: classify, then carry out the one action

    private func post(_ http: HTTPRequest, _ context: ResponseContext, _ scope: Scope) {
        // A plain `tools/call` is served from its bytes: validated, its envelope located, its
        // params spliced for the downstream. Traced requests, audit lines with arguments and
        // everything the fast path declines go the way of every other request.
        let head = Self.head(http, json: true)
        if tracer == nil, !config.auditArguments, let envelope = ToolCallEnvelope.scan(http.body),
           let request = MCPRequestClassifier.postToolCall(head, envelope, origins: origins, session: verify) {
            onRequest("tools/call", request.modern)
            return call(request, context, scope, envelope: envelope, cors: corsHeaders(http))
        }
        var scope = scope
        var parseError: String?
        let body: JSON?
        do { body = try JSONParser.parse(http.body) } catch {
            body = nil
            parseError = error.description
        }
        if tracer != nil { startSpan(http, body, context, &scope) }
        let classified = MCPRequestClassifier.post(head, body: body, parseError: parseError,
                                                   origins: origins, session: verify)
        if let (method, modern) = classified.observed { onRequest(method, modern) }
        carryOut(classified.action, http, context, scope)
    }

    private func get(_ http: HTTPRequest, _ context: ResponseContext, _ scope: Scope) {
        carryOut(MCPRequestClassifier.get(Self.head(http, json: false), origins: origins, session: verify,
                                          hasStream: { [hub] in hub.hasStream(session: $0) }), http, context, scope)
    }

    private func delete(_ http: HTTPRequest, _ context: ResponseContext, _ scope: Scope) {
        carryOut(MCPRequestClassifier.delete(Self.head(http, json: false), origins: origins, session: verify), http, context, scope)
    }

    private func carryOut(_ action: MCPRequestClassifier.Action, _ http: HTTPRequest, _ context: ResponseContext, _ scope: Scope) {
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
            dispatch(call, context, scope, cors: cors)
        case .openStream(let token):
            let stream = context.startStream(headers: SSE.headers + cors + [("Mcp-Session-Id", token.id)])
            stream.write(Array(": stream open\n\n".utf8))
            hub.add(stream, session: token.id, subscriptionID: nil, view: scope.view)
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

    private func dispatch(_ request: Request, _ context: ResponseContext, _ scope: Scope, cors: [(name: String, value: String)]) {
        switch request.method {
        case "tools/list":
            context.send(list(request, key: "tools", catalog: nil, scope, cors: cors))
        case "resources/list":
            context.send(list(request, key: "resources", catalog: .resources, scope, cors: cors))
        case "resources/templates/list":
            context.send(list(request, key: "resourceTemplates", catalog: .templates, scope, cors: cors))
        case "prompts/list":
            context.send(list(request, key: "prompts", catalog: .prompts, scope, cors: cors))
        case "tools/call":
            call(request, context, scope, cors: cors)
        case "resources/read", "prompts/get", "completion/complete":
            route(request, context, scope, cors: cors)
        case "resources/subscribe", "resources/unsubscribe":
            subscribe(request, context, scope, on: request.method == "resources/subscribe", cors: cors)
        case "server/discover":
            context.send(MCPReply.result(id: request.id, discoverResult(), headers: cors))
        case "subscriptions/listen":
            listen(request, context, scope, cors: cors)
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

    /// A list result from the snapshot's pre-serialized pages (tools when `catalog` is nil).
    private func list(_ request: Request, key: String, catalog: ToolIndex.Catalog?, _ scope: Scope,
                      cors: [(name: String, value: String)]) -> HTTPResponse {
        var snapshot = scope.snapshot
        var page = 0
        if let cursor = request.params["cursor"] {
            guard let text = cursor.stringValue, let (version, p, view) = ToolIndex.decodeCursor(text),
                  let held = version == snapshot.version && view == snapshot.view
                      ? snapshot : retained(version, view).flatMap({ s in scope.view.map { s.projection($0) } ?? s }),
                  p < (catalog.map { held.pageCount($0) } ?? held.pageCount) else {
                return MCPReply.error(200, id: request.id, code: JSONRPCCode.invalidParams, message: "Invalid cursor", headers: cors)
            }
            snapshot = held
            page = p
        }
        // The envelope, the result and the page in one buffer, sized once.
        let pageBytes = catalog.map { snapshot.page($0, page) } ?? snapshot.page(page)
        let unavailable = self.unavailable()
        var body: [UInt8] = []
        body.reserveCapacity(pageBytes.count + request.idBytes.count + Self.modernMetaMember.count + (unavailable?.count ?? 0) + 200)
        body += #"{"jsonrpc":"2.0","id":"#.utf8
        body += request.idBytes
        body += #","result":{""#.utf8
        body += key.utf8
        body += #"":"#.utf8
        body += pageBytes
        if page + 1 < (catalog.map { snapshot.pageCount($0) } ?? snapshot.pageCount) {
            body += #","nextCursor":""#.utf8
            body += snapshot.cursor(forPage: page + 1).utf8
            body.append(UInt8(ascii: "\""))
        }
        if request.modern {
            body += #","ttlMs":0,"cacheScope":"public","resultType":"complete""#.utf8
            body += Self.modernMetaMember
            if let unavailable {  // one more key in the same _meta object
                body.removeLast()
                body += Self.unavailableKey
                body += unavailable
                body.append(UInt8(ascii: "}"))
            }
        } else if let unavailable {
            body += #","_meta":{"#.utf8
            body += Self.unavailableKey.dropFirst()
            body += unavailable
            body.append(UInt8(ascii: "}"))
        }
        body += "}}".utf8
        return HTTPResponse(status: 200, headers: HTTPResponse.jsonHeaders(cors), body: body)
    }

    /// `resources/read`, `prompts/get` and `completion/complete`: find the owner from the federated
    /// name or URI, relay with the downstream's own, map URIs in a read's contents back.
    private func route(_ request: Request, _ context: ResponseContext, _ scope: Scope, cors: [(name: String, value: String)]) {
        let snapshot = scope.snapshot
        let audit = auditContext(request, context, scope)
        func refuse(_ message: String, code: Int = JSONRPCCode.invalidParams) {
            context.send(MCPReply.error(200, id: request.id, code: code, message: message, headers: cors))
        }
        switch request.method {
        case "resources/read":
            guard let uri = request.params["uri"]?.stringValue else { return refuse("params.uri must be a string") }
            guard let (name, original) = FederatedURI.resolve(uri), let service = snapshot.service(named: name),
                  snapshot.allowsResource(uri, service: service) else {
                // 2026-07-28 names a code for it; the handshake era answers invalid params.
                return refuse("Resource not found: \(uri)", code: request.modern ? JSONRPCCode.resourceNotFound : JSONRPCCode.invalidParams)
            }
            relay.forward(request, context, service: service, method: "resources/read",
                          params: .tree(request.params.setting("uri", .string(original))), label: original,
                          transform: { [modern = request.modern] raw in
                              RelayedResponse.federatingContents(raw, service: name, modern: modern) ?? raw
                          }, audit: audit?.naming(uri), cors: cors)
        case "prompts/get":
            guard let name = request.params["name"]?.stringValue else { return refuse("params.name must be a string") }
            guard let (service, entry) = snapshot.prompt(named: name) else { return refuse("Unknown prompt: \(name)") }
            relay.forward(request, context, service: service, method: "prompts/get",
                          params: .tree(request.params.setting("name", .string(entry.originalName))), label: entry.originalName,
                          audit: audit?.naming(name), cors: cors)
        default:  // completion/complete
            let ref = request.params["ref"] ?? .null
            switch ref["type"]?.stringValue {
            case "ref/prompt":
                guard let name = ref["name"]?.stringValue, let (service, entry) = snapshot.prompt(named: name) else {
                    return refuse("Unknown prompt: \(ref["name"]?.stringValue ?? "")")
                }
                relay.forward(request, context, service: service, method: "completion/complete",
                              params: .tree(request.params.setting("ref", ref.setting("name", .string(entry.originalName)))),
                              label: entry.originalName, cors: cors)
            case "ref/resource":
                guard let uri = ref["uri"]?.stringValue, let (name, original) = FederatedURI.resolve(uri),
                      let service = snapshot.service(named: name), snapshot.allowsResource(uri, service: service) else {
                    return refuse("Unknown resource template: \(ref["uri"]?.stringValue ?? "")")
                }
                relay.forward(request, context, service: service, method: "completion/complete",
                              params: .tree(request.params.setting("ref", ref.setting("uri", .string(original)))), label: original, cors: cors)
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
    private func subscribe(_ request: Request, _ context: ResponseContext, _ scope: Scope, on: Bool, cors: [(name: String, value: String)]) {
        func refuse(_ code: Int, _ message: String) {
            context.send(MCPReply.error(200, id: request.id, code: code, message: message, headers: cors))
        }
        guard let session = request.session?.id else { return refuse(JSONRPCCode.invalidRequest, "resources/subscribe needs a session") }
        guard let uri = request.params["uri"]?.stringValue else { return refuse(JSONRPCCode.invalidParams, "params.uri must be a string") }
        if on {
            guard let (name, _) = FederatedURI.resolve(uri), let service = scope.snapshot.service(named: name),
                  scope.snapshot.allowsResource(uri, service: service) else {
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

    private func listen(_ request: Request, _ context: ResponseContext, _ scope: Scope, cors: [(name: String, value: String)]) {
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
        let snapshot = scope.snapshot
        let resources = (wanted?["resourceSubscriptions"]?.arrayValue ?? []).compactMap(\.stringValue).filter { uri in
            FederatedURI.resolve(uri).flatMap { snapshot.service(named: $0.service) }.map { snapshot.allowsResource(uri, service: $0) } ?? false
        }.prefix(Self.maxSubscriptionsPerSession)
        if !resources.isEmpty { honored.append(("resourceSubscriptions", .array(resources.map { .string($0) }))) }
        let stream = context.startStream(headers: SSE.headers + cors)
        let ack = JSONRPC.notification(method: "notifications/subscriptions/acknowledged", params: .object([
            ("_meta", .object([("io.modelcontextprotocol/subscriptionId", request.id)])),
            ("notifications", .object(honored)),
        ]))
        stream.write(MCPReply.event(ack.serialized()))
        if !honored.isEmpty {
            hub.add(stream, session: nil, subscriptionID: request.id, wants: wants, resources: Set(resources), view: scope.view)
        }
    }

    // MARK: tools/call: rate limits and audit

    /// How many replicas share each rate limit (the budget is divided among them).
    var liveReplicas: () -> Int = { 1 }
    private var limiter = RateLimiter()

    private func call(_ request: Request, _ context: ResponseContext, _ scope: Scope, envelope: ToolCallEnvelope? = nil,
                      cors: [(name: String, value: String)]) {
        let audit = auditContext(request, context, scope)
        let name = envelope?.name ?? request.params["name"]?.stringValue
        let viewLimit = scope.view.flatMap { scope.snapshot.access.virtualServers[$0]?.perMinute }
        if let name, let perMinute = Self.tightest(scope.principal.perMinute, viewLimit, config.rateLimitPerMinute) {
            let key = scope.principal.label + "|" + (scope.view ?? "") + "|" + name
            if case .limited(let retryAfter) = limiter.take(key, perMinute: perMinute, replicas: liveReplicas(), now: EventLoop.main.now) {
                onRateLimited()
                let seconds = max(1, Int(retryAfter.rounded(.up)))
                if let audit { relay.audit?(audit.naming(name), "tools/call", "", "rate_limited", 0) }
                return context.send(MCPReply.error(429, id: request.id, code: JSONRPCCode.rateLimited,
                                                   message: "Rate limit of \(perMinute) calls per minute for \(name) reached; retry in \(seconds)s",
                                                   data: .object([("retryAfterMs", .int(Int(retryAfter * 1000))), ("limitPerMinute", .int(perMinute))]),
                                                   headers: cors + [("Retry-After", String(seconds))]))
            }
        }
        relay.call(request, context, index: scope.snapshot, envelope: envelope, audit: audit, cors: cors)
    }

    /// The smallest of the limits that are set (without an array per call).
    static func tightest(_ a: Int?, _ b: Int?, _ c: Int?) -> Int? {
        var m = a
        if let b { m = min(m ?? b, b) }
        if let c { m = min(m ?? c, c) }
        return m
    }

    /// Who asked for what, for the audit line (nil when audit lines are off).
    private func auditContext(_ request: Request, _ context: ResponseContext, _ scope: Scope) -> AuditContext? {
        // Audit lines are written at info: below that level nothing is built for them.
        guard (config.auditLog && log.enabled(.info)) || scope.span != nil else { return nil }
        return AuditContext(who: scope.principal.label, view: scope.view ?? "/mcp", requestTag: context.requestTag,
                            rpcID: request.id.text, name: "",
                            arguments: config.auditArguments ? request.params["arguments"].map { $0.serialized() } : nil, span: scope.span)
    }

    /// After a new snapshot: `list_changed` to each view's listeners for what changed in that view.
    func notifyListChanges(from old: ToolIndex, to new: ToolIndex) {
        for view in hub.views {
            guard let view else {
                hub.notifyChanges(new.changedLists(since: old), view: nil)
                continue
            }
            switch (old.projection(view), new.projection(view)) {
            case (let a?, let b?): hub.notifyChanges(b.changedLists(since: a), view: view)
            case (nil, _?): hub.notifyChanges((true, true, true), view: view)
            case (_, nil): hub.endView(view)  // the virtual server is gone: its streams end
            }
        }
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
