/// Where a downstream request goes, read from its URL: the scheme (`http` or `https`), the host —
/// an IP literal, which needs no lookup, or a name, which the client resolves off the loop —, the
/// port, the `Host` header, and what TLS sends as SNI and checks the certificate against. Requests
/// to the same origin share kept-alive connections.
public struct HTTPOrigin: Sendable, Hashable {
    public enum Scheme: String, Sendable, Hashable { case http, https }

    public enum Family: Sendable, Hashable { case ipv4, ipv6 }

    public enum Host: Sendable, Hashable {
        /// A dotted-quad IPv4 literal.
        case ipv4(String)
        /// An IPv6 literal, without brackets.
        case ipv6(String)
        /// A host name, lowercased, as the URL spelled it otherwise (a trailing dot kept).
        case name(String)
    }

    public let scheme: Scheme
    public let host: Host
    public let port: Int
    /// The `Host` header value, as the URL gave the authority.
    public let hostHeader: String

    public var isTLS: Bool { scheme == .https }

    /// The address to connect to without a lookup: an IP literal, or `localhost` (127.0.0.1, as
    /// before names were resolved at all). nil: the name must be resolved.
    public var literalAddress: (family: Family, address: String)? {
        switch host {
        case .ipv4(let a): return (.ipv4, a)
        case .ipv6(let a): return (.ipv6, a)
        case .name(let n): return n == "localhost" || n == "localhost." ? (.ipv4, "127.0.0.1") : nil
        }
    }

    /// The name TLS sends as SNI and verifies the certificate against (without a trailing dot);
    /// nil for an IP literal, which is sent no SNI (RFC 6066) and is matched as an address.
    public var serverName: String? {
        guard case .name(let n) = host else { return nil }
        return n.hasSuffix(".") ? String(n.dropLast()) : n
    }

    /// The IP literal the certificate must name (an `iPAddress` subject alternative name).
    public var ipLiteral: String? {
        switch host {
        case .ipv4(let a), .ipv6(let a): return a
        case .name: return nil
        }
    }

    /// `host:port` as logs show it and TLS sessions are kept under (`[::1]:443` for IPv6).
    public var authority: String {
        switch host {
        case .ipv4(let a): return "\(a):\(port)"
        case .ipv6(let a): return "[\(a)]:\(port)"
        case .name: return "\(serverName ?? ""):\(port)"
        }
    }

    /// The origin of `url` and its request target (path and query, `/` when empty), or nil when
    /// the URL is not http(s), carries user info or a fragment, or its host or port is malformed.
    public static func parse(_ url: String) -> (origin: HTTPOrigin, target: String)? {
        let u = Array(url.utf8)
        let scheme: Scheme
        if hasPrefix(u, "http://") { scheme = .http } else if hasPrefix(u, "https://") { scheme = .https } else { return nil }
        var i = scheme == .http ? 7 : 8
        let authorityStart = i
        while i < u.count, u[i] != UInt8(ascii: "/"), u[i] != UInt8(ascii: "?"), u[i] != UInt8(ascii: "#") { i += 1 }
        let authority = String(decoding: u[authorityStart..<i], as: UTF8.self)
        var target = String(decoding: u[i...], as: UTF8.self)
        guard !authority.isEmpty, !authority.contains("@"), !target.contains("#") else { return nil }
        if target.isEmpty { target = "/" } else if target.hasPrefix("?") { target = "/" + target }

        var hostText: Substring
        var portText: Substring?
        let bracketed = authority.hasPrefix("[")
        if bracketed {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            hostText = authority[authority.index(after: authority.startIndex)..<close]
            let rest = authority[authority.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return nil }
                portText = rest.dropFirst()
            }
            guard isIPv6(hostText) else { return nil }
        } else if let colon = authority.lastIndex(of: ":") {
            hostText = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            hostText = authority[...]
        }
        var port = scheme == .http ? 80 : 443
        if let p = portText {
            guard !p.isEmpty, p.count <= 5, p.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(p), n >= 1, n <= 65535 else { return nil }
            port = n
        }
        let host: Host
        if bracketed {
            host = .ipv6(String(hostText))
        } else if isIPv4(hostText) {
            host = .ipv4(String(hostText))
        } else if isHostName(hostText) {
            host = .name(hostText.lowercased())
        } else {
            return nil
        }
        return (HTTPOrigin(scheme: scheme, host: host, port: port, hostHeader: authority), target)
    }

    private static func hasPrefix(_ u: [UInt8], _ prefix: String) -> Bool {
        let p = Array(prefix.utf8)
        guard u.count > p.count else { return false }
        for i in 0..<p.count {
            var b = u[i]
            if b >= 0x41 && b <= 0x5A { b |= 0x20 }
            guard b == p[i] else { return false }
        }
        return true
    }

    static func isIPv4(_ s: Substring) -> Bool {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        return parts.allSatisfy { p in
            !p.isEmpty && p.count <= 3 && p.allSatisfy { $0.isASCII && $0.isNumber } && (Int(p) ?? 256) <= 255
                && !(p.count > 1 && p.hasPrefix("0"))
        }
    }

    /// Hex digits and colons, at most one `::`, no `:::` (the connect's inet_pton has the last word).
    static func isIPv6(_ s: Substring) -> Bool {
        guard !s.isEmpty, s.count <= 39, s.contains(":") else { return false }
        var run = 0, doubles = 0
        for c in s {
            if c == ":" {
                run += 1
                if run == 2 { doubles += 1 }
                if run > 2 { return false }
            } else {
                guard c.isHexDigit else { return false }
                run = 0
            }
        }
        return doubles <= 1
    }

    /// Labels of letters, digits, `-` and `_` (1 to 63 each, 253 in all, one trailing dot
    /// allowed), the last one not all digits: `1.2.3` or `01.2.3.4` is a malformed address, not a
    /// name (the resolver would read it as an address in its own way).
    static func isHostName(_ s: Substring) -> Bool {
        var name = s
        if name.hasSuffix(".") { name = name.dropLast() }
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        for label in labels {
            guard !label.isEmpty, label.utf8.count <= 63,
                  label.utf8.allSatisfy({ b in
                      (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F
                  }) else { return false }
        }
        return !labels.last!.allSatisfy { $0.isASCII && $0.isNumber }
    }
}
