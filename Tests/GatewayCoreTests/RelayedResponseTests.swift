import Testing
@testable import GatewayCore

@Suite struct RelayedResponseTests {
    static let info = utf8(#"{"name":"mcp-gateway","version":"0.1.0"}"#)
    static let infoJSON = try! JSONParser.parse(info)

    func rewrap(_ raw: String, id: String = "42", modern: Bool) throws -> JSON {
        let out = try #require(RelayedResponse.rewrap(utf8(raw), id: utf8(id), modern: modern, serverInfo: Self.info))
        return try JSONParser.parse(out)
    }

    @Test func handshakeResultsAreCopiedWithTheCallersID() throws {
        let raw = #"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"hi"}],"isError":false}}"#
        let out = try #require(RelayedResponse.rewrap(utf8(raw), id: utf8(#""abc""#), modern: false, serverInfo: Self.info))
        #expect(String(decoding: out, as: UTF8.self)
                == #"{"jsonrpc":"2.0","id":"abc","result":{"content":[{"type":"text","text":"hi"}],"isError":false}}"#)
    }

    @Test func errorsAreCopiedInBothEras() throws {
        for modern in [false, true] {
            let out = try rewrap(#"{"jsonrpc":"2.0","id":7,"error":{"code":-32602,"message":"bad"}}"#, modern: modern)
            #expect(out["id"] == .int(42))
            #expect(out["error"]?["code"] == .int(-32602))
            #expect(out["result"] == nil)
        }
    }

    @Test func modernResultsGainResultTypeAndServerInfo() throws {
        let out = try rewrap(#"{"jsonrpc":"2.0","id":7,"result":{"content":[]}}"#, modern: true)
        let result = try #require(out["result"])
        #expect(result["resultType"] == .string("complete"))
        #expect(result["content"] == .array([]))
        #expect(result["_meta"]?["io.modelcontextprotocol/serverInfo"] == Self.infoJSON)
    }

    @Test func anExistingMetaKeepsItsKeysAndGainsServerInfo() throws {
        for meta in [#"{"a":1,"b":{"c":[1,2]}}"#, "{}", " { } ", #"{ "a" : "x" }"#] {
            let out = try rewrap(#"{"jsonrpc":"2.0","id":7,"result":{"content":[],"_meta":"# + meta + "}}", modern: true)
            let result = try #require(out["result"])
            let original = try JSONParser.parse(utf8(meta))
            let got = try #require(result["_meta"]?.objectValue)
            #expect(result["_meta"]?["io.modelcontextprotocol/serverInfo"] == Self.infoJSON, "\(meta)")
            #expect(got.count == (original.objectValue?.count ?? 0) + 1, "\(meta)")
            for (k, v) in original.objectValue ?? [] { #expect(result["_meta"]?[k] == v, "\(meta)") }
        }
    }

    @Test func whatTheDownstreamSentIsNeverReplaced() throws {
        let raw = #"{"jsonrpc":"2.0","id":7,"result":{"resultType":"incomplete","_meta":{"io.modelcontextprotocol/serverInfo":{"name":"down"}}}}"#
        let result = try #require(try rewrap(raw, modern: true)["result"])
        #expect(result["resultType"] == .string("incomplete"))
        #expect(result["_meta"]?["io.modelcontextprotocol/serverInfo"]?["name"] == .string("down"))
        #expect(result.objectValue?.count == 2)
    }

    @Test func anEmptyResultGainsBoth() throws {
        for empty in ["{}", "{ }", "\n{\n}\n"] {
            let result = try #require(try rewrap(#"{"jsonrpc":"2.0","id":7,"result":"# + empty + "}", modern: true)["result"])
            #expect(result.objectValue?.count == 2, "\(empty)")
            #expect(result["resultType"] == .string("complete"))
        }
    }

    @Test func aNonObjectResultIsCopiedAsItIs() throws {
        let out = try rewrap(#"{"jsonrpc":"2.0","id":7,"result":[1,2]}"#, modern: true)
        #expect(out["result"] == .array([.int(1), .int(2)]))
    }

    @Test(arguments: ["", "null", "[]", #"{"jsonrpc":"2.0","id":7}"#, #"{"jsonrpc":"2.0","id":7,"result":"#, "{\"a\":1}x"])
    func notAResponseGivesNil(_ raw: String) {
        #expect(RelayedResponse.rewrap(utf8(raw), id: utf8("1"), modern: true, serverInfo: Self.info) == nil)
    }

    /// Random results with random members: the rewrap always parses, keeps every member, and
    /// adds exactly what is missing.
    @Test func randomResultsKeepEveryMember() throws {
        var rng = SplitMix64(seed: 11)
        let keys = ["content", "structuredContent", "isError", "resultType", "_meta", "x"]
        for _ in 0..<500 {
            var pairs: [(String, JSON)] = []
            for key in keys where Bool.random(using: &rng) {
                switch key {
                case "_meta":
                    var meta: [(String, JSON)] = []
                    if Bool.random(using: &rng) { meta.append(("progressToken", .int(3))) }
                    if Bool.random(using: &rng) { meta.append(("io.modelcontextprotocol/serverInfo", .object([("name", .string("d"))]))) }
                    pairs.append((key, .object(meta)))
                case "resultType": pairs.append((key, .string("complete")))
                case "isError": pairs.append((key, .bool(Bool.random(using: &rng))))
                default: pairs.append((key, .array([.string("v\(Int.random(in: 0..<9, using: &rng))")])))
                }
            }
            let result = JSON.object(pairs)
            let raw = JSONRPC.result(id: .int(1), result).serialized()
            let out = try JSONParser.parse(try #require(RelayedResponse.rewrap(raw, id: utf8("9"), modern: true, serverInfo: Self.info)))
            let got = try #require(out["result"])
            for (k, v) in pairs where k != "_meta" { #expect(got[k] == v) }
            #expect(got["resultType"] != nil)
            #expect(got["_meta"]?["io.modelcontextprotocol/serverInfo"] != nil)
            if let meta = result["_meta"]?.objectValue {
                for (k, v) in meta { #expect(got["_meta"]?[k] == v) }
            }
            let expectedCount = pairs.count + (result["resultType"] == nil ? 1 : 0) + (result["_meta"] == nil ? 1 : 0)
            #expect(got.objectValue?.count == expectedCount)
        }
    }
}

@Suite struct FederatingContentsTests {
    /// The tree version the byte splice must agree with (values; the splice keeps key order).
    static func reference(_ raw: [UInt8], service: String, modern: Bool) -> JSON? {
        guard let message = try? JSONParser.parse(raw), var result = message["result"], let contents = result["contents"]?.arrayValue else { return nil }
        result = result.setting("contents", .array(contents.map { item in
            guard let uri = item["uri"]?.stringValue, let f = FederatedURI.federate(service: service, uri: uri) else { return item }
            return item.setting("uri", .string(f))
        }))
        if modern {
            if result["ttlMs"] == nil { result = result.setting("ttlMs", .int(0)) }
            if result["cacheScope"] == nil { result = result.setting("cacheScope", .string("private")) }
        }
        return message.setting("result", result)
    }

    @Test(arguments: [
        #"{"jsonrpc":"2.0","id":3,"result":{"contents":[{"uri":"config://app","text":"x"}]}}"#,
        #"{"jsonrpc":"2.0","id":3,"result":{"contents":[{"text":"a","uri":"file:///a/b"},{"uri":"note:1","blob":"AA=="}],"_meta":{"k":1}}}"#,
        #"{"id":"z","result":{ "ttlMs" : 5, "contents" : [ { "uri" : "ui://w/\u00e9.html" } , {"uri":"no scheme"} ] },"jsonrpc":"2.0"}"#,
        #"{"jsonrpc":"2.0","id":3,"result":{"contents":[]}}"#,
    ])
    func theSpliceAgreesWithTheTree(_ text: String) throws {
        for modern in [false, true] {
            let raw = Array(text.utf8)
            let spliced = try #require(RelayedResponse.federatingContents(raw, service: "svc", modern: modern))
            // Compared with keys sorted: the splice puts the cache fields first, the tree last.
            #expect(DefinitionDiff.canonical(try JSONParser.parse(spliced)) == DefinitionDiff.canonical(Self.reference(raw, service: "svc", modern: modern)),
                    "\(text) modern=\(modern)")
        }
    }

    @Test func notAReadResultIsLeftAlone() {
        for text in [#"{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"x"}}"#, #"{"jsonrpc":"2.0","id":1,"result":{"contents":5}}"#, "nope"] {
            #expect(RelayedResponse.federatingContents(Array(text.utf8), service: "svc", modern: true) == nil, "\(text)")
        }
    }

    @Test func onlyTheURIBytesChange() {
        let raw = Array(#"{"jsonrpc":"2.0","id":3,"result":{"contents":[{"uri":"config://app","text":"x"}]}}"#.utf8)
        let out = RelayedResponse.federatingContents(raw, service: "svc", modern: false).map { String(decoding: $0, as: UTF8.self) }
        #expect(out == #"{"jsonrpc":"2.0","id":3,"result":{"contents":[{"uri":"config://svc/app","text":"x"}]}}"#)
    }
}
