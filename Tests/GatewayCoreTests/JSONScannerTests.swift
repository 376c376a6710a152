import Testing
@testable import GatewayCore

@Suite struct JSONScannerTests {
    /// (key, raw value text) for each top-level member, or nil.
    private func scan(_ text: String) -> [(String, String)]? {
        let bytes = utf8(text)
        guard let members = JSONScanner.members(bytes) else { return nil }
        return members.map { ($0.key, String(decoding: bytes[$0.value], as: UTF8.self)) }
    }

    private func expectScan(_ text: String, _ expected: [(String, String)], sourceLocation: SourceLocation = #_sourceLocation) {
        guard let got = scan(text) else {
            Issue.record("scanner returned nil for \(text)", sourceLocation: sourceLocation)
            return
        }
        #expect(got.map(\.0) == expected.map(\.0), sourceLocation: sourceLocation)
        #expect(got.map(\.1) == expected.map(\.1), sourceLocation: sourceLocation)
    }

    @Test func topLevelMembersAndRawRanges() {
        expectScan(#"{"a":1,"b":"x","c":[1,2],"d":{"e":null},"f":true,"g":-1.5e3,"h":null}"#, [
            ("a", "1"), ("b", #""x""#), ("c", "[1,2]"), ("d", #"{"e":null}"#), ("f", "true"), ("g", "-1.5e3"), ("h", "null"),
        ])
    }

    @Test func rangesExcludeSurroundingWhitespace() {
        expectScan(" \n{ \"a\" :\t1 , \"b\" :\r\n[ 1 , 2 ] ,\"c\":\"s\" } \n", [("a", "1"), ("b", "[ 1 , 2 ]"), ("c", #""s""#)])
    }

    @Test func emptyObject() {
        expectScan("{}", [])
        expectScan(" { \n } ", [])
    }

    @Test func stringsContainingBracketsAndEscapedQuotes() {
        let b = #"{"x":"]}\\","y":[{"z":"\"}"}],"w":"{["}"#
        let text = #"{"a":"}{][\"","b":"# + b + #","c":3}"#
        expectScan(text, [("a", #""}{][\"""#), ("b", b), ("c", "3")])
    }

    @Test func escapedBackslashBeforeClosingQuote() {
        expectScan(#"{"a":"x\\","b":1}"#, [("a", #""x\\""#), ("b", "1")])
        expectScan(#"{"a":"\\\"","b":"\\\\"}"#, [("a", #""\\\"""#), ("b", #""\\\\""#)])
        expectScan(#"{"a":["\\",{"k":"\\"}],"b":2}"#, [("a", #"["\\",{"k":"\\"}]"#), ("b", "2")])
    }

    @Test func deeplyNestedValuesAreSkippedWhole() {
        let deep = String(repeating: #"{"k":["#, count: 50) + "1" + String(repeating: "]}", count: 50)
        expectScan(#"{"deep":"# + deep + #","after":true}"#, [("deep", deep), ("after", "true")])
    }

    @Test func keysWithEscapesAreDecoded() {
        expectScan(#"{"a\"b":1,"\u0063":2,"tab\tkey":3,"\\":4,"\ud83d\ude00":5,"é":6}"#, [
            ("a\"b", "1"), ("c", "2"), ("tab\tkey", "3"), ("\\", "4"), ("😀", "5"), ("é", "6"),
        ])
    }

    @Test func keysWithInvalidEscapesMakeItMalformed() {
        #expect(scan(#"{"\x":1}"#) == nil)
        #expect(scan(#"{"\uD800":1}"#) == nil)
    }

    @Test func rangeRestrictsTheScanAndRangesAreAbsolute() {
        let bytes = utf8(#"xx{"a":1,"b":{"c":"d"}}yy"#)
        let members = bytes.withUnsafeBufferPointer { JSONScanner.members($0, in: 2..<(bytes.count - 2)) }
        #expect(members?.map(\.key) == ["a", "b"])
        guard let members, let r = members.range(of: "b") else { Issue.record("no b"); return }
        #expect(String(decoding: bytes[r], as: UTF8.self) == #"{"c":"d"}"#)
        let inner = bytes.withUnsafeBufferPointer { JSONScanner.members($0, in: r) }
        #expect(inner?.count == 1)
        #expect(inner.map { String(decoding: bytes[$0[0].value], as: UTF8.self) } == #""d""#)
        // A range that cuts the object short is malformed.
        #expect(bytes.withUnsafeBufferPointer { JSONScanner.members($0, in: 2..<10) } == nil)
    }

    @Test func rangeOfKeyFindsTheFirst() {
        guard let members = JSONScanner.members(utf8(#"{"id":1,"x":2,"id":3}"#)) else { Issue.record("nil"); return }
        #expect(members.range(of: "id") == members[0].value)
        #expect(members.range(of: "x") == members[1].value)
        #expect(members.range(of: "nope") == nil)
    }

    @Test(arguments: [
        "", " ", "[]", "1", #""a""#, "null", "{", #"{"a""#, #"{"a":"#, #"{"a":1"#, #"{"a":1,"#, #"{"a":1,}"#,
        #"{"a" 1}"#, "{a:1}", #"{"a":}"#, #"{"a":1 "b":2}"#, #"{"a":"x}"#, #"{"a":{"b":1}"#, #"{"a":[1,2"#,
        "{,}", #"{,"a":1}"#, #"{"a\":1}"#, #"{"a":"\"#, "{'a':1}",
        #"{"a":[1,2}"#,
    ])
    func malformedInputGivesNil(_ text: String) {
        #expect(scan(text) == nil)
    }

    /// "nil if it is not a well-formed object (values are checked for balance…)": a value whose
    /// brackets do not pair up is not balanced.
    @Test(arguments: [#"{"a":[1}}"#, #"{"a":{"b":1]}"#, #"{"a":[}"#, #"{"a":[1,{"b":2]]}"#])
    func mismatchedBracketsGiveNil(_ text: String) {
        #expect(scan(text) == nil, "scanned as \(String(describing: scan(text)))")
    }

    @Test(arguments: [#"{"a":1} x"#, #"{"a":1}}"#, #"{"a":1}{"b":2}"#, "{}]"])
    func trailingDataAfterTheObjectGivesNil(_ text: String) {
        #expect(scan(text) == nil, "scanned as \(String(describing: scan(text)))")
    }

    /// Property: for any serialized object the scanner's keys and raw values agree with the parser.
    @Test func agreesWithTheParserOnRandomObjects() throws {
        var g = SplitMix64(seed: 42)
        for _ in 0..<2000 {
            let object = RandomJSON.object(&g)
            let bytes = object.serialized()
            guard let members = JSONScanner.members(bytes) else {
                Issue.record("nil for \(object.text)")
                continue
            }
            let pairs = object.objectValue!
            #expect(members.count == pairs.count)
            for (m, p) in zip(members, pairs) {
                #expect(m.key == p.0)
                let raw = Array(bytes[m.value])
                #expect(raw == p.1.serialized(), "value of \(p.0.debugDescription) in \(object.text)")
            }
        }
    }
}
