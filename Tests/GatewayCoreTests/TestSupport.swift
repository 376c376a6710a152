@testable import GatewayCore

// Shared helpers for the GatewayCore tests (not tests themselves).

func utf8(_ s: String) -> [UInt8] { Array(s.utf8) }

func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef")
    var s = ""
    for b in bytes { s.append(digits[Int(b >> 4)]); s.append(digits[Int(b & 15)]) }
    return s
}

func fromHex(_ s: String) -> [UInt8] {
    let u = Array(s.utf8)
    precondition(u.count % 2 == 0)
    return stride(from: 0, to: u.count, by: 2).map { UInt8(String(decoding: u[$0..<($0 + 2)], as: UTF8.self), radix: 16)! }
}

/// Structural equality where numbers compare by their exact text (`JSON.==` compares numerically).
func strictEqual(_ a: JSON, _ b: JSON) -> Bool {
    switch (a, b) {
    case (.null, .null): return true
    case let (.bool(x), .bool(y)): return x == y
    case let (.number(x), .number(y)): return x == y
    case let (.string(x), .string(y)): return x == y
    case let (.array(x), .array(y)): return x.count == y.count && zip(x, y).allSatisfy { strictEqual($0, $1) }
    case let (.object(x), .object(y)):
        return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && strictEqual($0.1, $1.1) }
    default: return false
    }
}

/// Parses or returns nil (keeps the call sites short).
func parsed(_ text: String) -> JSON? { try? JSONParser.parse(text) }
func parsed(_ bytes: [UInt8]) -> JSON? { try? JSONParser.parse(bytes) }
func parsed(_ bytes: ArraySlice<UInt8>) -> JSON? { try? JSONParser.parse(Array(bytes)) }

/// Random JSON values, including awkward strings and number texts.
enum RandomJSON {
    static let numberTexts = ["0", "-0", "1", "-1", "42", "1.50", "1e3", "1E+3", "-2.5e-7", "12345678901234567890",
                              "3.141592653589793238462643383279", "0.0", "100000000000000000000000000000"]
    static let stringPieces = ["", "a", "key", " ", "\"", "\\", "/", "\n", "\r", "\t", "\u{0}", "\u{1}", "\u{1F}", "\u{7F}",
                               "é", "€", "😀", "{", "}", "[", "]", ",", ":", "\u{2028}", "日本"]

    static func string<G: RandomNumberGenerator>(_ g: inout G) -> String {
        var s = ""
        for _ in 0..<Int.random(in: 0...4, using: &g) { s += stringPieces.randomElement(using: &g)! }
        return s
    }

    static func value<G: RandomNumberGenerator>(_ g: inout G, depth: Int = 0) -> JSON {
        let leaf = depth >= 4 || Int.random(in: 0..<3, using: &g) == 0
        if leaf {
            switch Int.random(in: 0..<5, using: &g) {
            case 0: return .null
            case 1: return .bool(Bool.random(using: &g))
            case 2: return .number(numberTexts.randomElement(using: &g)!)
            default: return .string(string(&g))
            }
        }
        if Bool.random(using: &g) {
            return .array((0..<Int.random(in: 0...4, using: &g)).map { _ in value(&g, depth: depth + 1) })
        }
        return object(&g, depth: depth + 1)
    }

    static func object<G: RandomNumberGenerator>(_ g: inout G, depth: Int = 0) -> JSON {
        .object((0..<Int.random(in: 0...4, using: &g)).map { _ in (string(&g), value(&g, depth: depth + 1)) })
    }
}
