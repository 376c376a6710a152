/// Which browser origins may call /mcp: loopback origins always, plus the configured list
/// (`*` allows any).
public struct OriginPolicy: Sendable {
    public let allowed: [String]
    public init(allowed: [String]) { self.allowed = allowed }

    public func allows(_ origin: String) -> Bool {
        if allowed.contains("*") || allowed.contains(origin) { return true }
        for prefix in ["http://localhost", "https://localhost", "http://127.0.0.1", "https://127.0.0.1", "http://[::1]", "https://[::1]"] {
            if origin == prefix { return true }
            let port = origin.dropFirst(prefix.count + 1)
            if origin.hasPrefix(prefix + ":"), !port.isEmpty, port.count <= 5, port.allSatisfy(\.isASCIIDigit) { return true }
        }
        return false
    }
}
