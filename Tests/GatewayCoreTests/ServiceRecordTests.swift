import Testing
@testable import GatewayCore

@Suite struct ServiceRecordTests {
    private func record(_ raw: String) -> ServiceRecord {
        ServiceRecord(id: 3, name: "svc", url: "http://svc/mcp", createdAt: "c", updatedAt: "u", rawTools: utf8(raw))
    }

    @Test func fieldsAreKept() {
        let r = record("[]")
        #expect(r.id == 3)
        #expect(r.name == "svc")
        #expect(r.url == "http://svc/mcp")
        #expect(r.createdAt == "c")
        #expect(r.updatedAt == "u")
        #expect(r.rawTools == utf8("[]"))
    }

    @Test func toolsAreParsed() {
        let tools = record(#"[{"name":"a"},{"name":"b","inputSchema":{}}]"#).tools
        #expect(tools.map { $0["name"]?.stringValue } == ["a", "b"])
    }

    @Test(arguments: ["", "not json", "{}", "[1,", "null"])
    func invalidRawToolsGiveNoTools(_ raw: String) {
        #expect(record(raw).tools.isEmpty)
    }

    @Test func registryChange() {
        let c = RegistryChange(version: 5, previous: 4, action: "update", service: "svc")
        #expect(c.version == 5 && c.previous == 4 && c.action == "update" && c.service == "svc")
    }
}
