import Drivers
import GatewayCore
import Reactor

/// The gateway as an MCP client of one downstream server over Streamable HTTP: `initialize`
/// (offering the newest handshake revision), `notifications/initialized`, then requests carrying
/// `Mcp-Session-Id` and `MCP-Protocol-Version`, answered as JSON or as an SSE stream.
@LoopActor
public final class DownstreamSession {
    public static let offeredVersion = MCPVersions.handshake[0]
    /// The handshake revisions the gateway speaks, as a client too.
    public static let acceptedVersions = Set(MCPVersions.handshake)

    public let url: String
    public internal(set) var sessionID: String? { didSet { baseHeaders = nil } }
    public internal(set) var protocolVersion: String? { didSet { baseHeaders = nil } }
    /// The headers every request of the session carries, made once per session (not per call).
    private var baseHeaders: [(name: String, value: String)]?
    public private(set) var serverInfo: JSON?
    private var nextID = 0
    private let timeout: Double
    let connectTimeout: Double
    private var initializing: Task<Void, any Error>?
    /// Curl on the loop in the gateway; a scripted transport in tests.
    let transport: any HTTPTransport

    public init(url: String, timeout: Double, connectTimeout: Double, transport: any HTTPTransport = ReactorHTTPClient.shared) {
        self.url = url
        self.transport = transport
        self.timeout = timeout
        self.connectTimeout = connectTimeout
    }

    public var isInitialized: Bool { protocolVersion != nil }
    /// The capabilities the downstream announced in `initialize`.
    public private(set) var capabilities: JSON = .object([])

    /// Runs the handshake (once; concurrent callers share it).
    public func initialize() async throws(DownstreamError) {
        if isInitialized { return }
        if initializing == nil {
            initializing = spawnThrowing { [self] in try await self.handshake() }
        }
        do { try await initializing!.value } catch {
            initializing = nil
            throw DownstreamError(error)
        }
        initializing = nil
    }

    private func handshake() async throws(DownstreamError) {
        sessionID = nil
        protocolVersion = nil
        let params = JSON.object([
            ("protocolVersion", .string(Self.offeredVersion)),
            ("capabilities", .object([])),
            ("clientInfo", .object([("name", .string("mcp-gateway")), ("version", .string(GatewayVersion.string))])),
        ])
        let (result, head) = try await exchange(method: "initialize", params: params, session: false)
        guard case .object = result, let version = result["protocolVersion"]?.stringValue else {
            throw DownstreamError.notMCP("initialize result has no protocolVersion")
        }
        guard Self.acceptedVersions.contains(version) else {
            throw DownstreamError.notMCP("unsupported protocol version \(version)")
        }
        sessionID = head.header("mcp-session-id")
        protocolVersion = version
        serverInfo = result["serverInfo"]
        capabilities = result["capabilities"] ?? .object([])
        try await notify("notifications/initialized")
    }

    /// Sends a request and returns its `result`. A 404 while holding a session means the downstream
    /// forgot it (restart): initialize again and retry once.
    /// `timeout` (seconds) bounds this exchange instead of the session's own (health checks).
    public func request(_ method: String, params: JSON? = nil, timeout: Double? = nil,
                        onMessage: ((JSON) -> Void)? = nil) async throws(DownstreamError) -> JSON {
        try await initialize()
        do {
            return try await exchange(method: method, params: params, session: true, timeout: timeout, onMessage: onMessage).0
        } catch DownstreamError.sessionExpired {
            protocolVersion = nil
            try await initialize()
            return try await exchange(method: method, params: params, session: true, timeout: timeout, onMessage: onMessage).0
        }
    }

    public func notify(_ method: String, params: JSON? = nil) async throws(DownstreamError) {
        let body = JSONRPC.notification(method: method, params: params).serialized()
        let response: IncomingResponse
        do {
            response = try await transport.perform(outgoing(body))
        } catch {
            throw DownstreamError(error)
        }
        let status = response.head.status
        if status == 404 && sessionID != nil { throw DownstreamError.sessionExpired }
        guard status == 202 || status == 200 || status == 204 else { throw DownstreamError.httpStatus(status) }
    }

    private func outgoing(_ body: [UInt8], timeout: Double? = nil, headers extra: [(name: String, value: String)] = []) -> OutgoingRequest {
        var r = OutgoingRequest(url: url, timeout: timeout ?? self.timeout, connectTimeout: min(connectTimeout, timeout ?? connectTimeout))
        r.body = body
        let base = baseHeaders ?? {
            var h: [(name: String, value: String)] = [("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream")]
            if let sessionID { h.append(("Mcp-Session-Id", sessionID)) }
            if let protocolVersion { h.append(("MCP-Protocol-Version", protocolVersion)) }
            baseHeaders = h
            return h
        }()
        r.headers = extra.isEmpty ? base : base + extra
        return r
    }

    private func exchange(method: String, params: JSON?, session: Bool, timeout: Double? = nil,
                          onMessage: ((JSON) -> Void)? = nil) async throws(DownstreamError) -> (JSON, IncomingHead) {
        nextID += 1
        let id = nextID
        let body = JSONRPC.request(id: .int(id), method: method, params: params).serialized()
        let (raw, head) = try await send(body, id: id, session: session, timeout: timeout, onMessage: onMessage)
        guard let message = try? JSONParser.parse(raw) else { throw DownstreamError.notMCP("invalid JSON response") }
        return (try Self.unwrap(message), head)
    }

    /// Allocates a request id unique within this session.
    public func allocateID() -> Int {
        nextID += 1
        return nextID
    }

    /// Sends a request whose body the caller built (with id `id`) and returns the raw bytes of the
    /// matching response message, unparsed. Other messages on the stream (notifications) go to
    /// `onMessage`; requests from the server are answered here. Retries once on a lost session.
    /// `timeout` bounds the exchange instead of the session's own (a service's call timeout).
    public func relay(_ build: (Int) -> [UInt8], timeout: Double? = nil, headers: [(name: String, value: String)] = [],
                      onMessage: ((JSON) -> Void)? = nil,
                      handle: ((TransferHandle) -> Void)? = nil) async throws(DownstreamError) -> [UInt8] {
        try await initialize()
        var id = allocateID()
        do {
            return try await send(build(id), id: id, session: true, timeout: timeout, headers: headers, onMessage: onMessage, handle: handle).0
        } catch DownstreamError.sessionExpired {
            protocolVersion = nil
            try await initialize()
            id = allocateID()
            return try await send(build(id), id: id, session: true, timeout: timeout, headers: headers, onMessage: onMessage, handle: handle).0
        }
    }

    private func send(_ body: [UInt8], id: Int, session: Bool, timeout: Double? = nil, headers: [(name: String, value: String)] = [],
                      onMessage: ((JSON) -> Void)?,
                      handle: ((TransferHandle) -> Void)? = nil) async throws(DownstreamError) -> ([UInt8], IncomingHead) {
        // One object holds what the response callbacks gather (captured alone, it is the closures'
        // context: no boxes per exchange).
        let reply = ReplyCollector(id: id, session: self, onMessage: onMessage)
        let response: IncomingResponse
        do {
            response = try await transport.perform(outgoing(body, timeout: timeout, headers: headers),
                                                    onHead: { [reply] head in reply.head(head) },
                                                    onData: { [reply] chunk in reply.data(chunk) }, handle: handle)
        } catch {
            throw DownstreamError(error)
        }
        return try answer(response, reply, session: session)
    }

    /// The answer's bytes from a finished exchange, or why there is none.
    private func answer(_ response: IncomingResponse, _ reply: ReplyCollector, session: Bool) throws(DownstreamError) -> ([UInt8], IncomingHead) {
        let head = response.head
        if head.status == 404 && session && sessionID != nil { throw DownstreamError.sessionExpired }
        guard head.status == 200 else { throw DownstreamError.httpStatus(head.status) }
        if !reply.isSSE {
            let type = head.header("content-type") ?? ""
            guard hasPrefixIgnoringCase(type, "application/json") else {
                throw DownstreamError.notMCP("unexpected content type \(type.isEmpty ? "(none)" : type)")
            }
        }
        reply.end()
        guard let answer = reply.answer else {
            throw reply.streamError ?? DownstreamError.notMCP(reply.isSSE ? "stream ended without a response" : "response id does not match the request")
        }
        return (answer, head)
    }

    /// `relay` without a task while the session is up: the request goes out now, and the
    /// exchange hears of the outcome once. A session not yet initialized, or one the downstream
    /// forgot (404), takes `relay`'s path (initialize, then send; once). The session holds the
    /// exchange until then.
    func relay(_ exchange: some RelayExchange, timeout: Double? = nil, headers: [(name: String, value: String)] = []) {
        guard isInitialized else { return relayInTask(exchange, timeout: timeout, headers: headers, afterExpiry: false) }
        let id = allocateID()
        // The reply alone is each callback's context (one reference: no box per closure).
        let reply = ReplyCollector(id: id, session: self, onMessage: nil)
        reply.exchange = exchange
        reply.timeout = timeout
        reply.headers = headers
        transport.start(outgoing(exchange.requestBody(downstreamID: id), timeout: timeout, headers: headers),
                        onHead: { [reply] head in reply.head(head) }, onData: { [reply] chunk in reply.data(chunk) },
                        handle: { [reply] handle in reply.exchange?.transferStarted(handle) }) { [reply] result in
            let session = reply.session
            guard let exchange = reply.exchange else { return }
            reply.exchange = nil
            do throws(DownstreamError) {
                let response: IncomingResponse
                do { response = try result.get() } catch { throw DownstreamError(error) }
                exchange.relayFinished(.success(try session.answer(response, reply, session: true).0))
            } catch .sessionExpired {
                session.protocolVersion = nil
                session.relayInTask(exchange, timeout: reply.timeout, headers: reply.headers, afterExpiry: true)
            } catch {
                exchange.relayFinished(.failure(error))
            }
        }
    }

    /// `relay` in a task: the handshake first (again, after the downstream forgot the session).
    private func relayInTask(_ exchange: some RelayExchange, timeout: Double?, headers: [(name: String, value: String)], afterExpiry: Bool) {
        spawn { [self] in
            do throws(DownstreamError) {
                let onMessage: (JSON) -> Void = { exchange.downstreamMessage($0) }
                let handle: (TransferHandle) -> Void = { exchange.transferStarted($0) }
                let answer: [UInt8]
                if afterExpiry {
                    try await initialize()
                    let id = allocateID()
                    answer = try await send(exchange.requestBody(downstreamID: id), id: id, session: true, timeout: timeout,
                                            headers: headers, onMessage: onMessage, handle: handle).0
                } else {
                    answer = try await relay({ exchange.requestBody(downstreamID: $0) }, timeout: timeout, headers: headers,
                                             onMessage: onMessage, handle: handle)
                }
                exchange.relayFinished(.success(answer))
            } catch {
                exchange.relayFinished(.failure(error))
            }
        }
    }

    /// A message of the response: the answer to request `id` is kept (as bytes, unparsed); a
    /// request from the server is answered; anything else goes to `onMessage`.
    fileprivate func handleMessage(_ bytes: [UInt8], _ reply: ReplyCollector) {
        var id: Range<Int>?, hasMethod = false
        let wellFormed = bytes.withUnsafeBufferPointer { b in
            JSONScanner.forEachMember(b, 0..<b.count) { key, value in
                if id == nil, JSONScanner.equals(b, key, "id") { id = value }
                if JSONScanner.equals(b, key, "method") { hasMethod = true }
            }
        }
        guard wellFormed else {
            reply.streamError = .notMCP("invalid JSON in event stream")
            return
        }
        if let r = id, !hasMethod {
            if reply.isAnswer(bytes[r]) { reply.answer = bytes }
            return
        }
        guard let message = try? JSONParser.parse(bytes) else { return }
        if let m = message["method"]?.stringValue, let rid = message["id"] {
            answerServerRequest(method: m, id: rid)
        } else {
            reply.onMessage?(message)
            reply.exchange?.downstreamMessage(message)
        }
    }

    static func unwrap(_ message: JSON) throws(DownstreamError) -> JSON {
        if let error = message["error"] {
            throw DownstreamError.rpc(code: error["code"]?.intValue ?? JSONRPCCode.internalError,
                                      message: error["message"]?.stringValue ?? "error")
        }
        guard let result = message["result"] else { throw DownstreamError.notMCP("response has neither result nor error") }
        return result
    }

    /// Requests a server makes of us: `ping` gets `{}`, everything else "method not found".
    private func answerServerRequest(method: String, id: JSON) {
        let reply = method == "ping"
            ? JSONRPC.result(id: id, .object([]))
            : JSONRPC.error(id: id, code: JSONRPCCode.methodNotFound, message: "the gateway does not support \(method)")
        let request = outgoing(reply.serialized())
        let transport = self.transport
        spawn { _ = try? await transport.perform(request) }
    }
}

extension DownstreamSession {
    /// Ends the downstream session (DELETE), without waiting for the answer.
    public func close() {
        guard let sessionID, let protocolVersion else { return }
        var r = OutgoingRequest(url: url, timeout: 5, connectTimeout: connectTimeout)
        r.method = "DELETE"
        r.headers = [("Mcp-Session-Id", sessionID), ("MCP-Protocol-Version", protocolVersion)]
        self.sessionID = nil
        self.protocolVersion = nil
        let transport = self.transport
        spawn { _ = try? await transport.perform(r) }
    }
}

/// The side of a relayed exchange that owns it (a relayed call): it writes the request body for
/// the downstream id it is given, hears the downstream's other messages on the way, and is told
/// the outcome once.
@LoopActor
protocol RelayExchange: AnyObject {
    func requestBody(downstreamID: Int) -> [UInt8]
    func downstreamMessage(_ message: JSON)
    func transferStarted(_ handle: TransferHandle)
    func relayFinished(_ result: Result<[UInt8], DownstreamError>)
}

/// What one exchange's response callbacks gather: the body (JSON) or the SSE events as they come,
/// and the answer to the request once it is seen.
@LoopActor
private final class ReplyCollector {
    let id: Int
    let session: DownstreamSession
    let onMessage: ((JSON) -> Void)?
    /// The relayed exchange this reply belongs to, until it is told the outcome.
    var exchange: (any RelayExchange)?
    /// The exchange's own timeout and extra headers, should it be sent again on a new session.
    var timeout: Double?
    var headers: [(name: String, value: String)] = []
    var isSSE = false
    var sse = SSEParser()
    var jsonBody: [UInt8] = []
    var answer: [UInt8]?
    var streamError: DownstreamError?

    init(id: Int, session: DownstreamSession, onMessage: ((JSON) -> Void)?) {
        self.id = id
        self.session = session
        self.onMessage = onMessage
    }

    func head(_ head: IncomingHead) {
        isSSE = hasPrefixIgnoringCase(head.header("content-type") ?? "", "text/event-stream")
    }

    func data(_ chunk: [UInt8]) {
        guard isSSE else {
            if jsonBody.isEmpty { jsonBody = chunk } else { jsonBody.append(contentsOf: chunk) }  // one chunk: no copy
            return
        }
        for event in sse.feed(chunk) where !event.data.isEmpty {
            if event.event != nil && event.event != "message" { continue }
            session.handleMessage(Array(event.data.utf8), self)
        }
    }

    /// The response ended: a JSON body is the one message; an event stream's last event, if any.
    func end() {
        if !isSSE {
            session.handleMessage(jsonBody, self)
        } else {
            for event in sse.finish() where !event.data.isEmpty { session.handleMessage(Array(event.data.utf8), self) }
        }
    }

    /// Whether these bytes (an `id` value) are this request's id, without formatting it.
    func isAnswer(_ bytes: ArraySlice<UInt8>) -> Bool {
        var n = id
        var i = bytes.endIndex
        guard n >= 0, !bytes.isEmpty else { return false }
        repeat {
            i -= 1
            guard i >= bytes.startIndex, bytes[i] == UInt8(ascii: "0") + UInt8(n % 10) else { return false }
            n /= 10
        } while n > 0
        return i == bytes.startIndex
    }
}

/// Whether `text` starts with `prefix` (lowercase ASCII), ignoring ASCII case: a media type
/// compared without making a lowercased copy.
func hasPrefixIgnoringCase(_ text: String, _ prefix: StaticString) -> Bool {
    var it = text.utf8.makeIterator()
    let p = prefix.utf8Start
    for k in 0..<prefix.utf8CodeUnitCount {
        guard var c = it.next() else { return false }
        if c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") { c += 32 }
        if c != p[k] { return false }
    }
    return true
}
