/// What can go wrong talking to PostgreSQL. `description` never contains the connection string or
/// a password: only the server's primary message and SQLSTATE.
public enum PGError: Error, CustomStringConvertible, Sendable {
    /// No connection could be made or the pool has none to give right now.
    case unavailable(String)
    /// The connection broke during the query (server gone, network, client-side timeout).
    case connectionLost(String)
    /// The server rejected the statement.
    case server(sqlstate: String, message: String)

    public var description: String {
        switch self {
        case .unavailable(let m): return "database unavailable: \(m)"
        case .connectionLost(let m): return "database connection lost: \(m)"
        case .server(let state, let m): return "database error \(state): \(m)"
        }
    }

    public var isUniqueViolation: Bool {
        if case .server("23505", _) = self { return true }
        return false
    }

    /// True when retrying on another connection later could succeed (storage down, not a bad query).
    public var isUnavailable: Bool {
        switch self {
        case .unavailable, .connectionLost: return true
        case .server(let state, _): return state.hasPrefix("08") || state.hasPrefix("57P") || state == "53300"
        }
    }
}

/// Rows of one result, as text (NULL → nil).
public struct PGRows: Sendable {
    public let columns: [String]
    public let rows: [[String?]]
    public let affected: Int

    public subscript(row: Int, column: String) -> String? {
        guard let c = columns.firstIndex(of: column) else { return nil }
        return rows[row][c]
    }
    public var count: Int { rows.count }
}
