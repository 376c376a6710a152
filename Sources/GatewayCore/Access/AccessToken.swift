/// A client token of `MCP_AUTH=token`: shown once when issued; only its SHA-256 is stored.
/// A token with `virtualServers` reaches those views alone (not `/mcp`); without, every view.
public struct AccessToken: Sendable, Equatable {
    public let id: String
    public let name: String
    /// Hex SHA-256 of the secret.
    public let hash: String
    public let virtualServers: [String]
    /// Unix milliseconds, or nil for a token that does not expire.
    public let expiresAt: Int64?
    public let perMinute: Int?
    public var createdAt: String

    public init(id: String, name: String, hash: String, virtualServers: [String], expiresAt: Int64?, perMinute: Int?,
                createdAt: String = "") {
        self.id = id; self.name = name; self.hash = hash; self.virtualServers = virtualServers
        self.expiresAt = expiresAt; self.perMinute = perMinute; self.createdAt = createdAt
    }

    public static let prefix = "mgt_"

    /// The secret a client presents (`mgt_` + 43 base64url characters of 32 random bytes) and the
    /// token's id (12 hex characters of 6 more random bytes).
    public static func mint(random: [UInt8]) -> (id: String, secret: String) {
        precondition(random.count >= 38)
        let id = Hex.encode(random[32..<38])
        return (id, prefix + Base64URL.encode(Array(random[0..<32])))
    }

    public static func hash(secret: String) -> String { Hex.encode(SHA256.hash(Array(secret.utf8))) }

    /// A short, non-reversible label for logs: the token id (never the secret or its hash).
    public var fingerprint: String { "tok:" + id }

    public func isExpired(nowMs: Int64) -> Bool { expiresAt.map { $0 <= nowMs } ?? false }

    /// What `POST /tokens` asks for, validated.
    public struct Request: Sendable, Equatable {
        public let name: String
        public let virtualServers: [String]
        public let expiresAt: Int64?
        public let perMinute: Int?
    }

    public static func parse(_ body: JSON, nowMs: Int64) -> Result<Request, ValidationError> {
        guard case .object(let members) = body else { return .failure(.init("the body must be a JSON object")) }
        let known: Set<String> = ["name", "virtualServers", "expiresAt", "rateLimit"]
        if let unknown = members.first(where: { !known.contains($0.0) }) { return .failure(.init("unknown field \(unknown.0)")) }
        guard let name = body["name"]?.stringValue, !name.isEmpty, name.utf8.count <= 128,
              name.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
            return .failure(.init("name must be a string of 1 to 128 printable characters"))
        }
        var views: [String] = []
        if let v = body["virtualServers"], !v.isNull {
            guard let items = v.arrayValue, items.count <= 256 else { return .failure(.init("virtualServers must be an array of names")) }
            for item in items {
                guard let s = item.stringValue, Validation.serviceNameProblem(s) == nil else {
                    return .failure(.init("virtualServers entries must be virtual server names"))
                }
                if !views.contains(s) { views.append(s) }
            }
        }
        var expires: Int64?
        if let e = body["expiresAt"], !e.isNull {
            if let seconds = e.intValue {
                expires = Int64(seconds) * 1000
            } else if let text = e.stringValue, let ms = Timestamp.parse(text) {
                expires = ms
            } else {
                return .failure(.init("expiresAt must be an RFC 3339 time (2027-01-31T00:00:00Z) or Unix seconds"))
            }
            guard expires! > nowMs else { return .failure(.init("expiresAt must be in the future")) }
        }
        var perMinute: Int?
        if let r = body["rateLimit"], !r.isNull {
            switch RateLimitSpec.parse(r, field: "rateLimit") {
            case .success(let p): perMinute = p
            case .failure(let e): return .failure(e)
            }
        }
        return .success(Request(name: name, virtualServers: views, expiresAt: expires, perMinute: perMinute))
    }

    /// Metadata as the admin API shows it: never the secret, never the hash.
    public var json: JSON {
        .object([
            ("id", .string(id)),
            ("name", .string(name)),
            ("virtualServers", .array(virtualServers.map { .string($0) })),
            ("expiresAt", expiresAt.map { .string(Timestamp.iso8601(Double($0) / 1000)) } ?? .null),
            ("rateLimit", perMinute.map { .object([("perMinute", .int($0))]) } ?? .null),
            ("createdAt", .string(createdAt)),
        ])
    }
}

/// Virtual servers and tokens at one registry version: part of every index snapshot, so a change
/// (and a revocation) reaches a replica exactly as a service change does.
public struct AccessConfig: Sendable {
    public let virtualServers: [String: VirtualServer]
    /// Live tokens by the hex SHA-256 of their secret.
    public let tokens: [String: AccessToken]

    public init(virtualServers: [VirtualServer] = [], tokens: [AccessToken] = []) {
        self.virtualServers = Dictionary(virtualServers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        self.tokens = Dictionary(tokens.map { ($0.hash, $0) }, uniquingKeysWith: { a, _ in a })
    }

    public static let empty = AccessConfig()

    /// The pseudo service name a change of virtual servers or tokens travels under inside a
    /// replica (service names cannot contain `#`).
    public static let changeKey = "#access"
}
