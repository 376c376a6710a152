import CGatewayShims
import GatewayCore
import Glibc
import Reactor

public enum RedisReply: Sendable, Equatable {
    case string(String)
    case integer(Int)
    case array([RedisReply])
    case null
    case status(String)
    case error(String)

    init(_ r: UnsafeMutablePointer<redisReply>) {
        let p = r.pointee
        switch p.type {
        case REDIS_REPLY_STRING: self = .string(Self.text(p))
        case REDIS_REPLY_STATUS: self = .status(Self.text(p))
        case REDIS_REPLY_ERROR: self = .error(Self.text(p))
        case REDIS_REPLY_INTEGER: self = .integer(Int(p.integer))
        case REDIS_REPLY_ARRAY:
            var items: [RedisReply] = []
            for i in 0..<p.elements { items.append(RedisReply(p.element[i]!)) }
            self = .array(items)
        default: self = .null
        }
    }

    private static func text(_ p: redisReply) -> String {
        guard let s = p.str else { return "" }
        return s.withMemoryRebound(to: UInt8.self, capacity: p.len) {
            String(decoding: UnsafeBufferPointer(start: $0, count: p.len), as: UTF8.self)
        }
    }

    public var string: String? {
        switch self {
        case .string(let s), .status(let s): return s
        case .integer(let i): return String(i)
        default: return nil
        }
    }
}

public enum RedisError: Error, CustomStringConvertible, Sendable {
    case notConnected
    case timeout
    case server(String)
    case disconnected

    public var description: String {
        switch self {
        case .notConnected: return "redis is not connected"
        case .timeout: return "redis did not answer in time"
        case .server(let m): return "redis error: \(m)"
        case .disconnected: return "redis connection lost"
        }
    }
}

/// One pending command's continuation, kept alive by hiredis's privdata until its callback.
/// It owns its timeout timer, whose handler refers back to it `weak`ly: a strong capture would be
/// a cycle (pending → timer → handler → pending) that keeps every command forever.
@LoopActor
final class RedisPending {
    var continuation: CheckedContinuation<RedisReply, any Error>?
    let timer = Timer {}
    /// For SUBSCRIBE: called for every message instead of resuming once.
    var onMessage: ((RedisReply) -> Void)?

    /// Fails the command with `.timeout` unless it is answered within `seconds`.
    func armTimeout(_ seconds: Double) {
        timer.setHandler { [weak self] in self?.finish(.failure(.timeout)) }
        timer.start(after: seconds)
    }

    func finish(_ result: Result<RedisReply, RedisError>) {
        timer.stop()
        let c = continuation
        continuation = nil
        c?.resume(with: result.mapError { $0 as any Error })
    }
}

/// A Redis connection on the loop via hiredis's async API and libev adapter. It reconnects with
/// backoff by itself; `onReady` runs after every (re)connect and authentication.
@LoopActor
public final class RedisClient {
    private let settings: Configuration.RedisSettings
    private let name: String
    private var ac: UnsafeMutablePointer<redisAsyncContext>?
    public private(set) var isReady = false
    private var failures = 0
    private let retry = Timer {}
    private var subscriptions: [RedisPending] = []
    private var onReadyHandlers: [() -> Void] = []
    private var onDownHandlers: [() -> Void] = []
    public var commandTimeout = 1.0
    private let log: (LogLevel, String) -> Void
    private var stopped = false

    public init(settings: Configuration.RedisSettings, name: String, log: @escaping (LogLevel, String) -> Void) {
        self.settings = settings
        self.name = name
        self.log = log
        retry.setHandler { [unowned self] in self.connect() }
    }

    public func onReady(_ handler: @escaping () -> Void) { onReadyHandlers.append(handler) }
    public func onDown(_ handler: @escaping () -> Void) { onDownHandlers.append(handler) }

    public func start() { connect() }

    public func stop() {
        stopped = true
        retry.stop()
        if let ac { redisAsyncDisconnect(ac) }
    }

    private func connect() {
        guard !stopped, ac == nil else { return }
        guard let ctx = redisAsyncConnect(settings.host, Int32(settings.port)) else { scheduleRetry("out of memory"); return }
        if ctx.pointee.err != 0 {
            let message = String(cString: ctx.pointee.errstr)
            redisAsyncFree(ctx)
            scheduleRetry(message)
            return
        }
        ac = ctx
        ctx.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        _ = gw_redis_libev_attach(EventLoop.main.raw, ctx)
        redisAsyncSetConnectCallback(ctx) { c, status in
            let me = Unmanaged<RedisClient>.fromOpaque(c!.pointee.data).takeUnretainedValue()
            me.connected(status == REDIS_OK, error: c!.pointee.errstr.map { String(cString: $0) })
        }
        redisAsyncSetDisconnectCallback(ctx) { c, status in
            let me = Unmanaged<RedisClient>.fromOpaque(c!.pointee.data).takeUnretainedValue()
            me.disconnected(error: status == REDIS_OK ? nil : c!.pointee.errstr.map { String(cString: $0) })
        }
    }

    private func connected(_ ok: Bool, error: String?) {
        guard ok else {
            ac = nil  // hiredis frees the context after a failed connect
            scheduleRetry(error ?? "connect failed")
            return
        }
        spawn {
            do {
                if let password = self.settings.password {
                    var args = ["AUTH"]
                    if let user = self.settings.username { args.append(user) }
                    args.append(password)
                    _ = try await self.send(args, requireReady: false)
                }
                if self.settings.database != 0 {
                    _ = try await self.send(["SELECT", String(self.settings.database)], requireReady: false)
                }
                for sub in self.subscriptions { self.issueSubscribe(sub) }
                self.isReady = true
                if self.failures > 0 { self.log(.info, "redis=\(self.name) connected") }
                self.failures = 0
                for h in self.onReadyHandlers { h() }
            } catch {
                self.log(.warn, "redis=\(self.name) setup failed: \(error)")
                if let ac = self.ac { redisAsyncDisconnect(ac) }
            }
        }
    }

    private func disconnected(error: String?) {
        ac = nil
        let wasReady = isReady
        isReady = false
        if wasReady {
            log(.warn, "redis=\(name) disconnected" + (error.map { ": \($0)" } ?? ""))
            for h in onDownHandlers { h() }
        }
        if !stopped { scheduleRetry(error ?? "disconnected") }
    }

    private func scheduleRetry(_ reason: String) {
        failures += 1
        if failures == 1 { log(.warn, "redis=\(name) unavailable: \(reason)") }
        let delay = min(2.0, 0.05 * Double(1 << min(failures, 6)))
        retry.start(after: delay)
    }

    /// Sends one command (argv form: no quoting, binary-safe).
    public func command(_ args: [String]) async throws -> RedisReply {
        try await send(args, requireReady: true)
    }

    private func send(_ args: [String], requireReady: Bool) async throws -> RedisReply {
        guard let ac, !requireReady || isReady else { throw RedisError.notConnected }
        let pending = RedisPending()
        let reply: RedisReply = try await withCheckedThrowingContinuation { c in
            pending.continuation = c
            let ok = Self.issue(ac, args, pending, retained: true)
            if !ok { pending.finish(.failure(.notConnected)); return }
            pending.armTimeout(commandTimeout)
        }
        if case .error(let message) = reply { throw RedisError.server(message) }
        return reply
    }

    /// Subscribes to `channel` now and after every reconnect; `handler` gets each message payload.
    public func subscribe(_ channel: String, handler: @escaping (String) -> Void) {
        let sub = RedisPending()
        sub.onMessage = { reply in
            if case .array(let items) = reply, items.count == 3, items[0].string == "message", let payload = items[2].string {
                handler(payload)
            }
        }
        subscriptions.append(sub)
        subChannels.append(channel)
        if isReady { issueSubscribe(sub) }
    }

    private var subChannels: [String] = []

    private func issueSubscribe(_ sub: RedisPending) {
        guard let ac, let i = subscriptions.firstIndex(where: { $0 === sub }), i < subChannels.count else { return }
        _ = Self.issue(ac, ["SUBSCRIBE", subChannels[i]], sub, retained: false)
    }

    private static func issue(_ ac: UnsafeMutablePointer<redisAsyncContext>, _ args: [String], _ pending: RedisPending, retained: Bool) -> Bool {
        let privdata = retained ? Unmanaged.passRetained(pending).toOpaque() : Unmanaged.passUnretained(pending).toOpaque()
        let lengths = args.map { $0.utf8.count }
        let rc = withCStrings(args) { argv in
            lengths.withUnsafeBufferPointer { lens in
                redisAsyncCommandArgv(ac, { _, reply, privdata in
                    let box = Unmanaged<RedisPending>.fromOpaque(privdata!)
                    let pending = box.takeUnretainedValue()
                    let value = reply.map { RedisReply($0.assumingMemoryBound(to: redisReply.self)) }
                    if let onMessage = pending.onMessage {
                        if let value { onMessage(value) }
                        return
                    }
                    if let value { pending.finish(.success(value)) } else { pending.finish(.failure(.disconnected)) }
                    box.release()
                }, privdata, Int32(args.count), UnsafeMutablePointer(mutating: argv), lens.baseAddress)
            }
        }
        if rc != REDIS_OK && retained { Unmanaged<RedisPending>.fromOpaque(privdata).release() }
        return rc == REDIS_OK
    }
}
