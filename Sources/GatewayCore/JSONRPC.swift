/// JSON-RPC 2.0 codes the gateway uses.
public enum JSONRPCCode {
    public static let parseError = -32700
    public static let invalidRequest = -32600
    public static let methodNotFound = -32601
    public static let invalidParams = -32602
    public static let internalError = -32603
    public static let downstreamUnavailable = -32001
    public static let downstreamTimeout = -32002
    public static let downstreamError = -32003
    /// The downstream's circuit is open on this replica: the call failed at once, without trying.
    public static let circuitOpen = -32004
    /// The service is at its limit of concurrent calls and no slot freed within the queue wait.
    public static let serviceBusy = -32005
    /// The client's calls of this tool are over its rate limit (HTTP 429, with Retry-After).
    public static let rateLimited = -32006
    /// No valid credential (HTTP 401), or a credential not valid for this view (HTTP 403).
    public static let unauthorized = -32010
    public static let forbidden = -32011
    /// 2026-07-28: `resources/read` of a URI no server has (shares its number with
    /// `downstreamTimeout`, which the handshake era's clients see for a call that took too long).
    public static let resourceNotFound = -32002
    public static let headerMismatch = -32020
    public static let unsupportedVersion = -32022
}

public enum JSONRPC {
    public static func request(id: JSON, method: String, params: JSON? = nil) -> JSON {
        var pairs: [(String, JSON)] = [("jsonrpc", .string("2.0")), ("id", id), ("method", .string(method))]
        if let params { pairs.append(("params", params)) }
        return .object(pairs)
    }

    public static func notification(method: String, params: JSON? = nil) -> JSON {
        var pairs: [(String, JSON)] = [("jsonrpc", .string("2.0")), ("method", .string(method))]
        if let params { pairs.append(("params", params)) }
        return .object(pairs)
    }

    public static func result(id: JSON, _ result: JSON) -> JSON {
        .object([("jsonrpc", .string("2.0")), ("id", id), ("result", result)])
    }

    public static func error(id: JSON, code: Int, message: String, data: JSON? = nil) -> JSON {
        var err: [(String, JSON)] = [("code", .int(code)), ("message", .string(message))]
        if let data { err.append(("data", data)) }
        return .object([("jsonrpc", .string("2.0")), ("id", id), ("error", .object(err))])
    }
}
