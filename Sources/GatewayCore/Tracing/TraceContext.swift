/// W3C Trace Context: `traceparent` (`00-<trace id>-<parent span id>-<flags>`, lower-case hex)
/// and `tracestate`, as a client sends them (an HTTP header, or `params._meta` in the 2026-07-28
/// era) and as the gateway passes them on.
public struct TraceContext: Sendable, Equatable {
    public let traceID: String
    public let spanID: String
    public let flags: UInt8
    public let state: String?

    public init(traceID: String, spanID: String, flags: UInt8 = 1, state: String? = nil) {
        self.traceID = traceID; self.spanID = spanID; self.flags = flags; self.state = state
    }

    /// A valid `traceparent` (version 00, or a later version read as 00 per the spec's rule), or
    /// nil: wrong length, not lower-case hex, or an all-zero id.
    public static func parse(_ header: String?, state: String? = nil) -> TraceContext? {
        guard let header else { return nil }
        let u = Array(header.utf8)
        guard u.count >= 55, u[2] == UInt8(ascii: "-"), u[35] == UInt8(ascii: "-"), u[52] == UInt8(ascii: "-"),
              u.count == 55 || (u[55] == UInt8(ascii: "-") && !(u[0] == 0x30 && u[1] == 0x30)) else { return nil }
        func hex(_ r: Range<Int>) -> Bool { u[r].allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) } }
        guard hex(0..<2), !(u[0] == 0x66 && u[1] == 0x66), hex(3..<35), hex(36..<52), hex(53..<55),
              !u[3..<35].allSatisfy({ $0 == 0x30 }), !u[36..<52].allSatisfy({ $0 == 0x30 }) else { return nil }
        let flags = UInt8(String(decoding: u[53..<55], as: UTF8.self), radix: 16) ?? 0
        let validState = state.flatMap { s in s.utf8.count <= 512 && s.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F } ? s : nil }
        return TraceContext(traceID: String(decoding: u[3..<35], as: UTF8.self), spanID: String(decoding: u[36..<52], as: UTF8.self),
                            flags: flags, state: validState)
    }

    public var traceparent: String { "00-\(traceID)-\(spanID)-\(flags < 16 ? "0" : "")\(String(flags, radix: 16))" }

    /// The same trace under another span (what a child passes on).
    public func with(spanID: String) -> TraceContext { TraceContext(traceID: traceID, spanID: spanID, flags: flags, state: state) }

    /// Random ids: 16 bytes of trace id, 8 of span id, as lower-case hex.
    public static func hex<G: RandomNumberGenerator>(bytes: Int, using g: inout G) -> String {
        var raw: [UInt8] = []
        raw.reserveCapacity(bytes)
        var word: UInt64 = 0
        for i in 0..<bytes {
            if i % 8 == 0 { word = g.next() | (i == 0 ? 1 : 0) }  // never all zero
            raw.append(UInt8(truncatingIfNeeded: word >> (UInt64(i % 8) * 8)))
        }
        return Hex.encode(raw)
    }
}
