import Glibc

/// Finds the members of a JSON object without building its values: each member's key and the
/// byte range of its raw value. Relaying a downstream result only needs `id` rewritten, so the
/// result itself is copied as bytes, never parsed and re-serialized.
public enum JSONScanner {
    public struct Member {
        public let key: String
        public let value: Range<Int>
    }

    /// The top-level members of the object in `bytes[range]`, or nil if it is not a well-formed object
    /// (values are checked for balance and string termination, not fully validated).
    public static func members(_ bytes: UnsafeBufferPointer<UInt8>, in range: Range<Int>? = nil) -> [Member]? {
        var out: [Member] = []
        out.reserveCapacity(8)  // one allocation for the usual few members, not one per doubling
        var keysDecoded = true
        let wellFormed = forEachMember(bytes, range ?? 0..<bytes.count) { key, value in
            let raw = UnsafeBufferPointer(rebasing: bytes[key])
            guard raw.contains(UInt8(ascii: "\\")) else {
                out.append(Member(key: String(decoding: raw, as: UTF8.self), value: value))
                return
            }
            guard case .string(let s)? = try? JSONParser.parse(UnsafeBufferPointer(rebasing: bytes[(key.lowerBound - 1)..<(key.upperBound + 1)])) else {
                keysDecoded = false
                return
            }
            out.append(Member(key: s, value: value))
        }
        return wellFormed && keysDecoded ? out : nil
    }

    public static func members(_ bytes: [UInt8]) -> [Member]? {
        bytes.withUnsafeBufferPointer { members($0) }
    }

    /// One pass over the object starting at `start`: the range of the raw value of its top-level
    /// member `key` (nil if absent) and the index just past the object. Keys are compared as raw
    /// bytes (a key written with escapes does not match); nil for a malformed object.
    public static func field(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int,
                             key: [UInt8]) -> (value: Range<Int>?, end: Int)? {
        var found: Range<Int>?
        let past = key.withUnsafeBufferPointer { k in
            walk(b, start, end) { name, value in
                if found == nil, name.count == k.count, memcmpEqual(b.baseAddress! + name.lowerBound, k.baseAddress!, k.count) {
                    found = value
                }
            }
        }
        guard let past else { return nil }
        return (found, past)
    }

    /// Calls `body` with each top-level member of the object in `b[range]`: the raw bytes of its key
    /// (inside the quotes, escapes as written) and the range of its raw value. Allocates nothing;
    /// false if `b[range]` is not one object (values are checked for balance, not validated).
    public static func forEachMember(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>,
                                     _ body: (_ key: Range<Int>, _ value: Range<Int>) -> Void) -> Bool {
        var i = range.lowerBound
        let end = range.upperBound
        while i < end, isSpace(b[i]) { i += 1 }
        guard var past = walk(b, i, end, body) else { return false }
        while past < end, isSpace(b[past]) { past += 1 }
        return past == end  // nothing may follow the object
    }

    @inline(__always) static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }

    /// The members of the object whose `{` is at `start`, each given to `body` (the key's raw
    /// bytes inside the quotes, the value's range); the index just past its `}`, or nil if it is
    /// not a well-formed object (values are checked for balance, not validated).
    @inline(__always)
    static func walk(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int,
                     _ body: (_ key: Range<Int>, _ value: Range<Int>) -> Void) -> Int? {
        var i = start
        func space() { while i < end, isSpace(b[i]) { i += 1 } }
        guard i < end, b[i] == UInt8(ascii: "{") else { return nil }
        i += 1
        space()
        if i < end, b[i] == UInt8(ascii: "}") { return i + 1 }
        while true {
            space()
            guard i < end, b[i] == UInt8(ascii: "\""), let keyEnd = skipString(b, i, end) else { return nil }
            let key = (i + 1)..<(keyEnd - 1)
            i = keyEnd
            space()
            guard i < end, b[i] == UInt8(ascii: ":") else { return nil }
            i += 1
            space()
            let valueStart = i
            guard let valueEnd = skipValue(b, i, end) else { return nil }
            body(key, valueStart..<valueEnd)
            i = valueEnd
            space()
            guard i < end else { return nil }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "}") { return i + 1 }
            return nil
        }
    }

    /// Whether `b[range]` holds a backslash (a JSON string or key written with escapes).
    public static func hasBackslash(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        guard let base = b.baseAddress, !range.isEmpty else { return false }
        return memchr(base + range.lowerBound, 0x5C, range.count) != nil
    }

    /// Whether `b[range]` holds exactly `literal`'s bytes.
    @inline(__always) public static func equals(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard range.count == n else { return false }
        let p = literal.utf8Start
        for k in 0..<n where b[range.lowerBound + k] != p[k] { return false }
        return true
    }

    @inline(__always) static func memcmpEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        for k in 0..<n where a[k] != b[k] { return false }
        return true
    }

    /// Index just past the closing quote of the string starting at `i`.
    static func skipString(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Int? {
        // memchr to each quote; a quote after an odd run of backslashes is escaped.
        guard let base = b.baseAddress else { return nil }
        var i = start + 1
        while i < end {
            guard let hit = memchr(base + i, 0x22, end - i) else { return nil }
            let q = UnsafePointer(hit.assumingMemoryBound(to: UInt8.self)) - base
            var k = q - 1
            while k > start && b[k] == UInt8(ascii: "\\") { k -= 1 }
            if (q - 1 - k) % 2 == 0 { return q + 1 }
            i = q + 1
        }
        return nil
    }

    static func skipValue(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Int? {
        guard start < end else { return nil }
        let c = b[start]
        if c == UInt8(ascii: "\"") { return skipString(b, start, end) }
        if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
            // Brackets must match by kind, not only count: the kinds open so far are a bit stack
            // (1 = object), with an array only past 64 levels, so the common case allocates nothing.
            var bits: UInt64 = 0
            var depth = 0
            var deep: [Bool] = []
            var i = start
            while i < end {
                let d = b[i]
                if d == UInt8(ascii: "\"") {
                    guard let next = skipString(b, i, end) else { return nil }
                    i = next
                    continue
                }
                if d == UInt8(ascii: "{") || d == UInt8(ascii: "[") {
                    let isObject = d == UInt8(ascii: "{")
                    if depth < 64 { bits = bits << 1 | (isObject ? 1 : 0) } else { deep.append(isObject) }
                    depth += 1
                } else if d == UInt8(ascii: "}") || d == UInt8(ascii: "]") {
                    guard depth > 0 else { return nil }
                    depth -= 1
                    let wasObject: Bool
                    if depth < 64 { wasObject = bits & 1 == 1; bits >>= 1 } else { wasObject = deep.removeLast() }
                    guard wasObject == (d == UInt8(ascii: "}")) else { return nil }
                    if depth == 0 { return i + 1 }
                }
                i += 1
            }
            return nil
        }
        var i = start
        while i < end {
            let d = b[i]
            if d == UInt8(ascii: ",") || d == UInt8(ascii: "}") || d == UInt8(ascii: "]") || d == 0x20 || d == 0x0A || d == 0x0D || d == 0x09 { break }
            i += 1
        }
        return i > start ? i : nil
    }
}

extension Array where Element == JSONScanner.Member {
    public func range(of key: String) -> Range<Int>? {
        for m in self where m.key == key { return m.value }
        return nil
    }
}
