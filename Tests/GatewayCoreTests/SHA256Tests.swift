import Testing
@testable import GatewayCore

@Suite struct SHA256Tests {
    // MARK: SHA-256 (FIPS 180-4 examples)

    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
    ])
    func fipsVectors(_ message: String, _ digest: String) {
        #expect(hex(SHA256.hash(utf8(message))) == digest)
    }

    /// Lengths around the padding boundaries (55/56 bytes: length field fits or not; 64: one block).
    @Test(arguments: [
        (55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"),
        (56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"),
        (57, "f13b2d724659eb3bf47f2dd6af1accc87b81f09f59f2b75e5c0bed6589dfe8c6"),
        (63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"),
        (64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"),
        (65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"),
        (119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"),
        (120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"),
        (128, "6836cf13bac400e9105071cd6af47084dfacad4e5e302c94bfed24e013afb73e"),
    ])
    func paddingBoundaries(_ count: Int, _ digest: String) {
        #expect(hex(SHA256.hash([UInt8](repeating: UInt8(ascii: "a"), count: count))) == digest)
    }

    @Test func oneMillionAs() {
        let digest = SHA256.hash([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))
        #expect(hex(digest) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func digestIsAlways32Bytes() {
        for n in [0, 1, 31, 32, 33, 1000] {
            #expect(SHA256.hash([UInt8](repeating: 0xFF, count: n)).count == 32)
        }
    }

    // MARK: HMAC-SHA-256 (RFC 4231)

    @Test(arguments: [
        // 1: 20-byte key
        (hex([UInt8](repeating: 0x0b, count: 20)), hex(utf8("Hi There")),
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        // 2: short key
        (hex(utf8("Jefe")), hex(utf8("what do ya want for nothing?")),
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        // 3: combined key and data > 64 bytes
        (hex([UInt8](repeating: 0xaa, count: 20)), hex([UInt8](repeating: 0xdd, count: 50)),
         "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
        // 4
        ("0102030405060708090a0b0c0d0e0f10111213141516171819", hex([UInt8](repeating: 0xcd, count: 50)),
         "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
        // 6: key larger than the block, hashed first
        (hex([UInt8](repeating: 0xaa, count: 131)), hex(utf8("Test Using Larger Than Block-Size Key - Hash Key First")),
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        // 7: key and data larger than the block
        (hex([UInt8](repeating: 0xaa, count: 131)),
         hex(utf8("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.")),
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
    ])
    func rfc4231(_ key: String, _ data: String, _ mac: String) {
        #expect(hex(SHA256.hmac(key: fromHex(key), message: fromHex(data))) == mac)
    }

    /// Key lengths at the block size (64: used as is; 65: hashed) and the empty key (OpenSSL/Python).
    @Test(arguments: [
        (0, "5f576a8d68fe4fb7eb823227246353c0870c3b0e878997341db1226b4bd88d61"),
        (64, "8629d92fd1700d64219e9baf566b72cc35ea93603b94d847e940f9c91672d8bf"),
        (65, "7b77d771c7e2260ed3dc8bb121060624c6b517d2939dba28689672c15f8c3275"),
    ])
    func hmacKeyLengthBoundaries(_ keyLength: Int, _ mac: String) {
        let key: [UInt8] = keyLength == 0 ? [] : [UInt8](repeating: 0x42, count: keyLength)
        #expect(hex(SHA256.hmac(key: key, message: utf8("msg"))) == mac)
    }
}
