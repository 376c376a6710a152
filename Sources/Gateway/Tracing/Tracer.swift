import Drivers
import GatewayCore
import Reactor

/// A span being recorded: what the request path fills in before it ends.
@LoopActor
final class ActiveSpan {
    let context: TraceContext
    let parentSpanID: String?
    let name: String
    let kind: Span.Kind
    let start: UInt64
    var attributes: [(String, String)]
    var failed = false
    private(set) var ended = false

    init(context: TraceContext, parentSpanID: String?, name: String, kind: Span.Kind, attributes: [(String, String)]) {
        self.context = context
        self.parentSpanID = parentSpanID
        self.name = name
        self.kind = kind
        self.attributes = attributes
        start = Tracer.nowNanos()
    }

    func set(_ key: String, _ value: String) {
        if let i = attributes.firstIndex(where: { $0.0 == key }) { attributes[i].1 = value } else { attributes.append((key, value)) }
    }

    fileprivate func finish() -> Span? {
        guard !ended else { return nil }
        ended = true
        return Span(traceID: context.traceID, spanID: context.spanID, parentSpanID: parentSpanID, traceState: context.state,
                    name: name, kind: kind, start: start, end: Tracer.nowNanos(), attributes: attributes, failed: failed)
    }
}

/// Spans of `/mcp` requests and their downstream exchanges, exported as OTLP/HTTP JSON to
/// `OTEL_EXPORTER_OTLP_ENDPOINT` in batches off the request path: a span is queued when it ends
/// (bounded: a full queue drops and counts), a timer sends a batch every second (sooner when
/// half full), one batch in flight at a time. Without the variable there is no tracer at all.
@LoopActor
final class Tracer {
    let url: String
    private let log: Log
    private let transport: any HTTPTransport
    private var queue: SpanQueue
    private var rng: SplitMix64
    private let timer = Timer {}
    private var sending = false
    static let batchSize = 512
    private(set) var exported = 0
    private(set) var failedBatches = 0
    var dropped: Int { queue.dropped }
    var queued: Int { queue.spans.count }

    init(endpoint: String, log: Log, capacity: Int = 4096, transport: any HTTPTransport = ReactorHTTPClient.shared) {
        let base = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        url = base.hasSuffix("/v1/traces") ? base : base + "/v1/traces"
        self.log = log
        self.transport = transport
        queue = SpanQueue(capacity: capacity)
        var seed = SystemRandomNumberGenerator()
        rng = SplitMix64(seed: seed.next())
        timer.setHandler { [unowned self] in self.flush() }
        timer.start(after: 1, repeating: 1)
    }

    static func nowNanos() -> UInt64 { UInt64(Timestamp.now * 1_000_000_000) }

    /// The span of a request: a child of the client's context when it sent one, else a new trace.
    func server(_ parent: TraceContext?, name: String, attributes: [(String, String)]) -> ActiveSpan {
        let spanID = TraceContext.hex(bytes: 8, using: &rng)
        let context = parent?.with(spanID: spanID) ?? TraceContext(traceID: TraceContext.hex(bytes: 16, using: &rng), spanID: spanID)
        return ActiveSpan(context: context, parentSpanID: parent?.spanID, name: name, kind: .server, attributes: attributes)
    }

    /// A downstream exchange under `parent`; its context is what the downstream receives.
    func client(_ parent: ActiveSpan, name: String, attributes: [(String, String)]) -> ActiveSpan {
        ActiveSpan(context: parent.context.with(spanID: TraceContext.hex(bytes: 8, using: &rng)), parentSpanID: parent.context.spanID,
                   name: name, kind: .client, attributes: attributes)
    }

    func end(_ span: ActiveSpan) {
        guard let done = span.finish() else { return }
        queue.push(done)
        if queue.spans.count >= queue.capacity / 2 && !sending { flush() }
    }

    /// Sends the oldest batch, if any and none is in flight.
    func flush() {
        guard !sending, !queue.spans.isEmpty else { return }
        let batch = queue.take(Self.batchSize)
        var request = OutgoingRequest(url: url, timeout: 10, connectTimeout: 2)
        request.headers = [("Content-Type", "application/json")]
        request.body = OTLPJSON.traces(batch, service: "mcp-gateway", version: GatewayVersion.string)
        sending = true
        spawn { [self] in
            do {
                let response = try await transport.perform(request)
                if (200..<300).contains(response.head.status) {
                    exported += batch.count
                } else {
                    failedBatches += 1
                    log(.warn, "trace export refused", [("status", String(response.head.status)), ("spans", String(batch.count))])
                }
            } catch {
                failedBatches += 1
                log(.warn, "trace export failed", [("error", "\(error)"), ("spans", String(batch.count))])
            }
            sending = false
            if queue.spans.count >= Self.batchSize { flush() }
        }
    }
}
