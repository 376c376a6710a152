import Drivers
import GatewayCore
import Reactor

/// The registry in PostgreSQL: parameters only, every mutation and its version bump in one
/// transaction, the version row's lock ordering concurrent mutations across replicas.
@LoopActor
public final class PostgresRegistryStore: RegistryStore {
    public let kind = "postgres"
    let pool: PGPool
    private let env: [String: String]
    /// A fixed advisory-lock key for migrations ("mcpgw" in ASCII).
    private static let migrationLock = "469853640311"

    /// How many connections a full read of the registry uses at once.
    let readers: Int

    public init(pool: PGPool, env: [String: String], readers: Int) {
        self.pool = pool
        self.env = env
        self.readers = max(1, readers)
    }

    public var isHealthy: Bool { pool.isHealthy }

    private static let timestamp = #"to_char(%@ AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"#
    fileprivate static func ts(_ column: String) -> String { timestamp.replacingOccurrences("%@", column) }

    private static let serviceColumns = "s.id, s.name, s.url, \(ts("s.created_at")) AS created_at, \(ts("s.updated_at")) AS updated_at, s.call_timeout_ms, s.max_concurrent"
    private static let selectServices = """
        SELECT \(serviceColumns), COALESCE(t.tools_text, array_to_json(t.tools)::text, '[]') AS tools,
               COALESCE(t.resources_text, '[]') AS resources, COALESCE(t.resource_templates_text, '[]') AS templates,
               COALESCE(t.prompts_text, '[]') AS prompts
        FROM services s LEFT JOIN service_tools t ON t.service_id = s.id AND t.deleted_at IS NULL
        WHERE s.deleted_at IS NULL
        """

    fileprivate func run<T>(_ body: () async throws -> T) async throws(StoreError) -> T {
        do {
            return try await body()
        } catch let e as StoreError {
            throw e
        } catch let e as PGError {
            if e.isUniqueViolation { throw StoreError.conflict("a service with that name already exists") }
            if e.isUnavailable { throw StoreError.unavailable(e.description) }
            throw StoreError.failed(e.description)
        } catch {
            throw StoreError.failed("\(error)")
        }
    }

    public func migrate() async throws(StoreError) -> [String] {
        let files = try Migrations.load(kind: "postgres", env: env)
        return try await run {
            try await pool.withConnection { conn in
                // Nothing pending: no lock and no DDL, so a role without CREATE can serve.
                let exists = try await conn.query("SELECT to_regclass('schema_migrations') IS NOT NULL")
                if exists.rows.first?[0] == "t" {
                    let done = Set(try await conn.query("SELECT name FROM schema_migrations").rows.compactMap { $0[0] })
                    if files.allSatisfy({ done.contains($0.name) }) { return [] }
                }
                _ = try await conn.query("SELECT pg_advisory_lock($1::bigint)", [Self.migrationLock])
                do {
                    _ = try await conn.query("""
                        CREATE TABLE IF NOT EXISTS schema_migrations (
                            name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
                        """)
                    let done = Set(try await conn.query("SELECT name FROM schema_migrations").rows.compactMap { $0[0] })
                    var applied: [String] = []
                    for file in files where !done.contains(file.name) {
                        _ = try await conn.query("BEGIN")
                        do {
                            _ = try await conn.query(file.sql)
                            _ = try await conn.query("INSERT INTO schema_migrations (name) VALUES ($1)", [file.name])
                            _ = try await conn.query("COMMIT")
                        } catch {
                            _ = try? await conn.query("ROLLBACK")
                            throw error
                        }
                        applied.append(file.name)
                    }
                    _ = try await conn.query("SELECT pg_advisory_unlock($1::bigint)", [Self.migrationLock])
                    return applied
                } catch {
                    _ = try? await conn.query("SELECT pg_advisory_unlock($1::bigint)", [Self.migrationLock])
                    throw error
                }
            }
        }
    }

    public func version() async throws(StoreError) -> Int64 {
        try await run {
            let rows = try await pool.query("SELECT version FROM registry_version WHERE id = 1")
            // The row is created by the first migration: without it the registry is broken, not empty.
            guard let text = rows.rows.first?[0], let version = Int64(text) else {
                throw StoreError.failed("registry_version has no row 1 (was the database migrated?)")
            }
            return version
        }
    }

    public func service(named name: String) async throws(StoreError) -> ServiceRecord? {
        try await run {
            let rows = try await pool.query(Self.selectServices + " AND s.name = $1", [name])
            return try rows.count == 0 ? nil : Self.record(rows, 0)
        }
    }

    /// Every live service. The rows are read in `readers` slices on as many pooled connections at
    /// once: converting 100k jsonb definitions to text is PostgreSQL's share of a full reload, and
    /// that parallelises across its cores.
    public func services() async throws(StoreError) -> [ServiceRecord] {
        let parts = readers
        return try await run {
            let pool = self.pool
            let query: @LoopActor (Int) async throws -> [ServiceRecord] = { k in
                let rows = try await pool.query(Self.selectServices + " AND s.id % $1 = $2", [String(parts), String(k)])
                return try (0..<rows.count).map { try Self.record(rows, $0) }
            }
            var slices: [[ServiceRecord]] = Array(repeating: [], count: parts)
            try await withThrowingTaskGroup(of: (Int, [ServiceRecord]).self) { group in
                for k in 0..<parts {
                    let work: @LoopActor () async throws -> (Int, [ServiceRecord]) = { (k, try await query(k)) }
                    group.addTask(executorPreference: EventLoop.main, operation: work)
                }
                for try await (k, slice) in group { slices[k] = slice }
            }
            return slices.flatMap { $0 }.sorted { $0.name < $1.name }
        }
    }

    static func record(_ rows: PGRows, _ i: Int) throws -> ServiceRecord {
        ServiceRecord(id: Int64(rows[i, "id"] ?? "0") ?? 0, name: rows[i, "name"] ?? "", url: rows[i, "url"] ?? "",
                      createdAt: rows[i, "created_at"] ?? "", updatedAt: rows[i, "updated_at"] ?? "",
                      rawTools: rows.bytes(i, "tools") ?? Array("[]".utf8),
                      limits: ServiceLimits(columns: rows[i, "call_timeout_ms"], rows[i, "max_concurrent"]),
                      rawResources: rows.bytes(i, "resources") ?? Array("[]".utf8),
                      rawTemplates: rows.bytes(i, "templates") ?? Array("[]".utf8),
                      rawPrompts: rows.bytes(i, "prompts") ?? Array("[]".utf8))
    }

    /// Locks the version row (ordering this mutation after any concurrent one) and returns it.
    fileprivate func lockVersion(_ conn: PGConnection) async throws -> Int64 {
        let rows = try await conn.query("SELECT version FROM registry_version WHERE id = 1 FOR UPDATE")
        return Int64(rows.rows.first?[0] ?? "0") ?? 0
    }

    /// Bumps the version to max(previous + 1, now in ms), in the caller's transaction.
    fileprivate func bumpVersion(_ conn: PGConnection) async throws -> Int64 {
        let rows = try await conn.query("""
            UPDATE registry_version
            SET version = GREATEST(version + 1, (extract(epoch FROM clock_timestamp()) * 1000)::bigint), updated_at = now()
            WHERE id = 1 RETURNING version
            """)
        return Int64(rows.rows.first?[0] ?? "0") ?? 0
    }

    private static func array(_ n: Int) -> String { "ARRAY(SELECT jsonb_array_elements($\(n)::jsonb))" }
    /// The definitions columns of service_tools and their values: $2–$5 as jsonb (for the jsonb[]
    /// columns), $6–$9 the same texts as text. One parameter cannot serve both: PostgreSQL types it
    /// jsonb from its first use, and `::text` of a jsonb is its normalised form (keys reordered),
    /// not the downstream's bytes that the text copies keep.
    private static let definitionColumns = "tools, tools_text, resources, resources_text, resource_templates, resource_templates_text, prompts, prompts_text"
    private static let definitionValues = "\(array(2)), $6::text, \(array(3)), $7::text, \(array(4)), $8::text, \(array(5)), $9::text"
    private static let definitionSets = """
        tools = \(array(2)), tools_text = $6::text, resources = \(array(3)), resources_text = $7::text,
        resource_templates = \(array(4)), resource_templates_text = $8::text, prompts = \(array(5)), prompts_text = $9::text
        """
    /// The four texts, twice (see `definitionValues`).
    private static func definitionParams(_ d: ServiceDefinitions) -> [String?] {
        let texts = [JSON.array(d.tools).text, JSON.array(d.resources).text, JSON.array(d.templates).text, JSON.array(d.prompts).text]
        return texts + texts
    }

    /// The definitions stored for service `id` (locked: the mutation replaces them), nil when none.
    private func currentTools(_ conn: PGConnection, _ id: String) async throws -> [UInt8]? {
        let rows = try await conn.query("""
            SELECT COALESCE(tools_text, array_to_json(tools)::text, '[]') AS tools FROM service_tools
            WHERE service_id = $1 AND deleted_at IS NULL FOR UPDATE
            """, [id])
        return rows.count == 0 ? nil : rows.bytes(0, "tools")
    }

    /// Writes the history entry and keeps the newest `historyKept` of that name.
    private func writeHistory(_ conn: PGConnection, name: String, version: Int64, action: String, cause: String, diff: [UInt8]) async throws {
        _ = try await conn.query("""
            INSERT INTO service_changes (service_name, version, action, cause, diff) VALUES ($1, $2, $3, $4, $5)
            """, [name, String(version), action, cause, String(decoding: diff, as: UTF8.self)])
        _ = try await conn.query("""
            DELETE FROM service_changes WHERE service_name = $1 AND id <= (
                SELECT id FROM service_changes WHERE service_name = $1 ORDER BY id DESC OFFSET $2 LIMIT 1)
            """, [name, String(historyKept)])
    }

    private static func int(_ v: Int?) -> String? { v.map(String.init) }

    public func register(name: String, url: String, definitions: ServiceDefinitions, limits: ServiceLimits, cause: String,
                         review: @escaping ChangeReview) async throws(StoreError) -> (ServiceRecord, RegistryChange) {
        let values = Self.definitionParams(definitions)
        return try await run {
            try await pool.transaction { conn in
                let previous = try await lockVersion(conn)
                let diff = try review(nil)
                let rows = try await conn.query(
                    "INSERT INTO services (name, url, call_timeout_ms, max_concurrent) VALUES ($1, $2, $3, $4) RETURNING id",
                    [name, url, Self.int(limits.timeoutMs), Self.int(limits.maxConcurrent)])
                guard let id = rows.rows.first?[0] else { throw StoreError.failed("insert returned no id") }
                _ = try await conn.query("INSERT INTO service_tools (service_id, \(Self.definitionColumns)) VALUES ($1, \(Self.definitionValues))", [id] + values)
                let version = try await bumpVersion(conn)
                try await writeHistory(conn, name: name, version: version, action: "register", cause: cause, diff: diff)
                let saved = try await conn.query(Self.selectServices + " AND s.id = $1", [id])
                return (try Self.record(saved, 0), RegistryChange(version: version, previous: previous, action: "register", service: name))
            }
        }
    }

    public func update(name: String, url: String?, definitions: ServiceDefinitions, limits: ServiceLimits?, cause: String,
                       onlyIfChanged: Bool, review: @escaping ChangeReview) async throws(StoreError) -> (ServiceRecord, RegistryChange) {
        let values = Self.definitionParams(definitions)
        return try await run {
            try await pool.transaction { conn in
                let previous = try await lockVersion(conn)
                let rows = try await conn.query("""
                    UPDATE services SET url = COALESCE($2, url),
                        call_timeout_ms = CASE WHEN $5 THEN $3::integer ELSE call_timeout_ms END,
                        max_concurrent = CASE WHEN $5 THEN $4::integer ELSE max_concurrent END, updated_at = now()
                    WHERE name = $1 AND deleted_at IS NULL RETURNING id
                    """, [name, url, Self.int(limits?.timeoutMs), Self.int(limits?.maxConcurrent), limits == nil ? "false" : "true"])
                guard let id = rows.rows.first?[0] else { throw StoreError.notFound("no service named \(name)") }
                if onlyIfChanged {
                    let stored = try await conn.query("""
                        SELECT tools_text, resources_text, resource_templates_text, prompts_text FROM service_tools
                        WHERE service_id = $1 AND deleted_at IS NULL
                        """, [id])
                    if let row = stored.rows.first, row == Array(values.prefix(4)) { throw StoreError.unchanged }
                }
                let diff = try review(try await currentTools(conn, id))
                let changed = try await conn.query(
                    "UPDATE service_tools SET \(Self.definitionSets), updated_at = now() WHERE service_id = $1 AND deleted_at IS NULL",
                    [id] + values)
                if changed.affected == 0 {
                    _ = try await conn.query("INSERT INTO service_tools (service_id, \(Self.definitionColumns)) VALUES ($1, \(Self.definitionValues))", [id] + values)
                }
                let version = try await bumpVersion(conn)
                try await writeHistory(conn, name: name, version: version, action: "update", cause: cause, diff: diff)
                let saved = try await conn.query(Self.selectServices + " AND s.id = $1", [id])
                return (try Self.record(saved, 0), RegistryChange(version: version, previous: previous, action: "update", service: name))
            }
        }
    }

    public func delete(name: String, cause: String, review: @escaping ChangeReview) async throws(StoreError) -> RegistryChange {
        try await run {
            try await pool.transaction { conn in
                let previous = try await lockVersion(conn)
                let rows = try await conn.query(
                    "UPDATE services SET deleted_at = now(), updated_at = now() WHERE name = $1 AND deleted_at IS NULL RETURNING id", [name])
                guard let id = rows.rows.first?[0] else { throw StoreError.notFound("no service named \(name)") }
                let diff = try review(try await currentTools(conn, id))
                _ = try await conn.query(
                    "UPDATE service_tools SET deleted_at = now(), updated_at = now() WHERE service_id = $1 AND deleted_at IS NULL", [id])
                let version = try await bumpVersion(conn)
                try await writeHistory(conn, name: name, version: version, action: "delete", cause: cause, diff: diff)
                return RegistryChange(version: version, previous: previous, action: "delete", service: name)
            }
        }
    }

    public func lastChanges() async throws(StoreError) -> [String: ServiceChange] {
        try await run {
            // One index probe per live service (service_changes_by_name).
            let rows = try await pool.query("""
                SELECT c.id, s.name AS service_name, c.version, c.action, c.cause, \(Self.ts("c.created_at")) AS at
                FROM services s CROSS JOIN LATERAL (
                    SELECT id, version, action, cause, created_at FROM service_changes
                    WHERE service_name = s.name ORDER BY id DESC LIMIT 1) c
                WHERE s.deleted_at IS NULL
                """, [])
            var out: [String: ServiceChange] = [:]
            for i in 0..<rows.count {
                guard let name = rows[i, "service_name"] else { continue }
                out[name] = ServiceChange(id: Int64(rows[i, "id"] ?? "0") ?? 0, service: name,
                                          version: Int64(rows[i, "version"] ?? "0") ?? 0, action: rows[i, "action"] ?? "",
                                          cause: rows[i, "cause"] ?? "", at: rows[i, "at"] ?? "", diff: Array("{}".utf8))
            }
            return out
        }
    }

    public func history(name: String, limit: Int) async throws(StoreError) -> [ServiceChange] {
        try await run {
            let rows = try await pool.query("""
                SELECT id, service_name, version, action, cause, \(Self.ts("created_at")) AS at, diff FROM service_changes
                WHERE service_name = $1 ORDER BY id DESC LIMIT $2
                """, [name, String(limit)])
            return (0..<rows.count).map { i in
                ServiceChange(id: Int64(rows[i, "id"] ?? "0") ?? 0, service: rows[i, "service_name"] ?? name,
                              version: Int64(rows[i, "version"] ?? "0") ?? 0, action: rows[i, "action"] ?? "",
                              cause: rows[i, "cause"] ?? "", at: rows[i, "at"] ?? "", diff: rows.bytes(i, "diff") ?? Array("{}".utf8))
            }
        }
    }
}

extension PostgresRegistryStore {
    private static let selectServers = "SELECT name, definition, \(ts("created_at")), \(ts("updated_at")) FROM virtual_servers WHERE deleted_at IS NULL ORDER BY name"
    private static let selectTokens = """
        SELECT id, name, token_hash, virtual_servers, expires_at_ms, rate_per_minute, \(ts("created_at"))
        FROM access_tokens WHERE revoked_at IS NULL ORDER BY created_at, id
        """

    public func accessConfig() async throws(StoreError) -> AccessConfig {
        try await run {
            let servers = try await pool.query(Self.selectServers)
            let tokens = try await pool.query(Self.selectTokens)
            return AccessMutation.config(servers: servers.rows, tokens: tokens.rows)
        }
    }

    public func mutateAccess(_ mutation: AccessMutation) async throws(StoreError) -> RegistryChange {
        try await run {
            try await pool.transaction { conn in
                let previous = try await lockVersion(conn)
                let affected: Int
                switch mutation {
                case .createVirtualServer(let vs):
                    affected = try await conn.query("INSERT INTO virtual_servers (name, definition) VALUES ($1, $2)",
                                                    [vs.name, vs.definition.text]).affected
                case .replaceVirtualServer(let vs):
                    affected = try await conn.query("""
                        UPDATE virtual_servers SET definition = $2, updated_at = now() WHERE name = $1 AND deleted_at IS NULL
                        """, [vs.name, vs.definition.text]).affected
                case .deleteVirtualServer(let name):
                    affected = try await conn.query("""
                        UPDATE virtual_servers SET deleted_at = now(), updated_at = now() WHERE name = $1 AND deleted_at IS NULL
                        """, [name]).affected
                case .createToken(let t):
                    affected = try await conn.query("""
                        INSERT INTO access_tokens (id, name, token_hash, virtual_servers, expires_at_ms, rate_per_minute)
                        VALUES ($1, $2, $3, $4, $5, $6)
                        """, [t.id, t.name, t.hash, AccessMutation.viewsJSON(t), t.expiresAt.map(String.init), t.perMinute.map(String.init)]).affected
                case .revokeToken(let id):
                    affected = try await conn.query("UPDATE access_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
                                                    [id]).affected
                }
                guard affected > 0 else { throw mutation.notFound }
                let version = try await bumpVersion(conn)
                return RegistryChange(version: version, previous: previous, action: mutation.action, service: AccessConfig.changeKey)
            }
        }
    }
}

extension String {
    /// Every occurrence of `target` (non-empty) replaced, compared as UTF-8 bytes.
    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        let bytes = Array(utf8), needle = Array(target.utf8)
        guard !needle.isEmpty, bytes.count >= needle.count else { return self }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if i + needle.count <= bytes.count && bytes[i..<(i + needle.count)].elementsEqual(needle) {
                out += replacement.utf8
                i += needle.count
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
