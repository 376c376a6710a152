/// A client's JSON Web Token (RFC 7519) in JWS compact form, decoded but not yet trusted: the
/// signature is checked by a key set (`JWKSet` in Drivers) over `signingInput`, the claims by a
/// `JWTPolicy`. Only RS256 and ES256 are accepted; `none`, HMAC and everything else are refused
/// here, before any key is looked at, so a token cannot choose a weaker check.
public struct JWT: Sendable {
    public let header: JSON
    public let claims: JSON
    public let algorithm: String
    public let keyID: String?
    /// The ASCII bytes of `<b64 header>.<b64 payload>`: what the signature covers.
    public let signingInput: [UInt8]
    public let signature: [UInt8]

    public static let maxLength = 16 * 1024
    public static let algorithms: Set<String> = ["RS256", "ES256"]

    public static func decode(_ compact: String) throws(JWTError) -> JWT {
        guard compact.utf8.count <= maxLength else { throw .malformed }
        let parts = compact.split(separator: ".", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty }) else { throw .malformed }
        let header = try object(parts[0])
        guard let algorithm = header["alg"]?.stringValue else { throw .malformed }
        guard algorithms.contains(algorithm) else { throw .unsupportedAlgorithm }
        // RFC 7515 §4.1.11: extensions named in `crit` must be understood; this verifier knows none.
        guard header["crit"] == nil else { throw .malformed }
        let kid = header["kid"]
        guard kid == nil || kid?.stringValue != nil else { throw .malformed }
        let claims = try object(parts[1])
        guard let signature = Base64URL.decode(parts[2]) else { throw .malformed }
        let signingInput = Array(compact.utf8[..<parts[1].endIndex])
        return JWT(header: header, claims: claims, algorithm: algorithm, keyID: kid?.stringValue,
                   signingInput: signingInput, signature: signature)
    }

    /// A segment that decodes to a JSON object whose member names are unique: with a duplicate
    /// `alg` or `exp`, which one counts would depend on the parser (RFC 7515 §5.2 allows refusing).
    private static func object(_ segment: Substring) throws(JWTError) -> JSON {
        guard let bytes = Base64URL.decode(segment), let value = try? JSONParser.parse(bytes),
              let members = value.objectValue else { throw .malformed }
        var names = Set<String>()
        for (name, _) in members where !names.insert(name).inserted { throw .malformed }
        return value
    }
}

/// Why a token was refused. Descriptions are generic: they never carry a claim value, a key id or
/// any byte of the token, so they can go into logs and responses as they are.
public struct JWTError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Reason: Sendable, Equatable, CaseIterable {
        case malformed, unsupportedAlgorithm, unknownKey, badSignature
        case expired, notYetValid, wrongIssuer, wrongAudience, missingScope
    }

    public let reason: Reason
    public init(_ reason: Reason) { self.reason = reason }

    public static let malformed = JWTError(.malformed)
    public static let unsupportedAlgorithm = JWTError(.unsupportedAlgorithm)
    public static let unknownKey = JWTError(.unknownKey)
    public static let badSignature = JWTError(.badSignature)
    public static let expired = JWTError(.expired)
    public static let notYetValid = JWTError(.notYetValid)
    public static let wrongIssuer = JWTError(.wrongIssuer)
    public static let wrongAudience = JWTError(.wrongAudience)
    public static let missingScope = JWTError(.missingScope)

    public var description: String {
        switch reason {
        case .malformed: return "token is malformed"
        case .unsupportedAlgorithm: return "token algorithm is not accepted"
        case .unknownKey: return "token signing key is not known"
        case .badSignature: return "token signature is invalid"
        case .expired: return "token has expired"
        case .notYetValid: return "token is not yet valid"
        case .wrongIssuer: return "token issuer is not accepted"
        case .wrongAudience: return "token audience is not accepted"
        case .missingScope: return "token grants no MCP scope"
        }
    }
}
