import GatewayCore
import Reactor

/// The handle a responder gets for one request: answer it once with `send`, or open a stream.
/// It outlives the connection safely: after the client is gone, sends are dropped and
/// `onClose` handlers have run.
@LoopActor
public final class ResponseContext {
    weak var connection: (any ResponseSink)?
    public let requestID: UInt64
    public let connectionID: UInt64
    public private(set) var isFinished = false
    /// The matched route pattern (set by the router), for metrics and logs.
    public var route = "unmatched"
    public let method: String
    public let path: String
    /// `X-Request-Id`: the client's if it sent a sane one, else generated; echoed on the response.
    /// A generated one is written as text only when something reads it (a log line, say): the
    /// response head takes its bytes straight from the prefix and the number.
    public var requestTag: String {
        if let text = tag.text { return text }
        let text = tag.string
        tag = RequestTag(text)
        return text
    }
    private var tag: RequestTag
    public let startedAt: Double
    private var closeHandlers: [() -> Void] = []
    let isHead: Bool
    /// Runs once when the exchange is over: the response sent, a stream ended, or the client gone.
    public var onFinish: (() -> Void)?

    private func finished() {
        guard let f = onFinish else { return }
        onFinish = nil
        f()
    }

    public convenience init(connection: any ResponseSink, requestID: UInt64, request: HTTPRequest, tag: String) {
        self.init(connection: connection, requestID: requestID, request: request, requestTag: RequestTag(tag))
    }

    init(connection: any ResponseSink, requestID: UInt64, request: HTTPRequest, requestTag: RequestTag) {
        self.connection = connection
        self.connectionID = connection.id
        self.requestID = requestID
        self.isHead = request.method == "HEAD"
        method = request.method
        path = request.path
        tag = requestTag
        startedAt = EventLoop.clock()
    }

    /// Appends `X-Request-Id: <tag>\r\n` to a response head.
    func writeTagHeader(into out: inout [UInt8]) { tag.writeHeader(into: &out) }

    /// The client's address ("" once it is gone).
    public var peer: String { connection?.peer ?? "" }

    /// True while the client is still connected.
    public var isConnected: Bool { connection != nil && !(connection!.isClosed) }

    /// Runs once if the client disconnects before the response (or stream) is finished.
    public func onClose(_ handler: @escaping () -> Void) {
        guard isConnected else { return handler() }
        if closeHandler == nil { closeHandler = handler } else { closeHandlers.append(handler) }
    }
    /// The first close handler (most requests have at most one: no array for it).
    private var closeHandler: (() -> Void)?

    /// The sink reports that the client went away: close handlers run, later sends are dropped.
    public func clientClosed() {
        let first = closeHandler
        let handlers = closeHandlers
        closeHandler = nil
        closeHandlers = []
        connection = nil
        first?()
        for h in handlers { h() }
        finished()
    }

    /// Sends the complete response.
    public func send(_ response: HTTPResponse) {
        guard !isFinished else { return }
        isFinished = true
        closeHandler = nil
        closeHandlers = []
        connection?.finish(self, response: response)
        finished()
    }

    /// Starts a streamed (chunked) response and returns the stream to write to.
    public func startStream(status: Int = 200, headers: [(name: String, value: String)]) -> ResponseStream {
        let stream = ResponseStream(context: self)
        guard !isFinished, let conn = connection else { stream.markClosed(); return stream }
        isFinished = true
        if let f = onFinish {
            onFinish = nil
            stream.onClose(f)
        }
        conn.beginStream(self, status: status, headers: headers, stream: stream)
        return stream
    }
}

/// A chunked response body written over time (server-sent events, relayed streams).
@LoopActor
public final class ResponseStream {
    private weak var context: ResponseContext?
    public private(set) var isOpen = true
    private var closeHandlers: [() -> Void] = []

    init(context: ResponseContext) { self.context = context }

    /// The sink reports the stream over (ended, or the client gone): close handlers run.
    public func markClosed() {
        guard isOpen else { return }
        isOpen = false
        let handlers = closeHandlers
        closeHandlers = []
        for h in handlers { h() }
    }

    /// Runs once when the stream ends, whether the server finished it or the client left.
    public func onClose(_ handler: @escaping () -> Void) {
        if isOpen { closeHandlers.append(handler) } else { handler() }
    }

    /// Appends bytes. Returns false when the client is gone or the stream is ended.
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        guard isOpen, !bytes.isEmpty, let conn = context?.connection else { return false }
        conn.writeChunk(bytes)
        return true
    }

    /// Ends the stream (terminating chunk); the connection stays usable for the next request.
    public func end() {
        guard isOpen else { return }
        context?.connection?.endStream()
        markClosed()
    }
}

/// A request's `X-Request-Id`: the client's text, or the server's prefix and a number.
struct RequestTag {
    let text: String?
    let prefix: String
    let number: UInt64

    init(_ text: String) {
        self.text = text
        prefix = ""
        number = 0
    }

    init(prefix: String, number: UInt64) {
        text = nil
        self.prefix = prefix
        self.number = number
    }

    var string: String { text ?? prefix + "-" + String(number) }

    func writeHeader(into out: inout [UInt8]) {
        out += "X-Request-Id: ".utf8
        write(into: &out)
        out += [0x0D, 0x0A]
    }

    func write(into out: inout [UInt8]) {
        if let text {
            out += text.utf8
            return
        }
        out += prefix.utf8
        out.append(UInt8(ascii: "-"))
        JSON.writeDecimal(number, to: &out)
    }
}
