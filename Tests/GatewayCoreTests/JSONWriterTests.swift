import Testing
@testable import GatewayCore

@Suite struct JSONWriterTests {
    @Test func compactSerialization() {
        let v: JSON = .object([
            ("b", .array([.null, .bool(true), .bool(false), .number("1.50"), .string("s")])),
            ("a", .object([])),
            ("c", .array([])),
        ])
        #expect(v.text == #"{"b":[null,true,false,1.50,"s"],"a":{},"c":[]}"#)
        #expect(v.serialized() == utf8(v.text))
    }

    @Test func writeAppendsToExistingBytes() {
        var out = utf8("prefix:")
        JSON.array([.int(1), .int(-2)]).write(to: &out)
        #expect(out == utf8("prefix:[1,-2]"))
    }

    @Test func stringEscaping() {
        #expect(JSON.quoted("plain") == #""plain""#)
        #expect(JSON.quoted("a\"b\\c") == #""a\"b\\c""#)
        #expect(JSON.quoted("\n\r\t") == #""\n\r\t""#)
        #expect(JSON.quoted("\u{0}\u{1}\u{08}\u{0C}\u{1F}") == #""\u0000\u0001\u0008\u000c\u001f""#)
        #expect(JSON.quoted("/") == #""/""#)
        #expect(JSON.quoted("\u{7F}é€😀") == "\"\u{7F}é€😀\"")
        #expect(JSON.quoted("") == #""""#)
    }

    @Test func everyControlCharacterIsEscaped() throws {
        for c in UInt32(0)..<0x20 {
            let s = "x" + String(Unicode.Scalar(c)!) + "y"
            let bytes = JSON.string(s).serialized()
            #expect(!bytes.contains { $0 < 0x20 }, "raw control \(c) in output")
            #expect(try JSONParser.parse(bytes).stringValue == s)
        }
    }

    @Test func keysAreEscapedToo() throws {
        let v: JSON = .object([("a\"\n\u{1}", .null)])
        #expect(v.text == #"{"a\"\n\u0001":null}"#)
        #expect(strictEqual(try JSONParser.parse(v.text), v))
    }

    @Test func intAndDoubleConstructors() {
        #expect(JSON.int(0).text == "0")
        #expect(JSON.int(-17).text == "-17")
        #expect(JSON.int(Int.max).text == "9223372036854775807")
        #expect(JSON.double(3.0).text == "3")
        #expect(JSON.double(-42.0).text == "-42")
        #expect(JSON.double(1.5).text == "1.5")
        #expect(JSON.double(0.25).text == "0.25")
        #expect(JSON.double(123456.0).text == "123456")
        for d in [3.0, -42.0, 1.5, 0.1, 1e20, -1e-9, 1e15, 123456789.0] {
            let text = JSON.double(d).text
            #expect(parsed(text)?.doubleValue == d, "JSON.double(\(d)) wrote \(text)")
        }
    }

    @Test(arguments: [
        "null", "true", "false", "0", "-0", "12345678901234567890", "1.50", "1e3", #""""#, #""a\"b""#, #""\u0001""#,
        "[]", "{}", #"[1,[2,[3,[]]],{"a":{"b":{}}}]"#, #"{"z":1,"a":2,"m":[null,"x"]}"#, #"{"":""}"#,
        #"{"jsonrpc":"2.0","id":12345678901234567890,"result":{"content":[{"type":"text","text":"hi\n"}]}}"#,
    ])
    func canonicalTextRoundTripsByteForByte(_ text: String) throws {
        #expect(try JSONParser.parse(text).text == text)
    }

    @Test func nonCanonicalTextBecomesCanonical() throws {
        let v = try JSONParser.parse(" { \"a\" : [ 1 , 2.50 ] ,\n\"b\":\"\\u00e9\\/\" } ")
        #expect(v.text == #"{"a":[1,2.50],"b":"é/"}"#)
    }

    @Test func serializeParseSerializeIsStable() throws {
        var g = SplitMix64(seed: 7)
        for _ in 0..<1000 {
            let v = RandomJSON.value(&g)
            let once = v.serialized()
            let twice = try JSONParser.parse(once).serialized()
            #expect(once == twice)
        }
    }

    @Test(arguments: [0, 7, -7, 10, 99, 1_000_000, Int.max, Int.min, Int.min + 1])
    func integersAreWrittenAsTheirDecimalText(_ value: Int) {
        var out: [UInt8] = Array("x".utf8)
        JSON.writeInt(value, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "x" + String(value))
    }
}
