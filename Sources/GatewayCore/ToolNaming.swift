/// Federated tool names: `<service>__<tool>`, always matching `^[a-zA-Z0-9_-]{1,64}$`.
/// A name that would not fit (too long, or characters outside the set) is shortened
/// deterministically: sanitized, cut, and suffixed with a hash of the full original, so it is
/// the same on every replica and whatever other services exist.
public enum ToolNaming {
    public static let maxLength = 64
    public static let separator = "__"

    public static func federatedName(service: String, tool: String) -> String {
        let full = service + separator + tool
        if isValid(full) { return full }
        var sanitized = ""
        for u in full.unicodeScalars {
            sanitized.unicodeScalars.append(isAllowed(u) ? u : "_")
        }
        let hash = String(fnv1a64(Array(full.utf8)), radix: 16)
        let suffix = "_" + String(repeating: "0", count: max(0, 16 - hash.count)) + hash
        let keep = maxLength - 11
        let short = String(suffix.suffix(10))
        return String(sanitized.unicodeScalars.prefix(keep).map(Character.init)) + "_" + short
    }

    public static func isValid(_ name: String) -> Bool {
        // Every allowed character is ASCII, so bytes are characters here.
        let bytes = name.utf8
        return !bytes.isEmpty && bytes.count <= maxLength && bytes.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2D
        }
    }

    static func isAllowed(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x5F, 0x2D: return true
        default: return false
        }
    }

    public static func fnv1a64(_ bytes: [UInt8]) -> UInt64 {
        var h: UInt64 = 0xcbf29ce484222325
        for b in bytes {
            h ^= UInt64(b)
            h = h &* 0x100000001b3
        }
        return h
    }
}
