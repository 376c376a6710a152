/// Self-validating MCP session ids: `<payload>.<mac>` where the payload carries the format
/// version, the issue time, randomness and the negotiated protocol revision, and the mac is
/// HMAC-SHA-256 over it with the shared secret. Any replica holding the secret accepts any
/// replica's session without a store.
public struct SessionToken: Sendable, Equatable {
    public let issuedAt: Int64
    public let protocolVersion: String
    public let id: String

    static let format: UInt8 = 1

    public static func issue(secret: [UInt8], protocolVersion: String, now: Int64, random: [UInt8]) -> SessionToken {
        var payload: [UInt8] = [format]
        for i in (0..<8).reversed() { payload.append(UInt8(truncatingIfNeeded: now >> (Int64(i) * 8))) }
        payload += random.prefix(16)
        payload += Array(protocolVersion.utf8.prefix(32))
        let mac = SHA256.hmac(key: secret, message: payload).prefix(18)
        return SessionToken(issuedAt: now, protocolVersion: protocolVersion,
                            id: Base64URL.encode(payload) + "." + Base64URL.encode(Array(mac)))
    }

    /// The token if `id` is well-formed, signed with `secret`, and not older than `maxAge` seconds.
    public static func verify(_ id: String, secret: [UInt8], now: Int64, maxAge: Int64) -> SessionToken? {
        guard id.utf8.count < 200 else { return nil }
        let parts = id.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let payload = Base64URL.decode(String(parts[0])),
              let mac = Base64URL.decode(String(parts[1])), payload.count >= 25, payload[0] == format, mac.count == 18 else { return nil }
        let expected = Array(SHA256.hmac(key: secret, message: payload).prefix(18))
        var diff: UInt8 = 0
        for i in 0..<18 { diff |= expected[i] ^ mac[i] }
        guard diff == 0 else { return nil }
        var issued: Int64 = 0
        for i in 1...8 { issued = issued << 8 | Int64(payload[i]) }
        guard now - issued <= maxAge, issued - now < 300 else { return nil }
        let version = String(decoding: payload[25...], as: UTF8.self)
        return SessionToken(issuedAt: issued, protocolVersion: version, id: id)
    }
}
