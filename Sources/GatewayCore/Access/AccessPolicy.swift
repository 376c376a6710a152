/// Who may use which view, as pure decisions: the credential in, allow / 401 / 403 out.
public enum AuthMode: String, Sendable { case none, token, jwt }

/// The client a request acts for, once authenticated.
public struct Principal: Sendable, Equatable {
    public enum Kind: String, Sendable { case anonymous, token, jwt }
    public let kind: Kind
    /// For logs and rate-limit keys: a token's id, a JWT's `sub`, or the client address.
    public let id: String
    /// Every view (and `/mcp`), or only `views`.
    public let allViews: Bool
    public let views: Set<String>
    /// The token's own calls-per-minute limit per tool.
    public let perMinute: Int?

    public init(kind: Kind, id: String, allViews: Bool, views: Set<String> = [], perMinute: Int? = nil) {
        self.kind = kind; self.id = id; self.allViews = allViews; self.views = views; self.perMinute = perMinute
    }

    public static func anonymous(_ address: String) -> Principal { Principal(kind: .anonymous, id: address, allViews: true) }

    /// `who=` of audit lines.
    public var label: String {
        switch kind {
        case .anonymous: return "addr:" + id
        case .token: return "tok:" + id
        case .jwt: return "sub:" + id
        }
    }
}

public enum AccessDecision: Sendable, Equatable {
    case allow(Principal)
    /// 401: no credential, or one that is not valid (the reason is for the log and the client,
    /// generic: never the credential).
    case unauthorized(String)
    /// 403: valid, but not for this view.
    case forbidden(String)
}

public enum AccessPolicy {
    /// The credential of `Authorization: Bearer <token>` (scheme case-insensitive), or nil.
    public static func bearer(_ header: String?) -> String? {
        // Bytes, not Characters: a JWT is hundreds of bytes, and walking it as grapheme clusters
        // cost more than the rest of the check.
        guard let u = header?.utf8, u.count > 7, u.count <= 16384 + 7 else { return nil }
        let scheme = Array("bearer ".utf8)
        var i = u.startIndex
        for expected in scheme {
            var b = u[i]
            if b >= 0x41 && b <= 0x5A { b |= 0x20 }
            guard b == expected else { return nil }
            i = u.index(after: i)
        }
        while i < u.endIndex, u[i] == 0x20 { i = u.index(after: i) }
        guard i < u.endIndex, !u[i...].contains(0x20) else { return nil }
        return String(u[i...])
    }

    /// `MCP_AUTH=token`: the presented secret's hash looked up among live tokens.
    public static func token(_ presented: String?, access: AccessConfig, view: String?, nowMs: Int64) -> AccessDecision {
        guard let presented else { return .unauthorized("missing bearer token") }
        let hash = AccessToken.hash(secret: presented)
        // The table is keyed by the hash, so no comparison runs over the secret itself; the
        // found entry is compared again in constant time (defence in depth).
        guard let token = access.tokens[hash], constantTimeEqual(token.hash, hash) else { return .unauthorized("invalid token") }
        if token.isExpired(nowMs: nowMs) { return .unauthorized("token expired") }
        let principal = Principal(kind: .token, id: token.id, allViews: token.virtualServers.isEmpty,
                                  views: Set(token.virtualServers), perMinute: token.perMinute)
        return scope(principal, view: view)
    }

    /// A principal reaches `/mcp` (view nil) only with every view; a view when it is listed.
    public static func scope(_ principal: Principal, view: String?) -> AccessDecision {
        if principal.allViews { return .allow(principal) }
        guard let view else { return .forbidden("this credential is limited to virtual servers; /mcp is not one of them") }
        return principal.views.contains(view) ? .allow(principal) : .forbidden("this credential does not reach the virtual server \(view)")
    }

    public static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var diff = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<x.count { diff |= x[i] ^ (i < y.count ? y[i] : 0) }
        return diff == 0
    }

    /// `WWW-Authenticate` of a 401 (RFC 9728 §5.1; `error` per RFC 6750 when a token was presented).
    public static func challenge(metadataURL: String, invalidToken: Bool) -> String {
        invalidToken ? #"Bearer error="invalid_token", resource_metadata="\#(metadataURL)""# : #"Bearer resource_metadata="\#(metadataURL)""#
    }
}
