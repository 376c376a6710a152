import Testing
@testable import GatewayCore

@Suite struct VirtualServerTests {
    static func parse(_ text: String, name: String? = nil) -> Result<VirtualServer, ValidationError> {
        VirtualServer.parse(try! JSONParser.parse(Array(text.utf8)), name: name)
    }

    @Test func selectsByIncludeThenExclude() {
        let vs = VirtualServer(name: "v", include: ["weather__*", "*__search"], exclude: ["weather__admin*"])
        #expect(vs.selects("weather__forecast") && vs.selects("docs__search"))
        #expect(!vs.selects("weather__admin_reset") && !vs.selects("docs__read"))
        #expect(VirtualServer(name: "all").selects("anything"))
        #expect(!VirtualServer(name: "none-of", exclude: ["*"]).selects("x"))
    }

    @Test func parsesAndRoundTripsTheStoredDefinition() throws {
        let vs = try Self.parse(#"{"name":"team","include":["a__*"],"exclude":["a__x"],"overrides":{"a__y":{"name":"why","title":"T","description":"D","annotations":{"readOnlyHint":true}}},"rateLimit":{"perMinute":30}}"#).get()
        #expect(vs.name == "team" && vs.perMinute == 30 && vs.override(for: "a__y")?.name == "why")
        #expect(vs.override(for: "a__y")?.annotations?["readOnlyHint"] == .bool(true))
        let stored = VirtualServer.stored(name: "team", definition: vs.definition.serialized(), createdAt: "c", updatedAt: "u")
        #expect(stored == vs && stored?.createdAt == "c")
        #expect(vs.json["endpoint"] == .string("/mcp/team"))
    }

    @Test(arguments: [
        (#"{"include":[]}"#, "name is required"), (#"{"name":"Team"}"#, "lowercase"), (#"{"name":"t","extra":1}"#, "unknown field extra"),
        (#"{"name":"t","include":"a"}"#, "include must be an array"), (#"{"name":"t","exclude":[""]}"#, "non-empty"),
        (#"{"name":"t","overrides":{"bad name":{}}}"#, "not a federated tool name"), (#"{"name":"t","overrides":{"a__b":{"name":"x y"}}}"#, "must match"),
        (#"{"name":"t","overrides":{"a__b":{"colour":"x"}}}"#, "unknown field colour"), (#"{"name":"t","overrides":{"a__b":{"annotations":1}}}"#, "annotations"),
        (#"{"name":"t","overrides":{"a__b":{"name":"n"},"a__c":{"name":"n"}}}"#, "given twice"), (#"{"name":"t","rateLimit":{"perMinute":0}}"#, "rateLimit"),
        (#"{"name":"t","rateLimit":{"perMinute":5,"burst":2}}"#, "rateLimit"), (#"[]"#, "JSON object"),
    ])
    func refusesBadBodies(_ body: String, _ message: String) {
        guard case .failure(let e) = Self.parse(body) else { Issue.record("accepted \(body)"); return }
        #expect(e.description.contains(message), "\(body): \(e.description)")
    }

    @Test func aPutTakesTheNameFromThePath() throws {
        #expect(try Self.parse(#"{"include":["x"]}"#, name: "p").get().name == "p")
        #expect(try Self.parse(#"{"name":"p"}"#, name: "p").get().name == "p")
        guard case .failure = Self.parse(#"{"name":"q"}"#, name: "p") else { Issue.record("a body naming another server was accepted"); return }
    }
}
