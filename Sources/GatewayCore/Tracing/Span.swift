/// A finished span, as exported: ids in lower-case hex, times in Unix nanoseconds.
public struct Span: Sendable {
    public enum Kind: Int, Sendable { case server = 2, client = 3 }
    public let traceID: String
    public let spanID: String
    public let parentSpanID: String?
    public let traceState: String?
    public let name: String
    public let kind: Kind
    public let start: UInt64
    public let end: UInt64
    public let attributes: [(String, String)]
    public let failed: Bool

    public init(traceID: String, spanID: String, parentSpanID: String?, traceState: String? = nil, name: String, kind: Kind,
                start: UInt64, end: UInt64, attributes: [(String, String)], failed: Bool) {
        self.traceID = traceID; self.spanID = spanID; self.parentSpanID = parentSpanID; self.traceState = traceState
        self.name = name; self.kind = kind; self.start = start; self.end = end; self.attributes = attributes; self.failed = failed
    }
}

/// The bounded queue between the hot path and the exporter: a full queue drops (and counts)
/// rather than grows.
public struct SpanQueue: Sendable {
    public let capacity: Int
    public private(set) var spans: [Span] = []
    public private(set) var dropped = 0

    public init(capacity: Int) { self.capacity = max(1, capacity) }

    public mutating func push(_ span: Span) {
        guard spans.count < capacity else { dropped += 1; return }
        spans.append(span)
    }

    /// Up to `max` of the oldest spans, removed from the queue.
    public mutating func take(_ max: Int) -> [Span] {
        let n = min(max, spans.count)
        let batch = Array(spans[0..<n])
        spans.removeFirst(n)
        return batch
    }
}

/// OTLP/HTTP JSON (`POST /v1/traces`, `ExportTraceServiceRequest`): ids as hex strings, times
/// as decimal strings, per the OTLP JSON mapping.
public enum OTLPJSON {
    public static func traces(_ spans: [Span], service: String, version: String) -> [UInt8] {
        func attribute(_ k: String, _ v: String) -> JSON { .object([("key", .string(k)), ("value", .object([("stringValue", .string(v))]))]) }
        let encoded: [JSON] = spans.map { s in
            var fields: [(String, JSON)] = [("traceId", .string(s.traceID)), ("spanId", .string(s.spanID))]
            if let p = s.parentSpanID { fields.append(("parentSpanId", .string(p))) }
            if let t = s.traceState { fields.append(("traceState", .string(t))) }
            fields += [
                ("name", .string(s.name)), ("kind", .int(s.kind.rawValue)),
                ("startTimeUnixNano", .string(String(s.start))), ("endTimeUnixNano", .string(String(s.end))),
                ("attributes", .array(s.attributes.map { attribute($0.0, $0.1) })),
                ("status", .object([("code", .int(s.failed ? 2 : 1))])),
            ]
            return .object(fields)
        }
        return JSON.object([("resourceSpans", .array([.object([
            ("resource", .object([("attributes", .array([attribute("service.name", service), attribute("service.version", version)]))])),
            ("scopeSpans", .array([.object([
                ("scope", .object([("name", .string("mcp-gateway")), ("version", .string(version))])),
                ("spans", .array(encoded)),
            ])])),
        ])]))]).serialized()
    }
}
