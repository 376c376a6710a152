import Drivers
import GatewayCore

/// Why a downstream MCP server could not be used. Messages name the service's failure, never a
/// secret (the URL's credentials are refused at registration).
public enum DownstreamError: Error, CustomStringConvertible, Sendable {
    case unreachable(String)
    case timeout
    case httpStatus(Int)
    case notMCP(String)
    case rpc(code: Int, message: String)
    case sessionExpired

    public var description: String {
        switch self {
        case .unreachable(let m): return "downstream unreachable: \(m)"
        case .timeout: return "downstream did not answer in time"
        case .httpStatus(let s): return "downstream answered HTTP \(s)"
        case .notMCP(let m): return "downstream is not an MCP server: \(m)"
        case .rpc(let code, let m): return "downstream error \(code): \(m)"
        case .sessionExpired: return "downstream session expired"
        }
    }

    init(_ e: any Error) {
        switch e {
        case let d as DownstreamError: self = d
        case TransferError.timeout: self = .timeout
        case TransferError.connect(let m): self = .unreachable(m)
        case TransferError.failed(let m): self = .unreachable(m)
        case TransferError.cancelled: self = .unreachable("cancelled")
        default: self = .unreachable("\(e)")
        }
    }
}
