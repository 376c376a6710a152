import CGatewayShims
import CLibPQ
import GatewayCore
import Glibc
import Reactor

/// libpq is loaded when first needed, not linked (a gateway on the embedded store never maps it).
public enum LibPQ {
    /// Loads libpq now; nil when it is loaded, else why it could not be.
    public static func load() -> String? { gw_pq_load().map { String(cString: $0) } }
}

/// One PostgreSQL connection driven by the loop: PQconnectStartParams/PQconnectPoll, then one
/// query at a time with PQsendQueryParams and PQconsumeInput/PQisBusy/PQgetResult.
@LoopActor
public final class PGConnection {
    public let id: Int
    private var conn: OpaquePointer?
    private var watcher: IOWatcher?
    private let timer = Timer {}
    private var pending: CheckedContinuation<PGRows, any Error>?
    private var connectWaiter: CheckedContinuation<Void, any Error>?
    private var results: [OpaquePointer] = []
    public private(set) var isBroken = false
    public private(set) var isConnected = false
    let queryTimeout: Double

    init(id: Int, queryTimeout: Double) {
        self.id = id
        self.queryTimeout = queryTimeout
    }

    isolated deinit {
        if let conn { PQfinish(conn) }
        for r in results { PQclear(r) }
    }

    // MARK: connecting

    func connect(_ s: Configuration.PostgresSettings, timeout: Double, statementTimeout: Double) async throws {
        var keywords = ["host", "port", "user", "password", "dbname", "application_name", "connect_timeout", "options"]
        var values = [s.host, String(s.port), s.user, s.password, s.database, "mcp-gateway",
                      String(max(1, Int(timeout.rounded(.up)))), "-c statement_timeout=\(Int(statementTimeout * 1000))"]
        if let mode = s.sslmode { keywords.append("sslmode"); values.append(mode) }
        conn = withCStrings(keywords) { k in withCStrings(values) { v in PQconnectStartParams(k, v, 0) } }
        guard let conn, PQstatus(conn) != CONNECTION_BAD else { throw PGError.unavailable(lastError()) }
        PQsetnonblocking(conn, 1)
        PQsetNoticeProcessor(conn, { _, _ in }, nil)  // server notices are not log lines of ours
        timer.setHandler { [unowned self] in self.failConnect("connect timeout after \(timeout)s") }
        timer.start(after: timeout)
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            connectWaiter = c
            poll(PGRES_POLLING_WRITING)
        }
    }

    private func poll(_ status: PostgresPollingStatusType) {
        guard let conn else { return }
        switch status {
        case PGRES_POLLING_OK:
            timer.stop()
            isConnected = true
            watch(.read)
            watcher?.setHandler { [unowned self] _ in self.onReadable() }
            watcher?.stop()
            connectWaiter?.resume()
            connectWaiter = nil
        case PGRES_POLLING_FAILED:
            failConnect(lastError())
        default:
            watch(status == PGRES_POLLING_READING ? .read : .write)
            watcher?.setHandler { [unowned self] _ in self.poll(PQconnectPoll(conn)) }
        }
    }

    private func failConnect(_ message: String) {
        timer.stop()
        markBroken()
        connectWaiter?.resume(throwing: PGError.unavailable(message))
        connectWaiter = nil
    }

    private func watch(_ events: IOEvents) {
        guard let conn else { return }
        let fd = PQsocket(conn)
        if watcher == nil || watcher!.fd != fd {
            watcher?.stop()
            watcher = IOWatcher(fd: fd) { _ in }
        }
        watcher?.watch(events)
    }

    private func lastError() -> String {
        guard let conn, let m = PQerrorMessage(conn) else { return "unknown error" }
        let text = String(cString: m)
        let firstLine = text.split(separator: "\n").first.map(String.init) ?? text
        return firstLine.isEmpty ? "unknown error" : firstLine
    }

    // MARK: querying

    /// Runs one statement with text parameters ($1, $2, ...). Values are never spliced into SQL.
    public func query(_ sql: String, _ params: [String?] = []) async throws -> PGRows {
        guard let conn, isConnected, !isBroken else { throw PGError.connectionLost("connection is not open") }
        precondition(pending == nil, "one query at a time per connection")
        // Without parameters the simple protocol runs (and allows several statements, for
        // migrations); with parameters the extended protocol keeps values out of the SQL text.
        let sent = params.isEmpty ? PQsendQuery(conn, sql) : withCStrings(params) { values in
            PQsendQueryParams(conn, sql, Int32(params.count), nil, values, nil, nil, 0)
        }
        guard sent == 1 else {
            markBroken()
            throw PGError.connectionLost(lastError())
        }
        timer.setHandler { [unowned self] in self.failQuery(PGError.connectionLost("no answer within \(self.queryTimeout)s")) }
        timer.start(after: queryTimeout)
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<PGRows, any Error>) in
            pending = c
            flushOutput()
        }
    }

    private func flushOutput() {
        guard let conn else { return }
        let r = PQflush(conn)
        if r < 0 { failQuery(PGError.connectionLost(lastError())); return }
        watch(r == 1 ? [.read, .write] : .read)
    }

    private func onReadable() {
        guard let conn, pending != nil else {
            // Nothing outstanding: notice a server that went away.
            if let conn, PQconsumeInput(conn) == 0 { markBroken() }
            return
        }
        if watcher?.events.contains(.write) == true {
            flushOutput()
        }
        guard PQconsumeInput(conn) == 1 else { failQuery(PGError.connectionLost(lastError())); return }
        while PQisBusy(conn) == 0 {
            guard let res = PQgetResult(conn) else {
                complete()
                return
            }
            results.append(res)
        }
    }

    private func complete() {
        timer.stop()
        watcher?.watch(.read)  // stay readable to notice a dropped connection while idle
        let all = results
        results = []
        defer { for r in all { PQclear(r) } }
        var outcome: Result<PGRows, PGError> = .success(PGRows(columns: [], cells: [], affected: 0))
        for res in all {
            let status = PQresultStatus(res)
            if status == PGRES_FATAL_ERROR || status == PGRES_BAD_RESPONSE || status == PGRES_NONFATAL_ERROR {
                let state = PQresultErrorField(res, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } ?? "XX000"
                let message = PQresultErrorField(res, Int32(UInt8(ascii: "M"))).map { String(cString: $0) } ?? "error"
                if case .success = outcome { outcome = .failure(.server(sqlstate: state, message: message)) }
            } else if case .success = outcome {
                outcome = .success(Self.rows(res))
            }
        }
        if PQstatus(conn) == CONNECTION_BAD { markBroken() }
        let c = pending
        pending = nil
        c?.resume(with: outcome.mapError { $0 as any Error })
    }

    private static func rows(_ res: OpaquePointer) -> PGRows {
        let nf = Int(PQnfields(res))
        let nt = Int(PQntuples(res))
        var columns: [String] = []
        for f in 0..<nf { columns.append(String(cString: PQfname(res, Int32(f)))) }
        var rows: [[[UInt8]?]] = []
        rows.reserveCapacity(nt)
        for t in 0..<nt {
            var row: [[UInt8]?] = []
            row.reserveCapacity(nf)
            for f in 0..<nf {
                if PQgetisnull(res, Int32(t), Int32(f)) == 1 { row.append(nil); continue }
                let len = Int(PQgetlength(res, Int32(t), Int32(f)))
                let p = PQgetvalue(res, Int32(t), Int32(f))!
                row.append(Array(UnsafeRawBufferPointer(start: p, count: len)))
            }
            rows.append(row)
        }
        let affected = Int(String(cString: PQcmdTuples(res))) ?? 0
        return PGRows(columns: columns, cells: rows, affected: affected)
    }

    private func failQuery(_ error: PGError) {
        timer.stop()
        markBroken()
        for r in results { PQclear(r) }
        results = []
        let c = pending
        pending = nil
        c?.resume(throwing: error)
    }

    func markBroken() {
        isBroken = true
        isConnected = false
        watcher?.stop()
        watcher = nil
        if let conn { PQfinish(conn) }
        conn = nil
    }
}
