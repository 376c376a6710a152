import CCrypto
import CGatewayShims
@testable import Drivers
import Glibc
import Reactor

/// A server-side OpenSSL context for tests: a certificate and key from `TLSFixtures`, ALPN
/// `http/1.1` chosen when offered, and at most `maxVersion` (TLS 1.3 when nil).
func makeServerContext(certificate: String = "server", maxVersion: Int32? = nil) -> OpaquePointer {
    let ctx = SSL_CTX_new(TLS_server_method())!
    precondition(SSL_CTX_use_certificate_chain_file(ctx, TLSFixtures.path("\(certificate).pem")) == 1)
    precondition(SSL_CTX_use_PrivateKey_file(ctx, TLSFixtures.path("\(certificate).key"), SSL_FILETYPE_PEM) == 1)
    if let maxVersion {
        _ = gw_ssl_ctx_set_min_proto_version(ctx, 0)
        _ = gw_ssl_ctx_set_max_proto_version(ctx, maxVersion)
    }
    SSL_CTX_set_alpn_select_cb(ctx, { _, out, outLength, offered, offeredLength, _ in
        var mine: [UInt8] = [8] + Array("http/1.1".utf8)
        var selected: UnsafeMutablePointer<UInt8>?
        let rc = mine.withUnsafeMutableBufferPointer { m in
            SSL_select_next_proto(&selected, outLength, m.baseAddress, UInt32(m.count), offered, offeredLength)
        }
        guard rc == OPENSSL_NPN_NEGOTIATED, let selected else { return SSL_TLSEXT_ERR_NOACK }
        // `selected` points into `offered`, which outlives the callback.
        out?.pointee = UnsafePointer(selected)
        return SSL_TLSEXT_ERR_OK
    }, nil)
    return ctx
}

/// The server side of one TLS connection, over memory (no socket).
@LoopActor
func makeServerEngine(_ ctx: OpaquePointer) -> TLSEngine {
    let ssl = SSL_new(ctx)!
    SSL_set_accept_state(ssl)
    return TLSEngine(ssl: ssl, context: nil, sessionKey: "", peer: "")
}

/// https for the client tests: accepts TLS connections on 127.0.0.1 and relays each one's
/// plaintext to a plain HTTP server (`upstreamPort`), so the gateway's own test server answers
/// over TLS. Counts what the client did: TCP connections, full and resumed handshakes, the SNI
/// names and ALPN protocols it saw.
@LoopActor
final class TLSTestServer {
    let port: Int
    private let fd: Int32
    private let ctx: OpaquePointer
    private let upstreamPort: Int
    private var watcher: IOWatcher!
    private var relays: [ObjectIdentifier: Relay] = [:]
    private(set) var accepted = 0
    private(set) var fullHandshakes = 0
    private(set) var resumedHandshakes = 0
    private(set) var serverNames: [String?] = []
    private(set) var protocols: [String?] = []

    init(upstreamPort: Int, certificate: String = "server", maxVersion: Int32? = nil) {
        self.upstreamPort = upstreamPort
        ctx = makeServerContext(certificate: certificate, maxVersion: maxVersion)
        (fd, port) = listenOnLoopback()
        watcher = IOWatcher(fd: fd) { [unowned self] _ in self.acceptAll() }
        watcher.watch(.read)
    }

    private func acceptAll() {
        while true {
            let client = gw_accept4(fd, gw_sock_nonblock_cloexec())
            guard client >= 0 else { return }
            accepted += 1
            let relay = Relay(client: client, upstream: connectLoopback(upstreamPort), tls: makeServerEngine(ctx), server: self)
            relays[ObjectIdentifier(relay)] = relay
        }
    }

    fileprivate func established(_ tls: TLSEngine) {
        if tls.resumed { resumedHandshakes += 1 } else { fullHandshakes += 1 }
        serverNames.append(SSL_get_servername(tls.ssl, TLSEXT_NAMETYPE_host_name).map { String(cString: $0) })
        protocols.append(tls.alpn)
    }

    fileprivate func ended(_ relay: Relay) {
        spawn { [self] in relays[ObjectIdentifier(relay)] = nil }
    }

    /// Closes every relayed connection (as a server restart would).
    func dropAll() {
        for relay in relays.values { relay.close() }
    }

    var open: Int { relays.count }
}

/// One accepted connection: TLS records in from the client, plaintext on to the upstream, and back.
@LoopActor
private final class Relay {
    let client: Int32
    let upstream: Int32
    let tls: TLSEngine
    unowned let server: TLSTestServer
    var clientWatcher: IOWatcher!
    var upstreamWatcher: IOWatcher!
    var closed = false
    static let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)

    init(client: Int32, upstream: Int32, tls: TLSEngine, server: TLSTestServer) {
        self.client = client
        self.upstream = upstream
        self.tls = tls
        self.server = server
        clientWatcher = IOWatcher(fd: client) { [unowned self] _ in self.fromClient() }
        upstreamWatcher = IOWatcher(fd: upstream) { [unowned self] _ in self.fromUpstream() }
        clientWatcher.watch(.read)
        upstreamWatcher.watch(.read)
    }

    func fromClient() {
        let n = read(client, Self.buffer.baseAddress, Self.buffer.count)
        guard n > 0 else { if n == 0 || (errno != EAGAIN && errno != EINTR) { close() }; return }
        tls.receive(UnsafeRawBufferPointer(rebasing: Self.buffer[0..<n]))
        if !tls.isEstablished {
            switch tls.handshake() {
            case .inProgress: flushToClient(); return
            case .failed: flushToClient(); close(); return
            case .established: server.established(tls)
            }
        }
        let outcome = tls.read { piece in writeAll(self.upstream, Array(piece)); return true }
        flushToClient()
        if outcome != .open { close() }
    }

    func fromUpstream() {
        let n = read(upstream, Self.buffer.baseAddress, Self.buffer.count)
        guard n > 0 else {
            if n == 0 || (errno != EAGAIN && errno != EINTR) {
                tls.shutdown()  // close_notify, as an orderly https server sends
                flushToClient()
                close()
            }
            return
        }
        _ = tls.send(Array(UnsafeRawBufferPointer(rebasing: Self.buffer[0..<n])))
        flushToClient()
    }

    func flushToClient() {
        var out: [UInt8] = []
        tls.takeOutput(into: &out)
        writeAll(client, out)
    }

    func close() {
        guard !closed else { return }
        closed = true
        clientWatcher.stop()
        upstreamWatcher.stop()
        Glibc.close(client)
        Glibc.close(upstream)
        server.ended(self)
    }
}

/// A listening socket on 127.0.0.1 and its port.
func listenOnLoopback(backlog: Int32 = 64) -> (Int32, Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | gw_sock_nonblock_cloexec(), 0)
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    listen(fd, backlog)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return (fd, Int(UInt16(bigEndian: addr.sin_port)))
}

/// A blocking connect to 127.0.0.1:`port` (loopback: immediate), then non-blocking.
private func connectLoopback(_ port: Int) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    return fd
}

/// Writes all of `bytes` (test traffic is small; loopback takes it, waiting briefly if full).
private func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
    var sent = 0
    while sent < bytes.count {
        let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
        if n > 0 { sent += n } else if errno == EAGAIN || errno == EINTR { usleep(100) } else { return }
    }
}
