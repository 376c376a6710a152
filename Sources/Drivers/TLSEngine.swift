import CCrypto
import CGatewayShims
import Reactor

/// One TLS connection as a byte transform with no socket: ciphertext from the network goes in
/// with `receive`, plaintext comes out of `read`; plaintext to send goes in with `send`, and the
/// ciphertext to write is appended to the caller's buffer by `takeOutput`. OpenSSL works over two
/// memory BIOs and never touches the socket, so the connection keeps doing its own I/O by the
/// loop's rules (`send` with MSG_NOSIGNAL, a write watcher only on EAGAIN, one read buffer), and
/// of OpenSSL's "want" states only WANT_READ remains: more bytes from the peer are needed. (The
/// write BIO grows as needed, so WANT_WRITE cannot happen.)
///
/// The gateway uses the client side; tests drive a server side over the same type.
@LoopActor
public final class TLSEngine {
    public enum Step: Equatable, Sendable {
        /// Waiting for the peer: send what `takeOutput` gives, then `receive` more.
        case inProgress
        case established
        case failed(TLSFailure)
    }

    public enum ReadOutcome: Equatable, Sendable {
        /// Everything received so far was read.
        case open
        /// The peer sent close_notify.
        case closed
        /// `deliver` asked to stop; the rest stays buffered for the next `read`.
        case stopped
        case failed(TLSFailure)
    }

    let ssl: OpaquePointer
    private let input: OpaquePointer   // network → OpenSSL
    private let output: OpaquePointer  // OpenSSL → network
    private let context: TLSClientContext?
    /// The origin's `host:port`: the key of its resumable session.
    let sessionKey: String
    /// The name or address the certificate must match (for messages).
    private let peer: String
    public private(set) var isEstablished = false

    /// One plaintext buffer for every engine: reads never overlap on the loop thread.
    private static let plaintext = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)

    /// A client of `serverName` (sent as SNI, and what the certificate must name), or of the IP
    /// address `ipAddress` (no SNI; the certificate must name the address); `sessionKey`
    /// (`host:port`) is where its session is cached for the next connection, and the cached
    /// one, if any, is offered for resumption.
    public convenience init(client context: TLSClientContext, serverName: String?, ipAddress: String?,
                            sessionKey: String) throws(TLSFailure) {
        guard let ssl = context.makeSSL() else { throw TLSFailure.handshake(reason: TLSErrorQueue.drain() ?? "cannot allocate a TLS session") }
        if let serverName {
            guard gw_ssl_set_tlsext_host_name(ssl, serverName) == 1, SSL_set1_host(ssl, serverName) == 1 else {
                SSL_free(ssl)
                throw TLSFailure.handshake(reason: "cannot use \(serverName) as a TLS server name")
            }
            SSL_set_hostflags(ssl, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
        } else if let ipAddress {
            guard X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ipAddress) == 1 else {
                SSL_free(ssl)
                throw TLSFailure.handshake(reason: "cannot verify \(ipAddress) as an address")
            }
        }
        SSL_set_connect_state(ssl)
        if let session = context.takeSession(for: sessionKey) {
            _ = SSL_set_session(ssl, session)
            SSL_SESSION_free(session)
        }
        self.init(ssl: ssl, context: context, sessionKey: sessionKey, peer: serverName ?? ipAddress ?? sessionKey)
    }

    /// Wraps `ssl` (taking ownership), whose connect or accept state is already set.
    init(ssl: OpaquePointer, context: TLSClientContext?, sessionKey: String, peer: String) {
        self.ssl = ssl
        self.context = context
        self.sessionKey = sessionKey
        self.peer = peer
        input = BIO_new(BIO_s_mem())
        output = BIO_new(BIO_s_mem())
        SSL_set_bio(ssl, input, output)  // the SSL owns both BIOs from here on
        SSL_set_ex_data(ssl, 0, Unmanaged.passUnretained(self).toOpaque())
    }

    isolated deinit {
        SSL_free(ssl)  // and its BIOs
    }

    /// Whether the handshake resumed a cached session (no certificate exchange).
    public var resumed: Bool { SSL_session_reused(ssl) == 1 }

    /// The protocol ALPN agreed on (`http/1.1`), if any.
    public var alpn: String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// `TLSv1.3`, `TLSv1.2`.
    public var version: String { String(cString: SSL_get_version(ssl)) }

    /// Ciphertext from the peer.
    public func receive(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        _ = BIO_write(input, base, Int32(bytes.count))
    }

    public var hasOutput: Bool { BIO_ctrl_pending(output) > 0 }

    /// Appends the ciphertext waiting to be sent to `buffer`.
    public func takeOutput(into buffer: inout [UInt8]) {
        let pending = Int(BIO_ctrl_pending(output))
        guard pending > 0 else { return }
        let start = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: pending))
        let n = buffer.withUnsafeMutableBytes { raw in BIO_read(output, raw.baseAddress! + start, Int32(pending)) }
        buffer.removeLast(pending - max(Int(n), 0))
    }

    /// Advances the handshake with what was received.
    public func handshake() -> Step {
        ERR_clear_error()
        let rc = SSL_do_handshake(ssl)
        if rc == 1 {
            isEstablished = true
            return .established
        }
        switch SSL_get_error(ssl, rc) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .inProgress
        default:
            let failure = handshakeFailure()
            if let context { context.forget(sessionKey) }
            return .failed(failure)
        }
    }

    /// Reads the plaintext that arrived, handing it to `deliver` piece by piece (a piece is only
    /// valid during the call); `deliver` returns false to stop reading.
    public func read(_ deliver: (UnsafeRawBufferPointer) -> Bool) -> ReadOutcome {
        let buffer = Self.plaintext
        while true {
            ERR_clear_error()
            let n = SSL_read(ssl, buffer.baseAddress, Int32(buffer.count))
            if n > 0 {
                if !deliver(UnsafeRawBufferPointer(rebasing: buffer[0..<Int(n)])) { return .stopped }
                continue
            }
            switch SSL_get_error(ssl, n) {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .open
            case SSL_ERROR_ZERO_RETURN: return .closed
            default: return .failed(TLSFailure.session(reason: TLSErrorQueue.drain()))
            }
        }
    }

    /// Encrypts `plaintext` (all of it: the write BIO takes everything).
    public func send(_ plaintext: [UInt8]) -> TLSFailure? {
        guard !plaintext.isEmpty else { return nil }
        ERR_clear_error()
        let n = plaintext.withUnsafeBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
        if Int(n) == plaintext.count { return nil }
        _ = SSL_get_error(ssl, n)
        return TLSFailure.session(reason: TLSErrorQueue.drain() ?? "the write did not complete")
    }

    /// Queues close_notify (sent before an orderly close; the peer's answer is not awaited).
    public func shutdown() {
        guard isEstablished else { return }
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    /// OpenSSL issued a session (TLS 1.2: after the handshake; TLS 1.3: a ticket that arrived
    /// later). True when it is kept (the context then owns the reference).
    func sessionIssued(_ session: OpaquePointer) -> Bool {
        guard let context, SSL_SESSION_is_resumable(session) == 1 else { return false }
        context.keep(session, for: sessionKey)
        return true
    }

    private func handshakeFailure() -> TLSFailure {
        let verify = SSL_get_verify_result(ssl)
        let reason = TLSErrorQueue.drain()
        if verify != X509_V_OK {
            return TLSFailure.verify(code: verify, text: String(cString: X509_verify_cert_error_string(verify)), peer: peer)
        }
        return TLSFailure.handshake(reason: reason)
    }
}
