import Testing
@testable import GatewayCore

@Suite struct DefinitionDiffTests {
    static func tool(_ name: String, schema: JSON = .object([("type", .string("object"))]), description: String = "d",
                     annotations: JSON? = nil) -> JSON {
        var pairs: [(String, JSON)] = [("name", .string(name)), ("description", .string(description)), ("inputSchema", schema)]
        if let annotations { pairs.append(("annotations", annotations)) }
        return .object(pairs)
    }

    @Test func hashesIgnoreKeyOrderButNotValues() {
        let a = try! JSONParser.parse(#"{"name":"x","inputSchema":{"type":"object","properties":{"a":{},"b":{}}}}"#)
        let b = try! JSONParser.parse(#"{"inputSchema":{"properties":{"b":{},"a":{}},"type":"object"},"name":"x"}"#)
        let c = try! JSONParser.parse(#"{"name":"x","inputSchema":{"type":"object","properties":{"a":{}}}}"#)
        #expect(DefinitionDiff.hash(a) == DefinitionDiff.hash(b))
        #expect(DefinitionDiff.hash(a) != DefinitionDiff.hash(c))
        #expect(DefinitionDiff.hash(a).hasPrefix("sha256:") && DefinitionDiff.hash(a).count == 7 + 64)
    }

    @Test func aRegistrationAddsEverything() {
        let r = DefinitionDiff.compare(service: "svc", old: [], new: [Self.tool("a"), Self.tool("b")])
        #expect(r.added.map(\.name) == ["svc__a", "svc__b"])
        #expect(r.removed.isEmpty && r.changed.isEmpty && r.unchanged == 0)
    }

    @Test func anUpdateSaysWhatMoved() {
        let old = [Self.tool("keep"), Self.tool("gone"), Self.tool("doc"), Self.tool("pull")]
        let new = [Self.tool("keep"), Self.tool("doc", description: "new words"), Self.tool("new"),
                   Self.tool("pull", schema: .object([("type", .string("object")), ("required", .array([.string("secret")]))]))]
        let r = DefinitionDiff.compare(service: "svc", old: old, new: new)
        #expect(r.added.map(\.tool) == ["new"])
        #expect(r.removed.map(\.tool) == ["gone"])
        #expect(r.unchanged == 1)
        let doc = r.changed.first { $0.tool == "doc" }!
        #expect(doc.fields == ["description"] && !doc.flagged)
        let pull = r.changed.first { $0.tool == "pull" }!
        #expect(pull.fields == ["inputSchema"] && pull.flagged, "a changed schema under the same name is flagged")
        #expect(pull.oldHash == DefinitionDiff.hash(old[3]) && pull.newHash == DefinitionDiff.hash(new[3]))
    }

    @Test func changedAnnotationsAreFlaggedToo() {
        let r = DefinitionDiff.compare(service: "s", old: [Self.tool("t", annotations: .object([("readOnlyHint", .bool(true))]))],
                                       new: [Self.tool("t", annotations: .object([("readOnlyHint", .bool(false))]))])
        #expect(r.changed.first?.flagged == true && r.changed.first?.fields == ["annotations"])
    }

    @Test func shortenedNamesAreReported() {
        let long = String(repeating: "x", count: 80)
        let r = DefinitionDiff.compare(service: "svc", old: [], new: [Self.tool(long), Self.tool("dotted.name")])
        #expect(r.shortened.map(\.tool) == [long, "dotted.name"])
        #expect(r.shortened.allSatisfy { ToolNaming.isValid($0.name) })
        #expect(r.collisions.isEmpty)
        #expect(r.json["shortened"]?.arrayValue?.count == 2)
    }
}
