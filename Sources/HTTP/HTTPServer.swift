import CGatewayShims
import GatewayCore
import Glibc
import Reactor

/// Limits and timeouts the server enforces on every connection.
public struct HTTPLimits: Sendable {
    public var maxHeaderBytes = 16 * 1024
    public var maxBodyBytes = 4 * 1024 * 1024
    public var requestTimeout = 30.0
    public var idleTimeout = 60.0
    public var maxConnections = 10_000
    public var highWaterBytes = 1 << 20
    public init() {}
}

public struct HTTPServerError: Error, CustomStringConvertible {
    public let description: String
}

/// A non-blocking HTTP/1.1 server on the event loop.
@LoopActor
public final class HTTPServer {
    public typealias Responder = @LoopActor (HTTPRequest, ResponseContext) -> Void
    public typealias Logger = @LoopActor (LogLevel, String) -> Void

    public let limits: HTTPLimits
    let responder: Responder
    private let logger: Logger
    private var listenFD: Int32 = -1
    private var acceptWatcher: IOWatcher?
    private var connections: [UInt64: HTTPConnection] = [:]
    private var nextID: UInt64 = 0
    private var pendingFlush: [HTTPConnection] = []
    private var graveyard: [HTTPConnection] = []
    private var backoff: Timer?
    public private(set) var isDraining = false
    private var drained: (() -> Void)?
    public private(set) var boundPort = 0
    /// Called once per answered request (streams: when the stream starts) with its status.
    public var observer: ((ResponseContext, Int) -> Void)?
    private let tagPrefix: String = {
        var rng = SystemRandomNumberGenerator()
        return String(rng.next() & 0xffff_ffff, radix: 16)
    }()
    private var tagCounter: UInt64 = 0

    public init(limits: HTTPLimits, logger: @escaping Logger, responder: @escaping Responder) {
        self.limits = limits
        self.logger = logger
        self.responder = responder
        // The server lives as long as the process (a weak reference would give it a side table
        // and make every unowned access from its connections slower).
        EventLoop.main.addBeforeSleepHook { [unowned(unsafe) self] in self.beforeSleep() }
    }

    public var connectionCount: Int { connections.count }

    func log(_ level: LogLevel, _ message: @autoclosure () -> String) { logger(level, message()) }

    /// Binds and listens. Throws with a readable message (address in use, bad host).
    public func listen(host: String, port: Int, reusePort: Bool = false) throws {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let info = result else {
            throw HTTPServerError(description: "cannot resolve HOST \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(result) }
        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | gw_sock_nonblock_cloexec(), 0)
        guard fd >= 0 else { throw HTTPServerError(description: "socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if reusePort { setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size)) }
        guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            let msg = String(cString: strerror(errno))
            Glibc.close(fd)
            throw HTTPServerError(description: "cannot listen on \(host):\(port): \(msg)")
        }
        guard Glibc.listen(fd, 4096) == 0 else {
            let msg = String(cString: strerror(errno))
            Glibc.close(fd)
            throw HTTPServerError(description: "listen: \(msg)")
        }
        var addr = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &len) }
        }
        boundPort = addr.ss_family == sa_family_t(AF_INET6)
            ? withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) } }
            : withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) } }
        listenFD = fd
        acceptWatcher = IOWatcher(fd: fd) { [unowned self] _ in self.acceptAll() }
        acceptWatcher?.watch(.read)
    }

    /// Serves an already-connected socket as if it had been accepted (tests drive a connection over
    /// one end of a socket pair). The descriptor must be non-blocking.
    func adopt(fd: Int32) -> UInt64 {
        nextID += 1
        let conn = HTTPConnection(id: nextID, fd: fd, server: self)
        connections[nextID] = conn
        conn.start()
        return nextID
    }

    /// Whether connection `id` is still open.
    func isOpen(_ id: UInt64) -> Bool { connections[id] != nil }

    private func acceptAll() {
        while connections.count < limits.maxConnections {
            let fd = gw_accept4(listenFD, gw_sock_nonblock_cloexec())
            if fd < 0 {
                let e = errno
                if e == EINTR || e == ECONNABORTED { continue }
                if e == EMFILE || e == ENFILE {
                    log(.warn, "accept: out of file descriptors, pausing accept for 100 ms")
                    pauseAccepting(for: 0.1)
                }
                break
            }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            nextID += 1
            let conn = HTTPConnection(id: nextID, fd: fd, server: self)
            connections[nextID] = conn
            conn.start()
        }
        if connections.count >= limits.maxConnections {
            acceptWatcher?.stop()
        }
    }

    private func pauseAccepting(for seconds: Double) {
        acceptWatcher?.stop()
        if backoff == nil { backoff = Timer { [unowned self] in self.resumeAccepting() } }
        backoff?.start(after: seconds)
    }

    private func resumeAccepting() {
        if !isDraining && listenFD >= 0 && connections.count < limits.maxConnections { acceptWatcher?.watch(.read) }
    }

    func connectionClosed(_ conn: HTTPConnection) {
        connections[conn.id] = nil
        graveyard.append(conn)  // freed before the loop sleeps, never inside its own callback
        if !isDraining && connections.count < limits.maxConnections && !(backoff?.isActive ?? false) {
            acceptWatcher?.watch(.read)
        }
        checkDrained()
    }

    func scheduleFlush(_ conn: HTTPConnection) { pendingFlush.append(conn) }

    func nextRequestTag() -> RequestTag {
        tagCounter += 1
        return RequestTag(prefix: tagPrefix, number: tagCounter)
    }

    func observe(_ context: ResponseContext, status: Int) { observer?(context, status) }

    /// Called for requests refused before they reached a route (malformed, too large, too slow).
    public var rejectionObserver: ((_ status: Int, _ reason: String, _ tag: String, _ connection: UInt64) -> Void)?

    func observeRejected(status: Int, reason: String, tag: String, connection: UInt64) {
        rejectionObserver?(status, reason, tag, connection)
    }

    private func beforeSleep() {
        while !pendingFlush.isEmpty {
            let batch = pendingFlush
            pendingFlush = []
            for conn in batch { conn.flush() }
        }
        graveyard.removeAll()
    }

    /// Stops accepting, lets in-flight requests finish, ends streams, closes idle connections.
    /// `completion` runs once every connection is closed (or at the deadline, after forcing).
    public func shutdown(timeout: Double, completion: @escaping () -> Void) {
        guard !isDraining else { return }
        isDraining = true
        drained = completion
        acceptWatcher?.stop()
        acceptWatcher = nil
        if listenFD >= 0 { Glibc.close(listenFD); listenFD = -1 }
        for conn in Array(connections.values) { conn.closeWhenIdle() }
        let deadline = Timer { [unowned self] in
            for conn in Array(self.connections.values) { conn.close(reason: "shutdown deadline") }
            self.checkDrained()
        }
        backoff = deadline
        deadline.start(after: timeout)
        checkDrained()
    }

    private func checkDrained() {
        if isDraining && connections.isEmpty, let done = drained {
            drained = nil
            backoff?.stop()
            done()
        }
    }
}

