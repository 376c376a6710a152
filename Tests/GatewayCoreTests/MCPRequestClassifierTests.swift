import Testing
@testable import GatewayCore

@Suite struct MCPRequestClassifierTests {
    typealias C = MCPRequestClassifier
    static let secret = Array("classifier-secret-0123456789".utf8)
    static let token = SessionToken.issue(secret: secret, protocolVersion: "2025-11-25", now: 1_000, random: Array(0..<16))
    static let none = OriginPolicy(allowed: [])
    static let modernMeta: JSON = .object([("io.modelcontextprotocol/protocolVersion", .string("2026-07-28")),
                                           ("io.modelcontextprotocol/clientCapabilities", .object([]))])

    static func session(_ id: String) -> SessionToken? { id == token.id ? token : nil }

    static func handshakeHead(session: String? = token.id, version: String? = "2025-11-25") -> C.Head {
        C.Head(protocolVersion: version, sessionID: session)
    }

    static func modernHead(method: String, name: String? = nil, version: String? = "2026-07-28") -> C.Head {
        C.Head(protocolVersion: version, mcpMethod: method, mcpName: name)
    }

    static func body(_ method: String?, id: JSON? = .int(1), params: [(String, JSON)] = [], meta: JSON? = nil) -> JSON {
        var pairs: [(String, JSON)] = [("jsonrpc", .string("2.0"))]
        if let id { pairs.append(("id", id)) }
        if let method { pairs.append(("method", .string(method))) }
        var p = params
        if let meta { p.append(("_meta", meta)) }
        pairs.append(("params", .object(p)))
        return .object(pairs)
    }

    static func post(_ head: C.Head, _ body: JSON?) -> C.Action {
        C.post(head, body: body, parseError: body == nil ? "unexpected end" : nil, origins: none, session: session).action
    }

    /// (status, code) of an error action, or nil.
    static func error(_ a: C.Action) -> (Int, Int)? {
        if case .error(let status, _, let code, _, _) = a { return (status, code) }
        return nil
    }

    // MARK: both eras

    @Test func envelopeProblemsComeFirst() {
        #expect(Self.error(Self.post(Self.handshakeHead(), nil))! == (400, JSONRPCCode.parseError))
        #expect(Self.error(Self.post(Self.handshakeHead(), .array([])))! == (400, JSONRPCCode.invalidRequest))
        #expect(Self.error(Self.post(Self.handshakeHead(), .object([("id", .int(1))])))! == (400, JSONRPCCode.invalidRequest))
        #expect(Self.error(Self.post(Self.handshakeHead(), Self.body("ping", id: .bool(true))))! == (400, JSONRPCCode.invalidRequest))
        #expect(Self.error(Self.post(Self.handshakeHead(), Self.body("ping", id: .null)))! == (400, JSONRPCCode.invalidRequest))
        let parse = Self.post(Self.handshakeHead(), nil)
        if case .error(_, let id, _, _, _) = parse { #expect(id == nil, "a parse error answers with id null") }
    }

    @Test(arguments: ["POST", "GET", "DELETE"])
    func aForeignOriginIsRefusedBeforeAnythingElse(_ method: String) {
        var head = Self.handshakeHead(session: nil)
        head.origin = "https://evil.example"
        let action: C.Action
        switch method {
        case "POST": action = C.post(head, body: nil, origins: Self.none, session: Self.session).action
        case "GET": action = C.get(head, origins: Self.none, session: Self.session, hasStream: { _ in false })
        default: action = C.delete(head, origins: Self.none, session: Self.session)
        }
        #expect(Self.error(action)! == (403, JSONRPCCode.invalidRequest))
        head.origin = "http://localhost:5173"
        if method == "DELETE" {
            #expect(Self.error(C.delete(head, origins: Self.none, session: Self.session))! == (400, JSONRPCCode.invalidRequest))
        }
    }

    // MARK: handshake era

    @Test func handshakeRulesInOrder() {
        var head = Self.handshakeHead()
        head.acceptsSSE = false
        #expect(Self.error(Self.post(head, Self.body("tools/list")))! == (406, JSONRPCCode.invalidRequest))
        // initialize needs no session, negotiates down to what we speak
        if case .initialize(_, let v) = Self.post(Self.handshakeHead(session: nil, version: nil),
                                                  Self.body("initialize", params: [("protocolVersion", .string("2025-06-18"))])) {
            #expect(v == "2025-06-18")
        } else { Issue.record("not initialize") }
        if case .initialize(_, let v) = Self.post(Self.handshakeHead(session: nil, version: nil),
                                                  Self.body("initialize", params: [("protocolVersion", .string("1999-01-01"))])) {
            #expect(v == MCPVersions.handshake[0])
        } else { Issue.record("not initialize") }
        #expect(Self.error(Self.post(Self.handshakeHead(session: nil), Self.body("initialize", id: nil)))! == (400, JSONRPCCode.invalidRequest))
        #expect(Self.error(Self.post(Self.handshakeHead(version: "2030-01-01"), Self.body("tools/list")))! == (400, JSONRPCCode.unsupportedVersion))
        #expect(Self.error(Self.post(Self.handshakeHead(session: nil), Self.body("tools/list")))! == (400, JSONRPCCode.invalidRequest))
        #expect(Self.error(Self.post(Self.handshakeHead(session: "forged.id"), Self.body("tools/list")))! == (404, JSONRPCCode.invalidRequest))
        #expect(Self.error(Self.post(Self.handshakeHead(), Self.body("logging/setLevel")))! == (200, JSONRPCCode.methodNotFound))
    }

    @Test func handshakeNotificationsResponsesAndCancellations() {
        guard case .accepted = Self.post(Self.handshakeHead(), Self.body("notifications/initialized", id: nil)) else {
            Issue.record("notification not accepted"); return
        }
        guard case .accepted = Self.post(Self.handshakeHead(), .object([("jsonrpc", .string("2.0")), ("id", .int(3)), ("result", .object([]))])) else {
            Issue.record("response not accepted"); return
        }
        let cancel = Self.post(Self.handshakeHead(), Self.body("notifications/cancelled", id: nil,
                                                               params: [("requestId", .string("r-7")), ("reason", .string("bored"))]))
        guard case .cancel(let key, let reason) = cancel else { Issue.record("not a cancel: \(cancel)"); return }
        #expect(key == "\(Self.token.id)|\"r-7\"")
        #expect(reason == "bored")
        // Without a session even a notification is refused.
        #expect(Self.error(Self.post(Self.handshakeHead(session: nil), Self.body("notifications/initialized", id: nil)))! == (400, JSONRPCCode.invalidRequest))
    }

    @Test(arguments: ["tools/list", "tools/call", "ping"])
    func handshakeCallsAreDispatchedWithTheirSession(_ method: String) {
        guard case .dispatch(let call) = Self.post(Self.handshakeHead(version: nil), Self.body(method, id: .string("x"))) else {
            Issue.record("not dispatched"); return
        }
        #expect(call.method == method && !call.modern && call.session == Self.token)
        #expect(call.version == MCPVersions.assumedWithoutHeader)
        #expect(call.idBytes == Array(#""x""#.utf8))
    }

    @Test func getAndDeleteInTheHandshakeEra() {
        var head = Self.handshakeHead()
        guard case .openStream(let t) = C.get(head, origins: Self.none, session: Self.session, hasStream: { _ in false }) else {
            Issue.record("no stream"); return
        }
        #expect(t == Self.token)
        #expect(Self.error(C.get(head, origins: Self.none, session: Self.session, hasStream: { _ in true }))! == (409, JSONRPCCode.invalidRequest))
        guard case .endSession = C.delete(head, origins: Self.none, session: Self.session) else { Issue.record("not ended"); return }
        head.acceptsSSE = false
        #expect(Self.error(C.get(head, origins: Self.none, session: Self.session, hasStream: { _ in false }))! == (406, JSONRPCCode.invalidRequest))
        let modern = Self.modernHead(method: "x")
        guard case .methodNotAllowed = C.get(modern, origins: Self.none, session: Self.session, hasStream: { _ in false }),
              case .methodNotAllowed = C.delete(modern, origins: Self.none, session: Self.session) else {
            Issue.record("a modern GET/DELETE must be 405"); return
        }
        #expect(Self.error(C.delete(Self.handshakeHead(session: "nope"), origins: Self.none, session: Self.session))! == (404, JSONRPCCode.invalidRequest))
    }

    // MARK: 2026-07-28

    @Test func aModernRequestIsDispatchedWithoutASession() {
        let action = Self.post(Self.modernHead(method: "tools/list"), Self.body("tools/list", meta: Self.modernMeta))
        guard case .dispatch(let call) = action else { Issue.record("\(action)"); return }
        #expect(call.modern && call.session == nil && call.version == "2026-07-28")
    }

    /// The envelope rung: a modern request without both `_meta` keys is invalid params, before
    /// any header check (the headers here are wrong too).
    @Test(arguments: [
        JSON?.none,
        JSON.object([("io.modelcontextprotocol/protocolVersion", .string("2026-07-28"))]),
        JSON.object([("io.modelcontextprotocol/clientCapabilities", .object([]))]),
        JSON.string("not an object"),
    ])
    func aRequestWithoutTheEnvelopeIsInvalidParams(_ meta: JSON?) {
        let head = Self.modernHead(method: "wrong/method", name: "wrong")
        #expect(Self.error(Self.post(head, Self.body("tools/call", params: [("name", .string("a__b"))], meta: meta)))! == (400, JSONRPCCode.invalidParams))
    }

    @Test func modernNotificationsNeedNoEnvelope() {
        guard case .accepted = Self.post(Self.modernHead(method: "notifications/initialized"), Self.body("notifications/initialized", id: nil)) else {
            Issue.record("a notification was refused"); return
        }
    }

    @Test func modernRungsInOrder() {
        let meta = Self.modernMeta
        // header vs _meta version
        #expect(Self.error(Self.post(Self.modernHead(method: "tools/list", version: "2030-01-01"),
                                     Self.body("tools/list", meta: meta)))! == (400, JSONRPCCode.headerMismatch))
        // Mcp-Method
        #expect(Self.error(Self.post(Self.modernHead(method: "tools/call"), Self.body("tools/list", meta: meta)))! == (400, JSONRPCCode.headerMismatch))
        var noMethod = Self.modernHead(method: "x")
        noMethod.mcpMethod = nil
        #expect(Self.error(Self.post(noMethod, Self.body("tools/list", meta: meta)))! == (400, JSONRPCCode.headerMismatch))
        // Mcp-Name, before the revision
        let unsupported = JSON.object([("io.modelcontextprotocol/protocolVersion", .string("2099-01-01")),
                                       ("io.modelcontextprotocol/clientCapabilities", .object([]))])
        #expect(Self.error(Self.post(Self.modernHead(method: "tools/call", name: "other", version: nil),
                                     Self.body("tools/call", params: [("name", .string("a__b"))], meta: unsupported)))! == (400, JSONRPCCode.headerMismatch))
        // then the revision
        let r = Self.post(Self.modernHead(method: "tools/call", name: "a__b", version: nil),
                          Self.body("tools/call", params: [("name", .string("a__b"))], meta: unsupported))
        guard case .error(400, _, JSONRPCCode.unsupportedVersion, _, let data) = r else { Issue.record("\(r)"); return }
        #expect(data?["requested"] == .string("2099-01-01"))
        #expect(data?["supported"]?.arrayValue?.contains(.string("2026-07-28")) == true)
        // unknown method: HTTP 404
        #expect(Self.error(Self.post(Self.modernHead(method: "logging/setLevel"), Self.body("logging/setLevel", meta: meta)))! == (404, JSONRPCCode.methodNotFound))
        #expect(Self.error(Self.post(Self.modernHead(method: "ping"), Self.body("ping", meta: meta)))! == (404, JSONRPCCode.methodNotFound))
    }

    @Test(arguments: [
        ("a__b", true), ("=?base64?YV9fYg==?=", true), ("=?base64?YV9fYw==?=", false), ("=?base64?YV9fYg=?=", false),
        ("=?base64?YV9fYh==?=", false), ("=?base64?!!!!?=", false), ("=?base64??=", false), ("a__c", false),
    ])
    func mcpNameMayComeBase64Encoded(_ header: String, _ matches: Bool) {
        let action = Self.post(Self.modernHead(method: "tools/call", name: header),
                               Self.body("tools/call", params: [("name", .string("a__b"))], meta: Self.modernMeta))
        if matches {
            guard case .dispatch = action else { Issue.record("\(header): \(action)"); return }
        } else {
            #expect(Self.error(action)! == (400, JSONRPCCode.headerMismatch), "\(header)")
        }
    }

    @Test func nonASCIINamesRoundTripThroughTheSentinel() {
        let name = "météo__prévision ☀"
        let header = "=?base64?" + String(decoding: Base64.encode(Array(name.utf8)), as: UTF8.self) + "?="
        #expect(HeaderValue.decode(header) == name)
        #expect(HeaderValue.decode("=?base64?" + String(decoding: Base64.encode([0xff, 0xfe]), as: UTF8.self) + "?=") == nil, "not UTF-8")
        #expect(HeaderValue.decode("plain value") == "plain value")
    }

    @Test func base64IsCanonicalAndRoundTrips() {
        var rng = SplitMix64(seed: 3)
        for n in 0..<64 {
            let bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let text = Base64.encode(bytes)
            #expect(Base64.decodeCanonical(text) == bytes)
        }
        #expect(Array(String(decoding: Base64.encode(Array("hello".utf8)), as: UTF8.self).utf8) == Array("aGVsbG8=".utf8))
        for bad in ["aGVsbG8", "aGVsbG9=", "aGVs=G8=", "a===", "====", "aGVsbG8=\n"] {
            #expect(Base64.decodeCanonical(Array(bad.utf8)) == nil, "\(bad)")
        }
    }
}
