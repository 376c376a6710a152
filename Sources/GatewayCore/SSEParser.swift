/// One server-sent event.
public struct SSEEvent: Sendable, Equatable {
    public var event: String?
    public var data: String
    public var id: String?
    public var retry: Int?
}

/// Incremental text/event-stream parsing (WHATWG rules: `data` lines joined by "\n", `:` comments
/// skipped, CR, LF or CRLF line ends, an event dispatched on a blank line).
public struct SSEParser: Sendable {
    private var buffer: [UInt8] = []
    private var dataLines: [String] = []
    private var hasData = false
    private var event: String?
    private var id: String?
    private var retry: Int?
    private var sawCR = false
    private var atStart = true

    public init() {}

    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [SSEEvent] {
        var out: [SSEEvent] = []
        for b in bytes {
            if sawCR {
                sawCR = false
                if b == 0x0A { continue }
            }
            if b == 0x0D || b == 0x0A {
                sawCR = b == 0x0D
                if atStart {
                    // A UTF-8 byte-order mark may open the stream; it is not part of the first line.
                    if buffer.starts(with: [0xEF, 0xBB, 0xBF]) { buffer.removeFirst(3) }
                    atStart = false
                }
                line(String(decoding: buffer, as: UTF8.self), into: &out)
                buffer.removeAll(keepingCapacity: true)
            } else {
                buffer.append(b)
            }
        }
        return out
    }

    /// Flushes a final event not followed by a blank line (end of stream).
    public mutating func finish() -> [SSEEvent] {
        var out: [SSEEvent] = []
        if !buffer.isEmpty { line(String(decoding: buffer, as: UTF8.self), into: &out); buffer = [] }
        line("", into: &out)
        return out
    }

    private mutating func line(_ text: String, into out: inout [SSEEvent]) {
        if text.isEmpty {
            if hasData { out.append(SSEEvent(event: event, data: dataLines.joined(separator: "\n"), id: id, retry: retry)) }
            dataLines = []
            hasData = false
            event = nil
            retry = nil
            return
        }
        if text.hasPrefix(":") { return }
        var field = Substring(text)
        var value = Substring("")
        if let colon = text.firstIndex(of: ":") {
            field = text[..<colon]
            value = text[text.index(after: colon)...]
            if value.first == " " { value = value.dropFirst() }
        }
        switch field {
        case "data": dataLines.append(String(value)); hasData = true
        case "event": event = String(value)
        case "id": id = String(value)
        case "retry": if let r = Int(value), r >= 0 { retry = r }  // an invalid retry is ignored
        default: break
        }
    }
}
