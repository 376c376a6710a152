import Drivers
import GatewayCore
import Glibc
import Reactor

/// The registry in an embedded SQLite file (WAL): the same schema and soft-delete rules as
/// PostgreSQL's, for a single node with no infrastructure. Statements run on a worker thread, not
/// the loop: a commit can wait on fsync (a WAL checkpoint) for tens of milliseconds, and that must
/// not stall every other request (measured in docs/performance.md).
@LoopActor
public final class SQLiteRegistryStore: RegistryStore {
    public let kind = "sqlite"
    private let path: String
    private let env: [String: String]
    private var db: SQLiteDatabase?
    private let worker = BlockingWorker()
    public private(set) var isHealthy = true

    public init(path: String, env: [String: String]) {
        self.path = path
        self.env = env
    }

    nonisolated private static let now = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
    nonisolated private static let selectServices = """
        SELECT s.id, s.name, s.url, s.created_at, s.updated_at, COALESCE(t.tools, '[]') AS tools, s.call_timeout_ms, s.max_concurrent,
               COALESCE(t.resources, '[]'), COALESCE(t.resource_templates, '[]'), COALESCE(t.prompts, '[]')
        FROM services s LEFT JOIN service_tools t ON t.service_id = s.id AND t.deleted_at IS NULL
        WHERE s.deleted_at IS NULL
        """

    private func open() async throws(StoreError) -> SQLiteDatabase {
        if let db { return db }
        let path = self.path
        do {
            let opened = try await worker.run {
                Self.makeParentDirectory(of: path)
                return try SQLiteDatabase(path: path)
            }
            db = opened
            return opened
        } catch {
            isHealthy = false
            throw StoreError.unavailable("\(error)")
        }
    }

    nonisolated static func makeParentDirectory(of path: String) {
        var dir = ""
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropLast()
        for (i, part) in parts.enumerated() {
            dir += (i == 0 ? "" : "/") + part
            if !dir.isEmpty && dir != "." { mkdir(dir, 0o755) }
        }
    }

    /// How long each store call took on the worker (the loop stays free meanwhile).
    public var onTiming: (Double) -> Void = { _ in }
    public private(set) var longestCall = 0.0

    private func run<T: Sendable>(_ body: @escaping @Sendable (SQLiteDatabase) throws -> T) async throws(StoreError) -> T {
        let db = try await open()
        do {
            let (value, took) = try await worker.run { () throws -> (T, Double) in
                let started = EventLoop.clock()
                let value = try body(db)
                return (value, EventLoop.clock() - started)
            }
            longestCall = max(longestCall, took)
            onTiming(took)
            isHealthy = true
            return value
        } catch let e as StoreError {
            throw e
        } catch let e as SQLiteError {
            if e.isUniqueViolation { throw StoreError.conflict("a service with that name already exists") }
            if e.isBusy { throw StoreError.unavailable(e.description) }
            throw StoreError.failed(e.description)
        } catch {
            throw StoreError.failed("\(error)")
        }
    }

    private func transaction<T: Sendable>(_ body: @escaping @Sendable (SQLiteDatabase) throws -> T) async throws(StoreError) -> T {
        try await run { db in
            try db.execute("BEGIN IMMEDIATE")
            do {
                let value = try body(db)
                try db.execute("COMMIT")
                return value
            } catch {
                try? db.execute("ROLLBACK")
                throw error
            }
        }
    }

    public func migrate() async throws(StoreError) -> [String] {
        let files = try Migrations.load(kind: "sqlite", env: env)
        return try await run { db in
            try db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT (\(Self.now)))")
            let done = Set(try db.query("SELECT name FROM schema_migrations").rows.compactMap { $0[0] })
            var applied: [String] = []
            for file in files where !done.contains(file.name) {
                try db.execute("BEGIN IMMEDIATE")
                do {
                    try db.execute(file.sql)
                    _ = try db.query("INSERT INTO schema_migrations (name) VALUES (?1)", [file.name])
                    try db.execute("COMMIT")
                } catch {
                    try? db.execute("ROLLBACK")
                    throw error
                }
                applied.append(file.name)
            }
            return applied
        }
    }

    public func version() async throws(StoreError) -> Int64 {
        try await run { db in
            // The row is created by the first migration: without it the registry is broken, not empty.
            guard let text = try db.query("SELECT version FROM registry_version WHERE id = 1").rows.first?[0], let version = Int64(text) else {
                throw StoreError.failed("registry_version has no row 1 (was the database migrated?)")
            }
            return version
        }
    }

    public func service(named name: String) async throws(StoreError) -> ServiceRecord? {
        try await run { db in try db.rows(Self.selectServices + " AND s.name = ?1", [name], Self.record).first }
    }

    public func services() async throws(StoreError) -> [ServiceRecord] {
        try await run { db in try db.rows(Self.selectServices + " ORDER BY s.name", [], Self.record) }
    }

    /// A service row of `selectServices`: the definition arrays taken as bytes, as stored.
    nonisolated static func record(_ r: SQLiteDatabase.Row) -> ServiceRecord {
        let empty: [UInt8] = [0x5B, 0x5D]  // []
        return ServiceRecord(id: Int64(r.text(0) ?? "0") ?? 0, name: r.text(1) ?? "", url: r.text(2) ?? "", createdAt: r.text(3) ?? "",
                             updatedAt: r.text(4) ?? "", rawTools: r.bytes(5) ?? empty, limits: ServiceLimits(columns: r.text(6), r.text(7)),
                             rawResources: r.bytes(8) ?? empty, rawTemplates: r.bytes(9) ?? empty, rawPrompts: r.bytes(10) ?? empty)
    }

    /// Raises the version to max(previous + 1, now in ms) inside the caller's transaction.
    nonisolated fileprivate static func bump(_ db: SQLiteDatabase) throws -> (Int64, Int64) {
        let previous = Int64(try db.query("SELECT version FROM registry_version WHERE id = 1").rows.first?[0] ?? "0") ?? 0
        let rows = try db.query("""
            UPDATE registry_version
            SET version = MAX(version + 1, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)), updated_at = \(Self.now)
            WHERE id = 1 RETURNING version
            """)
        return (Int64(rows.rows.first?[0] ?? "0") ?? 0, previous)
    }

    nonisolated private static func currentTools(_ db: SQLiteDatabase, _ id: String) throws -> [UInt8]? {
        try db.query("SELECT tools FROM service_tools WHERE service_id = ?1 AND deleted_at IS NULL", [id]).rows.first
            .map { Array(($0[0] ?? "[]").utf8) }
    }

    nonisolated private static func writeHistory(_ db: SQLiteDatabase, name: String, version: Int64, action: String,
                                                 cause: String, diff: [UInt8]) throws {
        _ = try db.query("INSERT INTO service_changes (service_name, version, action, cause, diff) VALUES (?1, ?2, ?3, ?4, ?5)",
                         [name, String(version), action, cause, String(decoding: diff, as: UTF8.self)])
        _ = try db.query("""
            DELETE FROM service_changes WHERE service_name = ?1 AND id <= (
                SELECT id FROM service_changes WHERE service_name = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)
            """, [name, String(historyKept)])
    }

    nonisolated private static func int(_ v: Int?) -> String? { v.map(String.init) }

    nonisolated private static func definitionParams(_ d: ServiceDefinitions) -> [String?] {
        [JSON.array(d.tools).text, JSON.array(d.resources).text, JSON.array(d.templates).text, JSON.array(d.prompts).text]
    }
    nonisolated private static let insertDefinitions =
        "INSERT INTO service_tools (service_id, tools, resources, resource_templates, prompts) VALUES (?1, ?2, ?3, ?4, ?5)"

    public func register(name: String, url: String, definitions: ServiceDefinitions, limits: ServiceLimits, cause: String,
                         review: @escaping ChangeReview) async throws(StoreError) -> (ServiceRecord, RegistryChange) {
        let values = Self.definitionParams(definitions)
        return try await transaction { db in
            let diff = try review(nil)
            let rows = try db.query("INSERT INTO services (name, url, call_timeout_ms, max_concurrent) VALUES (?1, ?2, ?3, ?4) RETURNING id",
                                    [name, url, Self.int(limits.timeoutMs), Self.int(limits.maxConcurrent)])
            guard let id = rows.rows.first?[0] else { throw StoreError.failed("insert returned no id") }
            _ = try db.query(Self.insertDefinitions, [id] + values)
            let (version, previous) = try Self.bump(db)
            try Self.writeHistory(db, name: name, version: version, action: "register", cause: cause, diff: diff)
            let saved = try db.rows(Self.selectServices + " AND s.id = ?1", [id], Self.record)
            return (saved[0], RegistryChange(version: version, previous: previous, action: "register", service: name))
        }
    }

    public func update(name: String, url: String?, definitions: ServiceDefinitions, limits: ServiceLimits?, cause: String,
                       onlyIfChanged: Bool, review: @escaping ChangeReview) async throws(StoreError) -> (ServiceRecord, RegistryChange) {
        let values = Self.definitionParams(definitions)
        return try await transaction { db in
            let rows = try db.query("""
                UPDATE services SET url = COALESCE(?2, url),
                    call_timeout_ms = CASE WHEN ?5 THEN ?3 ELSE call_timeout_ms END,
                    max_concurrent = CASE WHEN ?5 THEN ?4 ELSE max_concurrent END, updated_at = \(Self.now)
                WHERE name = ?1 AND deleted_at IS NULL RETURNING id
                """, [name, url, Self.int(limits?.timeoutMs), Self.int(limits?.maxConcurrent), limits == nil ? "0" : "1"])
            guard let id = rows.rows.first?[0] else { throw StoreError.notFound("no service named \(name)") }
            if onlyIfChanged {
                let stored = try db.query("""
                    SELECT tools, resources, resource_templates, prompts FROM service_tools WHERE service_id = ?1 AND deleted_at IS NULL
                    """, [id]).rows.first
                if let stored, stored == values { throw StoreError.unchanged }
            }
            let diff = try review(try Self.currentTools(db, id))
            _ = try db.query("""
                UPDATE service_tools SET tools = ?2, resources = ?3, resource_templates = ?4, prompts = ?5, updated_at = \(Self.now)
                WHERE service_id = ?1 AND deleted_at IS NULL
                """, [id] + values)
            if db.changes == 0 {
                _ = try db.query(Self.insertDefinitions, [id] + values)
            }
            let (version, previous) = try Self.bump(db)
            try Self.writeHistory(db, name: name, version: version, action: "update", cause: cause, diff: diff)
            let saved = try db.rows(Self.selectServices + " AND s.id = ?1", [id], Self.record)
            return (saved[0], RegistryChange(version: version, previous: previous, action: "update", service: name))
        }
    }

    public func delete(name: String, cause: String, review: @escaping ChangeReview) async throws(StoreError) -> RegistryChange {
        try await transaction { db in
            let rows = try db.query("""
                UPDATE services SET deleted_at = \(Self.now), updated_at = \(Self.now)
                WHERE name = ?1 AND deleted_at IS NULL RETURNING id
                """, [name])
            guard let id = rows.rows.first?[0] else { throw StoreError.notFound("no service named \(name)") }
            let diff = try review(try Self.currentTools(db, id))
            _ = try db.query("UPDATE service_tools SET deleted_at = \(Self.now), updated_at = \(Self.now) WHERE service_id = ?1 AND deleted_at IS NULL", [id])
            let (version, previous) = try Self.bump(db)
            try Self.writeHistory(db, name: name, version: version, action: "delete", cause: cause, diff: diff)
            return RegistryChange(version: version, previous: previous, action: "delete", service: name)
        }
    }

    public func lastChanges() async throws(StoreError) -> [String: ServiceChange] {
        try await run { db in
            var out: [String: ServiceChange] = [:]
            for r in try db.query("""
                SELECT c.id, s.name, c.version, c.action, c.cause, c.created_at FROM services s
                JOIN service_changes c ON c.id = (SELECT id FROM service_changes WHERE service_name = s.name ORDER BY id DESC LIMIT 1)
                WHERE s.deleted_at IS NULL
                """).rows {
                guard let name = r[1] else { continue }
                out[name] = ServiceChange(id: Int64(r[0] ?? "0") ?? 0, service: name, version: Int64(r[2] ?? "0") ?? 0,
                                          action: r[3] ?? "", cause: r[4] ?? "", at: r[5] ?? "", diff: Array("{}".utf8))
            }
            return out
        }
    }

    public func history(name: String, limit: Int) async throws(StoreError) -> [ServiceChange] {
        try await run { db in
            try db.query("""
                SELECT id, service_name, version, action, cause, created_at, diff FROM service_changes
                WHERE service_name = ?1 ORDER BY id DESC LIMIT ?2
                """, [name, String(limit)]).rows.map { r in
                ServiceChange(id: Int64(r[0] ?? "0") ?? 0, service: r[1] ?? name, version: Int64(r[2] ?? "0") ?? 0,
                              action: r[3] ?? "", cause: r[4] ?? "", at: r[5] ?? "", diff: Array((r[6] ?? "{}").utf8))
            }
        }
    }

    nonisolated private static let selectServers =
        "SELECT name, definition, created_at, updated_at FROM virtual_servers WHERE deleted_at IS NULL ORDER BY name"
    nonisolated private static let selectTokens = """
        SELECT id, name, token_hash, virtual_servers, expires_at_ms, rate_per_minute, created_at
        FROM access_tokens WHERE revoked_at IS NULL ORDER BY created_at, id
        """

    public func accessConfig() async throws(StoreError) -> AccessConfig {
        try await run { db in
            AccessMutation.config(servers: try db.query(Self.selectServers).rows, tokens: try db.query(Self.selectTokens).rows)
        }
    }

    public func mutateAccess(_ mutation: AccessMutation) async throws(StoreError) -> RegistryChange {
        try await transaction { db in
            switch mutation {
            case .createVirtualServer(let vs):
                _ = try db.query("INSERT INTO virtual_servers (name, definition) VALUES (?1, ?2)", [vs.name, vs.definition.text])
            case .replaceVirtualServer(let vs):
                _ = try db.query("UPDATE virtual_servers SET definition = ?2, updated_at = \(Self.now) WHERE name = ?1 AND deleted_at IS NULL",
                                 [vs.name, vs.definition.text])
            case .deleteVirtualServer(let name):
                _ = try db.query("""
                    UPDATE virtual_servers SET deleted_at = \(Self.now), updated_at = \(Self.now) WHERE name = ?1 AND deleted_at IS NULL
                    """, [name])
            case .createToken(let t):
                _ = try db.query("""
                    INSERT INTO access_tokens (id, name, token_hash, virtual_servers, expires_at_ms, rate_per_minute)
                    VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                    """, [t.id, t.name, t.hash, AccessMutation.viewsJSON(t), t.expiresAt.map(String.init), t.perMinute.map(String.init)])
            case .revokeToken(let id):
                _ = try db.query("UPDATE access_tokens SET revoked_at = \(Self.now) WHERE id = ?1 AND revoked_at IS NULL", [id])
            }
            guard db.changes > 0 else { throw mutation.notFound }
            let (version, previous) = try Self.bump(db)
            return RegistryChange(version: version, previous: previous, action: mutation.action, service: AccessConfig.changeKey)
        }
    }
}
