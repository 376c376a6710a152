import CGatewayShims
import GatewayCore
import Glibc
import Reactor

/// One kept-alive HTTP/1.1 connection of the reactor client: connects without blocking, carries
/// one exchange at a time, goes back to its origin's idle list when the response ends with
/// keep-alive. A reused connection that dies before any byte of the response is retried once on a
/// fresh connection (the server closed it while idle); anything later fails the exchange.
@LoopActor
final class ClientConnection {
    enum State { case connecting, busy, idle, closed }

    let origin: HTTPOrigin
    private unowned let client: ReactorHTTPClient
    private let fd: Int32
    private var connectError: String?
    private var watcher: IOWatcher!
    private let timer = Timer {}
    private(set) var state = State.connecting
    private var exchange: ClientExchange?
    private var output: [UInt8] = []
    private var written = 0
    private let parser = ResponseParser()
    /// Whether an exchange completed on it before (a reused connection).
    private var reused = false

    /// One read buffer for every client connection: reads never overlap on the loop thread.
    private static let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)

    init(origin: HTTPOrigin, client: ReactorHTTPClient) {
        self.origin = origin
        self.client = client
        let domain = origin.family == .ipv4 ? AF_INET : AF_INET6
        fd = socket(domain, Int32(SOCK_STREAM.rawValue) | gw_sock_nonblock_cloexec(), 0)
        watcher = IOWatcher(fd: fd) { [unowned self] events in self.onEvents(events) }
        timer.setHandler { [unowned self] in self.onTimer() }
        guard fd >= 0 else { connectError = String(cString: strerror(errno)); return }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let rc: Int32
        if origin.family == .ipv4 {
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(origin.port).bigEndian)
            guard inet_pton(AF_INET, origin.address, &addr.sin_addr) == 1 else { connectError = "bad address"; return }
            rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        } else {
            var addr = sockaddr_in6()
            addr.sin6_family = sa_family_t(AF_INET6)
            addr.sin6_port = in_port_t(UInt16(origin.port).bigEndian)
            guard inet_pton(AF_INET6, origin.address, &addr.sin6_addr) == 1 else { connectError = "bad address"; return }
            rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        }
        if rc == 0 { state = .busy } else if errno != EINPROGRESS { connectError = String(cString: strerror(errno)) }
    }

    isolated deinit {
        if fd >= 0 && state != .closed { Glibc.close(fd) }
    }

    var isUsable: Bool { state == .idle }

    /// Starts `e` on this connection (connecting first if needed).
    func send(_ e: ClientExchange) {
        exchange = e
        e.connection = self
        parser.reset()
        output = e.bytes
        written = 0
        if let connectError {
            fail(TransferError.connect(connectError))
            return
        }
        if state == .connecting {
            timer.start(after: min(e.connectTimeout, e.timeout))
            watcher.watch(.write)
        } else {
            state = .busy
            timer.start(after: e.timeout)
            flushWrite()
        }
    }

    /// The exchange is given up (cancelled or timed out): the connection cannot be reused.
    func abort(_ e: ClientExchange, _ error: any Error) {
        guard exchange === e else { return }
        e.retried = true  // never retried after an abort
        fail(error)
    }

    /// Back in the idle list: watch for the server closing it, until the idle timeout.
    func parkIdle(timeout: Double) {
        state = .idle
        watcher.watch(.read)
        timer.start(after: timeout)
    }

    func close(reason: String) {
        guard state != .closed else { return }
        state = .closed
        watcher.stop()
        timer.stop()
        if fd >= 0 { Glibc.close(fd) }
        client.closed(self)
    }

    // MARK: events

    private func onEvents(_ events: IOEvents) {
        if state == .connecting {
            guard events.contains(.write) else { return }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if error != 0 { fail(TransferError.connect(String(cString: strerror(error)))); return }
            state = .busy
            if let e = exchange { timer.start(after: e.timeout) }
            flushWrite()
            return
        }
        if events.contains(.write) && state == .busy { flushWrite() }
        if events.contains(.read) && state != .closed { readAvailable() }
    }

    private func flushWrite() {
        while written < output.count {
            let n = output.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + written, raw.count - written, Int32(MSG_NOSIGNAL))
            }
            if n > 0 { written += n; continue }
            let e = errno
            if n < 0 && e == EINTR { continue }
            if n < 0 && (e == EAGAIN || e == EWOULDBLOCK) { watcher.watch([.read, .write]); return }
            fail(TransferError.failed("send: \(String(cString: strerror(e)))"))
            return
        }
        output = []
        watcher.watch(.read)
    }

    private func readAvailable() {
        let buffer = Self.readBuffer
        while state != .closed {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n > 0 {
                guard state == .busy, exchange != nil else { close(reason: "unexpected bytes while idle"); return }
                feed(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                if n < buffer.count { return }
            } else if n == 0 {
                ended()
                return
            } else {
                let e = errno
                if e == EINTR { continue }
                if e == EAGAIN || e == EWOULDBLOCK { return }
                if state == .idle { close(reason: "read error") } else { fail(TransferError.failed("read: \(String(cString: strerror(e)))")) }
                return
            }
        }
    }

    private func feed(_ bytes: UnsafeRawBufferPointer) {
        guard let e = exchange else { return }
        e.answered = true
        let ok = parser.execute(bytes)
        deliver(e)
        if !ok { fail(TransferError.failed(parser.failure ?? "malformed response")); return }
        if parser.complete { complete(e) }
    }

    private func deliver(_ e: ClientExchange) {
        if let head = parser.takeHead() {
            e.head = head
            e.onHead?(head)
        }
        if !parser.body.isEmpty {
            if let onData = e.onData { onData(parser.body) } else { e.body += parser.body }
            parser.body.removeAll(keepingCapacity: true)
        }
    }

    /// The server closed the connection.
    private func ended() {
        guard state == .busy, let e = exchange else { close(reason: "closed by the server"); return }
        if e.answered {
            parser.execute(UnsafeRawBufferPointer(start: nil, count: 0))  // a body delimited by the close
            deliver(e)
            if parser.complete { complete(e, keepAlive: false); return }
        }
        fail(TransferError.failed("connection closed before the response ended"))
    }

    private func complete(_ e: ClientExchange, keepAlive: Bool = true) {
        timer.stop()
        exchange = nil
        e.connection = nil
        let response = IncomingResponse(head: e.head ?? IncomingHead(status: 0, headers: []), body: e.onData == nil ? e.body : [])
        if keepAlive && parser.keepAlive {
            reused = true
            client.release(self)
        } else {
            close(reason: "not kept alive")
        }
        e.finish(.success(response))
    }

    private func fail(_ error: any Error) {
        timer.stop()
        let e = exchange
        exchange = nil
        e?.connection = nil
        let wasReused = reused
        close(reason: "\(error)")
        guard let e else { return }
        if wasReused && !e.answered && !e.retried, !(error is TransferError && Self.isFinal(error as! TransferError)) {
            e.retried = true
            client.start(e, reuse: false)
        } else {
            e.finish(.failure(error))
        }
    }

    private static func isFinal(_ error: TransferError) -> Bool {
        switch error {
        case .timeout, .cancelled: return true
        case .connect, .failed: return false
        }
    }

    private func onTimer() {
        switch state {
        case .idle: close(reason: "idle timeout")
        case .connecting: fail(TransferError.connect("connect timed out"))
        case .busy: exchange?.retried = true; fail(TransferError.timeout)
        case .closed: break
        }
    }
}
