import Drivers
import GatewayCore
import Reactor

/// One shared, kept-alive downstream session per service. Many clients' calls go over it; the
/// session's request ids are unique, so responses never cross.
@LoopActor
final class DownstreamPool {
    private var sessions: [String: DownstreamSession] = [:]
    private let timeout: Double
    private let connectTimeout: Double
    private let transport: any HTTPTransport

    init(timeout: Double, connectTimeout: Double, transport: any HTTPTransport = CurlClient.shared) {
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.transport = transport
    }

    func session(service: String, url: String) -> DownstreamSession {
        if let s = sessions[service], s.url == url { return s }
        sessions[service]?.close()
        let s = DownstreamSession(url: url, timeout: timeout, connectTimeout: connectTimeout, transport: transport)
        sessions[service] = s
        return s
    }

    /// Drops sessions of services that are gone or moved.
    func retain(_ index: ToolIndex) {
        for (name, s) in sessions where index.service(named: name)?.url != s.url {
            s.close()
            sessions[name] = nil
        }
    }
}
