import GatewayCore
import Reactor

/// A small pool of PostgreSQL connections. Connections are opened on demand; a broken one is
/// dropped and replaced. After a failed connect, further attempts wait out a growing backoff
/// (capped at 2 s) and callers fail at once meanwhile, so a down database costs no waiting.
@LoopActor
public final class PGPool {
    private let settings: Configuration.PostgresSettings
    private let size: Int
    private let connectTimeout: Double
    private let statementTimeout: Double
    private var idle: [PGConnection] = []
    private var open = 0
    private var connecting = 0
    private var waiters: [(id: Int, continuation: CheckedContinuation<PGConnection, any Error>)] = []
    private var nextWaiter = 0
    private var nextID = 0
    private var failures = 0
    private var retryAt = 0.0
    public private(set) var lastError: String?
    private let log: (String) -> Void

    public init(settings: Configuration.PostgresSettings, size: Int, connectTimeout: Double, statementTimeout: Double,
                log: @escaping (String) -> Void) {
        self.settings = settings
        self.size = size
        self.connectTimeout = connectTimeout
        self.statementTimeout = statementTimeout
        self.log = log
    }

    /// True when the last connect succeeded (or nothing failed yet).
    public var isHealthy: Bool { failures == 0 }

    /// Runs `body` with a connection, returning it to the pool afterwards.
    public func withConnection<T>(_ body: (PGConnection) async throws -> T) async throws -> T {
        let conn = try await acquire()
        defer { release(conn) }
        return try await body(conn)
    }

    /// Runs `body` inside BEGIN … COMMIT; any error rolls back.
    public func transaction<T>(_ body: (PGConnection) async throws -> T) async throws -> T {
        try await withConnection { conn in
            _ = try await conn.query("BEGIN")
            do {
                let value = try await body(conn)
                _ = try await conn.query("COMMIT")
                return value
            } catch {
                if !conn.isBroken { _ = try? await conn.query("ROLLBACK") }
                throw error
            }
        }
    }

    public func query(_ sql: String, _ params: [String?] = []) async throws -> PGRows {
        try await withConnection { try await $0.query(sql, params) }
    }

    func acquire() async throws -> PGConnection {
        while let conn = idle.popLast() {
            if !conn.isBroken { return conn }
            open -= 1
        }
        if open + connecting < size {
            return try await openConnection()
        }
        if failures > 0 { throw PGError.unavailable(lastError ?? "no connection") }
        // All connections busy: wait for one, bounded by the connect timeout.
        nextWaiter += 1
        let id = nextWaiter
        let timer = Timer {}
        defer { timer.stop() }
        return try await withCheckedThrowingContinuation { c in
            waiters.append((id, c))
            timer.setHandler { [unowned self] in
                if let i = self.waiters.firstIndex(where: { $0.id == id }) {
                    let w = self.waiters.remove(at: i)
                    w.continuation.resume(throwing: PGError.unavailable("all \(self.size) connections busy"))
                }
            }
            timer.start(after: connectTimeout)
        }
    }

    private func openConnection() async throws -> PGConnection {
        let now = EventLoop.main.now
        if failures > 0 && now < retryAt {
            throw PGError.unavailable(lastError ?? "connect failed")
        }
        connecting += 1
        nextID += 1
        let conn = PGConnection(id: nextID, queryTimeout: statementTimeout + 1)
        do {
            try await conn.connect(settings, timeout: connectTimeout, statementTimeout: statementTimeout)
            connecting -= 1
            open += 1
            if failures > 0 { log("database connection restored") }
            failures = 0
            lastError = nil
            return conn
        } catch {
            connecting -= 1
            failures += 1
            retryAt = EventLoop.main.now + min(2.0, 0.1 * Double(1 << min(failures, 5)))
            var message = "\(error)"
            if case .unavailable(let reason)? = error as? PGError { message = reason }
            if failures == 1 { log("database connect failed: \(message)") }
            lastError = message
            // Waiters would otherwise wait for a connection that is not coming.
            let ws = waiters
            waiters = []
            for w in ws { w.continuation.resume(throwing: error) }
            throw error
        }
    }

    func release(_ conn: PGConnection) {
        if conn.isBroken {
            open -= 1
            if !waiters.isEmpty {
                let w = waiters.removeFirst()
                spawn {
                    do { w.continuation.resume(returning: try await self.openConnection()) } catch { w.continuation.resume(throwing: error) }
                }
            }
            return
        }
        if !waiters.isEmpty {
            waiters.removeFirst().continuation.resume(returning: conn)
        } else {
            idle.append(conn)
        }
    }

}
