import CGatewayShims
import GatewayCore
import Glibc
import Reactor

/// One kept-alive HTTP/1.1 connection of the reactor client, http or https. A new one resolves
/// its host name (off the loop) unless the URL names an address, connects without blocking
/// (trying each address in turn), runs the TLS handshake for https — resolve, connect and handshake
/// all under the exchange's connect timeout —, then carries one exchange at a time and goes back to
/// its origin's idle list when a response ends with keep-alive. A reused connection that dies
/// before any byte of the response is retried once on a fresh connection (the server closed it
/// while idle); anything later fails the exchange.
///
/// TLS is a byte transform in the middle (`TLSEngine` over memory BIOs): the socket I/O below it
/// and the response parsing above it are the same for http and https.
@LoopActor
final class ClientConnection {
    enum State { case fresh, resolving, connecting, handshaking, busy, idle, closed }

    let origin: HTTPOrigin
    private unowned let client: ReactorHTTPClient
    private var fd: Int32 = -1
    private var watcher: IOWatcher?
    private let timer = Timer {}
    private(set) var state = State.fresh
    private var exchange: ClientExchange?
    /// Bytes for the socket (the request, or TLS records) and how many of them went out.
    private var output: [UInt8] = []
    private var written = 0
    private let parser = ResponseParser()
    private var tls: TLSEngine?
    /// Addresses not tried yet, and why the last one failed.
    private var addresses: [PeerAddress] = []
    private var lastConnectError = "no address"
    /// Whether an exchange completed on it before (a reused connection).
    private var reused = false

    /// One read buffer for every client connection: reads never overlap on the loop thread.
    private static let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)

    init(origin: HTTPOrigin, client: ReactorHTTPClient) {
        self.origin = origin
        self.client = client
        timer.setHandler { [unowned self] in self.onTimer() }
    }

    isolated deinit {
        if fd >= 0 { Glibc.close(fd) }
    }

    var isUsable: Bool { state == .idle }

    /// Starts `e` on this connection: a fresh one opens first, an idle one sends at once.
    func send(_ e: ClientExchange) {
        exchange = e
        e.connection = self
        parser.reset()
        if state == .fresh {
            timer.start(after: min(e.connectTimeout, e.timeout))
            if let literal = origin.literalAddress {
                connect(to: [PeerAddress(family: literal.family, address: literal.address)])
            } else {
                resolve()
            }
        } else {
            established()
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
        watcher?.watch(.read)
        timer.start(after: timeout)
    }

    /// Closes the connection. A `clean` close (an idle connection, or one whose response ended)
    /// sends TLS close_notify first, which also keeps its session resumable: OpenSSL marks the
    /// session of a connection freed without one as bad.
    func close(reason: String, clean: Bool = false) {
        guard state != .closed else { return }
        let orderly = clean || state == .idle
        state = .closed
        watcher?.stop()
        timer.stop()
        if fd >= 0 {
            if orderly, let tls {
                // close_notify, best effort: one send, no waiting for the answer.
                tls.shutdown()
                var bye: [UInt8] = []
                tls.takeOutput(into: &bye)
                _ = bye.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            }
            Glibc.close(fd)
            fd = -1
        }
        client.closed(self)
    }

    // MARK: opening

    private func resolve() {
        guard case .name(let name) = origin.host else { return }
        state = .resolving
        spawn { [weak self, client] in
            let result: Result<[PeerAddress], any Error>
            do { result = .success(try await client.resolve(name)) } catch { result = .failure(error) }
            guard let self, self.state == .resolving else { return }
            switch result {
            case .success(let addresses): self.connect(to: addresses)
            case .failure(let error): self.fail(TransferError.connect("\(error)"))
            }
        }
    }

    private func connect(to list: [PeerAddress]) {
        state = .connecting
        addresses = list
        connectNext()
    }

    /// Connects to the next address; past the last one the exchange fails with the last reason.
    private func connectNext() {
        while !addresses.isEmpty {
            let peer = addresses.removeFirst()
            if fd >= 0 { watcher?.stop(); Glibc.close(fd); fd = -1 }
            let domain = peer.family == .ipv4 ? AF_INET : AF_INET6
            fd = socket(domain, Int32(SOCK_STREAM.rawValue) | gw_sock_nonblock_cloexec(), 0)
            guard fd >= 0 else { lastConnectError = String(cString: strerror(errno)); continue }
            watcher = IOWatcher(fd: fd) { [unowned self] events in self.onEvents(events) }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            switch Self.startConnect(fd, peer, port: origin.port) {
            case .success(true): connected(); return
            case .success(false): watcher!.watch(.write); return
            case .failure(let reason): lastConnectError = reason.description
            }
        }
        fail(TransferError.connect(lastConnectError))
    }

    /// `connect(2)` without blocking: true when connected at once, false when in progress.
    private static func startConnect(_ fd: Int32, _ peer: PeerAddress, port: Int) -> Result<Bool, ConnectFailure> {
        let rc: Int32
        if peer.family == .ipv4 {
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET, peer.address, &addr.sin_addr) == 1 else { return .failure(ConnectFailure("bad address")) }
            rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        } else {
            var addr = sockaddr_in6()
            addr.sin6_family = sa_family_t(AF_INET6)
            addr.sin6_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET6, peer.address, &addr.sin6_addr) == 1 else { return .failure(ConnectFailure("bad address")) }
            rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        }
        if rc == 0 { return .success(true) }
        if errno == EINPROGRESS { return .success(false) }
        return .failure(ConnectFailure(String(cString: strerror(errno))))
    }

    private struct ConnectFailure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    private func connected() {
        guard origin.isTLS else { established(); return }
        do {
            tls = try TLSEngine(client: client.tlsContext(), serverName: origin.serverName, ipAddress: origin.ipLiteral,
                                sessionKey: origin.authority)
        } catch {
            client.tlsFailed()
            fail(TransferError.connect(error.description))
            return
        }
        state = .handshaking
        watcher?.watch(.read)
        advanceHandshake()
    }

    private func advanceHandshake() {
        guard let tls else { return }
        switch tls.handshake() {
        case .inProgress:
            queueTLSOutput()
            flushWrite()
        case .established:
            client.tlsEstablished(resumed: tls.resumed)
            queueTLSOutput()  // the client's Finished
            established()
        case .failed(let failure):
            client.tlsFailed()
            fail(TransferError.connect(failure.description))
        }
    }

    /// Connected (and TLS established, for https): the request goes out, the response timeout runs.
    private func established() {
        guard let e = exchange else { return }
        state = .busy
        timer.start(after: e.timeout)
        if let tls {
            if let failure = tls.send(e.bytes) { fail(TransferError.failed(failure.description)); return }
            queueTLSOutput()
        } else {
            queue(e.bytes)
        }
        flushWrite()
    }

    // MARK: I/O

    private func queue(_ bytes: [UInt8]) {
        if written == output.count {
            output = bytes
            written = 0
        } else {
            output += bytes
        }
    }

    private func queueTLSOutput() {
        guard let tls, tls.hasOutput else { return }
        if written == output.count {
            output.removeAll(keepingCapacity: true)
            written = 0
        }
        tls.takeOutput(into: &output)
    }

    private func onEvents(_ events: IOEvents) {
        switch state {
        case .connecting:
            guard events.contains(.write) else { return }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if error != 0 {
                lastConnectError = String(cString: strerror(error))
                connectNext()
            } else {
                connected()
            }
        case .handshaking, .busy:
            if events.contains(.write) { flushWrite() }
            if events.contains(.read) && (state == .handshaking || state == .busy) { readAvailable() }
        case .idle:
            if events.contains(.read) { readAvailable() }
        case .fresh, .resolving, .closed:
            break
        }
    }

    private func flushWrite() {
        while written < output.count {
            let n = output.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + written, raw.count - written, Int32(MSG_NOSIGNAL))
            }
            if n > 0 { written += n; continue }
            let e = errno
            if n < 0 && e == EINTR { continue }
            if n < 0 && (e == EAGAIN || e == EWOULDBLOCK) { watcher?.watch([.read, .write]); return }
            fail(TransferError.failed("send: \(String(cString: strerror(e)))"))
            return
        }
        output.removeAll(keepingCapacity: tls != nil)
        written = 0
        watcher?.watch(.read)
    }

    private func readAvailable() {
        let buffer = Self.readBuffer
        while state == .handshaking || state == .busy || state == .idle {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n > 0 {
                received(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
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

    /// Bytes from the socket: through TLS for https, straight to the parser for http.
    private func received(_ bytes: UnsafeRawBufferPointer) {
        guard let tls else { _ = plaintext(bytes); return }
        tls.receive(bytes)
        if state == .handshaking {
            advanceHandshake()
            guard state == .busy else { return }
        }
        let outcome = tls.read { piece in self.plaintext(piece) }
        if state == .closed { return }
        queueTLSOutput()  // a key update's answer, say
        if written < output.count { flushWrite() }
        switch outcome {
        case .open, .stopped: break
        case .closed: ended()
        case .failed(let failure):
            if state == .idle { close(reason: failure.description) } else { fail(TransferError.failed(failure.description)) }
        }
    }

    /// Response bytes; false once the connection closed. (Over TLS, plaintext that follows a
    /// complete response finds the connection idle and closes it, as a read would on http.)
    private func plaintext(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard state == .busy, let e = exchange else { close(reason: "unexpected bytes while idle"); return false }
        e.answered = true
        let ok = parser.execute(bytes)
        deliver(e)
        if !ok { fail(TransferError.failed(parser.failure ?? "malformed response")); return false }
        if parser.complete { complete(e) }
        return state != .closed
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

    /// The server closed the connection (or, over TLS, sent close_notify).
    private func ended() {
        if state == .handshaking {
            client.tlsFailed()
            fail(TransferError.connect(TLSFailure.closedDuringHandshake.description))
            return
        }
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
            close(reason: "not kept alive", clean: true)
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
        case .resolving: fail(TransferError.connect("timed out resolving the host name"))
        case .connecting: fail(TransferError.connect("connect timed out"))
        case .handshaking: client.tlsFailed(); fail(TransferError.connect("TLS: handshake timed out"))
        case .busy: exchange?.retried = true; fail(TransferError.timeout)
        case .fresh, .closed: break
        }
    }
}
