/// Where a plain-HTTP request goes, read from its URL: an `http://` URL whose host is an IP
/// literal (or `localhost`), so that connecting needs no name lookup on the loop. Anything else
/// (https, host names) is left to a client that resolves and encrypts off the loop.
public struct HTTPOrigin: Sendable, Hashable {
    public enum Family: Sendable, Hashable { case ipv4, ipv6 }

    public let family: Family
    /// The numeric address (`127.0.0.1`, `::1`), without brackets.
    public let address: String
    public let port: Int
    /// The `Host` header value, as the URL gave the authority.
    public let hostHeader: String

    /// The origin of `url` and its request target (path and query, `/` when empty), or nil when
    /// the URL is not plain http to an IP literal or localhost, or carries user info or a fragment.
    public static func parse(_ url: String) -> (origin: HTTPOrigin, target: String)? {
        let u = Array(url.utf8)
        let scheme = Array("http://".utf8)
        guard u.count > scheme.count else { return nil }
        for i in 0..<scheme.count {
            var b = u[i]
            if b >= 0x41 && b <= 0x5A { b |= 0x20 }
            guard b == scheme[i] else { return nil }
        }
        var i = scheme.count
        let authorityStart = i
        while i < u.count, u[i] != UInt8(ascii: "/"), u[i] != UInt8(ascii: "?"), u[i] != UInt8(ascii: "#") { i += 1 }
        let authority = String(decoding: u[authorityStart..<i], as: UTF8.self)
        var target = String(decoding: u[i...], as: UTF8.self)
        guard !authority.isEmpty, !authority.contains("@"), !target.contains("#") else { return nil }
        if target.isEmpty { target = "/" } else if target.hasPrefix("?") { target = "/" + target }

        var host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let rest = authority[authority.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return nil }
                portText = rest.dropFirst()
            }
            guard isIPv6(host) else { return nil }
        } else {
            if let colon = authority.lastIndex(of: ":") {
                host = authority[..<colon]
                portText = authority[authority.index(after: colon)...]
            } else {
                host = authority[...]
            }
        }
        var port = 80
        if let p = portText {
            guard !p.isEmpty, p.count <= 5, p.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(p), n >= 1, n <= 65535 else { return nil }
            port = n
        }
        let family: Family
        var address = String(host)
        if authority.hasPrefix("[") {
            family = .ipv6
        } else if host.lowercased() == "localhost" {
            family = .ipv4
            address = "127.0.0.1"
        } else if isIPv4(host) {
            family = .ipv4
        } else {
            return nil
        }
        return (HTTPOrigin(family: family, address: address, port: port, hostHeader: authority), target)
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
}
