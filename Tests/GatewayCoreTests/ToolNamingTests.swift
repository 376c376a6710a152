import Testing
@testable import GatewayCore

@Suite struct ToolNamingTests {
    /// `^[a-zA-Z0-9_-]{1,64}$`, written independently of ToolNaming.isValid.
    static func matchesPattern(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard (1...64).contains(u.count) else { return false }
        return u.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2D
        }
    }

    @Test(arguments: [
        ("weather", "get_forecast", "weather__get_forecast"),
        ("a", "b", "a__b"),
        ("svc-1", "Tool-Name_9", "svc-1__Tool-Name_9"),
        ("x", "", "x__"),
        ("db", "__double__underscores__", "db____double__underscores__"),
    ])
    func simpleNamesAreKept(_ service: String, _ tool: String, _ expected: String) {
        #expect(ToolNaming.federatedName(service: service, tool: tool) == expected)
    }

    @Test func exactly64CharactersIsKeptAnd65IsShortened() {
        let tool64 = String(repeating: "t", count: 64 - 5)
        #expect(ToolNaming.federatedName(service: "svc", tool: tool64) == "svc__" + tool64)
        let tool65 = tool64 + "t"
        let short = ToolNaming.federatedName(service: "svc", tool: tool65)
        #expect(short != "svc__" + tool65)
        #expect(Self.matchesPattern(short))
        #expect(short.hasPrefix("svc__ttt"))
    }

    @Test(arguments: [
        "get.forecast", "with space", "météo", "😀", "天気予報", "a/b", "a:b", "tab\there", "quote\"d", "new\nline",
        String(repeating: "x", count: 62), String(repeating: "long.", count: 40), String(repeating: "é", count: 100),
        String(repeating: "😀", count: 70), "a\u{0}b", ".",
    ])
    func awkwardNamesAreShortenedToThePattern(_ tool: String) {
        for service in ["svc", "a", "my-service-with-a-long-name-0123"] {
            let name = ToolNaming.federatedName(service: service, tool: tool)
            #expect(Self.matchesPattern(name), "\(name)")
            #expect(name.utf8.count <= 64)
            #expect(name.hasPrefix(service + "__"), "\(name)")
            #expect(name != service + "__" + tool)
            #expect(name == ToolNaming.federatedName(service: service, tool: tool), "deterministic")
            #expect(ToolNaming.isValid(name))
        }
    }

    @Test func fnv1a64KnownVectors() {
        #expect(ToolNaming.fnv1a64([]) == 0xcbf29ce484222325)
        #expect(ToolNaming.fnv1a64(utf8("a")) == 0xaf63dc4c8601ec8c)
        #expect(ToolNaming.fnv1a64(utf8("foobar")) == 0x85944171f73967e8)
    }

    /// Replicas must agree on names, across versions too: pin the documented construction
    /// (sanitized, cut, suffixed with a hash of the full original name).
    @Test func shortenedFormIsSanitizedPrefixPlusHash() {
        func expected(_ service: String, _ tool: String) -> String {
            let full = service + "__" + tool
            let h = String(ToolNaming.fnv1a64(utf8(full)), radix: 16)
            let padded = String(repeating: "0", count: 16 - h.count) + h
            let sanitized = String(String.UnicodeScalarView(full.unicodeScalars.map { ToolNaming.isAllowed($0) ? $0 : "_" }))
            return String(sanitized.unicodeScalars.prefix(53).map(Character.init)) + "_" + String(padded.suffix(10))
        }
        #expect(ToolNaming.federatedName(service: "svc", tool: "a.b") == expected("svc", "a.b"))
        #expect(ToolNaming.federatedName(service: "svc", tool: "a.b").hasPrefix("svc__a_b_"))
        #expect(ToolNaming.federatedName(service: "svc", tool: "a.b").count == "svc__a_b_".count + 10)
        let long = String(repeating: "abcdefghij", count: 10)
        let name = ToolNaming.federatedName(service: "svc", tool: long)
        #expect(name == expected("svc", long))
        #expect(name.count == 64)
        #expect(name.hasPrefix("svc__" + long.prefix(48)))
    }

    @Test func namesThatSanitizeAlikeStayDistinct() {
        let tools = ["a.b", "a b", "a/b", "a:b", "a\u{e9}b", "a😀b", "a\tb", "a_b", "a__b"]
        let names = tools.map { ToolNaming.federatedName(service: "svc", tool: $0) }
        #expect(Set(names).count == tools.count, "\(names)")
        let base = String(repeating: "p", count: 100)
        let longs = (0..<200).map { base + String($0) }
        let longNames = longs.map { ToolNaming.federatedName(service: "svc", tool: $0) }
        #expect(Set(longNames).count == longs.count)
    }

    @Test func sameToolOnDifferentServicesDiffers() {
        for tool in ["plain", "with.dot", String(repeating: "z", count: 80)] {
            #expect(ToolNaming.federatedName(service: "a", tool: tool) != ToolNaming.federatedName(service: "b", tool: tool))
        }
    }

    @Test func randomNamesDoNotCollide() {
        var g = SplitMix64(seed: 2024)
        let pieces: [String] = ["a", "b", "Z", "0", "9", "_", "-", ".", " ", "/", "é", "😀", "get", "tool", "list", "__"]
        var inputs = Set<String>()
        while inputs.count < 5000 {
            var s = ""
            for _ in 0..<Int.random(in: 1...40, using: &g) { s += pieces.randomElement(using: &g)! }
            inputs.insert(s)
        }
        var seen: [String: String] = [:]
        var collisions: [(String, String)] = []
        var invalid: [String] = []
        for tool in inputs {
            let name = ToolNaming.federatedName(service: "svc", tool: tool)
            if !Self.matchesPattern(name) || !name.hasPrefix("svc__") { invalid.append(name) }
            if let other = seen[name] { collisions.append((other, tool)) }
            seen[name] = tool
        }
        #expect(collisions.isEmpty, "\(collisions.prefix(5))")
        #expect(invalid.isEmpty, "\(invalid.prefix(5))")
    }

    @Test func servicePrefixIsKeptForEveryValidServiceName() {
        var g = SplitMix64(seed: 5)
        let chars = Array("abcdefghijklmnopqrstuvwxyz0123456789-")
        for _ in 0..<500 {
            let n = Int.random(in: 1...32, using: &g)
            var service = String((0..<n).map { _ in chars.randomElement(using: &g)! })
            if service.first == "-" { service = "a" + service.dropFirst() }
            if service.last == "-" { service = String(service.dropLast()) + "z" }
            #expect(Validation.serviceNameProblem(service) == nil)
            let tool = String(repeating: "ä.", count: Int.random(in: 1...60, using: &g))
            let name = ToolNaming.federatedName(service: service, tool: tool)
            #expect(name.hasPrefix(service + "__"))
            #expect(Self.matchesPattern(name))
        }
    }

    @Test func isValid() {
        #expect(ToolNaming.isValid("a"))
        #expect(ToolNaming.isValid(String(repeating: "A", count: 64)))
        #expect(!ToolNaming.isValid(String(repeating: "A", count: 65)))
        #expect(!ToolNaming.isValid(""))
        #expect(!ToolNaming.isValid("a.b"))
        #expect(!ToolNaming.isValid("é"))
        #expect(!ToolNaming.isValid("a b"))
        #expect(ToolNaming.isValid("a-b_C9"))
    }
}
