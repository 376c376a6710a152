import Testing
@testable import GatewayCore

/// Virtual servers' views of a snapshot: what they list, how calls route, what they let read.
@Suite struct ToolIndexViewTests {
    static func record(_ name: String, tools: [String], prompts: [String] = [], resources: [String] = [], templates: [String] = []) -> ServiceRecord {
        func array(_ items: [String], _ key: String) -> [UInt8] {
            Array(("[" + items.map { #"{"\#(key)":"\#($0)","description":"d-\#($0)"}"# }.joined(separator: ",") + "]").utf8)
        }
        return ServiceRecord(id: 1, name: name, url: "http://\(name)/mcp", createdAt: "", updatedAt: "", rawTools: array(tools, "name"),
                             rawResources: array(resources, "uri"), rawTemplates: array(templates, "uriTemplate"), rawPrompts: array(prompts, "name"))
    }

    static func index(_ views: [VirtualServer], version: Int64 = 1) -> ToolIndex {
        ToolIndex(version: version, services: [
            record("alpha", tools: ["get", "put", "admin_reset"], prompts: ["greet"], resources: ["config://app"], templates: ["file:///n/{d}"]),
            record("beta", tools: ["get", "search"], prompts: ["ask"], resources: ["config://app"]),
        ], pageSize: 2, access: AccessConfig(virtualServers: views))
    }

    static func names(_ index: ToolIndex) throws -> [String] {
        try (0..<index.pageCount).flatMap { p in try JSONParser.parse(index.page(p)).arrayValue!.map { $0["name"]!.stringValue! } }
    }

    @Test func aViewListsWhatItsPatternsSelect() throws {
        let vs = VirtualServer(name: "team", include: ["alpha__*", "*__search", "beta__ask", "config://beta/*"], exclude: ["*__admin*"])
        let view = try #require(Self.index([vs]).projection("team"))
        #expect(try Self.names(view) == ["alpha__get", "alpha__put", "beta__search"])
        #expect(view.viewName == "team" && view.toolCount == 3)
        let prompts = try JSONParser.parse(view.page(.prompts, 0)).arrayValue!.map { $0["name"]!.stringValue! }
        #expect(prompts == ["alpha__greet", "beta__ask"], "prompts are selected by the same patterns")
        let resources = try JSONParser.parse(view.page(.resources, 0)).arrayValue!.map { $0["uri"]!.stringValue! }
        #expect(resources == ["config://beta/app"])
        #expect(view.entry(named: "alpha__admin_reset") == nil && view.entry(named: "beta__get") == nil)
        #expect(view.entry(named: "beta__search")?.entry.originalName == "search")
        #expect(Self.index([vs]).projection("nosuch") == nil)
    }

    @Test func overridesRenameWhatClientsSeeAndRouteToTheOriginal() throws {
        let vs = VirtualServer(name: "team", include: ["alpha__get", "beta__get"],
                               overrides: [("beta__get", .init(name: "fetch", title: "Fetch", description: "Gets from beta.", annotations: .object([("readOnlyHint", .bool(true))])))])
        let view = try #require(Self.index([vs]).projection("team"))
        #expect(try Self.names(view) == ["alpha__get", "fetch"])
        let (service, entry) = try #require(view.entry(named: "fetch"))
        #expect(service.name == "beta" && entry.originalName == "get")
        let definition = try JSONParser.parse(Array(entry.bytes))
        #expect(definition["title"] == .string("Fetch") && definition["description"] == .string("Gets from beta."))
        #expect(definition["annotations"]?["readOnlyHint"] == .bool(true))
        #expect(view.entry(named: "beta__get") == nil, "the overridden name no longer resolves in the view")
    }

    @Test func twoToolsOneNameTheFirstListedServiceWins() throws {
        let vs = VirtualServer(name: "v", overrides: [("alpha__get", .init(name: "get")), ("beta__get", .init(name: "get"))])
        let view = try #require(Self.index([vs]).projection("v"))
        #expect(try Self.names(view).filter { $0 == "get" }.count == 1)
        #expect(view.entry(named: "get")?.service.name == "alpha")
    }

    @Test func readsNeedTheURIOrATemplateInTheView() throws {
        let base = Self.index([VirtualServer(name: "a", include: ["config://alpha/*"]), VirtualServer(name: "t", include: ["file://alpha/*"])])
        let a = try #require(base.projection("a")), t = try #require(base.projection("t"))
        let alpha = try #require(a.service(named: "alpha")), alphaT = try #require(t.service(named: "alpha"))
        #expect(a.allowsResource("config://alpha/app", service: alpha))
        #expect(!a.allowsResource("file://alpha//n/monday", service: alpha))
        #expect(t.allowsResource("file://alpha//n/monday", service: alphaT), "a template in the view covers its expansions")
        #expect(base.allowsResource("anything://x", service: try #require(base.service(named: "beta"))))
    }

    @Test func changedListsComparesViewsNotTheWholeFederation() throws {
        let vs = VirtualServer(name: "v", include: ["alpha__*"])
        let before = Self.index([vs])
        // beta changes: the view of alpha does not.
        let after = before.replacing("beta", with: Self.record("beta", tools: ["get", "search", "new"]), version: 2)
        let (a, b) = (try #require(before.projection("v")), try #require(after.projection("v")))
        #expect(b.changedLists(since: a) == (false, false, false))
        #expect(after.changedLists(since: before).tools)
        // The view's definition changes: its tools change.
        let redefined = after.replacingAccess(AccessConfig(virtualServers: [VirtualServer(name: "v", include: ["alpha__get"])]), version: 3)
        #expect(try #require(redefined.projection("v")).changedLists(since: b).tools)
        #expect(redefined.projection("v") === redefined.projection("v"), "built once per snapshot")
    }

    @Test func aHiddenServiceStaysOutOfTheViewButItsToolsStillResolve() throws {
        let hidden = Self.index([VirtualServer(name: "v")]).hiding(["beta"], view: 5)
        let view = try #require(hidden.projection("v"))
        #expect(try Self.names(view) == ["alpha__get", "alpha__put", "alpha__admin_reset"])
        #expect(view.entry(named: "beta__search") != nil && view.view == 5 && view.cursor(forPage: 1).hasSuffix(".5"))
    }
}

@Suite struct ByteSearchTests {
    @Test func findsANeedleWhereverItIs() {
        var g = SplitMix64(seed: 11)
        for _ in 0..<2000 {
            let hay = (0..<Int(g.next() % 40)).map { _ in UInt8(0x61 + g.next() % 3) }
            let needle = (0..<Int(1 + g.next() % 4)).map { _ in UInt8(0x61 + g.next() % 3) }
            let expected = hay.count >= needle.count && (0...(hay.count - needle.count)).contains { Array(hay[$0..<($0 + needle.count)]) == needle }
            let start = hay.isEmpty ? 0 : Int(g.next() % UInt64(hay.count))
            let slice = hay[start...]
            let inSlice = slice.count >= needle.count && (start...(hay.count - needle.count)).contains { Array(hay[$0..<($0 + needle.count)]) == needle }
            #expect(ToolIndex.contains(hay[...], needle) == expected, "\(hay) \(needle)")
            #expect(ToolIndex.contains(slice, needle) == inSlice, "\(hay)[\(start)...] \(needle)")
        }
    }
}
