import GatewayCore
import Reactor

/// Who asked for a tool call, resource read or prompt get, through which view: what the audit
/// line names besides the service, outcome and duration. Arguments only with `AUDIT_ARGUMENTS`.
@LoopActor
struct AuditContext {
    let who: String
    let view: String
    let requestTag: String
    let rpcID: String
    /// The federated tool or prompt name, or the federated URI.
    let name: String
    let arguments: [UInt8]?
    /// The request's span when tracing is on: downstream exchanges become its children.
    var span: ActiveSpan? = nil

    func naming(_ name: String) -> AuditContext {
        span?.set("mcp.name", name)
        return AuditContext(who: who, view: view, requestTag: requestTag, rpcID: rpcID, name: name, arguments: arguments, span: span)
    }

    /// The line's fields: never a credential, never a result.
    func fields(method: String, service: String, outcome: String, seconds: Double) -> [(String, String)] {
        var out = [("who", who), ("view", view), ("method", method), ("name", name), ("service", service), ("outcome", outcome),
                   ("ms", String(Double(Int(seconds * 1_000_000)) / 1000)), ("request_id", requestTag), ("rpc_id", rpcID)]
        if let arguments {
            let text = String(decoding: arguments.prefix(4096), as: UTF8.self)
            out.append(("arguments", arguments.count > 4096 ? text + "…" : text))
        }
        return out
    }
}
