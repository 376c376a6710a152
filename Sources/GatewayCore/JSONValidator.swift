/// Whether bytes are one well-formed JSON text, by exactly `JSONParser`'s rules (RFC 8259, strict
/// UTF-8, no lone surrogates, at most 256 levels of nesting), without building anything: a relayed
/// call is checked in full and then copied as bytes, never parsed into a tree.
public enum JSONValidator {
    public static func isValid(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        var v = Walker(b: b)
        v.space()
        guard v.value(depth: 0) else { return false }
        v.space()
        return v.i == b.count
    }

    public static func isValid(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBufferPointer { isValid($0) }
    }

    static let maxDepth = 256

    /// The value of the `digits` hex digits at `i` (the four of a `\\u` escape), or nil.
    static func hexValue(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, digits: Int = 4) -> UInt32? {
        guard i + digits <= b.count else { return nil }
        var v: UInt32 = 0
        for k in i..<(i + digits) {
            let c = b[k]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: return nil
            }
            v = v << 4 | d
        }
        return v
    }

    struct Walker {
        let b: UnsafeBufferPointer<UInt8>
        var i = 0

        mutating func space() {
            while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
        }

        mutating func value(depth: Int) -> Bool {
            guard i < b.count else { return false }
            switch b[i] {
            case UInt8(ascii: "{"): return object(depth: depth + 1)
            case UInt8(ascii: "["): return array(depth: depth + 1)
            case UInt8(ascii: "\""): return string()
            case UInt8(ascii: "t"): return literal(0x74, 0x72, 0x75, 0x65, count: 4)
            case UInt8(ascii: "f"): return literal(0x66, 0x61, 0x6C, 0x73, 0x65, count: 5)
            case UInt8(ascii: "n"): return literal(0x6E, 0x75, 0x6C, 0x6C, count: 4)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return number()
            default: return false
            }
        }

        mutating func literal(_ a: UInt8, _ b1: UInt8, _ c: UInt8, _ d: UInt8, _ e: UInt8 = 0, count: Int) -> Bool {
            guard i + count <= b.count else { return false }
            let word = (a, b1, c, d, e)
            guard b[i] == word.0, b[i + 1] == word.1, b[i + 2] == word.2, b[i + 3] == word.3,
                  count == 4 || b[i + 4] == word.4 else { return false }
            i += count
            return true
        }

        mutating func object(depth: Int) -> Bool {
            guard depth <= maxDepth else { return false }
            i += 1
            space()
            if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return true }
            while true {
                space()
                guard i < b.count, b[i] == UInt8(ascii: "\""), string() else { return false }
                space()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { return false }
                i += 1
                space()
                guard value(depth: depth) else { return false }
                space()
                guard i < b.count else { return false }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "}") { i += 1; return true }
                return false
            }
        }

        mutating func array(depth: Int) -> Bool {
            guard depth <= maxDepth else { return false }
            i += 1
            space()
            if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return true }
            while true {
                space()
                guard value(depth: depth) else { return false }
                space()
                guard i < b.count else { return false }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "]") { i += 1; return true }
                return false
            }
        }

        @inline(__always) func digit(_ k: Int) -> Bool { k < b.count && b[k] >= 0x30 && b[k] <= 0x39 }

        mutating func number() -> Bool {
            if b[i] == UInt8(ascii: "-") { i += 1 }
            guard i < b.count else { return false }
            if b[i] == UInt8(ascii: "0") {
                i += 1
            } else if digit(i) {
                while digit(i) { i += 1 }
            } else {
                return false
            }
            if i < b.count, b[i] == UInt8(ascii: ".") {
                i += 1
                guard digit(i) else { return false }
                while digit(i) { i += 1 }
            }
            if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
                i += 1
                if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
                guard digit(i) else { return false }
                while digit(i) { i += 1 }
            }
            return true
        }

        mutating func hex4() -> UInt32? {
            guard let v = JSONValidator.hexValue(b, i) else { return nil }
            i += 4
            return v
        }

        /// A string starting at the quote at `i`: escapes, no control characters, UTF-8 as
        /// `String(validating:)` accepts it (shortest forms, no surrogates, at most U+10FFFF).
        mutating func string() -> Bool {
            i += 1
            while i < b.count {
                let c = b[i]
                if c == UInt8(ascii: "\"") { i += 1; return true }
                if c < 0x20 { return false }
                if c == UInt8(ascii: "\\") {
                    i += 1
                    guard i < b.count else { return false }
                    let e = b[i]
                    i += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                         UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        continue
                    case UInt8(ascii: "u"):
                        guard let scalar = hex4() else { return false }
                        if scalar >= 0xD800 && scalar < 0xDC00 {
                            guard i + 1 < b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") else { return false }
                            i += 2
                            guard let low = hex4(), low >= 0xDC00 && low < 0xE000 else { return false }
                        } else if scalar >= 0xDC00 && scalar < 0xE000 {
                            return false
                        }
                        continue
                    default:
                        return false
                    }
                }
                if c < 0x80 { i += 1; continue }
                guard utf8Sequence() else { return false }
            }
            return false
        }

        /// One multi-byte UTF-8 sequence at `i` (a lead byte ≥ 0x80).
        mutating func utf8Sequence() -> Bool {
            let c = b[i]
            func cont(_ k: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool { k < b.count && b[k] >= lo && b[k] <= hi }
            switch c {
            case 0xC2...0xDF:
                guard cont(i + 1) else { return false }
                i += 2
            case 0xE0:
                guard cont(i + 1, 0xA0), cont(i + 2) else { return false }
                i += 3
            case 0xE1...0xEC, 0xEE...0xEF:
                guard cont(i + 1), cont(i + 2) else { return false }
                i += 3
            case 0xED:
                guard cont(i + 1, 0x80, 0x9F), cont(i + 2) else { return false }
                i += 3
            case 0xF0:
                guard cont(i + 1, 0x90), cont(i + 2), cont(i + 3) else { return false }
                i += 4
            case 0xF1...0xF3:
                guard cont(i + 1), cont(i + 2), cont(i + 3) else { return false }
                i += 4
            case 0xF4:
                guard cont(i + 1, 0x80, 0x8F), cont(i + 2), cont(i + 3) else { return false }
                i += 4
            default:
                return false
            }
            return true
        }
    }
}
