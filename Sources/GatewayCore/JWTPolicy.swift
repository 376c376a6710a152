/// What a verified token's claims must say for `MCP_AUTH=jwt`, and which views they grant. Time is
/// an input (Unix seconds), so every rule is tested without a clock.
///
/// - `exp` is required; the token is good while `exp + leeway > now`. `nbf`, when present, must
///   satisfy `nbf - leeway <= now`.
/// - `iss` must equal `issuer` when one is configured; `aud` (a string or an array of strings) must
///   contain `audience` when one is configured.
/// - The scope claim is an OAuth space-separated string (`scope`) or an array of strings (`scp`,
///   `roles`). `mcp:*` grants every view, `mcp:<name>` the view `<name>`; a token with neither is
///   refused.
public struct JWTPolicy: Sendable, Equatable {
    public var issuer: String?
    public var audience: String?
    public var leeway: Int64
    public var scopeClaim: String
    public var scopePrefix: String

    public init(issuer: String? = nil, audience: String? = nil, leeway: Int64 = 60,
                scopeClaim: String = "scope", scopePrefix: String = "mcp:") {
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.scopeClaim = scopeClaim
        self.scopePrefix = scopePrefix
    }

    public func check(_ claims: JSON, now: Int64) -> Result<JWTPrincipal, JWTError> {
        // NumericDate may carry a fraction (RFC 7519 §2), so times compare as Double.
        guard let exp = claims["exp"]?.doubleValue else { return .failure(.malformed) }
        guard exp + Double(leeway) > Double(now) else { return .failure(.expired) }
        if let nbf = claims["nbf"] {
            guard let nbf = nbf.doubleValue else { return .failure(.malformed) }
            guard nbf - Double(leeway) <= Double(now) else { return .failure(.notYetValid) }
        }
        if let issuer, claims["iss"]?.stringValue != issuer { return .failure(.wrongIssuer) }
        if let audience, !Self.strings(claims["aud"]).contains(audience) { return .failure(.wrongAudience) }
        var principal = JWTPrincipal(subject: claims["sub"]?.stringValue, allViews: false, views: [])
        for entry in Self.strings(claims[scopeClaim], separatedBy: " ") where entry.hasPrefix(scopePrefix) {
            let view = entry.dropFirst(scopePrefix.count)
            if view == "*" { principal.allViews = true } else if !view.isEmpty { principal.views.insert(String(view)) }
        }
        guard principal.allViews || !principal.views.isEmpty else { return .failure(.missingScope) }
        return .success(principal)
    }

    /// A claim that is a string or an array of strings, as its strings (other array members are
    /// ignored); a string is split on `separator` when one is given.
    private static func strings(_ claim: JSON?, separatedBy separator: Character? = nil) -> [String] {
        switch claim {
        case .string(let s)?:
            guard let separator else { return [s] }
            return s.split(separator: separator).map(String.init)
        case .array(let items)?:
            return items.compactMap(\.stringValue)
        default:
            return []
        }
    }
}

/// Who a token speaks for and which views it may use.
public struct JWTPrincipal: Sendable, Equatable {
    public var subject: String?
    public var allViews: Bool
    public var views: Set<String>

    public init(subject: String?, allViews: Bool, views: Set<String>) {
        self.subject = subject
        self.allViews = allViews
        self.views = views
    }

    public func mayUse(view: String) -> Bool { allViews || views.contains(view) }
}
