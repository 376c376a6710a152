import Drivers
import GatewayCore
import HTTP
import Reactor

/// `tools/call`: look the name up in the snapshot, forward it on the service's shared downstream
/// session under a downstream-unique id (and progress token), relay progress to the caller only,
/// and return the downstream's result bytes with the caller's id restored. Each call's life is a
/// `ToolCall`; this keeps the table of calls a handshake-era client can cancel.
@LoopActor
final class ToolCallRelay {
    static let serverInfo = MCPEndpoint.serverInfo.serialized()

    private let pool: DownstreamPool
    private let log: Log
    private let timeout: Double
    let limiter: CallLimiter
    private var inflight: [String: ToolCall] = [:]
    private var nextToken = 0
    var metrics: (String, String, Double) -> Void = { _, _, _ in }
    /// One audit line per relayed call: (who and what, method, service, outcome, seconds).
    var audit: ((AuditContext, String, String, String, Double) -> Void)?
    /// Traces: each downstream exchange is a client span under the request's.
    var tracer: Tracer?

    init(pool: DownstreamPool, log: Log, timeout: Double, queueWait: Double = 1) {
        self.pool = pool
        limiter = CallLimiter(wait: queueWait)
        self.log = log
        self.timeout = timeout
    }

    /// Calls that can still be cancelled by key.
    var cancellableCount: Int { inflight.count }

    /// What the downstream's params are made from: the request's params as a tree (already naming
    /// the downstream's own tool, prompt or URI), or a `tools/call` read from its bytes, spliced.
    enum Params {
        case tree(JSON)
        case envelope(ToolCallEnvelope, originalName: String)
    }

    /// `envelope`: the call as read from its bytes (its params are then not a tree).
    func call(_ request: MCPEndpoint.Request, _ context: ResponseContext, index: ToolIndex, envelope: ToolCallEnvelope? = nil,
              audit: AuditContext? = nil, cors: [(name: String, value: String)]) {
        let id = request.id
        guard let name = envelope?.name ?? request.params["name"]?.stringValue else {
            context.send(MCPReply.error(200, id: id, code: JSONRPCCode.invalidParams, message: "params.name must be a string", headers: cors))
            return
        }
        guard let (service, entry) = index.entry(named: name) else {
            if let audit { self.audit?(audit.naming(name), "tools/call", "", "unknown", 0) }
            context.send(MCPReply.error(200, id: id, code: JSONRPCCode.invalidParams, message: "Unknown tool: \(name)", headers: cors))
            return
        }
        let params: Params = envelope.map { .envelope($0, originalName: entry.originalName) }
            ?? .tree(request.params.setting("name", .string(entry.originalName)))
        forward(request, context, service: service, method: "tools/call", params: params,
                label: entry.originalName, audit: audit?.naming(name), cors: cors)
    }

    /// Relays `method` with `params` (already naming the downstream's own tool, prompt or URI) to
    /// `service`, under its circuit breaker, concurrency limit and timeout, on its pooled session.
    /// `transform` rewrites the downstream's response bytes before the caller's id goes in.
    func forward(_ request: MCPEndpoint.Request, _ context: ResponseContext, service: ToolIndex.Service, method: String,
                 params: Params, label: String, transform: (([UInt8]) -> [UInt8])? = nil, audit: AuditContext? = nil,
                 cors: [(name: String, value: String)]) {
        let id = request.id
        if case .reject(let retryAt) = pool.monitor.admit(service.name) {
            let seconds = max(0, retryAt - EventLoop.main.now)
            metrics(service.name, "rejected", 0)
            if let audit { self.audit?(audit, method, service.name, "rejected", 0) }
            context.send(MCPReply.error(200, id: id, code: JSONRPCCode.circuitOpen,
                                        message: "Service \(service.name) is unavailable (circuit open); retrying in \(Int(seconds.rounded(.up)))s",
                                        data: .object([("service", .string(service.name)), ("retryAfterMs", .int(Int(seconds * 1000)))]),
                                        headers: cors))
            return
        }
        let limits = service.limits
        let url = service.url
        // No limit and none being counted (the usual case): start now, without the limiter's closures.
        if limits.maxConcurrent == nil, !limiter.isCounting(service.name) {
            return begin(request, context, service: service.name, url: url, method: method, params: params, label: label,
                         transform: transform, timeout: limits.timeout(default: timeout), slot: .uncounted, audit: audit, cors: cors)
        }
        let cors = cors
        limiter.enter(service: service.name, limit: limits.maxConcurrent, onClose: context.onClose, start: { [weak self] slot in
            guard let self else { return }
            self.begin(request, context, service: service.name, url: url, method: method, params: params, label: label,
                       transform: transform, timeout: limits.timeout(default: self.timeout), slot: slot, audit: audit, cors: cors)
        }, refuse: { [weak self] in
            self?.metrics(service.name, "busy", 0)
            if let audit { self?.audit?(audit, method, service.name, "busy", 0) }
            let limit = limits.maxConcurrent ?? 0
            context.send(MCPReply.error(200, id: id, code: JSONRPCCode.serviceBusy,
                                        message: "Service \(service.name) is at its limit of \(limit) concurrent calls; retry later",
                                        data: .object([("service", .string(service.name)), ("maxConcurrent", .int(limit))]),
                                        headers: cors))
        })
    }

    /// Starts the call once it holds a slot (or needs none).
    private func begin(_ request: MCPEndpoint.Request, _ context: ResponseContext, service: String, url: String, method: String,
                       params: Params, label: String, transform: (([UInt8]) -> [UInt8])?,
                       timeout: Double, slot: CallLimiter.Slot, audit: AuditContext?, cors: [(name: String, value: String)]) {
        let id = request.id
        // Downstream params: the original name; our own progress token; no modern-era _meta.
        let clientToken: JSON?
        switch params {
        case .tree: clientToken = request.params["_meta"]?["progressToken"]
        case .envelope(let envelope, _): clientToken = envelope.progressTokenValue
        }
        var ourToken: String?
        if clientToken != nil {
            nextToken += 1
            ourToken = "gw-\(nextToken)"
        }
        var meta: [(String, JSON)] = []
        if case .tree = params { meta = DownstreamMeta.filtered(request.params["_meta"], token: ourToken) }
        var traceHeaders: [(name: String, value: String)] = []
        var clientSpan: ActiveSpan?
        if let tracer, let parent = audit?.span {
            let span = tracer.client(parent, name: "mcp.downstream \(method)", attributes: [
                ("mcp.method", method), ("mcp.service", service), ("mcp.name", audit?.name ?? label), ("mcp.name.original", label),
            ])
            parent.set("mcp.service", service)
            clientSpan = span
            // The downstream continues the trace: the header, and `_meta` for servers that read it there.
            // (A call read from bytes is never traced: the endpoint parses traced requests.)
            traceHeaders = [("traceparent", span.context.traceparent)]
            meta.removeAll { $0.0 == "traceparent" || $0.0 == "tracestate" }
            meta.append(("traceparent", .string(span.context.traceparent)))
            if let state = span.context.state {
                traceHeaders.append(("tracestate", state))
                meta.append(("tracestate", .string(state)))
            }
        }
        let outgoing: ToolCall.Params
        switch params {
        case .tree(var tree):
            if !meta.isEmpty {
                tree = tree.setting("_meta", .object(meta))
            } else if tree["_meta"] != nil {
                tree = tree.removing("_meta")
            }
            outgoing = .bytes(tree.serialized())
        case .envelope(let envelope, let originalName):
            outgoing = .envelope(envelope, originalName: originalName, token: ourToken)  // spliced as the body is written
        }

        // Stream progress when the caller gave a token and takes SSE; else answer with JSON.
        let stream: ResponseStream? = clientToken != nil && request.acceptsStream
            ? context.startStream(headers: SSE.headers + cors) : nil
        let key = request.session.map { Self.cancelKey(session: $0.id, idBytes: request.idBytes) }
        let call = ToolCall(relay: self, lifecycle: ToolCallLifecycle(service: service, timeout: timeout),
                            session: pool.session(service: service, url: url), tool: label, key: key,
                            caller: .init(idBytes: request.idBytes, modern: request.modern, cors: cors,
                                          progressToken: clientToken, downstreamToken: ourToken),
                            context: context, stream: stream, method: method, transform: transform, slot: slot)
        call.audit = audit
        call.clientSpan = clientSpan
        call.extraHeaders = traceHeaders
        if let key { inflight[key] = call }
        call.start(params: outgoing)
    }

    /// `<session>|<id as JSON>`, the key a handshake-era `notifications/cancelled` names the call by.
    static func cancelKey(session: String, idBytes: [UInt8]) -> String {
        var key = session
        key.reserveCapacity(session.utf8.count + 1 + idBytes.count)
        key += "|"
        key += String(decoding: idBytes, as: UTF8.self)
        return key
    }

    /// A call finished (whatever the reason): it leaves the table; the outcome is counted.
    func finished(_ call: ToolCall, outcome: ToolCallLifecycle.Outcome, seconds: Double, failure: ToolCallLifecycle.Failure?) {
        if let key = call.key, inflight[key] === call { inflight[key] = nil }
        if call.slot == .counted { limiter.leave(service: call.service) }
        metrics(call.service, outcome.rawValue, seconds)
        if let a = call.audit {
            audit?(a, call.method, call.service, outcome.rawValue, seconds)
            if let span = call.clientSpan {
                span.set("mcp.outcome", outcome.rawValue)
                span.failed = outcome != .ok
                a.span?.set("mcp.outcome", outcome.rawValue)
                a.span?.failed = outcome != .ok
                tracer?.end(span)
            }
        }
        switch (outcome, failure) {
        case (.ok, _), (.error, .rpc?): pool.monitor.succeeded(call.service, latency: seconds)
        case (.timeout, _): pool.monitor.failed(call.service, error: "tool call timed out")
        case (.error, let failure?): pool.monitor.failed(call.service, error: Self.describe(failure))
        case (.error, nil): break
        case (.cancelled, _): pool.monitor.abandoned(call.service)
        }
        if let failure {
            log(.warn, "tool call failed", [("service", call.service), ("tool", call.tool), ("error", Self.describe(failure))])
        }
    }

    private static func describe(_ failure: ToolCallLifecycle.Failure) -> String {
        switch failure {
        case .timeout: return "downstream did not answer in time"
        case .rpc(let code, let message): return "downstream error \(code): \(message)"
        case .unavailable(let description): return description
        }
    }

    /// Tells the downstream to stop the request it knows as `requestID`.
    func cancelDownstream(_ session: DownstreamSession, requestID: Int, reason: String) {
        spawn { [log] in
            do {
                try await session.notify("notifications/cancelled", params: .object([
                    ("requestId", .int(requestID)), ("reason", .string(reason)),
                ]))
            } catch {
                log(.debug, "downstream cancellation not delivered", [("url", session.url), ("error", DownstreamError(error).description)])
            }
        }
    }

    /// A handshake-era caller's `notifications/cancelled`.
    /// Returns false when the call is not running here (another replica may hold it).
    @discardableResult
    func cancel(key: String, reason: String?) -> Bool {
        guard let call = inflight[key] else { return false }
        call.cancel(reason: reason)
        return true
    }

    func cancelSession(_ session: String) {
        let prefix = session + "|"
        for (key, call) in inflight where key.hasPrefix(prefix) { call.sessionEnded() }
    }
}
