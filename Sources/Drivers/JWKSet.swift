import CCrypto
import GatewayCore

/// The issuer's signing keys (a JWK Set, RFC 7517) as OpenSSL public keys, and the signature check
/// of a decoded `JWT` against them. Immutable once built (a refresh builds a new set), so it may be
/// shared across threads; it owns its keys and frees them with itself. It never logs.
///
/// Usable keys: `kty` RSA with a modulus of at least 2048 bits, and `kty` EC on P-256. A key whose
/// `use` is not `sig`, of another type or curve, or whose parameters do not make a valid key, is
/// skipped, so one odd key in the issuer's set does not take the others down.
public final class JWKSet: @unchecked Sendable {
    enum KeyType { case rsa, ec }

    struct Key {
        let id: String?
        let type: KeyType
        let algorithm: String?  // the JWK's `alg`, which the token's must then equal
        let evp: OpaquePointer
    }

    private let keys: [Key]

    public static let minRSABits: Int32 = 2048

    public init(json: [UInt8]) throws(JWTError) {
        guard let document = try? JSONParser.parse(json), let entries = document["keys"]?.arrayValue else {
            throw .malformed
        }
        keys = entries.compactMap(Self.key)
    }

    deinit { for key in keys { EVP_PKEY_free(key.evp) } }

    public var count: Int { keys.count }

    public func verify(_ jwt: JWT) -> Result<Void, JWTError> {
        let type: KeyType
        switch jwt.algorithm {
        case "RS256": type = .rsa
        case "ES256": type = .ec
        default: return .failure(.unsupportedAlgorithm)
        }
        let key: Key
        switch select(type: type, for: jwt) {
        case .success(let k): key = k
        case .failure(let e): return .failure(e)
        }
        var signature = jwt.signature
        if type == .ec {
            guard let der = EVPPublicKey.derECDSASignature(raw: signature) else { return .failure(.badSignature) }
            signature = der
        }
        let ok = EVPPublicKey.verifySHA256(key.evp, message: jwt.signingInput, signature: signature)
        return ok ? .success(()) : .failure(.badSignature)
    }

    /// The key named by the token's `kid`, or without a `kid` the only key that could have signed
    /// it. A `kid` that names only keys of another type or algorithm is a bad signature rather than
    /// an unknown key: fetching the set again would not help.
    private func select(type: KeyType, for jwt: JWT) -> Result<Key, JWTError> {
        let usable = { (k: Key) in k.type == type && (k.algorithm == nil || k.algorithm == jwt.algorithm) }
        guard let kid = jwt.keyID else {
            let candidates = keys.filter(usable)
            return candidates.count == 1 ? .success(candidates[0]) : .failure(.unknownKey)
        }
        let named = keys.filter { $0.id == kid }
        if let key = named.first(where: usable) { return .success(key) }
        return .failure(named.isEmpty ? .unknownKey : .badSignature)
    }

    private static func key(_ jwk: JSON) -> Key? {
        if let use = jwk["use"], use.stringValue != "sig" { return nil }
        let id = jwk["kid"]?.stringValue, algorithm = jwk["alg"]?.stringValue
        func bytes(_ name: String) -> [UInt8]? { jwk[name]?.stringValue.flatMap(Base64URL.decode) }
        switch jwk["kty"]?.stringValue {
        case "RSA":
            guard let n = bytes("n"), let e = bytes("e"), let evp = EVPPublicKey.rsa(n: n, e: e) else { return nil }
            guard EVP_PKEY_get_bits(evp) >= minRSABits else {
                EVP_PKEY_free(evp)
                return nil
            }
            return Key(id: id, type: .rsa, algorithm: algorithm, evp: evp)
        case "EC":
            guard jwk["crv"]?.stringValue == "P-256", let x = bytes("x"), let y = bytes("y"), x.count == 32, y.count == 32,
                  let evp = EVPPublicKey.p256(x: x, y: y) else { return nil }
            return Key(id: id, type: .ec, algorithm: algorithm, evp: evp)
        default:
            return nil
        }
    }
}
