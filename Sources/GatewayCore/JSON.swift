/// A JSON value. Objects keep their key order; numbers keep their source text so that ids and
/// large integers pass through unchanged.
public enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    public static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y || JSON.sameNumber(x, y)
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// Integers compare exactly (by digits); anything with a fraction or exponent by value.
    static func sameNumber(_ x: String, _ y: String) -> Bool {
        func isInteger(_ s: String) -> Bool { !s.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) }
        if isInteger(x) && isInteger(y) {
            func canonical(_ s: String) -> String {
                var negative = false
                var digits = Substring(s)
                if digits.first == "-" { negative = true; digits = digits.dropFirst() }
                digits = digits.drop(while: { $0 == "0" })
                if digits.isEmpty { return "0" }
                return (negative ? "-" : "") + digits
            }
            return canonical(x) == canonical(y)
        }
        guard let a = Double(x), let b = Double(y) else { return false }
        return a == b
    }

    public static func int(_ v: Int) -> JSON { .number(String(v)) }
    public static func double(_ v: Double) -> JSON {
        if !v.isFinite { return .null }  // JSON has no NaN or infinity
        if v.rounded() == v && abs(v) < 1e15 { return .number(String(Int64(v))) }
        return .number(String(v))
    }

    public subscript(key: String) -> JSON? {
        guard case .object(let pairs) = self else { return nil }
        for (k, v) in pairs where k == key { return v }
        return nil
    }

    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var arrayValue: [JSON]? { if case .array(let a) = self { return a }; return nil }
    public var objectValue: [(String, JSON)]? { if case .object(let o) = self { return o }; return nil }
    public var isNull: Bool { if case .null = self { return true }; return false }
    public var intValue: Int? {
        guard case .number(let n) = self else { return nil }
        if let i = Int(n) { return i }
        if let d = Double(n), d.rounded() == d, abs(d) < 9e15 { return Int(d) }
        return nil
    }
    public var doubleValue: Double? { if case .number(let n) = self { return Double(n) }; return nil }

    /// Returns a copy of an object with `key` set (replaced in place, or appended).
    public func setting(_ key: String, _ value: JSON) -> JSON {
        guard case .object(var pairs) = self else { return self }
        if let i = pairs.firstIndex(where: { $0.0 == key }) { pairs[i].1 = value } else { pairs.append((key, value)) }
        return .object(pairs)
    }

    public func removing(_ key: String) -> JSON {
        guard case .object(let pairs) = self else { return self }
        return .object(pairs.filter { $0.0 != key })
    }
}

public struct JSONParseError: Error, Sendable, CustomStringConvertible {
    public let offset: Int
    public let reason: String
    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}
