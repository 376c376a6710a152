import HTTP
import Reactor

/// A `ResponseSink` that records what a responder sends, in place of a client connection. Like the
/// connection, it holds the current request's context only until the response is finished.
@LoopActor
public final class RecordingSink: ResponseSink {
    public let id: UInt64
    public private(set) var isClosed = false
    public var peer = "127.0.0.1"
    public private(set) var responses: [HTTPResponse] = []
    public private(set) var streamStatus: Int?
    public private(set) var streamHeaders: [(name: String, value: String)] = []
    public private(set) var chunks: [[UInt8]] = []
    public private(set) var streamEnded = false
    private var current: ResponseContext?
    private var stream: ResponseStream?
    private var nextRequest: UInt64 = 0

    public init(id: UInt64 = 1) { self.id = id }

    /// A context for `request`, as the connection makes one per request.
    public func context(for request: HTTPRequest) -> ResponseContext {
        nextRequest += 1
        let context = ResponseContext(connection: self, requestID: nextRequest, request: request, tag: "test-\(nextRequest)")
        current = context
        return context
    }

    /// Whether the request got its answer: a whole response, or a stream that ended.
    public var isAnswered: Bool { !responses.isEmpty || streamEnded }

    /// The streamed body as text.
    public var streamText: String { String(decoding: chunks.joined(), as: UTF8.self) }

    public func finish(_ context: ResponseContext, response: HTTPResponse) {
        guard context === current, !isClosed else { return }
        current = nil
        responses.append(response)
    }

    public func beginStream(_ context: ResponseContext, status: Int, headers: [(name: String, value: String)], stream: ResponseStream) {
        guard context === current, !isClosed else { stream.markClosed(); return }
        self.stream = stream
        streamStatus = status
        streamHeaders = headers
    }

    public func writeChunk(_ bytes: [UInt8]) {
        guard stream != nil, !isClosed else { return }
        chunks.append(bytes)
    }

    public func endStream() {
        guard stream != nil, !isClosed else { return }
        stream = nil
        current = nil
        streamEnded = true
    }

    /// The client goes away, as when its connection closes.
    public func disconnect() {
        guard !isClosed else { return }
        isClosed = true
        let context = current
        current = nil
        let open = stream
        stream = nil
        context?.clientClosed()
        open?.markClosed()
    }
}
