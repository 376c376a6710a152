/// The life of one relayed `tools/call`, as a value: the relay tells it what happened and carries
/// out the single action it returns. Whatever the order of events — result, downstream failure,
/// timeout, the caller's cancellation, the caller's connection closing, its session ending — the
/// first terminal event finishes the call and every later one is ignored, so the caller is
/// answered at most once and the call's resources (timer, table entry, transfer) are released
/// exactly once.
public struct ToolCallLifecycle: Sendable {
    /// How a finished call went, for metrics and logs.
    public enum Outcome: String, Sendable {
        case ok, error, timeout, cancelled
    }

    /// Why the downstream exchange failed (the transport's and the downstream's errors, as facts).
    public enum Failure: Sendable, Equatable {
        case timeout
        /// The downstream answered with a JSON-RPC error: relayed as it is.
        case rpc(code: Int, message: String)
        /// Anything else (connection refused, bad status, not MCP): a generic description.
        case unavailable(String)
    }

    /// What the caller receives when the call finishes.
    public enum Reply: Sendable, Equatable {
        /// The downstream's result, relayed with the caller's id.
        case result
        case error(code: Int, message: String)
        /// Nothing: the caller cancelled or is gone. An open stream is ended without a message.
        case nothing
    }

    /// Telling the downstream to stop: abort the transfer and, when the request went out with an
    /// id, send `notifications/cancelled` with that id and `reason`.
    public struct Abort: Sendable, Equatable {
        public let downstreamID: Int?
        public let reason: String
    }

    public enum Action: Sendable, Equatable {
        /// Release the call (stop its timer, forget it), abort the downstream if asked, answer.
        case finish(Reply, Outcome, abort: Abort?)
        /// A progress notification for this call: pass it on to the caller.
        case relayProgress
        /// The call is already finished: nothing to do.
        case ignore
    }

    public enum State: Sendable, Equatable {
        /// Forwarded (or about to be); the downstream's id once the request went out.
        case waiting(downstreamID: Int?)
        case finished(Outcome)
    }

    public private(set) var state: State = .waiting(downstreamID: nil)
    public let service: String
    public let timeout: Double

    public init(service: String, timeout: Double) {
        self.service = service
        self.timeout = timeout
    }

    public var isFinished: Bool {
        if case .finished = state { return true }
        return false
    }

    /// The request went out under this downstream id (again, after a downstream restart).
    public mutating func forwarded(downstreamID: Int) {
        guard case .waiting = state else { return }
        state = .waiting(downstreamID: downstreamID)
    }

    public mutating func resultReceived() -> Action {
        finish(.result, .ok, abort: nil)
    }

    public mutating func downstreamFailed(_ failure: Failure) -> Action {
        switch failure {
        case .timeout:
            return finish(.error(code: JSONRPCCode.downstreamTimeout, message: "Tool call to service \(service) timed out"),
                          .timeout, abort: nil)
        case .rpc(let code, let message):
            return finish(.error(code: code, message: message), .error, abort: nil)
        case .unavailable(let description):
            return finish(.error(code: JSONRPCCode.downstreamUnavailable, message: "Service \(service) is unavailable: \(description)"),
                          .error, abort: nil)
        }
    }

    /// The call's own deadline passed.
    public mutating func deadlinePassed() -> Action {
        finish(.error(code: JSONRPCCode.downstreamTimeout, message: "Tool call to service \(service) timed out after \(Self.seconds(timeout))s"),
               .timeout, abort: abortDownstream("timeout"))
    }

    /// The caller sent `notifications/cancelled` for this call (here or through another replica).
    public mutating func cancelledByClient(reason: String?) -> Action {
        finish(.nothing, .cancelled, abort: abortDownstream(reason ?? "cancelled by the client"))
    }

    /// The caller's connection (or its response stream) closed: a 2026-era client closing its
    /// stream is a cancellation.
    public mutating func clientDisconnected() -> Action {
        finish(.nothing, .cancelled, abort: abortDownstream("client disconnected"))
    }

    /// The caller's session ended (DELETE, here or on another replica).
    public mutating func sessionEnded() -> Action {
        finish(.nothing, .cancelled, abort: abortDownstream("session ended"))
    }

    public mutating func progressReceived() -> Action {
        isFinished ? .ignore : .relayProgress
    }

    private func abortDownstream(_ reason: String) -> Abort? {
        guard case .waiting(let id) = state else { return nil }
        return Abort(downstreamID: id, reason: reason)
    }

    private mutating func finish(_ reply: Reply, _ outcome: Outcome, abort: Abort?) -> Action {
        guard case .waiting = state else { return .ignore }
        state = .finished(outcome)
        return .finish(reply, outcome, abort: abort)
    }

    /// `30` for whole seconds, `0.5` otherwise.
    static func seconds(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}
