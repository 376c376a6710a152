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

@Suite struct ServiceLimitsTests {
    static func body(_ text: String) -> JSON { try! JSONParser.parse(Array(text.utf8)) }

    @Test func aPatchSetsClearsAndKeeps() throws {
        let base = ServiceLimits(timeoutMs: 5000, maxConcurrent: 4)
        #expect(try ServiceLimits.patch(base, with: Self.body(#"{"timeoutMs":250}"#)) == ServiceLimits(timeoutMs: 250, maxConcurrent: 4))
        #expect(try ServiceLimits.patch(base, with: Self.body(#"{"maxConcurrent":null}"#)) == ServiceLimits(timeoutMs: 5000, maxConcurrent: nil))
        #expect(try ServiceLimits.patch(base, with: Self.body("{}")) == base)
    }

    @Test(arguments: [#"{"timeoutMs":0}"#, #"{"timeoutMs":-5}"#, #"{"timeoutMs":1.5}"#, #"{"timeoutMs":"100"}"#,
                      #"{"maxConcurrent":0}"#, #"{"maxConcurrent":100001}"#, #"{"retries":1}"#, "[]", "5"])
    func badLimitsAreRefusedWithTheirName(_ text: String) {
        #expect(throws: ValidationError.self) { try ServiceLimits.patch(ServiceLimits(), with: Self.body(text)) }
    }

    @Test func theTimeoutFallsBackToTheDefault() {
        #expect(ServiceLimits().timeout(default: 60) == 60)
        #expect(ServiceLimits(timeoutMs: 1500).timeout(default: 60) == 1.5)
    }

    @Test func storedColumnsRoundTrip() {
        #expect(ServiceLimits(columns: "300", nil) == ServiceLimits(timeoutMs: 300))
        #expect(ServiceLimits(columns: nil, "2") == ServiceLimits(maxConcurrent: 2))
        #expect(ServiceLimits(timeoutMs: 300).json.text == #"{"timeoutMs":300,"maxConcurrent":null}"#)
    }
}

@Suite struct DefinitionReviewTests {
    static let add = ServiceLimitsTests.body(#"{"name":"add","inputSchema":{"type":"object","properties":{"a":{"type":"integer"}}}}"#)
    static let addDrifted = ServiceLimitsTests.body(#"{"name":"add","inputSchema":{"type":"object","properties":{"a":{"type":"integer"},"note":{"type":"string"}}}}"#)
    static let addRedescribed = ServiceLimitsTests.body(#"{"name":"add","description":"adds","inputSchema":{"type":"object","properties":{"a":{"type":"integer"}}}}"#)

    @Test func unpinnedChangesAreAcceptedAndFlagged() {
        guard case .accept(let diff) = DefinitionReview.review(service: "m", previous: [Self.add], new: [Self.addDrifted], pinned: false, accepted: []) else {
            Issue.record("refused"); return
        }
        #expect(diff.changed.count == 1 && diff.changed[0].flagged && diff.changed[0].fields == ["inputSchema"])
    }

    @Test func pinningRefusesASchemaChangeUntilItsNewHashIsAccepted() {
        let newHash = DefinitionDiff.hash(Self.addDrifted)
        guard case .refuse(let changes) = DefinitionReview.review(service: "m", previous: [Self.add], new: [Self.addDrifted], pinned: true, accepted: []) else {
            Issue.record("accepted"); return
        }
        #expect(changes.map(\.newHash) == [newHash])
        #expect(DefinitionReview.refusalMessage(service: "m", changes).contains("add"))
        if case .refuse = DefinitionReview.review(service: "m", previous: [Self.add], new: [Self.addDrifted], pinned: true, accepted: ["sha256:00"]) {
        } else { Issue.record("a wrong hash was taken as confirmation") }
        guard case .accept = DefinitionReview.review(service: "m", previous: [Self.add], new: [Self.addDrifted], pinned: true, accepted: [newHash]) else {
            Issue.record("the named hash did not confirm"); return
        }
    }

    @Test func pinningLetsUnflaggedChangesAdditionsAndRemovalsThrough() {
        guard case .accept(let diff) = DefinitionReview.review(service: "m", previous: [Self.add], new: [Self.addRedescribed], pinned: true, accepted: []) else {
            Issue.record("a description change was refused"); return
        }
        #expect(diff.changed.first?.flagged == false)
        guard case .accept = DefinitionReview.review(service: "m", previous: [], new: [Self.addDrifted], pinned: true, accepted: []),
              case .accept = DefinitionReview.review(service: "m", previous: [Self.add], new: [], pinned: true, accepted: []) else {
            Issue.record("an addition or removal was refused"); return
        }
    }

    @Test func acceptedHashesComeFromTheQueryDecoded() {
        #expect(DefinitionReview.acceptedHashes(query: "accept=sha256%3Aab,sha256:cd&accept=sha256:ef&dryRun=false")
                == ["sha256:ab", "sha256:cd", "sha256:ef"])
        #expect(DefinitionReview.acceptedHashes(query: "acceptx=1&accept=").isEmpty)
    }
}
