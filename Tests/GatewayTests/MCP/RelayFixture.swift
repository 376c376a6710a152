import Drivers
@testable import Gateway
import GatewayCore
import HTTP
import LoopTesting
import Reactor

/// A relay wired to a scripted downstream that speaks MCP: `initialize` answers with a session,
/// notifications get 202, `tools/call` echoes its arguments — or is held open while `holdCalls`.
@LoopActor
final class RelayFixture {
    let transport: ScriptedTransport
    let pool: DownstreamPool
    let relay: ToolCallRelay
    let index: ToolIndex
    var holdCalls: Bool
    /// While set, every request to the downstream answers 503 (a downstream that is unwell).
    var unavailable = false
    /// Set: the next `tools/call` finds its session forgotten (404), as after a downstream restart;
    /// the next `initialize` hands out a new session id.
    var forgetSession = false
    private(set) var sessionGeneration = 1
    static let secret = Array("fixture-secret-fixture-secret".utf8)

    /// Calls go the way of a plain `tools/call` read from its bytes (`ToolCallEnvelope`), not as a tree.
    let fromBytes: Bool

    init(fromBytes: Bool = false, holdCalls: Bool = false, timeout: Double = 30, health: DownstreamMonitor.Settings = .init(),
         limits: ServiceLimits = .init(), queueWait: Double = 1) {
        self.fromBytes = fromBytes
        self.holdCalls = holdCalls
        let transport = ScriptedTransport { _ in nil }
        self.transport = transport
        pool = DownstreamPool(timeout: timeout + 5, connectTimeout: 1, transport: transport, health: health,
                              log: Log(level: "error", format: .text))
        relay = ToolCallRelay(pool: pool, log: Log(level: "error", format: .text), timeout: timeout, queueWait: queueWait)
        let record = ServiceRecord(id: 1, name: "svc", url: "http://downstream.test/mcp", createdAt: "", updatedAt: "",
                                   rawTools: Array(#"[{"name":"echo","inputSchema":{"type":"object"}}]"#.utf8), limits: limits)
        index = ToolIndex(version: 1, services: [record], pageSize: 100)
        pool.retain(index)
        transport.respond = { [unowned self] request in self.answer(request) }
    }

    private func answer(_ request: OutgoingRequest) -> ScriptedTransport.Reply? {
        if unavailable { return ScriptedTransport.Reply(status: 503) }
        if request.method == "DELETE" { return .accepted }
        guard let body = try? JSONParser.parse(request.body), let method = body["method"]?.stringValue else {
            return .accepted  // a response to a request of the downstream's
        }
        guard let id = body["id"] else { return .accepted }
        switch method {
        case "initialize":
            return .json(#"{"jsonrpc":"2.0","id":\#(id.text),"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"down","version":"1"}}}"#,
                         headers: [("mcp-session-id", "downstream-session-\(sessionGeneration)")])
        case "tools/call" where forgetSession:
            forgetSession = false
            sessionGeneration += 1
            return ScriptedTransport.Reply(status: 404)
        case "tools/call":
            if holdCalls { return nil }
            let arguments = body["params"]?["arguments"] ?? .object([])
            return .json(#"{"jsonrpc":"2.0","id":\#(id.text),"result":{"content":[{"type":"text","text":\#(arguments.text.debugDescription)}]}}"#)
        default:
            return .json(#"{"jsonrpc":"2.0","id":\#(id.text),"error":{"code":-32601,"message":"no"}}"#)
        }
    }

    /// The downstream id of the held call (the oldest one).
    var heldCallID: Int? {
        transport.heldRequests.compactMap { try? JSONParser.parse($0.body) }.first { $0["method"]?.stringValue == "tools/call" }?["id"]?.intValue
    }

    /// Answers the oldest held `tools/call` with an empty result. False when none is held.
    @discardableResult
    func answerHeldCall() -> Bool {
        guard let id = heldCallID else { return false }
        return transport.complete(with: .json(#"{"jsonrpc":"2.0","id":\#(id),"result":{"content":[]}}"#))
    }

    /// Downstream ids of every `tools/call` sent, in order.
    var sentCallIDs: [Int] {
        transport.requests.compactMap { try? JSONParser.parse($0.body) }
            .filter { $0["method"]?.stringValue == "tools/call" }.compactMap { $0["id"]?.intValue }
    }

    /// `notifications/cancelled` the downstream received, by request id.
    var cancellations: [Int] {
        transport.requests.compactMap { try? JSONParser.parse($0.body) }
            .filter { $0["method"]?.stringValue == "notifications/cancelled" }
            .compactMap { $0["params"]?["requestId"]?.intValue }
    }

    func session() -> SessionToken {
        SessionToken.issue(secret: Self.secret, protocolVersion: "2025-11-25", now: 1_000, random: Array(0..<16))
    }

    /// A `tools/call` request as the endpoint hands it to the relay.
    func request(id: JSON = .int(1), tool: String = "svc__echo", arguments: JSON = .object([("text", .string("hi"))]),
                 progressToken: JSON? = nil, session: SessionToken? = nil, modern: Bool = false) -> MCPEndpoint.Request {
        var params: [(String, JSON)] = [("name", .string(tool)), ("arguments", arguments)]
        if let progressToken { params.append(("_meta", .object([("progressToken", progressToken)]))) }
        return MCPCall(id: id, method: "tools/call", params: .object(params), modern: modern,
                       version: modern ? "2026-07-28" : "2025-11-25", session: session, acceptsStream: true)
    }

    /// Starts a call on a fresh sink; returns the sink and a weak view of the context.
    func call(_ request: MCPEndpoint.Request) -> (RecordingSink, WeakBox<ResponseContext>) {
        let sink = RecordingSink()
        let context = sink.context(for: HTTPRequest(method: "POST", target: "/mcp", headers: []))
        if fromBytes {
            var params: [(String, JSON)] = request.params.objectValue ?? []
            if request.modern {  // what the 2026-07-28 envelope carries, which the relay must not pass on
                let meta = (params.first { $0.0 == "_meta" }?.1.objectValue ?? []) + [
                    ("io.modelcontextprotocol/protocolVersion", .string("2026-07-28")),
                    ("io.modelcontextprotocol/clientCapabilities", .object([])),
                ]
                params.removeAll { $0.0 == "_meta" }
                params.append(("_meta", .object(meta)))
            }
            let body = JSON.object([("jsonrpc", .string("2.0")), ("id", request.id), ("method", .string("tools/call")),
                                    ("params", .object(params))]).serialized()
            let envelope = ToolCallEnvelope.scan(body)!
            let call = MCPCall(id: envelope.id, idBytes: envelope.idBytes, method: "tools/call", params: .null, modern: request.modern,
                               version: request.version, session: request.session, acceptsStream: request.acceptsStream)
            relay.call(call, context, index: index, envelope: envelope, cors: [])
        } else {
            relay.call(request, context, index: index, cors: [])
        }
        return (sink, WeakBox(context))
    }
}

/// A weak reference a test holds to check that an object is gone.
@LoopActor
final class WeakBox<T: AnyObject> {
    weak var value: T?
    init(_ value: T) { self.value = value }
    var isGone: Bool { value == nil }
}

extension HTTPResponse {
    var json: JSON? { try? JSONParser.parse(body) }
}
