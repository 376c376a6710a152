import Drivers
import GatewayCore
import HTTP
import Reactor

/// One relayed `tools/call` in flight: the I/O shell around a `ToolCallLifecycle`. Every event
/// (result, failure, deadline, cancellation, the caller leaving) goes through the lifecycle, and
/// the one `finish` it returns releases everything the call holds.
///
/// Ownership, so that nothing outlives the request: the relay's table and the downstream
/// exchange (its reply, until the outcome is delivered) hold the call; the call owns its timer, whose handler refers back to it `unowned`
/// (a strong capture there is a cycle: call → timer → handler → call); the caller's context and
/// stream hold their close handlers, which refer to the call `weak`ly.
@LoopActor
final class ToolCall: RelayExchange {
    struct Caller {
        let idBytes: [UInt8]
        let modern: Bool
        let cors: [(name: String, value: String)]
        /// The caller's progress token, and the one the downstream sees instead.
        let progressToken: JSON?
        let downstreamToken: String?
    }

    private var lifecycle: ToolCallLifecycle
    private unowned let relay: ToolCallRelay
    let session: DownstreamSession
    let tool: String
    /// `<session>|<request id>` for a handshake-era caller's cancellation.
    let key: String?
    private let caller: Caller
    private let context: ResponseContext
    private let stream: ResponseStream?
    let timer = Timer {}
    private var transfer: TransferHandle?
    private let startedAt: Double
    /// Whether the call holds one of its service's concurrency slots (given back when it ends).
    let slot: CallLimiter.Slot
    /// What is relayed (`tools/call`, `resources/read`, `prompts/get`, `completion/complete`), and
    /// how the downstream's response bytes are rewritten before the caller's id goes in.
    let method: String
    private let transform: (([UInt8]) -> [UInt8])?
    /// Who asked, for the audit line when the call ends (nil: audit lines are off).
    var audit: AuditContext?
    /// The downstream exchange's span and the trace headers it sends (tracing on).
    var clientSpan: ActiveSpan?
    var extraHeaders: [(name: String, value: String)] = []

    var service: String { lifecycle.service }
    var isFinished: Bool { lifecycle.isFinished }

    init(relay: ToolCallRelay, lifecycle: ToolCallLifecycle, session: DownstreamSession, tool: String, key: String?,
         caller: Caller, context: ResponseContext, stream: ResponseStream?, method: String = "tools/call",
         transform: (([UInt8]) -> [UInt8])? = nil, slot: CallLimiter.Slot = .uncounted) {
        self.relay = relay
        self.method = method
        self.transform = transform
        self.slot = slot
        self.lifecycle = lifecycle
        self.session = session
        self.tool = tool
        self.key = key
        self.caller = caller
        self.context = context
        self.stream = stream
        startedAt = EventLoop.main.now
    }

    /// The params the downstream gets: already serialized, or a call read from bytes, spliced
    /// into the request body as it is written.
    enum Params {
        case bytes([UInt8])
        case envelope(ToolCallEnvelope, originalName: String, token: String?)
    }

    private var params: Params = .bytes([])

    /// Sends `params` (already rewritten for the downstream) and waits for the outcome.
    func start(params: Params) {
        self.params = params
        timer.setHandler { [unowned self] in self.carryOut(self.lifecycle.deadlinePassed()) }
        timer.start(after: lifecycle.timeout)
        let closed = { [weak self] in
            guard let self else { return }
            self.carryOut(self.lifecycle.clientDisconnected())
        }
        if let stream { stream.onClose(closed) } else { context.onClose(closed) }
        // The exchange holds the call until it ends (the lifecycle's abort cancels the
        // transfer, so that is never later than the call's finish).
        session.relay(self, timeout: lifecycle.timeout + 5, headers: extraHeaders)
    }

    // MARK: the downstream exchange (RelayExchange)

    func requestBody(downstreamID: Int) -> [UInt8] {
        lifecycle.forwarded(downstreamID: downstreamID)
        switch params {
        case .bytes(let bytes):
            return Self.request(id: downstreamID, method: method, params: bytes)
        case .envelope(let envelope, let originalName, let token):
            var body: [UInt8] = []
            body.reserveCapacity(envelope.params.count + originalName.utf8.count + 80)
            Self.writeHead(id: downstreamID, method: method, to: &body)
            envelope.writeDownstreamParams(originalName: originalName, token: token, to: &body)
            body.append(UInt8(ascii: "}"))
            return body
        }
    }

    func downstreamMessage(_ message: JSON) { progress(message) }

    func transferStarted(_ handle: TransferHandle) { transfer = handle }

    func relayFinished(_ result: Result<[UInt8], DownstreamError>) {
        transfer = nil
        switch result {
        case .success(let raw):
            carryOut(lifecycle.resultReceived(), raw: raw)
        case .failure(let error):
            let failure = Self.failure(error)
            carryOut(lifecycle.downstreamFailed(failure), failure: failure)
        }
    }

    func cancel(reason: String?) { carryOut(lifecycle.cancelledByClient(reason: reason)) }

    func sessionEnded() { carryOut(lifecycle.sessionEnded()) }

    /// `{"jsonrpc":"2.0","id":<id>,"method":<method>,"params":<params>}`.
    static func request(id: Int, method: String = "tools/call", params: [UInt8]) -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(params.count + 64)
        writeHead(id: id, method: method, to: &body)
        body += params
        body.append(UInt8(ascii: "}"))
        return body
    }

    /// `{"jsonrpc":"2.0","id":<id>,"method":<method>,"params":`
    static func writeHead(id: Int, method: String, to body: inout [UInt8]) {
        body += #"{"jsonrpc":"2.0","id":"#.utf8
        JSON.writeInt(id, to: &body)
        body += #","method":"#.utf8
        JSON.writeString(method, to: &body)
        body += #","params":"#.utf8
    }

    static func failure(_ error: DownstreamError) -> ToolCallLifecycle.Failure {
        switch error {
        case .timeout: return .timeout
        case .rpc(let code, let message): return .rpc(code: code, message: message)
        default: return .unavailable(error.description)
        }
    }

    /// A message from the downstream that is not the response: progress for this call is passed on.
    private func progress(_ message: JSON) {
        guard let stream, let ours = caller.downstreamToken, let theirs = caller.progressToken,
              message["method"]?.stringValue == "notifications/progress",
              let params = message["params"], params["progressToken"]?.stringValue == ours,
              lifecycle.progressReceived() == .relayProgress else { return }
        let relayed = message.setting("params", params.setting("progressToken", theirs))
        stream.write(MCPReply.event(relayed.serialized()))
    }

    private func carryOut(_ action: ToolCallLifecycle.Action, raw: [UInt8]? = nil, failure: ToolCallLifecycle.Failure? = nil) {
        guard case .finish(let reply, let outcome, let abort) = action else { return }
        timer.stop()
        relay.finished(self, outcome: outcome, seconds: EventLoop.main.now - startedAt, failure: failure)
        if let abort {
            transfer?.cancel()
            transfer = nil
            if let downstreamID = abort.downstreamID { relay.cancelDownstream(session, requestID: downstreamID, reason: abort.reason) }
        }
        switch reply {
        case .result:
            let body = raw.map { transform?($0) ?? $0 }.flatMap { RelayedResponse.rewrap($0, id: caller.idBytes, modern: caller.modern, serverInfo: ToolCallRelay.serverInfo) }
                ?? JSONRPC.error(id: .null, code: JSONRPCCode.downstreamError, message: "invalid downstream response").serialized()
            answer(body)
        case .error(let code, let message):
            var body: [UInt8] = []
            body += #"{"jsonrpc":"2.0","id":"#.utf8
            body += caller.idBytes
            body += #","error":"#.utf8
            body += JSON.object([("code", .int(code)), ("message", .string(message))]).serialized()
            body.append(UInt8(ascii: "}"))
            answer(body)
        case .nothing:
            // Cancelled: no JSON-RPC response. A stream ends; a plain exchange ends with 204 so the
            // connection can carry the client's next request.
            if let stream { stream.end() } else { context.send(HTTPResponse(status: 204, headers: caller.cors)) }
        }
    }

    private func answer(_ message: [UInt8]) {
        if let stream {
            stream.write(MCPReply.event(message))
            stream.end()
        } else {
            context.send(HTTPResponse(status: 200, headers: HTTPResponse.jsonHeaders(caller.cors), body: message))
        }
    }
}
