import GatewayCore

/// A complete HTTP response.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// `Content-Type: application/json`, then `headers` (the constant itself when there are none:
    /// no array is made per response).
    public static func jsonHeaders(_ headers: [(name: String, value: String)]) -> [(name: String, value: String)] {
        headers.isEmpty ? jsonContentType : jsonContentType + headers
    }
    public static let jsonContentType: [(name: String, value: String)] = [("Content-Type", "application/json")]

    public static func json(_ status: Int, _ value: JSON, headers: [(name: String, value: String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: jsonHeaders(headers), body: value.serialized())
    }

    public static func json(_ status: Int, bytes: [UInt8], headers: [(name: String, value: String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: jsonHeaders(headers), body: bytes)
    }

    /// The error body every route uses: `{"error":{"code","message"}}`.
    public static func error(_ status: Int, code: String, message: String,
                             headers: [(name: String, value: String)] = []) -> HTTPResponse {
        json(status, .object([("error", .object([("code", .string(code)), ("message", .string(message))]))]),
             headers: headers)
    }

    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        for h in headers where h.name.lowercased() == lower { return h.value }
        return nil
    }
}

public enum HTTPStatus {
    private static let commonLines: [Int: [UInt8]] = {
        var lines: [Int: [UInt8]] = [:]
        for code in [200, 201, 202, 204, 400, 401, 403, 404, 405, 406, 408, 409, 413, 431, 500, 502, 503] {
            lines[code] = Array("HTTP/1.1 \(code) \(reason(code))\r\n".utf8)
        }
        return lines
    }()

    /// The status line with its CRLF, as bytes.
    static func line(_ code: Int) -> [UInt8] {
        commonLines[code] ?? Array("HTTP/1.1 \(code) \(reason(code))\r\n".utf8)
    }

    public static func reason(_ code: Int) -> String {
        switch code {
        case 100: return "Continue"
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 304: return "Not Modified"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 406: return "Not Acceptable"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 413: return "Content Too Large"
        case 415: return "Unsupported Media Type"
        case 422: return "Unprocessable Content"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 505: return "HTTP Version Not Supported"
        default: return "Status"
        }
    }
}
