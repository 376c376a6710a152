/// The decisions of one HTTP/1.1 server connection that are not I/O, as a value: which deadline
/// runs (a request's, counted from its first byte, or the idle one), when its timer must be
/// (re)started — lazily: a timer that would fire too early is left and re-armed for the rest when
/// it fires —, what a fired deadline means, whether the connection closes after its current
/// response, and which socket events to watch. Time goes in as input; the connection (`HTTPConnection`
/// in the HTTP target) does the syscalls and carries the answers out. It lives here, with the other
/// machines, because it imports nothing.
public struct HTTPConnectionState: Sendable, Equatable {
    public enum Deadline: Sendable, Equatable {
        case none
        /// A request is being received: `REQUEST_TIMEOUT` from its first byte.
        case request
        /// Kept alive with nothing in progress: `IDLE_TIMEOUT`.
        case idle
    }

    /// What a fired timer means.
    public enum Expiry: Sendable, Equatable {
        /// Nothing (no deadline, or it no longer applies).
        case none
        /// Fired early (the deadline moved later since it was set): start it again for the rest.
        case rearm(after: Double)
        /// The request did not arrive in time: answer 408 and close.
        case requestTimedOut
        /// Idle too long: close.
        case idleTimedOut
    }

    public let requestTimeout: Double
    public let idleTimeout: Double
    public private(set) var deadline = Deadline.none
    public private(set) var deadlineAt = 0.0
    /// When the timer, if running, fires.
    public private(set) var timerAt = 0.0
    /// Whether the current request's connection may carry another one.
    public private(set) var keepAlive = true
    /// Close once the output is flushed (a refused request, `Connection: close`, draining).
    public private(set) var closeAfterFlush = false

    public init(requestTimeout: Double, idleTimeout: Double) {
        self.requestTimeout = requestTimeout
        self.idleTimeout = idleTimeout
    }

    /// Starts counting `kind` from `now`. Returns when the timer must be started (seconds from
    /// now), or nil when the running timer fires early enough. A request's deadline counts from
    /// its first byte: arming it again does not move it.
    public mutating func arm(_ kind: Deadline, now: Double, timerActive: Bool) -> Double? {
        guard kind != .none, deadline != kind else { return nil }
        deadline = kind
        let timeout = kind == .request ? requestTimeout : idleTimeout
        deadlineAt = now + timeout
        guard !timerActive || timerAt > deadlineAt else { return nil }
        timerAt = deadlineAt
        return timeout
    }

    /// A request was dispatched: no deadline while its response is outstanding.
    public mutating func dispatched(keepAlive: Bool, draining: Bool) {
        deadline = .none
        self.keepAlive = keepAlive && !draining
    }

    /// The timer fired at `now`; `idle`: nothing is outstanding or buffered; `answering`: a
    /// response or stream is outstanding.
    public mutating func timerFired(now: Double, idle: Bool, answering: Bool) -> Expiry {
        guard deadline != .none else { return .none }
        if now + 0.0005 < deadlineAt {
            timerAt = deadlineAt
            return .rearm(after: deadlineAt - now)
        }
        let expired = deadline
        deadline = .none
        switch expired {
        case .request where !answering:
            closeAfterFlush = true
            return .requestTimedOut
        case .idle where idle:
            return .idleTimedOut
        default:
            return .none
        }
    }

    /// A whole response went out; true when the connection stays open for the next request.
    public mutating func responseFinished(draining: Bool) -> Bool {
        let open = keepAlive && !draining
        if !open { closeAfterFlush = true }
        return open
    }

    /// A streamed response ended.
    public mutating func streamEnded(draining: Bool) {
        if !keepAlive || draining { closeAfterFlush = true }
    }

    /// The request was refused by the parser (answered, then closed), or the server drains.
    public mutating func closeWhenFlushed() { closeAfterFlush = true }

    /// The socket events to watch: write only while output is pending and no flush is already
    /// scheduled before the loop sleeps; read while idle or parsing, and while a response is
    /// outstanding only a bounded amount (to notice a client that leaves), never when closing or
    /// when the client does not read what it gets.
    public func interest(pendingOutput: Int, flushScheduled: Bool, backedUp: Bool, answering: Bool,
                         bufferedInput: Int, readAhead: Int = 65536) -> (read: Bool, write: Bool) {
        let write = pendingOutput > 0 && !flushScheduled
        let read = !closeAfterFlush && !backedUp && (!answering || bufferedInput < readAhead)
        return (read, write)
    }
}
