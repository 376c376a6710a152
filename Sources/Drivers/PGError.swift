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

/// Rows of one result (NULL → nil). Cells are kept as the bytes libpq gave, and become Strings
/// only when read as text, so a large column can be taken as bytes without a second copy.
public struct PGRows: Sendable {
    public let columns: [String]
    let cells: [[[UInt8]?]]
    public let affected: Int

    init(columns: [String], cells: [[[UInt8]?]], affected: Int) {
        self.columns = columns
        self.cells = cells
        self.affected = affected
    }

    public subscript(row: Int, column: String) -> String? {
        guard let c = columns.firstIndex(of: column) else { return nil }
        return cells[row][c].map { String(decoding: $0, as: UTF8.self) }
    }

    /// A cell's bytes, uncopied.
    public func bytes(_ row: Int, _ column: String) -> [UInt8]? {
        guard let c = columns.firstIndex(of: column) else { return nil }
        return cells[row][c]
    }

    /// Every row as text.
    public var rows: [[String?]] { cells.map { $0.map { $0.map { String(decoding: $0, as: UTF8.self) } } } }
    public var count: Int { cells.count }
}
