import GatewayCore

/// A change to virtual servers or tokens: stored in one transaction with a version bump, and
/// signalled like a service change (under `AccessConfig.changeKey`).
public enum AccessMutation: Sendable {
    case createVirtualServer(VirtualServer)
    case replaceVirtualServer(VirtualServer)
    case deleteVirtualServer(String)
    case createToken(AccessToken)
    case revokeToken(id: String)

    /// The event's `action`.
    public var action: String {
        switch self {
        case .createVirtualServer: return "virtual-server.create"
        case .replaceVirtualServer: return "virtual-server.update"
        case .deleteVirtualServer: return "virtual-server.delete"
        case .createToken: return "token.create"
        case .revokeToken: return "token.revoke"
        }
    }

    var notFound: StoreError {
        switch self {
        case .replaceVirtualServer(let vs): return .notFound("no virtual server named \(vs.name)")
        case .deleteVirtualServer(let name): return .notFound("no virtual server named \(name)")
        case .revokeToken(let id): return .notFound("no live token with id \(id)")
        default: return .failed("nothing written")
        }
    }

    static func viewsJSON(_ t: AccessToken) -> String { JSON.array(t.virtualServers.map { .string($0) }).text }

    /// Builds the access configuration from stored rows: (name, definition, created, updated) and
    /// (id, name, hash, views JSON, expires ms, per minute, created).
    static func config(servers: [[String?]], tokens: [[String?]]) -> AccessConfig {
        let vs = servers.compactMap { r in
            VirtualServer.stored(name: r[0] ?? "", definition: Array((r[1] ?? "{}").utf8), createdAt: r[2] ?? "", updatedAt: r[3] ?? "")
        }
        let ts = tokens.map { r in
            AccessToken(id: r[0] ?? "", name: r[1] ?? "", hash: r[2] ?? "",
                        virtualServers: ((try? JSONParser.parse(Array((r[3] ?? "[]").utf8)))?.arrayValue ?? []).compactMap(\.stringValue),
                        expiresAt: r[4].flatMap { Int64($0) }, perMinute: r[5].flatMap { Int($0) }, createdAt: r[6] ?? "")
        }
        return AccessConfig(virtualServers: vs, tokens: ts)
    }
}
