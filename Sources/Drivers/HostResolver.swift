import CGatewayShims
import GatewayCore
import Glibc
import Reactor

/// An address to connect to, as text (`127.0.0.1`, `::1`).
public struct PeerAddress: Sendable, Equatable {
    public let family: HTTPOrigin.Family
    public let address: String
    public init(family: HTTPOrigin.Family, address: String) {
        self.family = family
        self.address = address
    }
}

/// Host-name lookups for the reactor's HTTP client, off the loop: `getaddrinfo` (which reads
/// /etc/hosts and asks DNS, and blocks while it does) runs on worker threads of its own, and the
/// connecting task resumes on the loop with the addresses in the resolver's preferred order. A
/// lookup happens only when a new connection opens; kept-alive connections need none. Nothing is
/// cached here: the system's resolver (nscd, systemd-resolved, a local cache) does that.
public enum HostResolver {
    /// Four threads: one slow DNS answer does not hold up lookups of other names.
    private static let workers = BlockingWorker(threads: 4)

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// The TCP addresses of `name`, or a `Failure` naming the resolver's reason.
    public static func resolve(_ name: String) async throws -> [PeerAddress] {
        try await workers.run { try lookup(name) }
    }

    /// The blocking lookup itself (on a worker thread).
    static func lookup(_ name: String) throws(Failure) -> [PeerAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_ADDRCONFIG
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(name, nil, &hints, &list)
        guard rc == 0 else {
            let reason = rc == EAI_SYSTEM ? String(cString: strerror(errno)) : String(cString: gai_strerror(rc))
            throw Failure(description: "cannot resolve \(name): \(reason)")
        }
        defer { freeaddrinfo(list) }
        var out: [PeerAddress] = []
        var node = list
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        while let ai = node {
            node = ai.pointee.ai_next
            guard let sa = ai.pointee.ai_addr else { continue }
            let peer: PeerAddress?
            switch Int32(sa.pointee.sa_family) {
            case AF_INET:
                peer = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    var a = sin.pointee.sin_addr
                    return inet_ntop(AF_INET, &a, &text, socklen_t(text.count)) != nil
                        ? PeerAddress(family: .ipv4, address: string(text)) : nil
                }
            case AF_INET6:
                peer = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                    var a = sin6.pointee.sin6_addr
                    return inet_ntop(AF_INET6, &a, &text, socklen_t(text.count)) != nil
                        ? PeerAddress(family: .ipv6, address: string(text)) : nil
                }
            default:
                peer = nil
            }
            if let peer, !out.contains(peer) { out.append(peer) }
        }
        guard !out.isEmpty else { throw Failure(description: "cannot resolve \(name): no address") }
        return out
    }

    private static func string(_ chars: [CChar]) -> String {
        String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
