import Testing
@testable import GatewayCore

@Suite struct SessionTokenTests {
    static let secret = utf8("0123456789abcdef-session-secret")
    static let random: [UInt8] = (0..<16).map { UInt8(truncatingIfNeeded: $0 * 37 + 3) }
    static let t0: Int64 = 1_760_000_000
    static let maxAge: Int64 = 86_400

    private func issue(_ version: String = "2025-06-18", now: Int64 = t0, random: [UInt8] = random,
                       secret: [UInt8] = secret) -> SessionToken {
        SessionToken.issue(secret: secret, protocolVersion: version, now: now, random: random)
    }

    private func verify(_ id: String, now: Int64 = t0, secret: [UInt8] = secret, maxAge: Int64 = maxAge) -> SessionToken? {
        SessionToken.verify(id, secret: secret, now: now, maxAge: maxAge)
    }

    /// A token id signed with the test secret over an arbitrary payload.
    private func signed(_ payload: [UInt8], macLength: Int = 18) -> String {
        Base64URL.encode(payload) + "." + Base64URL.encode(Array(SHA256.hmac(key: Self.secret, message: payload).prefix(macLength)))
    }

    @Test(arguments: MCPVersions.all + ["x", "", "a-very-long-but-still-32-bytes!!"])
    func issueThenVerifyRoundTrips(_ version: String) throws {
        let token = issue(version)
        #expect(token.issuedAt == Self.t0)
        #expect(token.protocolVersion == version)
        let back = try #require(verify(token.id))
        #expect(back == token)
        #expect(back.protocolVersion == version)
        #expect(back.issuedAt == Self.t0)
    }

    @Test func idShape() throws {
        let id = issue().id
        let parts = id.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        #expect(parts.count == 2)
        let payload = try #require(Base64URL.decode(parts[0]))
        let mac = try #require(Base64URL.decode(parts[1]))
        #expect(payload.count == 1 + 8 + 16 + "2025-06-18".utf8.count)
        #expect(payload[0] == 1)
        #expect(Array(payload[9..<25]) == Self.random)
        #expect(mac.count == 18)
        #expect(mac == Array(SHA256.hmac(key: Self.secret, message: payload).prefix(18)))
        #expect(id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) })
    }

    @Test func issueIsDeterministicAndRandomnessMatters() {
        #expect(issue().id == issue().id)
        var other = Self.random
        other[15] ^= 1
        #expect(issue(random: other).id != issue().id)
        #expect(issue(now: Self.t0 + 1).id != issue().id)
        #expect(issue("2025-03-26").id != issue().id)
    }

    @Test func timesAcrossTheRangeSurvive() throws {
        for now: Int64 in [0, 1, 255, 256, 1 << 31, (1 << 32) + 7, 4_102_444_800, Int64(Int32.max) * 1000] {
            let t = issue(now: now)
            let back = try #require(verify(t.id, now: now))
            #expect(back.issuedAt == now)
        }
    }

    @Test func ageLimit() {
        let id = issue().id
        #expect(verify(id, now: Self.t0 + 1) != nil)
        #expect(verify(id, now: Self.t0 + Self.maxAge) != nil, "exactly maxAge old is still valid")
        #expect(verify(id, now: Self.t0 + Self.maxAge + 1) == nil, "older than maxAge")
        #expect(verify(id, now: Self.t0 + 10 * Self.maxAge) == nil)
        #expect(verify(id, now: Self.t0 + 61, maxAge: 60) == nil)
        #expect(verify(id, now: Self.t0 + 60, maxAge: 60) != nil)
    }

    @Test func issuedInTheFuture() {
        let id = issue().id
        #expect(verify(id, now: Self.t0 - 1) != nil, "small clock skew between replicas is tolerated")
        #expect(verify(id, now: Self.t0 - 299) != nil)
        #expect(verify(id, now: Self.t0 - 301) == nil, "more than 300 s in the future")
        #expect(verify(id, now: Self.t0 - 100_000) == nil)
    }

    @Test func wrongSecret() {
        let id = issue().id
        #expect(verify(id, secret: utf8("0123456789abcdef-session-secreT")) == nil)
        #expect(verify(id, secret: []) == nil)
        #expect(verify(issue(secret: utf8("another secret entirely")).id) == nil)
    }

    @Test func everyTamperedPayloadByteIsRejected() throws {
        let id = issue().id
        let parts = id.split(separator: ".").map(String.init)
        let payload = try #require(Base64URL.decode(parts[0]))
        for i in payload.indices {
            for flip: UInt8 in [0x01, 0x80, 0xFF] {
                var p = payload
                p[i] ^= flip
                #expect(verify(Base64URL.encode(p) + "." + parts[1]) == nil, "payload byte \(i) ^ \(flip)")
            }
        }
        // Appending or removing payload bytes.
        #expect(verify(Base64URL.encode(payload + [0x41]) + "." + parts[1]) == nil)
        #expect(verify(Base64URL.encode(Array(payload.dropLast())) + "." + parts[1]) == nil)
    }

    @Test func everyTamperedMacByteIsRejected() throws {
        let id = issue().id
        let parts = id.split(separator: ".").map(String.init)
        let mac = try #require(Base64URL.decode(parts[1]))
        for i in mac.indices {
            var m = mac
            m[i] ^= 0x01
            #expect(verify(parts[0] + "." + Base64URL.encode(m)) == nil, "mac byte \(i)")
        }
        // Another token's mac.
        let other = issue(now: Self.t0 + 5).id.split(separator: ".").map(String.init)
        #expect(verify(parts[0] + "." + other[1]) == nil)
        // A longer mac (the full HMAC) is not accepted either.
        let payload = try #require(Base64URL.decode(parts[0]))
        #expect(verify(signed(payload, macLength: 32)) == nil)
        #expect(verify(signed(payload, macLength: 17)) == nil)
        #expect(verify(signed(payload)) != nil, "the helper itself produces a valid id")
    }

    /// Revocation (`MCPEndpoint.revoked[id]`) is keyed by the id string, so the only string that
    /// verifies for a session must be the one that was issued. With a payload length that is not a
    /// multiple of 3, the last base64 character of the payload has unused bits; changing them must
    /// not produce another accepted id for the same session.
    @Test(arguments: MCPVersions.all)
    func everyOneCharacterChangeIsRejected(_ version: String) {
        let id = Array(issue(version).id)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
        var accepted: [String] = []
        for i in id.indices {
            for c in alphabet where c != id[i] {
                var m = id
                m[i] = c
                let s = String(m)
                if verify(s) != nil { accepted.append(s) }
            }
        }
        #expect(accepted.isEmpty, "issued \(String(id)); also accepted: \(accepted)")
    }

    @Test func wrongFormatOrShortPayloadIsRejectedEvenWhenSigned() {
        var payload: [UInt8] = [1]
        for i in (0..<8).reversed() { payload.append(UInt8(truncatingIfNeeded: Self.t0 >> (Int64(i) * 8))) }
        payload += Self.random
        payload += utf8("2025-06-18")
        #expect(verify(signed(payload)) != nil, "sanity: a hand-built payload verifies")
        var v2 = payload
        v2[0] = 2
        #expect(verify(signed(v2)) == nil, "unknown format version")
        #expect(verify(signed(Array(payload.prefix(24)))) == nil, "payload shorter than 25 bytes")
        #expect(verify(signed(Array(payload.prefix(25))))?.protocolVersion == "", "25 bytes: empty version")
    }

    @Test(arguments: [
        "", ".", "..", "abc", "a.b", "x.y.z", "!!!.???", "====.====", "A.A",
        String(repeating: "A", count: 300), String(repeating: "A", count: 150) + "." + String(repeating: "A", count: 150),
    ])
    func garbageIsRejected(_ id: String) {
        #expect(verify(id) == nil)
    }

    @Test func structuralDamageIsRejected() {
        let id = issue().id
        let parts = id.split(separator: ".").map(String.init)
        for bad in [id + ".", "." + id, id + "." + parts[1], parts[0], parts[1], parts[0] + ".", "." + parts[1],
                    parts[1] + "." + parts[0], " " + id, id + " ", id + "=", parts[0] + "=." + parts[1], id.uppercased()] {
            #expect(verify(bad) == nil, "\(bad)")
        }
    }
}
