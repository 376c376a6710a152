/// Every protocol decision `/mcp` makes before it serves a request, as a pure function of the
/// request: which era it belongs to, and whether it is refused (with the status and JSON-RPC error
/// each era gives), accepted (202), an `initialize`, a cancellation, a stream to open or a session
/// to end, or a call to serve. The endpoint parses, asks, and carries out the one action.
public enum MCPRequestClassifier {
    /// What the classifier needs of an HTTP request.
    public struct Head: Sendable {
        public var origin: String?
        public var protocolVersion: String?
        public var sessionID: String?
        public var mcpMethod: String?
        public var mcpName: String?
        /// Whether `Accept` lists (or covers with a wildcard) each type.
        public var acceptsJSON: Bool
        public var acceptsSSE: Bool

        public init(origin: String? = nil, protocolVersion: String? = nil, sessionID: String? = nil, mcpMethod: String? = nil,
                    mcpName: String? = nil, acceptsJSON: Bool = true, acceptsSSE: Bool = true) {
            self.origin = origin
            self.protocolVersion = protocolVersion
            self.sessionID = sessionID
            self.mcpMethod = mcpMethod
            self.mcpName = mcpName
            self.acceptsJSON = acceptsJSON
            self.acceptsSSE = acceptsSSE
        }
    }

    public enum Action: Sendable {
        /// A JSON-RPC error with this HTTP status.
        case error(status: Int, id: JSON?, code: Int, message: String, data: JSON?)
        /// A notification or a response: 202, no body.
        case accepted
        /// A modern-era client asked for GET/DELETE: 405, `Allow: POST`.
        case methodNotAllowed
        case initialize(id: JSON, version: String)
        /// A handshake-era `notifications/cancelled` (answered 202 after the cancellation).
        case cancel(key: String, reason: String?)
        case dispatch(MCPCall)
        /// GET: open the session's server-to-client stream.
        case openStream(SessionToken)
        /// DELETE: end the session (204).
        case endSession(SessionToken)
    }

    /// The request's method and era, for metrics, once the envelope is known.
    public struct Classification: Sendable {
        public let action: Action
        public let observed: (method: String, modern: Bool)?
    }

    /// Methods served, by era.
    static let federated: Set<String> = [
        "tools/list", "tools/call", "resources/list", "resources/templates/list", "resources/read",
        "prompts/list", "prompts/get", "completion/complete",
    ]
    /// The handshake era subscribes to resources with requests; 2026-07-28 names them in `subscriptions/listen`.
    static let handshakeMethods: Set<String> = federated.union(["ping", "resources/subscribe", "resources/unsubscribe"])
    static let modernMethods: Set<String> = federated.union(["server/discover", "subscriptions/listen"])
    /// Methods whose `Mcp-Name` header names a body parameter (2026-07-28), and which parameter.
    static let nameBearing: [String: String] = ["tools/call": "name", "prompts/get": "name", "resources/read": "uri"]
    static let metaClientCapabilities = "io.modelcontextprotocol/clientCapabilities"

    static func error(_ status: Int, _ id: JSON?, _ code: Int, _ message: String, data: JSON? = nil) -> Action {
        .error(status: status, id: id, code: code, message: message, data: data)
    }

    static var supportedData: JSON { .object([("supported", .array(MCPVersions.all.map { .string($0) }))]) }

    /// POST: `body` is the parsed body, or nil with `parseError` saying why it did not parse.
    /// `session` verifies a session id (signature, age, not ended).
    public static func post(_ head: Head, body: JSON?, parseError: String? = nil, origins: OriginPolicy,
                            session: (String) -> SessionToken?) -> Classification {
        if let refused = refuseOrigin(head, origins) { return Classification(action: refused, observed: nil) }
        guard let body else {
            return Classification(action: error(400, nil, JSONRPCCode.parseError, "Parse error: \(parseError ?? "invalid JSON")"), observed: nil)
        }
        if case .array = body {
            return Classification(action: error(400, nil, JSONRPCCode.invalidRequest, "Batch requests are not supported"), observed: nil)
        }
        guard case .object = body, body["jsonrpc"]?.stringValue == "2.0" else {
            return Classification(action: error(400, nil, JSONRPCCode.invalidRequest, "Invalid Request: expected a JSON-RPC 2.0 object"), observed: nil)
        }
        let id = body["id"]
        if let id, !validID(id) {
            return Classification(action: error(400, nil, JSONRPCCode.invalidRequest, "Invalid Request: id must be a string or a number"), observed: nil)
        }
        let params = body["params"] ?? .object([])
        let metaVersion = params["_meta"]?[MCPVersions.metaProtocolVersion]?.stringValue
        let header = head.protocolVersion
        let method = body["method"]?.stringValue
        let modern = header.map { MCPVersions.modern.contains($0) || (!MCPVersions.handshake.contains($0) && metaVersion != nil) }
            ?? (metaVersion != nil)
        let observed = (method ?? "response", modern)
        let action = modern
            ? postModern(head, id: id, method: method, params: params, metaVersion: metaVersion)
            : postHandshake(head, id: id, method: method, params: params, session: session)
        return Classification(action: action, observed: observed)
    }

    static func validID(_ id: JSON) -> Bool {
        switch id {
        case .string, .number: return true
        default: return false
        }
    }

    static func refuseOrigin(_ head: Head, _ origins: OriginPolicy) -> Action? {
        guard let origin = head.origin, !origins.allows(origin) else { return nil }
        return error(403, nil, JSONRPCCode.invalidRequest, "Origin not allowed: \(origin)")
    }

    /// The session of a handshake-era request, or the refusal: 400 without the header, 404 for an
    /// unknown, forged, expired or ended one (the status that makes a client initialize again).
    static func requireSession(_ head: Head, id: JSON?, _ session: (String) -> SessionToken?) -> Result<SessionToken, Refusal> {
        guard let presented = head.sessionID else {
            return .failure(Refusal(action: error(400, id, JSONRPCCode.invalidRequest, "Bad Request: Mcp-Session-Id header is required")))
        }
        guard let token = session(presented) else {
            return .failure(Refusal(action: error(404, id, JSONRPCCode.invalidRequest, "Session not found")))
        }
        return .success(token)
    }

    struct Refusal: Error { let action: Action }

    static func postHandshake(_ head: Head, id: JSON?, method: String?, params: JSON,
                              session: (String) -> SessionToken?) -> Action {
        guard head.acceptsJSON && head.acceptsSSE else {
            return error(406, id, JSONRPCCode.invalidRequest, "Not Acceptable: Accept must list application/json and text/event-stream")
        }
        if method == "initialize" {
            guard let id else { return error(400, nil, JSONRPCCode.invalidRequest, "initialize must be a request") }
            let requested = params["protocolVersion"]?.stringValue ?? ""
            return .initialize(id: id, version: MCPVersions.handshake.contains(requested) ? requested : MCPVersions.handshake[0])
        }
        if let header = head.protocolVersion, !MCPVersions.handshake.contains(header) {
            return error(400, id, JSONRPCCode.unsupportedVersion, "Bad Request: unsupported MCP-Protocol-Version \(header)", data: supportedData)
        }
        let token: SessionToken
        switch requireSession(head, id: id, session) {
        case .success(let t): token = t
        case .failure(let refusal): return refusal.action
        }
        guard let method else { return .accepted }  // a response to a server request
        guard let id else {
            if method == "notifications/cancelled", let rid = params["requestId"] {
                return .cancel(key: "\(token.id)|\(rid.text)", reason: params["reason"]?.stringValue)
            }
            return .accepted
        }
        guard handshakeMethods.contains(method) else {
            return error(200, id, JSONRPCCode.methodNotFound, "Method not found: \(method)")
        }
        return .dispatch(MCPCall(id: id, method: method, params: params, modern: false,
                                 version: head.protocolVersion ?? MCPVersions.assumedWithoutHeader, session: token, acceptsStream: true))
    }

    static func postModern(_ head: Head, id: JSON?, method: String?, params: JSON, metaVersion: String?) -> Action {
        // The per-request envelope comes first: a request without it is malformed, whatever its headers say.
        if let method, id != nil {
            let meta = params["_meta"]
            guard case .object? = meta else {
                return error(400, id, JSONRPCCode.invalidParams,
                             "params._meta must be an object carrying the required \(MCPVersions.metaProtocolVersion) and \(metaClientCapabilities) keys")
            }
            let missing = [MCPVersions.metaProtocolVersion, metaClientCapabilities].filter { meta?[$0] == nil }
            if !missing.isEmpty {
                return error(400, id, JSONRPCCode.invalidParams,
                             "params._meta is missing the required key(s): \(missing.joined(separator: ", ")) (request \(method))")
            }
        }
        if let header = head.protocolVersion, let metaVersion, header != metaVersion {
            return error(400, id, JSONRPCCode.headerMismatch,
                         "MCP-Protocol-Version header \(header) does not match _meta protocolVersion \(metaVersion)")
        }
        guard let method else { return .accepted }
        if head.mcpMethod != method {
            return error(400, id, JSONRPCCode.headerMismatch,
                         head.mcpMethod.map { "Mcp-Method header \($0) does not match the body's method \(method)" } ?? "Mcp-Method header is required")
        }
        if let key = nameBearing[method] {
            let name = params[key]?.stringValue
            guard let presented = head.mcpName else {
                return error(400, id, JSONRPCCode.headerMismatch, "Mcp-Name header is required")
            }
            guard let decoded = HeaderValue.decode(presented) else {
                return error(400, id, JSONRPCCode.headerMismatch, "Mcp-Name header carries a malformed base64 value")
            }
            if decoded != name {
                return error(400, id, JSONRPCCode.headerMismatch, "Mcp-Name header \(presented) does not match the request's \(key)")
            }
        }
        // Headers first, then the revision (the order the reference server checks in).
        for v in [head.protocolVersion, metaVersion].compactMap({ $0 }) where !MCPVersions.modern.contains(v) {
            return error(400, id, JSONRPCCode.unsupportedVersion, "Unsupported protocol version: \(v)",
                         data: .object([("supported", .array(MCPVersions.all.map { .string($0) })), ("requested", .string(v))]))
        }
        guard let id else { return .accepted }
        guard modernMethods.contains(method) else {
            return error(404, id, JSONRPCCode.methodNotFound, "Method not found: \(method)")
        }
        return .dispatch(MCPCall(id: id, method: method, params: params, modern: true,
                                 version: metaVersion ?? head.protocolVersion ?? "", session: nil, acceptsStream: head.acceptsSSE))
    }

    /// GET: the handshake era's server-to-client stream. `hasStream` tells whether the session
    /// already has one (only one per session).
    public static func get(_ head: Head, origins: OriginPolicy, session: (String) -> SessionToken?,
                           hasStream: (String) -> Bool) -> Action {
        if let refused = refuseOrigin(head, origins) { return refused }
        if let v = head.protocolVersion, MCPVersions.modern.contains(v) { return .methodNotAllowed }
        guard head.acceptsSSE else {
            return error(406, nil, JSONRPCCode.invalidRequest, "Not Acceptable: Accept must list text/event-stream")
        }
        switch requireSession(head, id: nil, session) {
        case .failure(let refusal): return refusal.action
        case .success(let token):
            if hasStream(token.id) { return error(409, nil, JSONRPCCode.invalidRequest, "Conflict: only one stream per session") }
            return .openStream(token)
        }
    }

    /// DELETE: ends a handshake-era session.
    public static func delete(_ head: Head, origins: OriginPolicy, session: (String) -> SessionToken?) -> Action {
        if let refused = refuseOrigin(head, origins) { return refused }
        if let v = head.protocolVersion, MCPVersions.modern.contains(v) { return .methodNotAllowed }
        switch requireSession(head, id: nil, session) {
        case .failure(let refusal): return refusal.action
        case .success(let token): return .endSession(token)
        }
    }
}

/// A request `/mcp` serves, once classified: the era it came in, its id and params, the caller's
/// session (handshake era) and whether the caller takes an event stream.
public struct MCPCall: Sendable {
    public let id: JSON
    /// The id as it goes back out, serialized once.
    public let idBytes: [UInt8]
    public let method: String
    public let params: JSON
    public let modern: Bool
    public let version: String
    public let session: SessionToken?
    public var acceptsStream: Bool

    public init(id: JSON, method: String, params: JSON, modern: Bool, version: String, session: SessionToken?, acceptsStream: Bool) {
        self.init(id: id, idBytes: id.serialized(), method: method, params: params, modern: modern, version: version,
                  session: session, acceptsStream: acceptsStream)
    }

    /// A call whose id's bytes are already in hand (a call read from bytes, whose params are not a tree).
    public init(id: JSON, idBytes: [UInt8], method: String, params: JSON, modern: Bool, version: String, session: SessionToken?,
                acceptsStream: Bool) {
        self.id = id
        self.idBytes = idBytes
        self.method = method
        self.params = params
        self.modern = modern
        self.version = version
        self.session = session
        self.acceptsStream = acceptsStream
    }
}

/// HTTP header values as 2026-07-28 carries them: verbatim, or `=?base64?<payload>?=` for values
/// that would not survive a header (non-ASCII, control characters, edge whitespace).
public enum HeaderValue {
    /// The value, decoded when it carries the sentinel; nil for a malformed sentinel (bad or
    /// non-canonical base64, or not UTF-8), so a corrupt header never matches by accident.
    public static func decode(_ value: String) -> String? {
        let u = Array(value.utf8)
        let open = Array("=?base64?".utf8), close = Array("?=".utf8)
        guard u.count >= open.count + close.count, u.starts(with: open), u.suffix(2).elementsEqual(close) else { return value }
        let payload = Array(u[open.count..<(u.count - close.count)])
        guard let bytes = Base64.decodeCanonical(payload) else { return nil }
        var decoded = ""
        var ok = true
        decoded = String(decoding: bytes, as: UTF8.self)
        if Array(decoded.utf8) != bytes { ok = false }  // invalid UTF-8 was replaced
        return ok ? decoded : nil
    }
}

/// Standard base64 (RFC 4648 §4, with padding), strict.
public enum Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func encode(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], UInt8(ascii: "="), UInt8(ascii: "=")]
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], UInt8(ascii: "=")]
        }
        return out
    }

    /// The bytes, or nil unless `text` is exactly what `encode` would produce for them.
    public static func decodeCanonical(_ text: [UInt8]) -> [UInt8]? {
        guard text.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(text.count / 4 * 3)
        var i = 0
        while i < text.count {
            var n: UInt32 = 0
            var pad = 0
            for k in 0..<4 {
                let c = text[i + k]
                let v: UInt32
                switch c {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = UInt32(c - UInt8(ascii: "A"))
                case UInt8(ascii: "a")...UInt8(ascii: "z"): v = UInt32(c - UInt8(ascii: "a")) + 26
                case UInt8(ascii: "0")...UInt8(ascii: "9"): v = UInt32(c - UInt8(ascii: "0")) + 52
                case UInt8(ascii: "+"): v = 62
                case UInt8(ascii: "/"): v = 63
                case UInt8(ascii: "=") where i + 4 == text.count && k >= 2:
                    pad += 1
                    v = 0
                default: return nil
                }
                if pad > 0 && c != UInt8(ascii: "=") { return nil }  // data after padding
                n = n << 6 | v
            }
            out.append(UInt8(n >> 16 & 255))
            if pad < 2 { out.append(UInt8(n >> 8 & 255)) }
            if pad < 1 { out.append(UInt8(n & 255)) }
            i += 4
        }
        return encode(out) == text ? out : nil
    }
}
