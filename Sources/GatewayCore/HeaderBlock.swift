/// A message head's header fields as an HTTP parser reports them — names and values arriving in
/// pieces, in turn — gathered into (lower-cased name, value) pairs, with the head's size counted
/// against a limit. Shared by the server's request parser and the client's response parser.
public struct HeaderBlock: Sendable {
    public private(set) var headers: [(name: String, value: String)] = []
    /// Bytes of the head counted so far.
    public private(set) var size = 0
    public let limit: Int
    private var field: [UInt8] = []
    private var value: [UInt8] = []
    private var lastWasValue = false

    public init(limit: Int) { self.limit = limit }

    /// Ready for the next message's head.
    public mutating func reset() {
        headers.removeAll(keepingCapacity: true)
        field.removeAll(keepingCapacity: true)
        value.removeAll(keepingCapacity: true)
        lastWasValue = false
        size = 0
    }

    /// Counts `n` more bytes of the head; false once it is over the limit.
    public mutating func count(_ n: Int) -> Bool {
        size += n
        return size <= limit
    }

    public mutating func fieldPiece(_ bytes: UnsafeRawBufferPointer) {
        if lastWasValue { finish() }
        lastWasValue = false
        field.append(contentsOf: bytes)
    }

    public mutating func valuePiece(_ bytes: UnsafeRawBufferPointer) {
        lastWasValue = true
        value.append(contentsOf: bytes)
    }

    /// The pending field, if any, becomes a header (its name lower-cased, ASCII only).
    public mutating func finish() {
        if !field.isEmpty || !value.isEmpty {
            for i in field.indices where field[i] >= 0x41 && field[i] <= 0x5A { field[i] |= 0x20 }
            headers.append((Self.string(field), Self.string(value)))
        }
        field.removeAll(keepingCapacity: true)
        value.removeAll(keepingCapacity: true)
    }

    /// Header names and values that come with nearly every MCP request or response, longer than
    /// the 15 bytes a Swift string holds without allocating: these are shared, not allocated anew.
    static let common: [String] = [
        "mcp-protocol-version", "application/json", "application/json, text/event-stream",
        "text/event-stream", "access-control-allow-origin", "transfer-encoding", "application/json; charset=utf-8",
        "text/event-stream; charset=utf-8", "access-control-expose-headers",
    ]
    private static let commonBytes: [[UInt8]] = common.map { Array($0.utf8) }

    static func string(_ bytes: [UInt8]) -> String {
        if bytes.count > 15 {
            for (i, c) in commonBytes.enumerated() where c == bytes { return common[i] }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
