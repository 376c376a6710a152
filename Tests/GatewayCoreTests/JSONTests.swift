import Testing
@testable import GatewayCore

@Suite struct JSONTests {
    // MARK: equality

    @Test func equalValuesAreEqual() throws {
        let text = #"{"a":[1,"x",null,true,{"b":false}],"c":{}}"#
        #expect(try JSONParser.parse(text) == JSONParser.parse(text))
        #expect(JSON.null == JSON.null)
        #expect(JSON.array([]) == JSON.array([]))
        #expect(JSON.object([]) == JSON.object([]))
    }

    @Test func numbersCompareByValue() {
        #expect(JSON.number("1") == JSON.number("1.0"))
        #expect(JSON.number("1e3") == JSON.number("1000"))
        #expect(JSON.number("-0") == JSON.number("0"))
        #expect(JSON.number("1.50") == JSON.number("1.5"))
        #expect(JSON.number("1") != JSON.number("2"))
        #expect(JSON.number("0.1") != JSON.number("0.2"))
    }

    /// Numbers keep their text "so that ids and large integers pass through unchanged"; two
    /// different large integers must not be considered the same value.
    @Test func distinctLargeIntegersAreNotEqual() {
        #expect(JSON.number("12345678901234567890") != JSON.number("12345678901234567891"))
        #expect(JSON.number("9007199254740993") != JSON.number("9007199254740992"))
    }

    @Test func differentKindsOrShapesAreNotEqual() {
        let values: [JSON] = [
            .null, .bool(false), .bool(true), .number("0"), .number("1"), .string(""), .string("1"), .string("null"),
            .array([]), .array([.null]), .array([.null, .null]), .object([]), .object([("a", .null)]),
            .object([("b", .null)]), .object([("a", .bool(false))]), .object([("a", .null), ("b", .null)]),
        ]
        for (i, a) in values.enumerated() {
            for (j, b) in values.enumerated() {
                #expect((a == b) == (i == j), "\(a.text) vs \(b.text)")
            }
        }
    }

    @Test func orderMatters() {
        #expect(JSON.array([.int(1), .int(2)]) != JSON.array([.int(2), .int(1)]))
        #expect(JSON.object([("a", .int(1)), ("b", .int(2))]) != JSON.object([("b", .int(2)), ("a", .int(1))]))
    }

    @Test func nestedDifferencesAreSeen() throws {
        let a = try JSONParser.parse(#"{"x":[1,{"y":"z"}]}"#)
        let b = try JSONParser.parse(#"{"x":[1,{"y":"Z"}]}"#)
        #expect(a != b)
    }

    // MARK: accessors

    @Test func subscriptReturnsTheFirstMatchingMember() throws {
        let v = try JSONParser.parse(#"{"a":1,"b":2,"a":3}"#)
        #expect(v["a"]?.intValue == 1)
        #expect(v["b"]?.intValue == 2)
        #expect(v["c"] == nil)
        #expect(JSON.array([.int(1)])["a"] == nil)
        #expect(JSON.string("a")["a"] == nil)
    }

    @Test func typedAccessors() {
        #expect(JSON.string("s").stringValue == "s")
        #expect(JSON.number("1").stringValue == nil)
        #expect(JSON.bool(true).boolValue == true)
        #expect(JSON.null.boolValue == nil)
        #expect(JSON.array([.null]).arrayValue?.count == 1)
        #expect(JSON.object([]).arrayValue == nil)
        #expect(JSON.object([("k", .null)]).objectValue?.first?.0 == "k")
        #expect(JSON.array([]).objectValue == nil)
        #expect(JSON.null.isNull)
        #expect(!JSON.bool(false).isNull)
        #expect(JSON.number("1.25").doubleValue == 1.25)
        #expect(JSON.string("1.25").doubleValue == nil)
    }

    @Test(arguments: [
        ("5", 5), ("5.0", 5), ("-5", -5), ("-0", 0), ("0", 0), ("1e3", 1000), ("1E+2", 100), ("2.50e1", 25),
        ("9223372036854775807", Int.max), ("-9223372036854775808", Int.min), ("9007199254740993", 9_007_199_254_740_993),
    ] as [(String, Int)])
    func intValueOfIntegralNumbers(_ text: String, _ expected: Int) {
        #expect(JSON.number(text).intValue == expected)
    }

    @Test(arguments: ["5.5", "0.1", "-1.5", "1e-3", "12345678901234567890", "1e400", "-1e400", "1e300"])
    func intValueOfNonIntegralOrHugeNumbersIsNil(_ text: String) {
        #expect(JSON.number(text).intValue == nil)
    }

    @Test func intValueOfNonNumbersIsNil() {
        #expect(JSON.string("5").intValue == nil)
        #expect(JSON.bool(true).intValue == nil)
        #expect(JSON.null.intValue == nil)
    }

    // MARK: setting / removing

    @Test func settingReplacesInPlace() {
        let v: JSON = .object([("a", .int(1)), ("b", .int(2)), ("c", .int(3))])
        let w = v.setting("b", .string("x"))
        #expect(w.text == #"{"a":1,"b":"x","c":3}"#)
        #expect(v.text == #"{"a":1,"b":2,"c":3}"#, "the original is unchanged")
    }

    @Test func settingAppendsNewKeys() {
        let v: JSON = .object([("a", .int(1))])
        #expect(v.setting("z", .null).text == #"{"a":1,"z":null}"#)
        #expect(JSON.object([]).setting("k", .bool(true)).text == #"{"k":true}"#)
    }

    @Test func settingReplacesOnlyTheFirstDuplicate() {
        let v: JSON = .object([("a", .int(1)), ("a", .int(2))])
        #expect(v.setting("a", .int(9)).text == #"{"a":9,"a":2}"#)
    }

    @Test func settingAndRemovingOnNonObjectsReturnSelf() {
        for v: JSON in [.null, .int(1), .string("s"), .array([.int(1)]), .bool(true)] {
            #expect(strictEqual(v.setting("a", .int(1)), v))
            #expect(strictEqual(v.removing("a"), v))
        }
    }

    @Test func removingDropsEveryOccurrenceAndKeepsOrder() {
        let v: JSON = .object([("a", .int(1)), ("b", .int(2)), ("a", .int(3)), ("c", .int(4))])
        #expect(v.removing("a").text == #"{"b":2,"c":4}"#)
        #expect(v.removing("zzz").text == v.text)
        #expect(JSON.object([("a", .null)]).removing("a").text == "{}")
    }

    // MARK: error

    @Test func parseErrorDescription() {
        let e = JSONParseError(offset: 17, reason: "boom")
        #expect(e.description == "invalid JSON at byte 17: boom")
    }
}
