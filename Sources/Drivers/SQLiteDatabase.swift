import CSQLite
import Glibc

public enum SQLiteError: Error, CustomStringConvertible, Sendable {
    case open(String)
    case statement(code: Int32, message: String)

    public var description: String {
        switch self {
        case .open(let m): return "cannot open database: \(m)"
        case .statement(let code, let m): return "sqlite error \(code): \(m)"
        }
    }

    public var isUniqueViolation: Bool {
        if case .statement(let code, _) = self { return code == 2067 || code == 1555 }  // SQLITE_CONSTRAINT_UNIQUE / PRIMARYKEY
        return false
    }

    public var isBusy: Bool {
        if case .statement(let code, _) = self { return code & 0xff == SQLITE_BUSY || code & 0xff == SQLITE_LOCKED }
        return false
    }
}

/// One SQLite connection in WAL mode. Not thread-safe by itself: the owner confines every call to
/// one thread at a time (the store runs them all on its worker thread).
public final class SQLiteDatabase: @unchecked Sendable {
    private var db: OpaquePointer?
    public let path: String

    public init(path: String) throws(SQLiteError) {
        self.path = path
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "error \(rc)"
            sqlite3_close(db)
            db = nil
            throw SQLiteError.open("\(path): \(message)")
        }
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, 2000)
        try execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")
    }

    deinit { sqlite3_close(db) }

    /// Runs statements without parameters (migrations, pragmas, BEGIN/COMMIT).
    public func execute(_ sql: String) throws(SQLiteError) {
        var error: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &error)
        if rc != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? "error"
            sqlite3_free(error)
            throw SQLiteError.statement(code: sqlite3_extended_errcode(db), message: message)
        }
    }

    /// One statement with text parameters (?1, ?2 ...); rows as text, NULL → nil.
    /// A prepared statement with `params` bound as text (nil: NULL); the caller finalizes it.
    private func prepare(_ sql: String, _ params: [String?]) throws(SQLiteError) -> OpaquePointer {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK, let stmt else { throw lastError() }
        let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
        for (i, p) in params.enumerated() {
            let rc = p.map { sqlite3_bind_text(stmt, Int32(i + 1), $0, -1, transient) } ?? sqlite3_bind_null(stmt, Int32(i + 1))
            guard rc == SQLITE_OK else {
                let error = lastError()
                sqlite3_finalize(stmt)
                throw error
            }
        }
        return stmt
    }

    public func query(_ sql: String, _ params: [String?] = []) throws(SQLiteError) -> (columns: [String], rows: [[String?]]) {
        let stmt = try prepare(sql, params)
        defer { sqlite3_finalize(stmt) }
        let n = Int(sqlite3_column_count(stmt))
        let columns = (0..<n).map { String(cString: sqlite3_column_name(stmt, Int32($0))) }
        var rows: [[String?]] = []
        while true {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw lastError() }
            var row: [String?] = []
            row.reserveCapacity(n)
            for c in 0..<n {
                if let text = sqlite3_column_text(stmt, Int32(c)) {
                    let len = Int(sqlite3_column_bytes(stmt, Int32(c)))
                    row.append(String(decoding: UnsafeBufferPointer(start: text, count: len), as: UTF8.self))
                } else {
                    row.append(nil)
                }
            }
            rows.append(row)
        }
        return (columns, rows)
    }

    /// One result row, read in place: a column as text or as its bytes (no String in between).
    public struct Row {
        let stmt: OpaquePointer

        public func text(_ c: Int) -> String? {
            guard let text = sqlite3_column_text(stmt, Int32(c)) else { return nil }
            return String(decoding: UnsafeBufferPointer(start: text, count: Int(sqlite3_column_bytes(stmt, Int32(c)))), as: UTF8.self)
        }

        public func bytes(_ c: Int) -> [UInt8]? {
            guard let text = sqlite3_column_text(stmt, Int32(c)) else { return nil }
            return Array(UnsafeBufferPointer(start: text, count: Int(sqlite3_column_bytes(stmt, Int32(c)))))
        }
    }

    /// Runs a statement and maps each row as it is stepped (a full registry read makes no
    /// intermediate String of every definition array).
    public func rows<T>(_ sql: String, _ params: [String?] = [], _ each: (Row) -> T) throws(SQLiteError) -> [T] {
        let stmt = try prepare(sql, params)
        defer { sqlite3_finalize(stmt) }
        var out: [T] = []
        while true {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw lastError() }
            out.append(each(Row(stmt: stmt)))
        }
        return out
    }

    public var changes: Int { Int(sqlite3_changes(db)) }

    private func lastError() -> SQLiteError {
        .statement(code: sqlite3_extended_errcode(db), message: String(cString: sqlite3_errmsg(db)))
    }
}
