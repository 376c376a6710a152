import CCrypto
import CGatewayShims
import Glibc
import Reactor

/// The process's one `SSL_CTX` for https downstreams: TLS 1.2 or later, the peer's chain verified
/// against the system store (`SSL_CTX_set_default_verify_paths`) and, when given, an extra PEM
/// bundle (`DOWNSTREAM_CA_FILE`), ALPN `http/1.1`, and a client session cache — a few TLS 1.3
/// tickets, or the TLS 1.2 session, of each origin — so that a new connection to an origin already
/// seen resumes instead of running a full handshake, a burst of them too. Kept-alive connections
/// need neither: they stay open across requests. The gateway makes one at start and keeps it; its
/// engines hold it, so it is freed (with its cached sessions) only after the last of them.
@LoopActor
public final class TLSClientContext {
    let ctx: OpaquePointer
    /// Sessions to resume, by the origin's `host:port` (what the certificate was verified for):
    /// TLS 1.3 tickets, newest last, each offered once; or one TLS 1.2 session, offered each time.
    private var sessions: [String: [OpaquePointer]] = [:]
    static let maxOrigins = 1024
    /// A TLS 1.3 server sends two tickets per connection (OpenSSL's default): a burst of new
    /// connections resumes up to this many.
    static let maxTicketsPerOrigin = 8

    /// Fails with the reason when `caFile` cannot be read or holds no certificate.
    public init(caFile: String? = nil) throws(TLSSetupError) {
        ERR_clear_error()
        guard let ctx = SSL_CTX_new(TLS_client_method()) else { throw TLSSetupError("cannot create a TLS context: \(TLSErrorQueue.drain() ?? "unknown error")") }
        _ = gw_ssl_ctx_set_min_proto_version(ctx, TLS1_2_VERSION)
        // Idle kept-alive connections hand their 2 × ~17 KB record buffers back.
        _ = gw_ssl_ctx_set_mode(ctx, Int(SSL_MODE_RELEASE_BUFFERS))
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        if SSL_CTX_set_default_verify_paths(ctx) != 1 {
            // A missing system store is not fatal with a CA file; without one every https peer fails to verify.
            ERR_clear_error()
        }
        if let caFile {
            do { try Self.load(caFile, into: ctx) } catch { SSL_CTX_free(ctx); throw error }
        }
        self.ctx = ctx
        var alpn: [UInt8] = [8] + Array("http/1.1".utf8)
        _ = SSL_CTX_set_alpn_protos(ctx, &alpn, UInt32(alpn.count))
        _ = gw_ssl_ctx_set_session_cache_mode(ctx, Int(SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE))
        SSL_CTX_sess_set_new_cb(ctx) { ssl, session in
            guard let ssl, let session, let owner = SSL_get_ex_data(ssl, 0) else { return 0 }
            let engine = Unmanaged<TLSEngine>.fromOpaque(owner).takeUnretainedValue()
            return LoopActor.assumeIsolated { engine.sessionIssued(session) ? 1 : 0 }
        }
    }

    isolated deinit {
        for list in sessions.values { for s in list { SSL_SESSION_free(s) } }
        SSL_CTX_free(ctx)  // engines hold their context: none is left
    }

    /// The CA bundle: readable, and at least one certificate in it.
    private static func load(_ path: String, into ctx: OpaquePointer) throws(TLSSetupError) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw TLSSetupError("cannot read \(path): \(String(cString: strerror(errno)))") }
        Glibc.close(fd)
        guard SSL_CTX_load_verify_locations(ctx, path, nil) == 1 else {
            throw TLSSetupError("\(path) holds no usable PEM certificate (\(TLSErrorQueue.drain() ?? "unknown error"))")
        }
        ERR_clear_error()
    }

    /// A new client `SSL` on this context (nil when OpenSSL cannot allocate one).
    func makeSSL() -> OpaquePointer? { SSL_new(ctx) }

    /// The session to resume for `key`, owned by the caller (one reference): the newest TLS 1.3
    /// ticket, handed out once (RFC 8446 §C.4: a client should not reuse a ticket), or the TLS 1.2
    /// session, which stays.
    func takeSession(for key: String) -> OpaquePointer? {
        while var list = sessions[key], let session = list.last {
            let resumable = SSL_SESSION_is_resumable(session) == 1
            if !resumable || SSL_SESSION_get_protocol_version(session) >= TLS1_3_VERSION {
                list.removeLast()
                sessions[key] = list.isEmpty ? nil : list
            }
            guard resumable else {
                // Its connection ended without close_notify (a failure): OpenSSL marked it bad.
                SSL_SESSION_free(session)
                continue
            }
            if SSL_SESSION_get_protocol_version(session) < TLS1_3_VERSION { SSL_SESSION_up_ref(session) }
            return session
        }
        return nil
    }

    /// Keeps `session` (whose reference the caller gives up) for `key`: another ticket next to the
    /// ones kept (the oldest goes past `maxTicketsPerOrigin`), or the one TLS 1.2 session.
    func keep(_ session: OpaquePointer, for key: String) {
        var list = sessions[key] ?? []
        if list.isEmpty, sessions.count >= Self.maxOrigins, let other = sessions.keys.first {
            forget(other)
        }
        if SSL_SESSION_get_protocol_version(session) >= TLS1_3_VERSION {
            list.append(session)
            if list.count > Self.maxTicketsPerOrigin { SSL_SESSION_free(list.removeFirst()) }
        } else {
            for old in list { SSL_SESSION_free(old) }
            list = [session]
        }
        sessions[key] = list
    }

    /// Forgets the sessions of `key` (a handshake failed: they must not be offered again).
    func forget(_ key: String) {
        for s in sessions.removeValue(forKey: key) ?? [] { SSL_SESSION_free(s) }
    }

    func hasSession(for key: String) -> Bool { sessions[key] != nil }
}

/// Why the TLS context could not be set up (an unreadable or empty `DOWNSTREAM_CA_FILE`).
public struct TLSSetupError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// OpenSSL's per-thread error queue: read once, then emptied, so a later call's
/// `SSL_get_error` is not misled by an old entry.
enum TLSErrorQueue {
    /// The reason of the first queued error (`certificate verify failed`, `wrong version
    /// number`, ...), or nil when the queue was empty; the queue is emptied.
    static func drain() -> String? {
        let code = ERR_get_error()
        defer { ERR_clear_error() }
        guard code != 0 else { return nil }
        if let reason = ERR_reason_error_string(code) { return String(cString: reason) }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
