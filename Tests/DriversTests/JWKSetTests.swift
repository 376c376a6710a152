import CCrypto
@testable import Drivers
import GatewayCore
import Testing

/// Keys generated once for the suite (RSA generation takes a moment); every token is signed here,
/// at test time, so nothing passes because of a stored answer.
enum Issuer {
    static let rsa = TestSigningKey(.rsa(bits: 2048))
    static let rsaOther = TestSigningKey(.rsa(bits: 2048))
    static let rsaWeak = TestSigningKey(.rsa(bits: 1024))
    static let ec = TestSigningKey(.p256)
    static let ecOther = TestSigningKey(.p256)
    static let payload = #"{"sub":"alice","exp":1800000000,"scope":"mcp:*"}"#
}

@Suite struct JWKSetTests {
    func verify(_ token: String, _ set: JWKSet) throws -> Result<Void, JWTError> {
        set.verify(try JWT.decode(token))
    }

    func error(_ result: Result<Void, JWTError>) -> JWTError? {
        if case .failure(let e) = result { return e }
        return nil
    }

    func bothKeys() throws -> JWKSet {
        try JWKSet(json: jwks(Issuer.rsa.jwk([("kid", "r1"), ("use", "sig")]), Issuer.ec.jwk([("kid", "e1")])))
    }

    @Test func validRS256AndES256TokensVerify() throws {
        let set = try bothKeys()
        #expect(set.count == 2)
        #expect(try error(verify(Issuer.rsa.token(payload: Issuer.payload, kid: "r1"), set)) == nil)
        #expect(try error(verify(Issuer.ec.token(payload: Issuer.payload, kid: "e1"), set)) == nil)
    }

    @Test func aTokenWithoutKidUsesTheOnlyKeyOfItsType() throws {
        let set = try bothKeys()
        #expect(try error(verify(Issuer.rsa.token(payload: Issuer.payload, kid: nil), set)) == nil)
        #expect(try error(verify(Issuer.ec.token(payload: Issuer.payload, kid: nil), set)) == nil)
        let two = try JWKSet(json: jwks(Issuer.ec.jwk([("kid", "e1")]), Issuer.ecOther.jwk([("kid", "e2")])))
        #expect(try error(verify(Issuer.ec.token(payload: Issuer.payload, kid: nil), two)) == .unknownKey, "which of two?")
    }

    @Test func aTamperedPayloadFails() throws {
        let set = try bothKeys()
        for (key, kid) in [(Issuer.rsa, "r1"), (Issuer.ec, "e1")] {
            let parts = key.token(payload: Issuer.payload, kid: kid).split(separator: ".").map(String.init)
            let forged = Base64URL.encode(Array(#"{"sub":"admin","exp":1800000000,"scope":"mcp:*"}"#.utf8))
            #expect(try error(verify(parts[0] + "." + forged + "." + parts[2], set)) == .badSignature, "\(kid)")
            #expect(try error(verify(parts.joined(separator: "."), set)) == nil, "\(kid): the untampered token")
        }
    }

    @Test func aTamperedSignatureFails() throws {
        let set = try bothKeys()
        for (key, kid) in [(Issuer.rsa, "r1"), (Issuer.ec, "e1")] {
            let jwt = try JWT.decode(key.token(payload: Issuer.payload, kid: kid))
            let positions = [0, 1, jwt.signature.count / 2, 31, 32, jwt.signature.count - 1]
            for i in positions {
                var signature = jwt.signature
                signature[i] ^= 0x01
                let parts = key.token(payload: Issuer.payload, kid: kid).split(separator: ".").map(String.init)
                let token = parts[0] + "." + parts[1] + "." + Base64URL.encode(signature)
                #expect(try error(verify(token, set)) == .badSignature, "\(kid) byte \(i)")
            }
        }
    }

    @Test func aTokenSignedByAnotherKeyUnderTheSameKidFails() throws {
        let set = try bothKeys()
        #expect(try error(verify(Issuer.rsaOther.token(payload: Issuer.payload, kid: "r1"), set)) == .badSignature)
        #expect(try error(verify(Issuer.ecOther.token(payload: Issuer.payload, kid: "e1"), set)) == .badSignature)
    }

    @Test func anUnknownKidIsUnknownKey() throws {
        let set = try bothKeys()
        #expect(try error(verify(Issuer.rsa.token(payload: Issuer.payload, kid: "r2"), set)) == .unknownKey)
        #expect(try error(verify(Issuer.ec.token(payload: Issuer.payload, kid: "R1"), set)) == .unknownKey)
        let empty = try JWKSet(json: jwks())
        #expect(empty.count == 0)
        #expect(try error(verify(Issuer.ec.token(payload: Issuer.payload, kid: nil), empty)) == .unknownKey)
    }

    /// Algorithm confusion: a kid that names a key of the other type never verifies.
    @Test func theKeyTypeMustMatchTheAlgorithm() throws {
        let ecOnly = try JWKSet(json: jwks(Issuer.ec.jwk([("kid", "shared")])))
        #expect(try error(verify(Issuer.rsa.token(payload: Issuer.payload, kid: "shared"), ecOnly)) == .badSignature)
        let rsaOnly = try JWKSet(json: jwks(Issuer.rsa.jwk([("kid", "shared")])))
        #expect(try error(verify(Issuer.ec.token(payload: Issuer.payload, kid: "shared"), rsaOnly)) == .badSignature)
        #expect(try error(verify(Issuer.rsa.token(payload: Issuer.payload, kid: nil), ecOnly)) == .unknownKey)
        // Both types under one kid: each token finds its own.
        let both = try JWKSet(json: jwks(Issuer.ec.jwk([("kid", "shared")]), Issuer.rsa.jwk([("kid", "shared")])))
        #expect(try error(verify(Issuer.rsa.token(payload: Issuer.payload, kid: "shared"), both)) == nil)
        #expect(try error(verify(Issuer.ec.token(payload: Issuer.payload, kid: "shared"), both)) == nil)
    }

    @Test func aJWKAlgMustEqualTheTokens() throws {
        let pinned = try JWKSet(json: jwks(Issuer.rsa.jwk([("kid", "r1"), ("alg", "RS256")]),
                                           Issuer.ec.jwk([("kid", "e1"), ("alg", "ES384")])))
        #expect(pinned.count == 2)
        #expect(try error(verify(Issuer.rsa.token(payload: Issuer.payload, kid: "r1"), pinned)) == nil)
        #expect(try error(verify(Issuer.ec.token(payload: Issuer.payload, kid: "e1"), pinned)) == .badSignature)
    }

    @Test func noneAndHMACTokensAreRefusedAtDecode() {
        let rsaNumbers = Issuer.rsa.publicMembers[1].1
        for alg in ["none", "HS256"] {
            // An HS256 token whose HMAC key would be the RSA key's public bytes (the classic confusion).
            let header = Base64URL.encode(Array(#"{"alg":"\#(alg)","kid":"r1"}"#.utf8))
            let input = header + "." + Base64URL.encode(Array(Issuer.payload.utf8))
            let mac = GatewayCore.SHA256.hmac(key: Array(rsaNumbers.utf8), message: Array(input.utf8))
            #expect(throws: JWTError.unsupportedAlgorithm) { try JWT.decode(input + "." + Base64URL.encode(mac)) }
        }
    }

    @Test func weakAndUnusableKeysAreSkipped() throws {
        let good = Issuer.ec.jwk([("kid", "good")])
        let x = Issuer.ec.publicMembers[2].1
        let skipped = [
            Issuer.rsaWeak.jwk([("kid", "weak")]),                                   // 1024-bit modulus
            Issuer.rsa.jwk([("kid", "enc"), ("use", "enc")]),                        // not for signatures
            Issuer.ec.jwk([("kid", "p384"), ("crv", "P-384")]),
            Issuer.ec.jwk([("kid", "swapped"), ("y", x)]),                           // not a point on the curve
            Issuer.ec.jwk([("kid", "short"), ("x", Base64URL.encode(Array(repeating: 1, count: 31)))]),
            Issuer.rsa.jwk([("kid", "bad-n"), ("n", "not base64!")]),
            Issuer.rsa.jwk([("kid", "oct"), ("kty", "oct")]),
            #"{"kid":"none"}"#, #""just a string""#, "42",
        ]
        let set = try JWKSet(json: jwks(([good] + skipped).joined(separator: ",")))
        #expect(set.count == 1)
        #expect(try error(verify(Issuer.ec.token(payload: Issuer.payload, kid: "good"), set)) == nil)
        #expect(try error(verify(Issuer.rsaWeak.token(payload: Issuer.payload, kid: "weak"), set)) == .unknownKey)
        #expect(try error(verify(Issuer.rsa.token(payload: Issuer.payload, kid: "enc"), set)) == .unknownKey)
        // The same 1024-bit key is refused only for its size: a 2048-bit one in its place counts.
        #expect(try JWKSet(json: jwks(Issuer.rsa.jwk([("kid", "weak")]))).count == 1)
    }

    @Test(arguments: ["", "[]", "{}", #"{"keys":{}}"#, #"{"keys":"x"}"#, #"{"keys":[]"#, "null"])
    func aDocumentThatIsNoKeySetIsMalformed(_ text: String) {
        #expect(throws: JWTError.malformed) { try JWKSet(json: Array(text.utf8)) }
    }

    @Test func anES256SignatureMustBeRawAndSixtyFourBytes() throws {
        let set = try bothKeys()
        let jwt = try JWT.decode(Issuer.ec.token(payload: Issuer.payload, kid: "e1"))
        let parts = Issuer.ec.token(payload: Issuer.payload, kid: "e1").split(separator: ".").map(String.init)
        let r = Array(jwt.signature[..<32]), s = Array(jwt.signature[32...])
        for bad in [Array(jwt.signature.dropLast()), jwt.signature + [0], [0] + jwt.signature,
                    Array(repeating: 0, count: 64), r + r, s + r] {
            let token = parts[0] + "." + parts[1] + "." + Base64URL.encode(bad)
            #expect(try error(verify(token, set)) == .badSignature, "\(bad.count) bytes")
        }
        #expect(EVPPublicKey.derECDSASignature(raw: jwt.signature).map(TestSigningKey.rawECDSA) == jwt.signature)
    }

    @Test func failuresLeaveNoOpenSSLErrorsBehind() throws {
        let set = try bothKeys()
        ERR_clear_error()
        var signature = try JWT.decode(Issuer.rsa.token(payload: Issuer.payload, kid: "r1")).signature
        signature.removeLast()
        let parts = Issuer.rsa.token(payload: Issuer.payload, kid: "r1").split(separator: ".").map(String.init)
        #expect(try error(verify(parts[0] + "." + parts[1] + "." + Base64URL.encode(signature), set)) == .badSignature)
        _ = try JWKSet(json: jwks(Issuer.ec.jwk([("y", Issuer.ec.publicMembers[2].1)])))
        #expect(ERR_peek_error() == 0)
    }

    @Test func aSetFreesItsKeysWithItself() throws {
        weak var weakSet: JWKSet?
        do {
            let set = try bothKeys()
            weakSet = set
            #expect(try error(verify(Issuer.ec.token(payload: Issuer.payload, kid: "e1"), set)) == nil)
        }
        #expect(weakSet == nil)
    }

    /// Not asserted: prints what one verification costs, for docs/performance.md.
    @Test func verifyCost() throws {
        let set = try bothKeys()
        for (key, kid) in [(Issuer.rsa, "r1"), (Issuer.ec, "e1")] {
            let jwt = try JWT.decode(key.token(payload: Issuer.payload, kid: kid))
            let n = 2000
            var failures = 0
            let clock = ContinuousClock()
            let elapsed = clock.measure {
                for _ in 0..<n { if case .failure = set.verify(jwt) { failures += 1 } }
            }
            #expect(failures == 0)
            let micros = Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12
            let perVerify = (micros / Double(n) * 10).rounded() / 10
            print("JWKSet.verify \(key.algorithm): \(perVerify) µs per verify (\(n) runs)")
        }
    }
}
