import GatewayCore
import HTTP

/// Builds /mcp responses: JSON-RPC envelopes around raw result bytes, and the HTTP statuses
/// each era gives to each failure.
enum MCPReply {
    static let jsonHeaders = HTTPResponse.jsonContentType

    /// `{"jsonrpc":"2.0","id":<id>,"<key>":<raw>}` without re-serializing `raw`.
    static func envelope(id: [UInt8], key: String, raw: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        RelayedResponse.envelope(id: id, key: key, raw: raw)
    }

    static func envelope(id: [UInt8], key: String, raw: [UInt8]) -> [UInt8] {
        raw.withUnsafeBufferPointer { envelope(id: id, key: key, raw: $0) }
    }

    static func result(id: JSON, _ result: JSON, status: Int = 200, headers: [(name: String, value: String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: HTTPResponse.jsonHeaders(headers), body: JSONRPC.result(id: id, result).serialized())
    }

    static func error(_ status: Int, id: JSON?, code: Int, message: String, data: JSON? = nil,
                      headers: [(name: String, value: String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: HTTPResponse.jsonHeaders(headers),
                     body: JSONRPC.error(id: id ?? .null, code: code, message: message, data: data).serialized())
    }

    /// One SSE event carrying a JSON-RPC message.
    static func event(_ message: [UInt8]) -> [UInt8] {
        Array("event: message\ndata: ".utf8) + message + Array("\n\n".utf8)
    }
}

/// The headers of every server-sent-event response: no caching, and no buffering by a proxy in
/// front (nginx honours `X-Accel-Buffering`).
enum SSE {
    static let headers: [(name: String, value: String)] = [
        ("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no"),
    ]
}
