import CGatewayShims
import GatewayCore
import Glibc
import Reactor

/// Outgoing HTTP/1.1 and HTTPS on the loop itself, for every downstream request: kept-alive
/// connections pooled per origin (scheme, host, port), the request written straight from its
/// bytes with one `send`, TLS through OpenSSL over memory BIOs (`TLSEngine`), the response parsed
/// with http-parser as it arrives, timeouts as timers. Host names are resolved off the loop
/// (`HostResolver`) when a connection opens; IP literals and `localhost` need no lookup.
@LoopActor
public final class ReactorHTTPClient: HTTPTransport {
    public static let shared = ReactorHTTPClient()

    public struct Limits: Sendable {
        /// Idle kept-alive connections kept per origin.
        public var maxIdlePerOrigin = 64
        /// Seconds an idle connection is kept.
        public var idleTimeout = 30.0
        public init() {}
    }

    let limits: Limits
    /// The TLS context of https connections; the system store only, unless `useTLS` set one up.
    private var tls: TLSClientContext?
    /// Looks a host name up (off the loop); tests put a scripted one in its place.
    public var resolve: (String) async throws -> [PeerAddress] = { try await HostResolver.resolve($0) }
    /// Idle connections by origin. Each origin's list is an object, so taking a connection from
    /// it and putting one back change the list in place (no dictionary write per exchange).
    private final class IdleList { var connections: [ClientConnection] = [] }
    private var idle: [HTTPOrigin: IdleList] = [:]
    /// Connections carrying an exchange.
    private var active: [ObjectIdentifier: ClientConnection] = [:]
    /// Closed connections, freed after the callback that closed them returns.
    private var graveyard: [ClientConnection] = []
    /// Requests in flight, by the key their handles carry.
    private var exchanges: [UnsafeMutableRawPointer: ClientExchange] = [:]
    private var serials: UInt64 = 0
    public private(set) var connectionsOpened = 0
    /// TLS handshakes that completed in full, that resumed a cached session, and that failed.
    public private(set) var tlsHandshakes = 0
    public private(set) var tlsResumptions = 0
    public private(set) var tlsFailures = 0

    public init(limits: Limits = Limits(), tls: TLSClientContext? = nil) {
        self.limits = limits
        self.tls = tls
    }

    /// Sets up TLS for https downstreams (the system store, plus `caFile` when given). Called at
    /// start, so that a bad `DOWNSTREAM_CA_FILE` stops the gateway rather than its first call.
    public func useTLS(caFile: String?) throws(TLSSetupError) {
        tls = try TLSClientContext(caFile: caFile)
    }

    /// The TLS context, made with the system store on first use when `useTLS` was not called.
    func tlsContext() throws(TLSFailure) -> TLSClientContext {
        if let tls { return tls }
        do {
            let made = try TLSClientContext()
            tls = made
            return made
        } catch {
            throw TLSFailure.handshake(reason: error.description)
        }
    }

    func tlsEstablished(resumed: Bool) {
        if resumed { tlsResumptions += 1 } else { tlsHandshakes += 1 }
    }

    func tlsFailed() { tlsFailures += 1 }

    public var idleConnectionCount: Int { idle.values.reduce(0) { $0 + $1.connections.count } }
    var idleConnections: [ClientConnection] { idle.values.flatMap { $0.connections } }
    public var inFlightCount: Int { exchanges.count }
    /// Connections open now: carrying an exchange (or opening for one), or idle.
    public var openConnectionCount: Int { active.count + idleConnectionCount }

    public func perform(_ request: OutgoingRequest, onHead: ((IncomingHead) -> Void)?,
                        onData: (([UInt8]) -> Void)?, handle: ((TransferHandle) -> Void)?) async throws -> IncomingResponse {
        try await withUnsafeThrowingContinuation { c in
            start(request, onHead: onHead, onData: onData, handle: handle) { c.resume(with: $0) }
        }
    }

    public func start(_ request: OutgoingRequest, onHead: ((IncomingHead) -> Void)?, onData: (([UInt8]) -> Void)?,
                      handle: ((TransferHandle) -> Void)?, completion: @escaping (Result<IncomingResponse, any Error>) -> Void) {
        guard let (origin, target) = parsed(request.url) else {
            return completion(.failure(TransferError.connect("unsupported URL (http:// or https:// with a host name or an IP address)")))
        }
        serials += 1
        let exchange = ClientExchange(serial: serials, origin: origin, bytes: Self.encode(request, origin: origin, target: target),
                                      timeout: request.timeout, connectTimeout: request.connectTimeout, onHead: onHead, onData: onData)
        let key = Unmanaged.passUnretained(exchange).toOpaque()
        exchanges[key] = exchange
        exchange.client = self
        exchange.completion = completion
        handle?(TransferHandle(transport: self, key: key, serial: exchange.serial))
        start(exchange, reuse: true)
    }

    /// An exchange ended (its completion is about to run): it leaves the table of cancellable ones.
    func ended(_ exchange: ClientExchange) {
        let key = Unmanaged.passUnretained(exchange).toOpaque()
        if exchanges[key] === exchange { exchanges[key] = nil }
    }

    /// URLs already read (a gateway calls the same few downstream URLs over and over).
    private var parsedURLs: [String: (origin: HTTPOrigin, target: String)] = [:]

    private func parsed(_ url: String) -> (origin: HTTPOrigin, target: String)? {
        if let known = parsedURLs[url] { return known }
        guard let result = HTTPOrigin.parse(url) else { return nil }
        if parsedURLs.count >= 4096 { parsedURLs.removeAll(keepingCapacity: true) }
        parsedURLs[url] = result
        return result
    }

    /// Puts the exchange on an idle connection to its origin, or a new one.
    func start(_ exchange: ClientExchange, reuse: Bool) {
        var conn: ClientConnection?
        if reuse, let list = idle[exchange.origin] {
            while let candidate = list.connections.popLast() {
                if candidate.isUsable { conn = candidate; break }
                candidate.close(reason: "stale")
            }
        }
        if conn == nil {
            connectionsOpened += 1
            conn = ClientConnection(origin: exchange.origin, client: self)
        }
        active[ObjectIdentifier(conn!)] = conn
        conn!.send(exchange)
    }

    /// A connection finished its exchange and may carry the next one.
    func release(_ conn: ClientConnection) {
        active[ObjectIdentifier(conn)] = nil
        let list = idle[conn.origin] ?? {
            let made = IdleList()
            idle[conn.origin] = made
            return made
        }()
        guard list.connections.count < limits.maxIdlePerOrigin else { conn.close(reason: "pool full", clean: true); return }
        list.connections.append(conn)
        conn.parkIdle(timeout: limits.idleTimeout)
    }

    /// A connection closed: it leaves the pool, and is freed once the callback that closed it
    /// has returned (never inside its own callback).
    func closed(_ conn: ClientConnection) {
        active[ObjectIdentifier(conn)] = nil
        if let list = idle[conn.origin], let i = list.connections.firstIndex(where: { $0 === conn }) {
            list.connections.remove(at: i)
            if list.connections.isEmpty { idle[conn.origin] = nil }
        }
        graveyard.append(conn)
        if graveyard.count == 1 { spawn { [self] in graveyard.removeAll() } }
    }

    public func cancel(_ handle: TransferHandle) {
        guard let exchange = exchanges[handle.key], exchange.serial == handle.serial else { return }
        if let conn = exchange.connection { conn.abort(exchange, TransferError.cancelled) } else { exchange.finish(.failure(TransferError.cancelled)) }
    }

    /// Closes every idle connection (shutdown).
    public func closeIdle() {
        for list in idle.values { for c in list.connections { c.close(reason: "shutdown") } }
        idle.removeAll()
    }

    /// The request head and body as one buffer: one `send` in the common case.
    static func encode(_ request: OutgoingRequest, origin: HTTPOrigin, target: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(request.body.count + 256)
        out += request.method.utf8
        out.append(0x20)
        out += target.utf8
        out += " HTTP/1.1\r\nHost: ".utf8
        out += origin.hostHeader.utf8
        out += "\r\n".utf8
        for h in request.headers {
            out += h.name.utf8
            out += ": ".utf8
            out += h.value.utf8
            out += "\r\n".utf8
        }
        if request.method != "GET" || !request.body.isEmpty {
            out += "Content-Length: ".utf8
            out += String(request.body.count).utf8
            out += "\r\n".utf8
        }
        out += "\r\n".utf8
        out += request.body
        return out
    }
}

/// One request on the reactor client: its bytes, callbacks and completion, until it ends.
@LoopActor
final class ClientExchange {
    let serial: UInt64
    let origin: HTTPOrigin
    let bytes: [UInt8]
    let timeout: Double
    let connectTimeout: Double
    var onHead: ((IncomingHead) -> Void)?
    var onData: (([UInt8]) -> Void)?
    /// Runs once when the exchange ends (then dropped, with the callbacks).
    var completion: ((Result<IncomingResponse, any Error>) -> Void)?
    weak var client: ReactorHTTPClient?
    /// The connection carrying it (the client's `active` table owns the connection).
    unowned(unsafe) var connection: ClientConnection?
    var head: IncomingHead?
    var body: [UInt8] = []
    /// Whether any byte of the response arrived (a reused connection that dies before that is
    /// retried once on a fresh one).
    var answered = false
    var retried = false

    init(serial: UInt64, origin: HTTPOrigin, bytes: [UInt8], timeout: Double, connectTimeout: Double,
         onHead: ((IncomingHead) -> Void)?, onData: (([UInt8]) -> Void)?) {
        self.serial = serial
        self.origin = origin
        self.bytes = bytes
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.onHead = onHead
        self.onData = onData
    }

    func finish(_ result: Result<IncomingResponse, any Error>) {
        guard let c = completion else { return }
        completion = nil
        onHead = nil
        onData = nil
        client?.ended(self)
        c(result)
    }
}
