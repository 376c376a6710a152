/// Input rules of the admin API, as pure functions.
public enum Validation {
    /// `^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`
    public static func serviceNameProblem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty else { return "name must not be empty" }
        guard bytes.count <= 32 else { return "name must be at most 32 characters" }
        func alnum(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) }
        guard alnum(bytes.first!), alnum(bytes.last!) else {
            return "name must start and end with a lowercase letter or digit"
        }
        guard bytes.allSatisfy({ alnum($0) || $0 == UInt8(ascii: "-") }) else {
            return "name may contain only lowercase letters, digits and '-'"
        }
        return nil
    }

    public static let maxURLLength = 2048

    /// An absolute http(s) URL with a host, no credentials, no fragment, no whitespace.
    public static func serviceURLProblem(_ url: String) -> String? {
        guard !url.isEmpty else { return "url must not be empty" }
        guard url.utf8.count <= maxURLLength else { return "url must be at most \(maxURLLength) characters" }
        guard url.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return "url must not contain spaces or non-ASCII characters" }
        let lower = url.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else { return "url must start with http:// or https://" }
        let rest = url.drop(while: { $0 != ":" }).dropFirst(3)
        let authority = rest.prefix(while: { $0 != "/" && $0 != "?" && $0 != "#" })
        guard !authority.isEmpty else { return "url must name a host" }
        guard !authority.contains("@") else { return "url must not contain credentials" }
        guard !url.contains("#") else { return "url must not contain a fragment" }
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            let digits = authority[authority.index(after: colon)...]
            guard digits.allSatisfy(\.isASCIIDigit), let port = Int(digits), (1...65535).contains(port) else {
                return "url has an invalid port"
            }
            guard authority.startIndex != colon else { return "url must name a host" }
        }
        return nil
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
