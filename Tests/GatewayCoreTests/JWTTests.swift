import Testing
@testable import GatewayCore

/// A compact token from JSON texts as written (so tests can put anything in them) and raw signature bytes.
func compactJWT(header: String, payload: String, signature: [UInt8] = [1, 2, 3]) -> String {
    Base64URL.encode(utf8(header)) + "." + Base64URL.encode(utf8(payload)) + "." + Base64URL.encode(signature)
}

@Suite struct JWTTests {
    static let payload = #"{"sub":"alice","exp":1700000000,"scope":"mcp:*"}"#

    @Test(arguments: ["RS256", "ES256"])
    func decodesTheThreeParts(_ alg: String) throws {
        let header = #"{"alg":"\#(alg)","typ":"JWT","kid":"k1"}"#
        let text = compactJWT(header: header, payload: Self.payload, signature: [9, 8, 7, 6])
        let jwt = try JWT.decode(text)
        #expect(jwt.algorithm == alg)
        #expect(jwt.keyID == "k1")
        #expect(jwt.header["typ"] == .string("JWT"))
        #expect(jwt.claims["sub"] == .string("alice"))
        #expect(jwt.claims["exp"]?.intValue == 1_700_000_000)
        #expect(jwt.signature == [9, 8, 7, 6])
        let secondDot = text.lastIndex(of: ".")!
        #expect(jwt.signingInput == Array(text[..<secondDot].utf8))
        #expect(String(decoding: jwt.signingInput, as: UTF8.self).split(separator: ".").count == 2)
    }

    @Test func aTokenWithoutKidHasNone() throws {
        let jwt = try JWT.decode(compactJWT(header: #"{"alg":"ES256"}"#, payload: Self.payload))
        #expect(jwt.keyID == nil)
    }

    @Test(arguments: ["none", "None", "HS256", "HS384", "HS512", "RS384", "RS512", "PS256", "ES384", "ES512", "EdDSA", "rs256", ""])
    func onlyRS256AndES256AreAccepted(_ alg: String) {
        #expect(throws: JWTError.unsupportedAlgorithm) {
            try JWT.decode(compactJWT(header: #"{"alg":"\#(alg)"}"#, payload: Self.payload))
        }
    }

    @Test func anUnsignedTokenIsRefused() {
        // The shape RFC 7519 §6.1 gives an unsecured JWT: alg none and an empty signature.
        let text = Base64URL.encode(utf8(#"{"alg":"none"}"#)) + "." + Base64URL.encode(utf8(Self.payload)) + "."
        #expect(throws: JWTError.self) { try JWT.decode(text) }
    }

    @Test(arguments: [
        #"{"typ":"JWT"}"#,                       // no alg
        #"{"alg":256}"#,                         // alg not a string
        #"{"alg":"RS256","kid":7}"#,             // kid not a string
        #"{"alg":"RS256","crit":["exp"]}"#,      // an extension this verifier does not know
        #"{"alg":"RS256","crit":[]}"#,
        #"{"alg":"RS256","alg":"none"}"#,        // duplicate member
        #"["RS256"]"#, #""RS256""#, "null", #"{"alg":"RS256""#,
    ])
    func badHeadersAreMalformed(_ header: String) {
        #expect(throws: JWTError.malformed) { try JWT.decode(compactJWT(header: header, payload: Self.payload)) }
    }

    @Test(arguments: [#"["x"]"#, "42", #""claims""#, #"{"exp":1,"exp":9999999999}"#, "{", ""])
    func badPayloadsAreMalformed(_ payload: String) {
        #expect(throws: JWTError.malformed) { try JWT.decode(compactJWT(header: #"{"alg":"RS256"}"#, payload: payload)) }
    }

    @Test func theShapeIsThreeNonEmptyBase64URLParts() throws {
        let good = compactJWT(header: #"{"alg":"RS256"}"#, payload: Self.payload)
        let parts = good.split(separator: ".").map(String.init)
        #expect(throws: Never.self) { try JWT.decode(good) }
        for bad in [
            parts[0] + "." + parts[1],                               // two parts
            good + ".AAAA",                                         // four parts
            good + ".AAAA.AAAA",                                    // five (a JWE)
            parts[0] + "." + parts[1] + ".",                        // empty signature
            "." + parts[1] + "." + parts[2],                        // empty header
            parts[0] + ".." + parts[2],                             // empty payload
            parts[0] + "=." + parts[1] + "." + parts[2],            // padding
            parts[0] + "." + parts[1] + "." + parts[2] + "+",       // standard alphabet
            parts[0] + "." + parts[1] + " ." + parts[2],            // whitespace
            " " + good, good + "\n", "",
        ] {
            #expect(throws: JWTError.malformed, "\(bad.debugDescription)") { try JWT.decode(bad) }
        }
    }

    @Test func tokensOver16KiBAreRefusedBeforeParsing() throws {
        func token(padding: Int) -> String {
            let payload = #"{"exp":1,"pad":""# + String(repeating: "x", count: padding) + #""}"#
            return compactJWT(header: #"{"alg":"RS256"}"#, payload: payload)
        }
        var n = 12000
        while token(padding: n + 1).utf8.count <= JWT.maxLength { n += 1 }
        #expect(token(padding: n).utf8.count <= JWT.maxLength)
        #expect(throws: Never.self) { try JWT.decode(token(padding: n)) }
        #expect(throws: JWTError.malformed) { try JWT.decode(token(padding: n + 1)) }
    }

    @Test func errorDescriptionsAreGenericAndDistinct() {
        let all = JWTError.Reason.allCases.map { JWTError($0).description }
        #expect(Set(all).count == all.count)
        for text in all { #expect(text.hasPrefix("token ")) }
    }

    /// A refusal never echoes what the client sent: no claim value and no byte of the token.
    @Test func refusalsDoNotEchoTheToken() {
        let secretish = "s3cr3t-VALUE"
        let texts = [
            compactJWT(header: #"{"alg":"HS256","kid":"\#(secretish)"}"#, payload: Self.payload),
            compactJWT(header: #"{"alg":"RS256","crit":["\#(secretish)"]}"#, payload: Self.payload),
            compactJWT(header: #"{"alg":"RS256"}"#, payload: #"{"exp":"\#(secretish)""#),
            secretish,
        ]
        for text in texts {
            do {
                _ = try JWT.decode(text)
                Issue.record("accepted \(text)")
            } catch {
                #expect(!error.description.contains(secretish))
                #expect(!error.description.contains(text.prefix(8)))
            }
        }
    }
}
