import Testing
@testable import GatewayCore

/// The `tools/call` read from bytes must take only what the tree path would dispatch, decide what
/// it decides, and send the downstream the same params; checked here against the tree path itself.
@Suite struct ToolCallEnvelopeTests {
    typealias C = MCPRequestClassifier
    static let secret = Array("envelope-secret-0123456789".utf8)
    static let token = SessionToken.issue(secret: secret, protocolVersion: "2025-11-25", now: 1_000, random: Array(0..<16))
    static func session(_ id: String) -> SessionToken? { id == token.id ? token : nil }
    static let origins = OriginPolicy(allowed: ["https://ok.example"])

    // MARK: the validator agrees with the parser

    static let documents = [
        #"{}"#, #"[]"#, #"0"#, #"-0.5e+10"#, #""a""#, #"true"#, #"null"#, #" {"a" : [1, 2, {"b": null}] } "#,
        #"{"a":"\u00e9\ud83d\ude00\n\t\"\\\/"}"#, "{\"é\":\"ü😀\"}", #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}"#,
        #"{"a":1,}"#, #"[1,]"#, #"01"#, #"1."#, #".5"#, #"-"#, #"1e"#, #"tru"#, #"nul"#, #"{"a"}"#, #"{"a":}"#, #"{a:1}"#,
        #""\x""#, #""\ud800""#, #""\udc00""#, #""\ud800\u0041""#, #""\u12g4""#, "\"a\u{01}\"", #"[1 2]"#, #"{} {}"#, #"""#,
        #"["a"]]"#, #"{"a":[}]"#, "", " ", "\"\u{7f}\"",
    ]

    static func parses(_ bytes: [UInt8]) -> Bool { (try? JSONParser.parse(bytes)) != nil }

    @Test func validatorAgreesWithTheParserOnTheCorpus() {
        for doc in Self.documents {
            let bytes = Array(doc.utf8)
            #expect(JSONValidator.isValid(bytes) == Self.parses(bytes), "\(doc)")
        }
        // Raw bytes a String literal cannot hold: bad UTF-8 inside strings.
        for raw: [UInt8] in [[0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],
                             [0x22, 0xE2, 0x82, 0x22], [0x22, 0xFF, 0x22], [0x22, 0xC3, 0xA9, 0x22], [0x22, 0xF0, 0x9F, 0x98, 0x80, 0x22]] {
            #expect(JSONValidator.isValid(raw) == Self.parses(raw), "\(raw)")
        }
        #expect(JSONValidator.isValid(Array(#"{"a":"\u00e9"}"#.utf8)))
        #expect(!JSONValidator.isValid(Array(#"{"a":1,}"#.utf8)))
    }

    @Test func validatorAgreesWithTheParserOnNesting() {
        for depth in [255, 256, 257] {
            let doc = Array(String(repeating: "[", count: depth).utf8) + Array(String(repeating: "]", count: depth).utf8)
            #expect(JSONValidator.isValid(doc) == Self.parses(doc), "depth \(depth)")
        }
        #expect(JSONValidator.isValid(Array((String(repeating: "[", count: 256) + String(repeating: "]", count: 256)).utf8)))
    }

    /// Thousands of mutations of real requests (a byte replaced, inserted or dropped): the
    /// validator says yes exactly when the parser does.
    @Test func validatorAgreesWithTheParserOnMutations() {
        var rng = SplitMix64(seed: 0x5EED)
        let alphabet = Array(#"{}[]":,\ u0aeE.-+tfn"#.utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xC3, 0xA9, 0xED, 0xF0, 0xFF]
        var valid = 0, total = 0
        for doc in Self.documents where Self.parses(Array(doc.utf8)) {
            for _ in 0..<600 {
                var bytes = Array(doc.utf8)
                for _ in 0..<(1 + Int(rng.next() % 3)) {
                    let at = bytes.isEmpty ? 0 : Int(rng.next() % UInt64(bytes.count))
                    let c = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                    switch rng.next() % 3 {
                    case 0 where !bytes.isEmpty: bytes[at] = c
                    case 1 where !bytes.isEmpty: bytes.remove(at: at)
                    default: bytes.insert(c, at: at)
                    }
                }
                let expected = Self.parses(bytes)
                #expect(JSONValidator.isValid(bytes) == expected, "\(bytes)")
                if expected { valid += 1 }
                total += 1
            }
        }
        #expect(valid > 100 && valid < total - 100)  // both sides were exercised
    }

    // MARK: the envelope against the classifier

    static let modernMeta = #""io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}"#

    static let bodies: [String] = [
        #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"svc__echo","arguments":{"text":"hi"}}}"#,
        #"{"jsonrpc":"2.0","id":"abc","method":"tools/call","params":{"name":"svc__echo","arguments":{"t":"\u00e9 x"},"_meta":{"progressToken":7}}}"#,
        #"{ "params" : { "_meta" : { "progressToken" : "p", "keep" : [1, 2] } , "name" : "svc__echo" } , "method" : "tools/call" , "id" : -2.5e3 , "jsonrpc" : "2.0" }"#,
        #"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"svc__echo","_meta":{\#(modernMeta)}}}"#,
        #"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"svc__echo","_meta":{\#(modernMeta),"progressToken":"t","x":1}}}"#,
        #"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"svc__echo","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#,
        #"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"svc__echo","_meta":{"io.modelcontextprotocol/protocolVersion":"1999-01-01","io.modelcontextprotocol/clientCapabilities":{}}}}"#,
        #"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"svc__echo","_meta":{"io.modelcontextprotocol/protocolVersion":7,"io.modelcontextprotocol/clientCapabilities":{}}}}"#,
        #"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"svc__echo","_meta":5}}"#,
        #"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"svc__echo","name":"svc__other"}}"#,
        #"{"jsonrpc":"2.0","id":10,"id":11,"method":"tools/call","params":{"name":"svc__echo"}}"#,
        #"{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"na\u006de":"svc__echo"}}"#,
        #"{"jsonrpc":"2.0","id":"a\"b","method":"tools/call","params":{"name":"svc__echo"}}"#,
        #"{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"svc__echo"}}"#,
        #"{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{"name":"svc__echo"}}"#,
        #"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"svc__echo"}}"#,
        #"{"jsonrpc":"1.0","id":13,"method":"tools/call","params":{"name":"svc__echo"}}"#,
        #"{"jsonrpc":"2.0","id":14,"method":"tools/list","params":{}}"#,
        #"{"jsonrpc":"2.0","id":15,"method":"tools/call","params":{"name":7}}"#,
        #"{"jsonrpc":"2.0","id":16,"method":"tools/call","params":[]}"#,
        #"{"jsonrpc":"2.0","id":17,"method":"tools/call"}"#,
        #"{"jsonrpc":"2.0","id":18,"method":"tools/call","params":{"name":"svc__echo","arguments":{"a":tru}}}"#,
        #"{"jsonrpc":"2.0","id":19,"method":"tools/call","params":{"name":"svc__échø","arguments":{}}}"#,
        #"[{"jsonrpc":"2.0","id":20,"method":"tools/call","params":{"name":"svc__echo"}}]"#,
    ]

    static func heads(name: String) -> [C.Head] {
        let encoded = "=?base64?" + String(decoding: Base64.encode(Array(name.utf8)), as: UTF8.self) + "?="
        var out: [C.Head] = []
        for version in [nil, "2025-11-25", "2025-03-26", "2026-07-28", "1999-01-01"] as [String?] {
            for session in [nil, token.id, "forged"] as [String?] {
                for (json, sse) in [(true, true), (true, false)] {
                    out.append(C.Head(protocolVersion: version, sessionID: session, acceptsJSON: json, acceptsSSE: sse))
                }
            }
            for mcpName in [nil, name, encoded, "svc__other", "=?base64?%%?="] as [String?] {
                for mcpMethod in [nil, "tools/call", "tools/list"] as [String?] {
                    out.append(C.Head(protocolVersion: version, mcpMethod: mcpMethod, mcpName: mcpName))
                }
            }
            out.append(C.Head(origin: "https://evil.example", protocolVersion: version, sessionID: token.id, mcpMethod: "tools/call", mcpName: name))
            out.append(C.Head(origin: "https://ok.example", protocolVersion: version, sessionID: token.id, mcpMethod: "tools/call", mcpName: name))
        }
        return out
    }

    /// The params the tree path sends for a `tools/call` (name replaced, `_meta` reduced).
    static func treeParams(_ params: JSON, originalName: String, token: String?) -> JSON {
        var tree = params.setting("name", .string(originalName))
        let meta = DownstreamMeta.filtered(params["_meta"], token: token)
        if !meta.isEmpty { tree = tree.setting("_meta", .object(meta)) } else if tree["_meta"] != nil { tree = tree.removing("_meta") }
        return tree
    }

    @Test func takesOnlyWhatTheTreePathDispatchesAndDecidesTheSame() throws {
        var fastTaken = 0, modernTaken = 0, handshakeTaken = 0, declined = 0
        for text in Self.bodies {
            let bytes = Array(text.utf8)
            let tree = try? JSONParser.parse(bytes)
            let name = tree?["params"]?["name"]?.stringValue ?? "svc__echo"
            for head in Self.heads(name: name) {
                let full = C.post(head, body: tree, parseError: tree == nil ? "bad" : nil, origins: Self.origins, session: Self.session).action
                guard let envelope = ToolCallEnvelope.scan(bytes),
                      let fast = C.postToolCall(head, envelope, origins: Self.origins, session: Self.session) else {
                    declined += 1
                    continue
                }
                guard case .dispatch(let call) = full else {
                    Issue.record("fast path took what the classifier refuses: \(text) \(head)")
                    continue
                }
                fastTaken += 1
                if fast.modern { modernTaken += 1 } else { handshakeTaken += 1 }
                #expect(call.method == "tools/call")
                #expect(fast.id == call.id && fast.idBytes == call.idBytes)
                #expect(fast.modern == call.modern && fast.version == call.version)
                #expect(fast.session?.id == call.session?.id && fast.acceptsStream == call.acceptsStream)
                #expect(envelope.name == call.params["name"]?.stringValue)
                #expect(envelope.progressTokenValue == call.params["_meta"]?["progressToken"])
                for token in [nil, "gw-41"] as [String?] {
                    let spliced = envelope.downstreamParams(originalName: "echo \"orig\"", token: token)
                    let parsed = try JSONParser.parse(spliced)
                    #expect(parsed == Self.treeParams(call.params, originalName: "echo \"orig\"", token: token), "\(text)")
                }
            }
        }
        // Both eras were taken, and plenty was left to the tree path.
        #expect(modernTaken > 10 && handshakeTaken > 10, "modern \(modernTaken), handshake \(handshakeTaken)")
        #expect(declined > fastTaken)
    }

    @Test func splicesTheNameAndTokenAndCopiesTheArgumentsAsWritten() throws {
        let text = #"{"jsonrpc":"2.0","id":"r1","method":"tools/call","params":{"_meta":{"progressToken":"p","io.modelcontextprotocol/x":1},"name":"svc__echo","arguments":{ "t" : "\u00e9" }}}"#
        let envelope = try #require(ToolCallEnvelope.scan(Array(text.utf8)))
        #expect(envelope.name == "svc__echo")
        #expect(envelope.idBytes == Array(#""r1""#.utf8))
        #expect(envelope.progressTokenValue == .string("p"))
        #expect(String(decoding: envelope.downstreamParams(originalName: "echo", token: "gw-1"), as: UTF8.self)
            == #"{"_meta":{"progressToken":"gw-1"},"name":"echo","arguments":{ "t" : "\u00e9" }}"#)
        // Nothing left of `_meta`: it goes, with its comma.
        #expect(String(decoding: envelope.downstreamParams(originalName: "echo", token: nil), as: UTF8.self)
            == #"{"name":"echo","arguments":{ "t" : "\u00e9" }}"#)
        let plain = try #require(ToolCallEnvelope.scan(Array(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}}"#.utf8)))
        #expect(String(decoding: plain.downstreamParams(originalName: "b", token: "gw-2"), as: UTF8.self)
            == #"{"name":"b","_meta":{"progressToken":"gw-2"}}"#)
    }

    @Test func declinesWhatItDoesNotReadAsBytes() {
        for text in [
            #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a\u0062"}}"#,   // escaped name
            #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"},"par\u0061ms":{}}"#,  // escaped key
            #"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#,
            #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","_meta":[]}}"#,
            #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}} x"#,
        ] {
            #expect(ToolCallEnvelope.scan(Array(text.utf8)) == nil, "\(text)")
        }
    }
}
