import Drivers
import GatewayCore
import HTTP
import Reactor

/// `tools/call`: look the name up in the snapshot, forward it on the service's shared downstream
/// session under a downstream-unique id (and progress token), relay progress to the caller only,
/// and return the downstream's result bytes with the caller's id restored.
@LoopActor
final class ToolCallRelay {
    /// A call in flight, findable by the caller's session and request id for cancellation.
    final class InFlight {
        let session: DownstreamSession
        var downstreamID: Int?
        var transfer: TransferHandle?
        var finish: ((HTTPResponse?) -> Void)?
        init(session: DownstreamSession) {
            self.session = session
        }
    }

    private let pool: DownstreamPool
    private let log: Log
    private let timeout: Double
    private var inflight: [String: InFlight] = [:]
    private var nextToken = 0
    var metrics: (String, String, Double) -> Void = { _, _, _ in }

    init(pool: DownstreamPool, log: Log, timeout: Double) {
        self.pool = pool
        self.log = log
        self.timeout = timeout
    }

    func call(_ request: MCPEndpoint.Request, _ context: ResponseContext, index: ToolIndex, cors: [(name: String, value: String)]) {
        let id = request.id!
        guard let name = request.params["name"]?.stringValue else {
            context.send(MCPReply.error(200, id: id, code: JSONRPCCode.invalidParams, message: "params.name must be a string", headers: cors))
            return
        }
        guard let (service, entry) = index.entry(named: name) else {
            context.send(MCPReply.error(200, id: id, code: JSONRPCCode.invalidParams, message: "Unknown tool: \(name)", headers: cors))
            return
        }
        let session = pool.session(service: service.name, url: service.url)
        let call = InFlight(session: session)
        let key = request.session.map { "\($0.id)|\(id.text)" }
        if let key { inflight[key] = call }

        // Downstream params: the original tool name; our own progress token; no modern-era _meta.
        var params = request.params.setting("name", .string(entry.originalName))
        let clientToken = request.params["_meta"]?["progressToken"]
        var meta: [(String, JSON)] = (request.params["_meta"]?.objectValue ?? []).filter {
            !$0.0.hasPrefix(MCPVersions.metaPrefix) && $0.0 != "progressToken"
        }
        var ourToken: String?
        if clientToken != nil {
            nextToken += 1
            ourToken = "gw-\(nextToken)"
            meta.append(("progressToken", .string(ourToken!)))
        }
        params = meta.isEmpty ? params.removing("_meta") : params.setting("_meta", .object(meta))
        let paramsBytes = params.serialized()

        // Stream progress when the caller gave a token and takes SSE; else answer with JSON.
        let stream: ResponseStream? = clientToken != nil && request.acceptsStream
            ? context.startStream(headers: SSE.headers + cors) : nil
        let started = EventLoop.main.now
        var done = false
        let timer = Timer {}
        call.finish = { [weak self] response in
            guard !done else { return }
            done = true
            timer.stop()
            if let key { self?.inflight[key] = nil }
            guard let response else { stream?.end(); return }
            if let stream {
                stream.write(MCPReply.event(response.body))
                stream.end()
            } else {
                context.send(response)
            }
        }
        timer.setHandler { [weak self] in
            self?.abandon(call, reason: "timeout")
            self?.metrics(service.name, "timeout", EventLoop.main.now - started)
            call.finish?(MCPReply.error(200, id: id, code: JSONRPCCode.downstreamTimeout,
                                        message: "Tool call to service \(service.name) timed out after \(self?.timeout ?? 0)s", headers: cors))
        }
        timer.start(after: timeout)
        (stream.map { $0.onClose } ?? context.onClose) { [weak self] in
            // The caller went away (a 2026 client closing its stream is a cancellation).
            guard !done else { return }
            self?.abandon(call, reason: "client disconnected")
            call.finish?(nil)
        }

        let onMessage: (JSON) -> Void = { message in
            guard let stream, let ourToken, message["method"]?.stringValue == "notifications/progress",
                  message["params"]?["progressToken"]?.stringValue == ourToken, let clientToken else { return }
            let relayed = message.setting("params", message["params"]!.setting("progressToken", clientToken))
            stream.write(MCPReply.event(relayed.serialized()))
        }
        let modern = request.modern
        let idBytes = request.idBytes
        spawn { [weak self] in
            do {
                let raw = try await session.relay({ downstreamID in
                    call.downstreamID = downstreamID
                    var body: [UInt8] = Array(#"{"jsonrpc":"2.0","id":"#.utf8)
                    body += Array(String(downstreamID).utf8)
                    body += Array(#","method":"tools/call","params":"#.utf8)
                    body += paramsBytes
                    body.append(UInt8(ascii: "}"))
                    return body
                }, onMessage: onMessage, handle: { call.transfer = $0 })
                guard !done else { return }
                self?.metrics(service.name, "ok", EventLoop.main.now - started)
                call.finish?(HTTPResponse(status: 200, headers: MCPReply.jsonHeaders + cors,
                                          body: Self.rewrap(raw, id: idBytes, modern: modern)))
            } catch {
                let error = DownstreamError(error)
                guard !done else { return }
                self?.metrics(service.name, "error", EventLoop.main.now - started)
                let (code, message): (Int, String)
                switch error {
                case .timeout: (code, message) = (JSONRPCCode.downstreamTimeout, "Tool call to service \(service.name) timed out")
                case .rpc(let c, let m): (code, message) = (c, m)
                default: (code, message) = (JSONRPCCode.downstreamUnavailable, "Service \(service.name) is unavailable: \(error.description)")
                }
                self?.log(.warn, "tool call failed", [("service", service.name), ("tool", entry.originalName), ("error", error.description)])
                call.finish?(MCPReply.error(200, id: id, code: code, message: message, headers: cors))
            }
        }
    }

    /// The downstream's response with the caller's id; `result`/`error` copied as bytes. A 2026
    /// caller gets `resultType` added when the (handshake-era) downstream did not send it.
    static func rewrap(_ raw: [UInt8], id: [UInt8], modern: Bool) -> [UInt8] {
        raw.withUnsafeBufferPointer { buf -> [UInt8] in
            guard let members = JSONScanner.members(buf) else {
                return JSONRPC.error(id: .null, code: JSONRPCCode.downstreamError, message: "invalid downstream response").serialized()
            }
            if let r = members.range(of: "result") {
                if modern, let inner = JSONScanner.members(buf, in: r), inner.range(of: "resultType") == nil {
                    var result: [UInt8] = [UInt8(ascii: "{")]
                    result += Array(#""resultType":"complete""#.utf8)
                    if !inner.isEmpty { result.append(UInt8(ascii: ",")) }
                    // Everything after the result's opening brace, as sent.
                    var open = r.lowerBound
                    while buf[open] != UInt8(ascii: "{") { open += 1 }
                    result += UnsafeBufferPointer(rebasing: buf[(open + 1)..<r.upperBound])
                    return MCPReply.envelope(id: id, key: "result", raw: result)
                }
                return MCPReply.envelope(id: id, key: "result", raw: UnsafeBufferPointer(rebasing: buf[r]))
            }
            if let r = members.range(of: "error") {
                return MCPReply.envelope(id: id, key: "error", raw: UnsafeBufferPointer(rebasing: buf[r]))
            }
            return JSONRPC.error(id: .null, code: JSONRPCCode.downstreamError, message: "downstream response has neither result nor error").serialized()
        }
    }

    /// Stops a call: the transfer is dropped and the downstream told, with its own request id.
    private func abandon(_ call: InFlight, reason: String) {
        call.transfer?.cancel()
        guard let downstreamID = call.downstreamID else { return }
        let session = call.session
        spawn {
            try? await session.notify("notifications/cancelled", params: .object([
                ("requestId", .int(downstreamID)), ("reason", .string(reason)),
            ]))
        }
    }

    /// A handshake-era caller's `notifications/cancelled`.
    /// Returns false when the call is not running here (another replica may hold it).
    @discardableResult
    func cancel(key: String, reason: String?) -> Bool {
        guard let call = inflight[key] else { return false }
        abandon(call, reason: reason ?? "cancelled by the client")
        call.finish?(nil)
        return true
    }

    func cancelSession(_ session: String) {
        for (key, call) in inflight where key.hasPrefix(session + "|") {
            abandon(call, reason: "session ended")
            call.finish?(nil)
        }
    }
}
