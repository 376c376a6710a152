import GatewayCore
import Glibc
import HTTP
import Reactor

/// `POST/GET/DELETE /mcp`: both protocol eras, answered from the current tool-index snapshot,
/// with `tools/call` relayed to the owning downstream.
@LoopActor
final class MCPEndpoint {
    struct Request {
        let http: HTTPRequest
        let body: JSON
        let id: JSON?
        let idBytes: [UInt8]
        let method: String
        let params: JSON
        let modern: Bool
        let version: String
        let session: SessionToken?
        var acceptsStream: Bool
    }

    let config: Configuration
    let log: Log
    let index: () -> ToolIndex
    let retained: (Int64) -> ToolIndex?
    let hub: ListenerHub
    let relay: ToolCallRelay
    private let secret: [UInt8]
    private let origins: OriginPolicy
    /// Ended sessions, kept until they would have expired anyway.
    private var revoked: [String: Int64] = [:]
    static let sessionMaxAge: Int64 = 7 * 24 * 3600
    static let serverInfo = JSON.object([("name", .string("mcp-gateway")), ("version", .string("0.1.0"))])
    static let instructions = "A federation gateway: tools of many MCP servers, named <service>__<tool>."

    init(config: Configuration, log: Log, secret: [UInt8], index: @escaping () -> ToolIndex,
         retained: @escaping (Int64) -> ToolIndex?, relay: ToolCallRelay) {
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

    private func originRejected(_ request: HTTPRequest) -> HTTPResponse? {
        guard let origin = request.header("origin"), !origins.allows(origin) else { return nil }
        return MCPReply.error(403, id: nil, code: JSONRPCCode.invalidRequest, message: "Origin not allowed: \(origin)")
    }

    /// The request's valid session, or nil after answering 400 (no session header) or 404 (unknown,
    /// forged, expired or ended: the status that makes a client initialize again).
    private func requireSession(_ http: HTTPRequest, _ context: ResponseContext, id: JSON?,
                                cors: [(name: String, value: String)]) -> SessionToken? {
        let (token, presented) = session(http)
        guard presented else {
            context.send(MCPReply.error(400, id: id, code: JSONRPCCode.invalidRequest, message: "Bad Request: Mcp-Session-Id header is required", headers: cors))
            return nil
        }
        guard let token else {
            context.send(MCPReply.error(404, id: id, code: JSONRPCCode.invalidRequest, message: "Session not found", headers: cors))
            return nil
        }
        return token
    }

    /// Sessions whose signature was checked recently (the HMAC is skipped for them).
    private var verified: [String: SessionToken] = [:]

    private func session(_ request: HTTPRequest) -> (token: SessionToken?, presented: Bool) {
        guard let id = request.header("mcp-session-id") else { return (nil, false) }
        guard revoked[id] == nil else { return (nil, true) }
        let now = Self.now
        if let token = verified[id], now - token.issuedAt <= Self.sessionMaxAge { return (token, true) }
        guard let token = SessionToken.verify(id, secret: secret, now: now, maxAge: Self.sessionMaxAge) else {
            return (nil, true)
        }
        if verified.count >= 50_000 { verified.removeAll(keepingCapacity: true) }
        verified[id] = token
        return (token, true)
    }

    private static func accepts(_ request: HTTPRequest, _ type: String) -> Bool {
        let family = type.hasPrefix("text/") ? "text/*" : "application/*"
        return request.headerLists("accept", type, wildcards: ["*/*", family])
    }

    // MARK: POST

    func post(_ http: HTTPRequest, _ context: ResponseContext) {
        if let rejected = originRejected(http) { context.send(rejected); return }
        let cors = corsHeaders(http)
        let body: JSON
        do { body = try JSONParser.parse(http.body) } catch {
            context.send(MCPReply.error(400, id: nil, code: JSONRPCCode.parseError, message: "Parse error: \(error.description)", headers: cors))
            return
        }
        if case .array = body {
            context.send(MCPReply.error(400, id: nil, code: JSONRPCCode.invalidRequest, message: "Batch requests are not supported", headers: cors))
            return
        }
        guard case .object = body, body["jsonrpc"]?.stringValue == "2.0" else {
            context.send(MCPReply.error(400, id: nil, code: JSONRPCCode.invalidRequest, message: "Invalid Request: expected a JSON-RPC 2.0 object", headers: cors))
            return
        }
        let id = body["id"]
        if let id, !Self.validID(id) {
            context.send(MCPReply.error(400, id: nil, code: JSONRPCCode.invalidRequest, message: "Invalid Request: id must be a string or a number", headers: cors))
            return
        }
        let params = body["params"] ?? .object([])
        let metaVersion = params["_meta"]?[MCPVersions.metaProtocolVersion]?.stringValue
        let header = http.header("mcp-protocol-version")
        let method = body["method"]?.stringValue
        let modern = header.map { MCPVersions.modern.contains($0) || (!MCPVersions.handshake.contains($0) && metaVersion != nil) }
            ?? (metaVersion != nil)
        onRequest(method ?? "response", modern)
        if modern {
            postModern(http, context, body: body, id: id, method: method, params: params, header: header, metaVersion: metaVersion, cors: cors)
        } else {
            postHandshake(http, context, body: body, id: id, method: method, params: params, header: header, cors: cors)
        }
    }

    private static func validID(_ id: JSON) -> Bool {
        switch id {
        case .string, .number: return true
        default: return false
        }
    }

    private func postHandshake(_ http: HTTPRequest, _ context: ResponseContext, body: JSON, id: JSON?, method: String?,
                               params: JSON, header: String?, cors: [(name: String, value: String)]) {
        guard Self.accepts(http, "application/json") && Self.accepts(http, "text/event-stream") else {
            context.send(MCPReply.error(406, id: id, code: JSONRPCCode.invalidRequest,
                                        message: "Not Acceptable: Accept must list application/json and text/event-stream", headers: cors))
            return
        }
        if method == "initialize" {
            guard let id else {
                context.send(MCPReply.error(400, id: nil, code: JSONRPCCode.invalidRequest, message: "initialize must be a request", headers: cors))
                return
            }
            initialize(id: id, params: params, context: context, cors: cors)
            return
        }
        if let header, !MCPVersions.handshake.contains(header) {
            context.send(MCPReply.error(400, id: id, code: JSONRPCCode.unsupportedVersion,
                                        message: "Bad Request: unsupported MCP-Protocol-Version \(header)",
                                        data: .object([("supported", .array(MCPVersions.all.map { .string($0) }))]), headers: cors))
            return
        }
        guard let token = requireSession(http, context, id: id, cors: cors) else { return }
        guard let method else {
            context.send(HTTPResponse(status: 202, headers: cors))  // a response to a server request
            return
        }
        guard let id else {
            if method == "notifications/cancelled", let rid = params["requestId"] {
                let key = "\(token.id)|\(rid.text)"
                // Behind a load balancer the call may run on another replica: tell them all.
                if !relay.cancel(key: key, reason: params["reason"]?.stringValue) { onForeignCancel(key) }
            }
            context.send(HTTPResponse(status: 202, headers: cors))
            return
        }
        let request = Request(http: http, body: body, id: id, idBytes: id.serialized(), method: method, params: params,
                              modern: false, version: header ?? MCPVersions.assumedWithoutHeader, session: token,
                              acceptsStream: true)
        dispatch(request, context, cors: cors)
    }

    private func postModern(_ http: HTTPRequest, _ context: ResponseContext, body: JSON, id: JSON?, method: String?,
                            params: JSON, header: String?, metaVersion: String?, cors: [(name: String, value: String)]) {
        let version = metaVersion ?? header ?? ""
        // The stateless era accepts only modern revisions; a handshake revision here is as
        // unsupported as an unknown one.
        if let header, let metaVersion, header != metaVersion {
            context.send(MCPReply.error(400, id: id, code: JSONRPCCode.headerMismatch,
                                        message: "MCP-Protocol-Version header \(header) does not match _meta protocolVersion \(metaVersion)", headers: cors))
            return
        }
        guard let method else {
            context.send(HTTPResponse(status: 202, headers: cors))
            return
        }
        let headerMethod = http.header("mcp-method")
        if headerMethod != method {
            let problem = headerMethod.map { "Mcp-Method header \($0) does not match the body's method \(method)" }
                ?? "Mcp-Method header is required"
            context.send(MCPReply.error(400, id: id, code: JSONRPCCode.headerMismatch, message: problem, headers: cors))
            return
        }
        if method == "tools/call" || method == "prompts/get" || method == "resources/read" {
            let name = method == "resources/read" ? params["uri"]?.stringValue : params["name"]?.stringValue
            let headerName = http.header("mcp-name")
            if headerName != name {
                let problem = headerName.map { "Mcp-Name header \($0) does not match the request's name" } ?? "Mcp-Name header is required"
                context.send(MCPReply.error(400, id: id, code: JSONRPCCode.headerMismatch, message: problem, headers: cors))
                return
            }
        }
        // Headers first, then the revision (the order the reference server checks in).
        for v in [header, metaVersion].compactMap({ $0 }) where !MCPVersions.modern.contains(v) {
            context.send(MCPReply.error(400, id: id, code: JSONRPCCode.unsupportedVersion, message: "Unsupported protocol version: \(v)",
                                        data: .object([("supported", .array(MCPVersions.all.map { .string($0) })),
                                                       ("requested", .string(v))]), headers: cors))
            return
        }
        guard let id else {
            context.send(HTTPResponse(status: 202, headers: cors))
            return
        }
        let request = Request(http: http, body: body, id: id, idBytes: id.serialized(), method: method, params: params,
                              modern: true, version: version, session: nil,
                              acceptsStream: Self.accepts(http, "text/event-stream"))
        dispatch(request, context, cors: cors)
    }

    private func initialize(id: JSON, params: JSON, context: ResponseContext, cors: [(name: String, value: String)]) {
        let requested = params["protocolVersion"]?.stringValue ?? ""
        let negotiated = MCPVersions.handshake.contains(requested) ? requested : MCPVersions.handshake[0]
        var random = SystemRandomNumberGenerator()
        let bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &random) }
        let token = SessionToken.issue(secret: secret, protocolVersion: negotiated, now: Self.now, random: bytes)
        let result = JSON.object([
            ("protocolVersion", .string(negotiated)),
            ("capabilities", .object([("tools", .object([("listChanged", .bool(true))]))])),
            ("serverInfo", Self.serverInfo),
            ("instructions", .string(Self.instructions)),
        ])
        log(.debug, "session opened", [("session", String(token.id.suffix(8))), ("version", negotiated)])
        context.send(MCPReply.result(id: id, result, headers: cors + [("Mcp-Session-Id", token.id)]))
    }

    // MARK: methods

    var onRequest: (String, Bool) -> Void = { _, _ in }

    private func dispatch(_ request: Request, _ context: ResponseContext, cors: [(name: String, value: String)]) {
        switch request.method {
        case "tools/list":
            context.send(toolsList(request, cors: cors))
        case "tools/call":
            relay.call(request, context, index: index(), cors: cors)
        case "ping" where !request.modern:
            context.send(MCPReply.result(id: request.id!, .object([]), headers: cors))
        case "server/discover" where request.modern:
            context.send(MCPReply.result(id: request.id!, discoverResult(), headers: cors))
        case "subscriptions/listen" where request.modern:
            listen(request, context, cors: cors)
        default:
            let status = request.modern ? 404 : 200
            context.send(MCPReply.error(status, id: request.id, code: JSONRPCCode.methodNotFound,
                                        message: "Method not found: \(request.method)", headers: cors))
        }
    }

    private func discoverResult() -> JSON {
        .object([
            ("supportedVersions", .array(MCPVersions.all.map { .string($0) })),
            ("capabilities", .object([("tools", .object([("listChanged", .bool(true))]))])),
            ("instructions", .string(Self.instructions)),
            ("resultType", .string("complete")),
            ("ttlMs", .int(0)),
            ("cacheScope", .string("public")),
            ("_meta", .object([("io.modelcontextprotocol/serverInfo", Self.serverInfo)])),
        ])
    }

    func toolsList(_ request: Request, cors: [(name: String, value: String)]) -> HTTPResponse {
        var snapshot = index()
        var page = 0
        if let cursor = request.params["cursor"] {
            guard let text = cursor.stringValue, let (version, p) = ToolIndex.decodeCursor(text),
                  let held = version == snapshot.version ? snapshot : retained(version), p < held.pageCount else {
                return MCPReply.error(200, id: request.id, code: JSONRPCCode.invalidParams, message: "Invalid cursor", headers: cors)
            }
            snapshot = held
            page = p
        }
        var result: [UInt8] = Array(#"{"tools":"#.utf8)
        result += snapshot.page(page)
        if page + 1 < snapshot.pageCount {
            result += Array(",\"nextCursor\":\"\(snapshot.cursor(forPage: page + 1))\"".utf8)
        }
        if request.modern { result += Array(#","ttlMs":0,"cacheScope":"public","resultType":"complete""#.utf8) }
        result.append(UInt8(ascii: "}"))
        return HTTPResponse(status: 200, headers: MCPReply.jsonHeaders + cors,
                            body: MCPReply.envelope(id: request.idBytes, key: "result", raw: result))
    }

    private func listen(_ request: Request, _ context: ResponseContext, cors: [(name: String, value: String)]) {
        let wanted = request.params["notifications"]
        var honored: [(String, JSON)] = []
        if wanted?["toolsListChanged"]?.boolValue == true { honored.append(("toolsListChanged", .bool(true))) }
        let stream = context.startStream(headers: SSE.headers + cors)
        let ack = JSONRPC.notification(method: "notifications/subscriptions/acknowledged", params: .object([
            ("_meta", .object([("io.modelcontextprotocol/subscriptionId", request.id!)])),
            ("notifications", .object(honored)),
        ]))
        stream.write(MCPReply.event(ack.serialized()))
        if !honored.isEmpty { hub.add(stream, session: nil, subscriptionID: request.id!) }
    }

    // MARK: GET and DELETE

    func get(_ http: HTTPRequest, _ context: ResponseContext) {
        if let rejected = originRejected(http) { context.send(rejected); return }
        let cors = corsHeaders(http)
        if let v = http.header("mcp-protocol-version"), MCPVersions.modern.contains(v) {
            context.send(HTTPResponse(status: 405, headers: cors + [("Allow", "POST")]))
            return
        }
        guard Self.accepts(http, "text/event-stream") else {
            context.send(MCPReply.error(406, id: nil, code: JSONRPCCode.invalidRequest, message: "Not Acceptable: Accept must list text/event-stream", headers: cors))
            return
        }
        guard let token = requireSession(http, context, id: nil, cors: cors) else { return }
        if hub.hasStream(session: token.id) {
            context.send(MCPReply.error(409, id: nil, code: JSONRPCCode.invalidRequest, message: "Conflict: only one stream per session", headers: cors))
            return
        }
        let stream = context.startStream(headers: SSE.headers + cors + [("Mcp-Session-Id", token.id)])
        stream.write(Array(": stream open\n\n".utf8))
        hub.add(stream, session: token.id, subscriptionID: nil)
    }

    func delete(_ http: HTTPRequest, _ context: ResponseContext) {
        if let rejected = originRejected(http) { context.send(rejected); return }
        let cors = corsHeaders(http)
        if let v = http.header("mcp-protocol-version"), MCPVersions.modern.contains(v) {
            context.send(HTTPResponse(status: 405, headers: cors + [("Allow", "POST")]))
            return
        }
        guard let token = requireSession(http, context, id: nil, cors: cors) else { return }
        revoke(token)
        onRevoke(token.id)
        context.send(HTTPResponse(status: 204, headers: cors))
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
