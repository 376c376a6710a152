import Testing
@testable import GatewayCore

@Suite struct Base64URLTests {
    @Test(arguments: [
        ("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"), ("foobar", "Zm9vYmFy"),
    ])
    func rfc4648Vectors(_ plain: String, _ encoded: String) {
        #expect(Base64URL.encode(utf8(plain)) == encoded)
        #expect(Base64URL.decode(encoded) == utf8(plain))
    }

    @Test func urlSafeAlphabet() {
        #expect(Base64URL.encode([0xfb, 0xef, 0xbe]) == "----")
        #expect(Base64URL.encode([0xff, 0xff, 0xff]) == "____")
        #expect(Base64URL.encode([0xfb, 0xff]) == "-_8")
        #expect(Base64URL.encode([0x00, 0x00, 0x00]) == "AAAA")
        #expect(Base64URL.decode("-_8") == [0xfb, 0xff])
        #expect(Base64URL.decode("____") == [0xff, 0xff, 0xff])
    }

    /// JWT segments are decoded in place, as slices of the compact token.
    @Test func decodesASliceOfALargerString() {
        let token = "Zm9v.Zm9vYmFy.-_8"
        let parts = token.split(separator: ".")
        #expect(parts.map { Base64URL.decode($0) } == [utf8("foo"), utf8("foobar"), [0xfb, 0xff]])
        #expect(Base64URL.decode(token.dropFirst(5).prefix(8)) == utf8("foobar"))
        #expect(Base64URL.decode(token.prefix(5)) == nil, "the dot is outside the alphabet")
    }

    @Test func roundTripsForLengths0To40() {
        var g = SplitMix64(seed: 99)
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        for n in 0...40 {
            for _ in 0..<20 {
                let bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &g) }
                let text = Base64URL.encode(bytes)
                #expect(text.count == (4 * n + 2) / 3, "unpadded length for \(n) bytes")
                #expect(text.allSatisfy(alphabet.contains))
                #expect(Base64URL.decode(text) == bytes)
            }
            // All-zero and all-one patterns stress the bit slicing.
            for fill: UInt8 in [0x00, 0xFF, 0x80, 0x01] {
                let bytes = [UInt8](repeating: fill, count: n)
                #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
            }
        }
    }

    @Test(arguments: ["Zm9v=", "Zg==", "Zm9v+", "Zm9v/", "Zm 9v", "Zm9v\n", " Zm9v", "Zm9vé", "Zm.9v", "Zm9v!", "Zm9v\u{0}",
                      "Z", "Zm9vY", "Zm9vYmFy1", "A", "%41"])
    func badInputIsRejected(_ text: String) {
        #expect(Base64URL.decode(text) == nil)
    }

    /// Every accepted string is the canonical encoding of what it decodes to: unused low bits of the
    /// last character must be zero (RFC 4648 §3.5). Otherwise several strings decode to the same
    /// bytes, which makes SessionToken ids malleable (see SessionTokenTests).
    @Test func nonCanonicalTrailingBitsAreRejected() {
        #expect(Base64URL.decode("Zh") == nil, "\"Zh\" is not the encoding of \"f\" (that is \"Zg\")")
        #expect(Base64URL.decode("Zm9") == nil, "\"Zm9\" is not the encoding of \"fo\" (that is \"Zm8\")")
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        var accepted = 0
        var offenders: [String] = []
        for n in [1, 2, 4, 5] {
            for prefixChar in alphabet {
                for last in alphabet {
                    let text = String(repeating: prefixChar, count: n) + String(last)
                    guard let bytes = Base64URL.decode(text) else { continue }
                    accepted += 1
                    if Base64URL.encode(bytes) != text { offenders.append(text) }
                }
            }
        }
        #expect(accepted > 0)
        let examples = offenders.prefix(5).map { "\($0) -> \(Base64URL.decode($0)!)" }
        #expect(offenders.count == 0, "non-canonical strings accepted (of \(accepted)), e.g. \(examples)")
    }
}
