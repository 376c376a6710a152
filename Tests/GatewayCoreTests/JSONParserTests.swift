import Testing
@testable import GatewayCore

@Suite struct JSONParserTests {
    private func numberText(_ j: JSON?) -> String? {
        if case .number(let t)? = j { return t }
        return nil
    }

    private func rejects(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(throws: JSONParseError.self, "should reject \(text.debugDescription)", sourceLocation: sourceLocation) {
            try JSONParser.parse(text)
        }
    }

    private func rejects(bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(throws: JSONParseError.self, "should reject \(bytes)", sourceLocation: sourceLocation) {
            try JSONParser.parse(bytes)
        }
    }

    // MARK: literals and structure

    @Test func literalsWithSurroundingWhitespace() throws {
        #expect(try JSONParser.parse("null").isNull)
        #expect(try JSONParser.parse(" \t\r\ntrue \n").boolValue == true)
        #expect(try JSONParser.parse("false").boolValue == false)
        #expect(strictEqual(try JSONParser.parse(" [ ] "), .array([])))
        #expect(strictEqual(try JSONParser.parse("{ }"), .object([])))
    }

    @Test func nestedStructure() throws {
        let v = try JSONParser.parse(#"{"a":[1,{"b":null},"x"],"c":{"d":[true,false]}}"#)
        let expected: JSON = .object([
            ("a", .array([.number("1"), .object([("b", .null)]), .string("x")])),
            ("c", .object([("d", .array([.bool(true), .bool(false)]))])),
        ])
        #expect(strictEqual(v, expected))
    }

    @Test func bytesStringAndBufferEntryPointsAgree() throws {
        let text = #"{"k":[1,"two",null]}"#
        let a = try JSONParser.parse(text)
        let b = try JSONParser.parse(utf8(text))
        let c = try utf8(text).withUnsafeBufferPointer { (buf) throws(JSONParseError) -> JSON in try JSONParser.parse(buf) }
        #expect(strictEqual(a, b) && strictEqual(b, c))
    }

    @Test func objectKeyOrderAndDuplicatesAreKept() throws {
        let v = try JSONParser.parse(#"{"z":1,"a":2,"m":3,"a":4}"#)
        let keys = v.objectValue?.map(\.0)
        #expect(keys == ["z", "a", "m", "a"])
        #expect(numberText(v.objectValue?[3].1) == "4")
    }

    // MARK: numbers

    @Test(arguments: ["12345678901234567890", "1.50", "-0", "1e3", "1E+3", "-2.5e-7", "0", "0.000", "-0.0e-0",
                      "100000000000000000000000000000000000000000", "3.141592653589793238462643383279502884"])
    func numbersKeepTheirText(_ text: String) throws {
        #expect(numberText(try JSONParser.parse(text)) == text)
        // Inside containers as well, and the serialization is the same text.
        let wrapped = "[\(text),{\"n\":\(text)}]"
        let v = try JSONParser.parse(wrapped)
        #expect(numberText(v.arrayValue?[0]) == text)
        #expect(numberText(v.arrayValue?[1]["n"]) == text)
        #expect(v.text == wrapped)
    }

    @Test(arguments: ["01", "-", "-a", "1.", ".5", "+1", "1e", "1e+", "1E-", "--1", "0x10", "NaN", "Infinity",
                      "-Infinity", "1.e3", "1.5.5", "00", "-01", "1e3.5"])
    func invalidNumbersAreRejected(_ text: String) {
        rejects(text)
        rejects("[\(text)]")
    }

    // MARK: strings

    @Test func simpleEscapes() throws {
        let v = try JSONParser.parse(#""a\"b\\c\/d\be\ff\ng\rh\ti""#)
        #expect(v.stringValue == "a\"b\\c/d\u{08}e\u{0C}f\ng\rh\ti")
    }

    @Test func escapeAfterPlainPrefixAndPlainAfterEscape() throws {
        // The fast path hands over to the escape path mid-string; both halves must survive.
        #expect(try JSONParser.parse(#""hello \"world\" and more""#).stringValue == "hello \"world\" and more")
        #expect(try JSONParser.parse(#""\n""#).stringValue == "\n")
        #expect(try JSONParser.parse(#""é\u00e9é""#).stringValue == "ééé")
    }

    @Test func unicodeEscapes() throws {
        #expect(try JSONParser.parse(#""\u0041""#).stringValue == "A")
        #expect(try JSONParser.parse(#""\u00e9\u00E9""#).stringValue == "éé")
        #expect(try JSONParser.parse(#""\u20AC""#).stringValue == "€")
        #expect(try JSONParser.parse(#""\u0000""#).stringValue == "\u{0}")
        #expect(try JSONParser.parse(#""\uFFFF""#).stringValue == "\u{FFFF}")
        #expect(try JSONParser.parse(#""x\u0022y""#).stringValue == "x\"y")
    }

    @Test func surrogatePairs() throws {
        #expect(try JSONParser.parse(#""\uD83D\uDE00""#).stringValue == "😀")
        #expect(try JSONParser.parse(#""\ud83d\ude00""#).stringValue == "😀")
        #expect(try JSONParser.parse(#""a\uD834\uDD1Eb""#).stringValue == "a\u{1D11E}b")
        #expect(try JSONParser.parse(#""\uDBFF\uDFFF""#).stringValue == "\u{10FFFF}")
        #expect(try JSONParser.parse(#""\uD800\uDC00""#).stringValue == "\u{10000}")
    }

    @Test(arguments: [
        #""\uD83D""#,            // lone high surrogate at the end
        #""\uD83Dx""#,           // high surrogate followed by a plain character
        #""\uD83D\u0041""#,      // high surrogate followed by a non-surrogate escape
        #""\uD83D\uD83D""#,      // two high surrogates
        #""\uD83D\n""#,          // high surrogate followed by another escape
        #""\uDE00""#,            // lone low surrogate
        #""\uDE00\uD83D""#,      // reversed pair
        #""\uDFFF""#,
        #""\uD83D\uE000""#,      // high surrogate followed by a scalar just past the low range
        #""\uD83D\uDBFF""#,      // high surrogate followed by the last high surrogate
    ])
    func invalidSurrogatesAreRejected(_ text: String) {
        rejects(text)
    }

    @Test(arguments: [#""\u12G4""#, #""\u12""#, #""\u""#, #""\x41""#, #""\'""#, #""\U0041""#, #""\a""#, #""\ ""#])
    func invalidEscapesAreRejected(_ text: String) {
        rejects(text)
    }

    @Test func rawControlCharactersAreRejected() {
        for c in UInt8(0)..<0x20 {
            rejects(bytes: [0x22, c, 0x22])                               // fast path
            rejects(bytes: [0x22, 0x61, c, 0x62, 0x22])
            rejects(bytes: utf8(#""\n"#) + [c] + [0x22])                  // after an escape
            rejects(bytes: utf8(#"{""#) + [c] + utf8(#"":1}"#))           // in a key
        }
    }

    @Test func deleteAndNonASCIIAreAllowedRaw() throws {
        #expect(try JSONParser.parse([0x22, 0x7F, 0x22]).stringValue == "\u{7F}")
        #expect(try JSONParser.parse("\"héllo 😀 日本\"").stringValue == "héllo 😀 日本")
    }

    @Test func invalidUTF8IsRejected() {
        rejects(bytes: [0x22, 0xFF, 0x22])
        rejects(bytes: [0x22, 0xC0, 0xAF, 0x22])                 // overlong '/'
        rejects(bytes: [0x22, 0xED, 0xA0, 0x80, 0x22])           // UTF-8 encoded surrogate
        rejects(bytes: [0x22, 0xE2, 0x82, 0x22])                 // truncated sequence
        rejects(bytes: [0x22, 0x5C, 0x6E, 0xFF, 0x22])           // after an escape
        rejects(bytes: [0xEF, 0xBB, 0xBF] + utf8("{}"))          // BOM is not whitespace
    }

    @Test(arguments: [#""abc"#, #""abc\"#, #""abc\""#, #"""#, #"{"a"#, #"["x"#])
    func unterminatedStringsAreRejected(_ text: String) {
        rejects(text)
    }

    // MARK: nesting

    @Test func nestingUpTo256IsAccepted() throws {
        let arrays = String(repeating: "[", count: 256) + String(repeating: "]", count: 256)
        _ = try JSONParser.parse(arrays)
        let objects = String(repeating: #"{"a":"#, count: 255) + "{}" + String(repeating: "}", count: 255)
        _ = try JSONParser.parse(objects)
        let mixed = String(repeating: #"[{"k":"#, count: 128) + "1" + String(repeating: "}]", count: 128)
        _ = try JSONParser.parse(mixed)
    }

    @Test func nestingBeyond256IsRejected() {
        rejects(String(repeating: "[", count: 257) + String(repeating: "]", count: 257))
        rejects(String(repeating: #"{"a":"#, count: 256) + "{}" + String(repeating: "}", count: 256))
        // Very deep input must fail cleanly, not overflow the stack.
        rejects(String(repeating: "[", count: 100_000))
        rejects(String(repeating: #"{"a":"#, count: 100_000))
    }

    @Test func depthIsReleasedWhenContainersClose() throws {
        // Siblings at depth 256 must each be accepted: depth must go back down after every close,
        // including the separate early return for empty containers.
        let deep255 = String(repeating: "[", count: 255) + String(repeating: "]", count: 255)
        _ = try JSONParser.parse("[" + deep255 + "," + deep255 + "]")
        let manyEmpty = "[" + Array(repeating: "[]", count: 1000).joined(separator: ",") + "]"
        #expect(try JSONParser.parse(manyEmpty).arrayValue?.count == 1000)
        let manyEmptyObjects = "[" + Array(repeating: "{}", count: 1000).joined(separator: ",") + "]"
        #expect(try JSONParser.parse(manyEmptyObjects).arrayValue?.count == 1000)
        let innerDeep = String(repeating: "[", count: 254) + String(repeating: "]", count: 254)
        let many = "[" + Array(repeating: "[" + innerDeep + "]", count: 300).joined(separator: ",") + "]"
        #expect(try JSONParser.parse(many).arrayValue?.count == 300)
    }

    // MARK: errors

    @Test(arguments: ["1 2", "{} {}", "[]]", "{}}", "nullx", "truee", #""a""b""#, "{}x", "[1],", "0 0", "1\u{0}"])
    func trailingDataIsRejected(_ text: String) {
        rejects(text)
    }

    @Test(arguments: ["", " ", "\n\t", "[", "{", "[1,]", "[,1]", "[1 2]", "[1,,2]", #"{"a":1,}"#, #"{"a" 1}"#, "{a:1}",
                      #"{"a":}"#, #"{,"a":1}"#, "{'a':1}", #"{"a"}"#, #"{"a":1"#, #"{"a":1 "b":2}"#, "{1:2}", "tru",
                      "nul", "True", "NULL", "'a'", "]", "}", "[\u{0B}]", "[\u{0C}]", "[\u{A0}]"])
    func malformedInputIsRejected(_ text: String) {
        rejects(text)
    }

    @Test func errorCarriesTheOffset() {
        do {
            _ = try JSONParser.parse("[1,x]")
            Issue.record("expected an error")
        } catch {
            #expect(error.offset == 3)
            #expect(error.description.contains("3"))
        }
        do {
            _ = try JSONParser.parse("{} x")
            Issue.record("expected an error")
        } catch {
            #expect(error.offset == 3)
        }
        // A bad \u escape: the first byte that is not a hex digit; a short one: where it starts.
        for (text, offset) in [(#""\u12g4""#, 5), (#""\uzzzz""#, 3), (#""\u12"#, 3)] {
            do {
                _ = try JSONParser.parse(text)
                Issue.record("expected an error for \(text)")
            } catch {
                #expect(error.offset == offset, "\(text)")
                #expect(error.reason == "invalid \\u escape", "\(text)")
            }
        }
    }

    @Test func parsesWhatTheWriterWritesForRandomValues() throws {
        var g = SplitMix64(seed: 0xC0FFEE)
        for _ in 0..<2000 {
            let v = RandomJSON.value(&g)
            let back = try JSONParser.parse(v.serialized())
            #expect(strictEqual(back, v), "round trip of \(v.text)")
        }
    }
}
