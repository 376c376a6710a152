/// One parsed HTTP/1.x request.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The raw request target (path and query).
    public var target: String
    public var path: String
    public var query: String
    /// Header names lower-cased, in arrival order.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    public var versionMajor: Int
    public var versionMinor: Int
    public var keepAlive: Bool
    /// Path parameters filled in by the router.
    public var parameters: [String: String] = [:]

    public init(method: String, target: String, headers: [(name: String, value: String)], body: [UInt8] = [],
                versionMajor: Int = 1, versionMinor: Int = 1, keepAlive: Bool = true) {
        self.method = method
        self.target = target
        if let q = target.firstIndex(of: "?") {
            path = String(target[..<q])
            query = String(target[target.index(after: q)...])
        } else {
            path = target
            query = ""
        }
        self.headers = headers
        self.body = body
        self.versionMajor = versionMajor
        self.versionMinor = versionMinor
        self.keepAlive = keepAlive
    }

    /// The first value of a header (name compared case-insensitively).
    public func header(_ name: String) -> String? {
        for h in headers where h.name == name { return h.value }  // callers mostly pass lower case
        guard name.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) else { return nil }
        let lower = name.lowercased()
        for h in headers where h.name == lower { return h.value }
        return nil
    }

    /// Whether a list-valued header (Accept, say) names `token` or one of two wildcards covering it
    /// (`*/*`, `text/*`), compared case-insensitively on the bytes, without splitting into new
    /// strings or allocating. `token` and the wildcards are lower case.
    public func headerLists(_ name: String, _ token: StaticString, or wildcard: StaticString, _ family: StaticString) -> Bool {
        guard var value = header(name) else { return false }
        return value.withUTF8 { bytes -> Bool in
            func containsCI(_ needle: StaticString) -> Bool {
                let n = UnsafeBufferPointer(start: needle.utf8Start, count: needle.utf8CodeUnitCount)
                guard n.count <= bytes.count else { return false }
                var i = 0
                while i + n.count <= bytes.count {
                    var k = 0
                    while k < n.count {
                        var b = bytes[i + k]
                        if b >= 0x41 && b <= 0x5A { b |= 0x20 }
                        if b != n[k] { break }
                        k += 1
                    }
                    if k == n.count { return true }
                    i += 1
                }
                return false
            }
            return containsCI(token) || containsCI(wildcard) || containsCI(family)
        }
    }

}
