import Testing
@testable import GatewayCore

@Suite struct ToolIndexTests {
    @Test func byteSearchFindsTheNeedleAnywhereAndOnlyWhole() {
        func has(_ hay: String, _ needle: String) -> Bool { ToolIndex.contains(ArraySlice(Array(hay.utf8)), Array(needle.utf8)) }
        #expect(has("resourceUri", "resourceUri"))
        #expect(has(#"{"_meta":{"ui":{"resourceUri":"ui://x"}}}"#, "resourceUri"))
        #expect(has("xxresourceUri", "resourceUri") && has("resourceUrixx", "resourceUri"))
        #expect(!has("resourceUr", "resourceUri") && !has("esourceUri", "resourceUri"))
        #expect(!has("resourceURI resourceuri Uri Uri", "resourceUri"))
        #expect(has("UUUresourceUri", "resourceUri") && has("resourceU resourceUri", "resourceUri"))
        #expect(has("abc", "b") && !has("abc", "d") && has("aBc", "B"))
        // the slice's own indices, not 0-based
        let bytes = Array("0123resourceUri".utf8)
        #expect(ToolIndex.contains(bytes[4...], Array("resourceUri".utf8)))
        #expect(!ToolIndex.contains(bytes[5...], Array("resourceUri".utf8)))
    }

    static func record(_ name: String, _ tools: String, id: Int64 = 1, url: String? = nil) -> ServiceRecord {
        ServiceRecord(id: id, name: name, url: url ?? "http://\(name).internal/mcp", createdAt: "2025-01-01T00:00:00Z",
                      updatedAt: "2025-01-01T00:00:00Z", rawTools: utf8(tools))
    }

    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
    static func text(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }

    /// Every page's elements, in order.
    static func allPageElements(_ index: ToolIndex) throws -> [JSON] {
        var out: [JSON] = []
        for p in 0..<index.pageCount {
            let page = try JSONParser.parse(index.page(p))
            let items = try #require(page.arrayValue)
            out += items
        }
        return out
    }

    /// What the tool list must be, computed from the records by parsing (independently of the
    /// byte-level scanning ToolIndex does): services by name, tools in their order, first of a
    /// duplicate federated name kept, `name` replaced in place.
    static func expectedTools(_ records: [ServiceRecord]) -> [(service: String, original: String, definition: JSON)] {
        var byName: [String: ServiceRecord] = [:]
        for r in records { byName[r.name] = r }
        var out: [(String, String, JSON)] = []
        for name in byName.keys.sorted() {
            var seen = Set<String>()
            guard let items = parsed(byName[name]!.rawTools)?.arrayValue else { continue }
            for item in items {
                guard case .object = item, let original = item["name"]?.stringValue else { continue }
                let federated = ToolNaming.federatedName(service: name, tool: original)
                guard seen.insert(federated).inserted else { continue }
                out.append((name, original, item.setting("name", .string(federated))))
            }
        }
        return out
    }

    // MARK: building and lookups

    static let weatherTools = #"[{"name":"forecast","description":"Daily forecast","inputSchema":{"type":"object"}},{"name":"alerts"}]"#

    @Test func buildCountsAndLookups() throws {
        let index = ToolIndex(version: 7, services: [
            Self.record("weather", Self.weatherTools, url: "http://w/mcp"),
            Self.record("alpha", #"[{"name":"x","description":"ex"}]"#, url: "http://a/mcp"),
            Self.record("maps", "[]", url: "http://m/mcp"),
        ], pageSize: 500)
        #expect(index.version == 7)
        #expect(index.serviceCount == 3)
        #expect(index.toolCount == 3)
        #expect(index.serviceURLs == ["weather": "http://w/mcp", "alpha": "http://a/mcp", "maps": "http://m/mcp"])

        let hit = try #require(index.entry(named: "weather__forecast"))
        #expect(hit.service.name == "weather")
        #expect(hit.service.url == "http://w/mcp")
        #expect(hit.entry.originalName == "forecast")
        #expect(hit.entry.federatedName == "weather__forecast")
        #expect(Self.text(hit.entry.bytes) == #"{"name":"weather__forecast","description":"Daily forecast","inputSchema":{"type":"object"}}"#)
        #expect(index.entry(named: "weather__alerts")?.entry.originalName == "alerts")
        #expect(index.entry(named: "alpha__x")?.service.name == "alpha")

        for miss in ["weather__nope", "nope__forecast", "weatherforecast", "", "_", "__", "weather__", "weather_forecast",
                     "maps__x", "alpha__forecast", "__forecast", "weather__forecast ", "Weather__forecast", "weather___forecast"] {
            #expect(index.entry(named: miss) == nil, "\(miss)")
        }
    }

    @Test func definitionsKeepEveryOtherByte() throws {
        let raw = #"[ { "name" : "a" , "description":"caf\u00e9 \"q\"", "inputSchema":{"type":"object","properties":{"name":{"type":"string"}}} } ,"#
            + "\n" + #"{"description":"first","name":"b","x":[1, 2.50, 1e3],"meta":{"name":"inner"}}]"#
        let index = ToolIndex(version: 1, services: [Self.record("svc", raw)], pageSize: 500)
        let expected = "["
            + #"{ "name" : "svc__a" , "description":"caf\u00e9 \"q\"", "inputSchema":{"type":"object","properties":{"name":{"type":"string"}}} }"#
            + ","
            + #"{"description":"first","name":"svc__b","x":[1, 2.50, 1e3],"meta":{"name":"inner"}}"#
            + "]"
        #expect(Self.text(index.page(0)) == expected)
        #expect(Self.text(try #require(index.entry(named: "svc__b")).entry.bytes)
            == #"{"description":"first","name":"svc__b","x":[1, 2.50, 1e3],"meta":{"name":"inner"}}"#)
    }

    @Test func escapedAndAwkwardToolNames() throws {
        let raw = #"[{"name":"a\u002eb","d":1},{"name":"with space"},{"name":"t\"q"}]"#
        let index = ToolIndex(version: 1, services: [Self.record("svc", raw)], pageSize: 500)
        #expect(index.toolCount == 3)
        for original in ["a.b", "with space", "t\"q"] {
            let federated = ToolNaming.federatedName(service: "svc", tool: original)
            #expect(federated != "svc__" + original)
            let hit = try #require(index.entry(named: federated), "\(original)")
            #expect(hit.entry.originalName == original)
            #expect(parsed(hit.entry.bytes)?["name"]?.stringValue == federated)
        }
        let dot = ToolNaming.federatedName(service: "svc", tool: "a.b")
        #expect(Self.text(try #require(index.entry(named: dot)).entry.bytes) == #"{"name":"\#(dot)","d":1}"#)
    }

    @Test func elementsWithoutAStringNameAreSkipped() throws {
        let raw = #"[1,"x",null,[],{},{"name":5},{"name":null},{"title":"no name"},{"name":"ok"},{"meta":{"name":"inner"}}]"#
        let index = ToolIndex(version: 1, services: [Self.record("svc", raw)], pageSize: 500)
        #expect(index.toolCount == 1)
        #expect(Self.text(index.page(0)) == #"[{"name":"svc__ok"}]"#)
        #expect(index.entry(named: "svc__inner") == nil)
    }

    @Test func duplicateToolNamesKeepTheFirst() throws {
        let raw = #"[{"name":"a","v":1},{"name":"b"},{"name":"a","v":2}]"#
        let index = ToolIndex(version: 1, services: [Self.record("svc", raw)], pageSize: 500)
        #expect(index.toolCount == 2)
        #expect(Self.text(index.page(0)) == #"[{"name":"svc__a","v":1},{"name":"svc__b"}]"#)
        #expect(parsed(try #require(index.entry(named: "svc__a")).entry.bytes)?["v"]?.intValue == 1)
    }

    @Test(arguments: ["", "   ", "not json", "{}", #"{"name":"a"}"#, "null", "[]", " [ ] ", "[", "]"])
    func rawToolsThatHoldNoToolsGiveNone(_ raw: String) {
        let index = ToolIndex(version: 1, services: [Self.record("svc", raw)], pageSize: 500)
        #expect(index.toolCount == 0)
        #expect(index.serviceCount == 1)
        #expect(index.page(0) == utf8("[]"))
    }

    @Test func whitespaceInTheArrayIsTolerated() throws {
        let index = ToolIndex(version: 1, services: [Self.record("svc", " \n[ {\"name\":\"a\"} ,\n\t{\"name\":\"b\"} ] ")], pageSize: 500)
        #expect(Self.text(index.page(0)) == #"[{"name":"svc__a"},{"name":"svc__b"}]"#)
    }

    @Test func laterRecordWithTheSameNameWins() {
        let index = ToolIndex(version: 1, services: [Self.record("svc", #"[{"name":"old"}]"#),
                                                     Self.record("svc", #"[{"name":"new"}]"#)], pageSize: 500)
        #expect(index.serviceCount == 1)
        #expect(index.entry(named: "svc__new") != nil)
        #expect(index.entry(named: "svc__old") == nil)
    }

    // MARK: pages

    static let pagingRecords: [ServiceRecord] = [
        record("zeta", #"[{"name":"z1"},{"name":"z2"},{"name":"z3"}]"#),
        record("alpha", #"[{"name":"a1","description":"first"},{"name":"a2"}]"#),
        record("empty", "[]"),
        record("mid", #"[{"name":"m.1","x":{"y":[1,2]}},{"name":"m2"},{"name":"m3"},{"name":"m4"},{"name":"m5"}]"#),
        record("also-empty", "[]"),
        record("b", #"[{"name":"only"}]"#),
        record("zz", "[]"),
    ]

    @Test(arguments: [1, 2, 3, 7, 500])
    func pagesConcatenateToTheFullListInServiceOrder(_ pageSize: Int) throws {
        let index = ToolIndex(version: 3, services: Self.pagingRecords, pageSize: pageSize)
        let expected = Self.expectedTools(Self.pagingRecords)
        #expect(index.toolCount == 11)
        #expect(expected.count == 11)
        #expect(expected.map(\.service) == ["alpha", "alpha", "b", "mid", "mid", "mid", "mid", "mid", "zeta", "zeta", "zeta"])
        #expect(index.pageCount == (11 + pageSize - 1) / pageSize)

        let elements = try Self.allPageElements(index)
        #expect(elements.count == expected.count)
        for (got, want) in zip(elements, expected.map(\.definition)) {
            #expect(strictEqual(got, want), "\(got.text) vs \(want.text)")
        }
        // Every page but the last is full; the last is not empty; one past the end is [].
        for p in 0..<index.pageCount {
            let count = parsed(index.page(p))?.arrayValue?.count ?? -1
            #expect(count == (p < index.pageCount - 1 ? pageSize : 11 - pageSize * (index.pageCount - 1)))
        }
        #expect(index.page(index.pageCount) == utf8("[]"))
        #expect(index.page(index.pageCount + 10) == utf8("[]"))

        // Byte level: the pages' contents joined equal the single big page.
        let whole = ToolIndex(version: 3, services: Self.pagingRecords, pageSize: 500).page(0)
        let joined = (0..<index.pageCount).map { Array(index.page($0).dropFirst().dropLast()) }.filter { !$0.isEmpty }
        #expect([UInt8(ascii: "[")] + Array(joined.joined(separator: [UInt8(ascii: ",")])) + [UInt8(ascii: "]")] == whole)
        // Pages are stable when asked again (cached).
        #expect(index.page(0) == index.page(0))
    }

    @Test func pageSizeIsAtLeastOne() {
        let index = ToolIndex(version: 1, services: Self.pagingRecords, pageSize: 0)
        #expect(index.pageSize == 1)
        #expect(index.pageCount == 11)
        let negative = ToolIndex(version: 1, services: Self.pagingRecords, pageSize: -5)
        #expect(negative.pageSize == 1)
    }

    @Test func emptyIndex() {
        #expect(ToolIndex.empty.pageCount == 1)
        #expect(ToolIndex.empty.page(0) == utf8("[]"))
        #expect(ToolIndex.empty.toolCount == 0)
        #expect(ToolIndex.empty.serviceCount == 0)
        #expect(ToolIndex.empty.version == 0)
        #expect(ToolIndex.empty.entry(named: "a__b") == nil)
        let built = ToolIndex(version: 9, services: [], pageSize: 3)
        #expect(built.pageCount == 1)
        #expect(built.page(0) == utf8("[]"))
        #expect(built.page(1) == utf8("[]"))
        let onlyEmpty = ToolIndex(version: 9, services: [Self.record("a", "[]"), Self.record("b", "[]")], pageSize: 3)
        #expect(onlyEmpty.pageCount == 1)
        #expect(onlyEmpty.page(0) == utf8("[]"))
    }

    // MARK: replacing

    /// Asserts that `a` and `b` serve exactly the same tools: counts, every page's bytes, every lookup.
    static func expectSame(_ a: ToolIndex, _ b: ToolIndex, probe names: Set<String>, _ context: String,
                           sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a.version == b.version, "\(context)", sourceLocation: sourceLocation)
        #expect(a.toolCount == b.toolCount, "\(context)", sourceLocation: sourceLocation)
        #expect(a.serviceCount == b.serviceCount, "\(context)", sourceLocation: sourceLocation)
        #expect(a.pageCount == b.pageCount, "\(context)", sourceLocation: sourceLocation)
        #expect(a.serviceURLs == b.serviceURLs, "\(context)", sourceLocation: sourceLocation)
        for p in 0...max(a.pageCount, b.pageCount) where a.page(p) != b.page(p) {
            Issue.record("\(context): page \(p) differs: \(text(a.page(p))) vs \(text(b.page(p)))", sourceLocation: sourceLocation)
        }
        for name in names {
            let x = a.entry(named: name), y = b.entry(named: name)
            guard (x == nil) == (y == nil) else {
                Issue.record("\(context): lookup of \(name) differs", sourceLocation: sourceLocation)
                continue
            }
            guard let x, let y else { continue }
            if x.service.name != y.service.name || x.service.url != y.service.url || x.entry.originalName != y.entry.originalName
                || x.entry.federatedName != y.entry.federatedName || x.entry.bytes != y.entry.bytes {
                Issue.record("\(context): entry \(name) differs", sourceLocation: sourceLocation)
            }
        }
    }

    static let toolNamePool = ["get", "list", "get.item", "x y", "é", String(repeating: "long", count: 20), "a", "b", "c"]
    static let serviceNamePool = ["alpha", "beta", "gamma", "d", "e1", "zz-top", "m", "a-b"]

    static func randomTools<G: RandomNumberGenerator>(_ g: inout G) -> String {
        var items: [String] = []
        for _ in 0..<Int.random(in: 0...5, using: &g) {
            switch Int.random(in: 0..<10, using: &g) {
            case 0: items.append(#"{"description":"nameless"}"#)
            case 1: items.append("42")
            default:
                let name = toolNamePool.randomElement(using: &g)!
                let extra = Int.random(in: 0...1000, using: &g)
                items.append(Bool.random(using: &g)
                    ? #"{"name":\#(JSON.quoted(name)),"n":\#(extra)}"#
                    : #"{ "v" : [\#(extra), "}"] , "name" : \#(JSON.quoted(name)) }"#)
            }
        }
        return "[" + items.joined(separator: Bool.random(using: &g) ? "," : " , ") + "]"
    }

    @Test(arguments: [(1, 11), (2, 22), (3, 33), (7, 77), (500, 500)] as [(Int, UInt64)])
    func replacingMatchesBuildingFromScratch(_ pageSize: Int, _ seed: UInt64) {
        var g = SplitMix64(seed: seed)
        var records: [String: ServiceRecord] = [:]
        var index = ToolIndex(version: 0, services: [], pageSize: pageSize)
        var probes = Set<String>(["", "__", "alpha__", "nope__get"])
        for name in Self.serviceNamePool {
            for tool in Self.toolNamePool { probes.insert(ToolNaming.federatedName(service: name, tool: tool)) }
        }
        for step in 1...120 {
            let name = Self.serviceNamePool.randomElement(using: &g)!
            let before = index
            let beforeRecords = Array(records.values)
            let version = Int64(step)
            let action: String
            if Int.random(in: 0..<4, using: &g) == 0 {
                action = "remove \(name)"
                records[name] = nil
                index = index.replacing(name, with: nil, version: version)
            } else {
                let r = Self.record(name, Self.randomTools(&g), id: version, url: "http://\(name)/v\(step)")
                action = (records[name] == nil ? "add " : "change ") + "\(name) \(Self.text(r.rawTools))"
                records[name] = r
                index = index.replacing(name, with: r, version: version)
            }
            let fresh = ToolIndex(version: version, services: Array(records.values), pageSize: pageSize)
            Self.expectSame(index, fresh, probe: probes, "step \(step) (\(action))")
            // The previous snapshot is untouched.
            Self.expectSame(before, ToolIndex(version: before.version, services: beforeRecords, pageSize: pageSize),
                            probe: probes, "previous snapshot at step \(step)")
        }
    }

    @Test func replacingAddChangeRemoveByHand() throws {
        let a = Self.record("a", #"[{"name":"t1"}]"#)
        let c = Self.record("c", #"[{"name":"t3"}]"#)
        let base = ToolIndex(version: 1, services: [a, c], pageSize: 2)
        // Add in the middle of the order.
        let b = Self.record("b", #"[{"name":"t2"},{"name":"t2b"}]"#)
        let added = base.replacing("b", with: b, version: 2)
        #expect(added.version == 2)
        #expect(try Self.allPageElements(added).compactMap { $0["name"]?.stringValue } == ["a__t1", "b__t2", "b__t2b", "c__t3"])
        // Change one.
        let changed = added.replacing("a", with: Self.record("a", #"[{"name":"new"}]"#), version: 3)
        #expect(try Self.allPageElements(changed).compactMap { $0["name"]?.stringValue } == ["a__new", "b__t2", "b__t2b", "c__t3"])
        #expect(changed.entry(named: "a__t1") == nil)
        #expect(added.entry(named: "a__t1") != nil, "the earlier snapshot still has it")
        // Remove one; removing a missing one changes nothing but the version.
        let removed = changed.replacing("b", with: nil, version: 4)
        #expect(try Self.allPageElements(removed).compactMap { $0["name"]?.stringValue } == ["a__new", "c__t3"])
        #expect(removed.serviceCount == 2)
        let noop = removed.replacing("nope", with: nil, version: 5)
        #expect(noop.version == 5)
        #expect(noop.page(0) == removed.page(0))
        #expect(noop.serviceCount == 2)
        // Remove everything.
        let none = noop.replacing("a", with: nil, version: 6).replacing("c", with: nil, version: 7)
        #expect(none.toolCount == 0)
        #expect(none.pageCount == 1)
        #expect(none.page(0) == utf8("[]"))
    }

    // MARK: cursors

    @Test(arguments: [0, 1, 35, 36, 1_700_000_000, Int64.max] as [Int64])
    func cursorRoundTrip(_ version: Int64) throws {
        let index = ToolIndex(version: version, services: [], pageSize: 1)
        for page in [1, 2, 10, 999_999] {
            let cursor = index.cursor(forPage: page)
            let decoded = try #require(ToolIndex.decodeCursor(cursor), "\(cursor)")
            #expect(decoded.version == version)
            #expect(decoded.page == page)
        }
    }

    @Test func cursorsOfDifferentVersionsDiffer() {
        let a = ToolIndex(version: 1, services: [], pageSize: 1)
        let b = ToolIndex(version: 2, services: [], pageSize: 1)
        #expect(a.cursor(forPage: 1) != b.cursor(forPage: 1))
    }

    @Test(arguments: ["", ".", "..", "abc", "1", "1.", ".1", "1.2.0", "1.2.", "1.2.-1", "1.2.3.4", "1.2.!", "1.x", "1.-1", "1.0", "1.1000000", "!.1", "1 .2",
                      "1. 2", "zzzzzzzzzzzzzzzzzz.1", "1.99999999999999999999", "é.1", "1.1e3", "1.0x1", "1..2"])
    func garbageCursorsDecodeToNil(_ cursor: String) {
        #expect(ToolIndex.decodeCursor(cursor) == nil)
    }

    // MARK: listing views

    @Test func aViewHidesServicesFromListsButNotFromCalls() throws {
        let full = ToolIndex(version: 9, services: [
            Self.record("a", #"[{"name":"t1"},{"name":"t2"}]"#), Self.record("b", #"[{"name":"t3"}]"#),
            Self.record("c", #"[{"name":"t4"}]"#),
        ], pageSize: 1)
        let view = full.hiding(["b", "zzz"], view: 3)
        #expect(view.version == 9 && view.view == 3 && view.hidden == ["b"], "names it does not have are not hidden")
        #expect(try Self.allPageElements(view).compactMap { $0["name"]?.stringValue } == ["a__t1", "a__t2", "c__t4"])
        #expect(view.toolCount == 3 && view.pageCount == 3)
        #expect(view.entry(named: "b__t3")?.entry.originalName == "t3", "a hidden tool still resolves")
        #expect(try Self.allPageElements(full).count == 4, "the full snapshot is untouched")
        #expect(full.hiding([], view: 4).view == 0, "hiding nothing is the full listing")
    }

    @Test func aViewsCursorsCarryTheView() throws {
        let full = ToolIndex(version: 40, services: [Self.record("a", #"[{"name":"t1"},{"name":"t2"}]"#)], pageSize: 1)
        let view = full.hiding(["a"], view: 7)
        let cursor = view.cursor(forPage: 1)
        let decoded = try #require(ToolIndex.decodeCursor(cursor))
        #expect(decoded.version == 40 && decoded.page == 1 && decoded.view == 7)
        #expect(cursor != full.cursor(forPage: 1))
        #expect(ToolIndex.decodeCursor(full.cursor(forPage: 1))?.view == 0)
    }
}

@Suite struct FederatedURITests {
    @Test(arguments: [
        ("config://app", "config://docs/app"),
        ("file:///notes/{day}", "file://docs//notes/{day}"),
        ("ui://widget/app.html?x=1#f", "ui://docs/widget/app.html?x=1#f"),
        ("note:1", "note://docs/:1"),
        ("urn:isbn:0451450523", "urn://docs/:isbn:0451450523"),
        ("odd://:8080/x", "odd://docs/://:8080/x"),
        ("https://example.com/a/{b}", "https://docs/example.com/a/{b}"),
    ])
    func federatedURIsKeepTheSchemeAndMapBack(_ original: String, _ federated: String) throws {
        #expect(FederatedURI.federate(service: "docs", uri: original) == federated)
        let back = try #require(FederatedURI.resolve(federated))
        #expect(back.service == "docs" && back.original == original)
    }

    @Test(arguments: ["", "noscheme", ":x", "1abc://docs/x", "config:app", "config://", "config://docs", "config://Bad_Name/x", "config:///x"])
    func notFederatedURIsDoNotResolve(_ uri: String) {
        #expect(FederatedURI.resolve(uri) == nil)
    }

    @Test func aTemplatesExpansionMapsToTheOriginalsExpansion() {
        let template = FederatedURI.federate(service: "docs", uri: "file:///notes/{day}")!
        let expanded = template.split(separator: "{day}", omittingEmptySubsequences: false).joined(separator: "friday")
        #expect(FederatedURI.resolve(expanded)?.original == "file:///notes/friday")
    }

    @Test func catalogsAreListedWithFederatedNamesAndURIs() throws {
        let record = ServiceRecord(id: 1, name: "docs", url: "http://d/mcp", createdAt: "", updatedAt: "", rawTools: Array("[]".utf8),
                                   rawResources: Array(#"[{"uri":"config://app","name":"c"},{"uri":"config://app","name":"dup"},{"uri":"bad","name":"x"}]"#.utf8),
                                   rawTemplates: Array(#"[{"uriTemplate":"file:///n/{d}","name":"n"}]"#.utf8),
                                   rawPrompts: Array(#"[{"name":"greet","arguments":[{"name":"p"}]}]"#.utf8))
        let index = ToolIndex(version: 1, services: [record], pageSize: 10)
        let resources = try JSONParser.parse(index.page(.resources, 0)).arrayValue ?? []
        #expect(resources.map { $0["uri"]?.stringValue } == ["config://docs/app"], "duplicates and scheme-less URIs are dropped")
        #expect(try JSONParser.parse(index.page(.templates, 0)).arrayValue?.first?["uriTemplate"] == .string("file://docs//n/{d}"))
        let prompts = try JSONParser.parse(index.page(.prompts, 0)).arrayValue ?? []
        #expect(prompts.first?["name"] == .string("docs__greet") && prompts.first?["arguments"]?.arrayValue?.count == 1)
        #expect(index.prompt(named: "docs__greet")?.entry.originalName == "greet")
        #expect(index.prompt(named: "docs__nope") == nil && index.prompt(named: "greet") == nil)
        #expect(index.pageCount(.resources) == 1 && index.page(.resources, 5) == Array("[]".utf8))
    }

    @Test func onlyTheListsThatChangedAreReported() {
        func rec(_ name: String, tools: String = #"[{"name":"t"}]"#, resources: String = "[]", prompts: String = "[]") -> ServiceRecord {
            ServiceRecord(id: 1, name: name, url: "http://\(name)/mcp", createdAt: "", updatedAt: "", rawTools: Array(tools.utf8),
                          rawResources: Array(resources.utf8), rawPrompts: Array(prompts.utf8))
        }
        let base = ToolIndex(version: 1, services: [rec("a")], pageSize: 10)
        let sameTools = base.replacing("a", with: rec("a"), version: 2)
        #expect(sameTools.changedLists(since: base) == (false, false, false), "an update that changed nothing")
        let withResource = base.replacing("b", with: rec("b", tools: "[]", resources: #"[{"uri":"x://y"}]"#), version: 3)
        #expect(withResource.changedLists(since: base) == (false, true, false))
        let withPrompt = withResource.replacing("a", with: rec("a", prompts: #"[{"name":"p"}]"#), version: 4)
        #expect(withPrompt.changedLists(since: withResource) == (false, false, true))
        #expect(withPrompt.replacing("a", with: nil, version: 5).changedLists(since: withPrompt) == (true, false, true))
        #expect(withPrompt.hiding(["b"], view: 1).changedLists(since: withPrompt) == (false, true, false), "hiding b hides its resource")
    }

    @Test func anAppsToolPointsAtItsFederatedUIResource() throws {
        let record = ServiceRecord(id: 1, name: "apps", url: "http://a/mcp", createdAt: "", updatedAt: "", rawTools: Array("""
            [{"name":"chart","_meta":{"ui":{"resourceUri":"ui://charts/bar.html","prefersBorder":true},"ui/resourceUri":"ui://charts/bar.html"}},
             {"name":"plain","description":"mentions resourceUri in prose only"}]
            """.utf8), rawResources: Array(#"[{"uri":"ui://charts/bar.html","name":"bar"}]"#.utf8))
        let index = ToolIndex(version: 1, services: [record], pageSize: 10)
        let tools = try JSONParser.parse(index.page(0)).arrayValue ?? []
        let resource = try JSONParser.parse(index.page(.resources, 0)).arrayValue?.first?["uri"]
        #expect(tools[0]["name"] == .string("apps__chart"))
        #expect(tools[0]["_meta"]?["ui"]?["resourceUri"] == resource, "the tool and the resource disagree")
        #expect(tools[0]["_meta"]?["ui"]?["resourceUri"] == .string("ui://apps/charts/bar.html"))
        #expect(tools[0]["_meta"]?["ui/resourceUri"] == .string("ui://apps/charts/bar.html"))
        #expect(tools[0]["_meta"]?["ui"]?["prefersBorder"] == .bool(true))
        #expect(tools[1]["name"] == .string("apps__plain") && tools[1]["description"] == .string("mentions resourceUri in prose only"))
    }
}
