import CGatewayShims
import GatewayCore
import Glibc
import Reactor

/// One client connection: reads and parses requests, hands them to the responder one at a time
/// (pipelined requests wait their turn, so responses leave in order), and buffers output that is
/// flushed right before the loop sleeps. A write watcher runs only while the socket is full.
@LoopActor
final class HTTPConnection: ResponseSink {
    let id: UInt64
    let fd: Int32
    /// The client's address (IP text), read on first use: only the requests that need it pay.
    lazy var peer: String = Self.peerAddress(fd)
    /// The server outlives its connections (it closes them all before it goes); unowned(unsafe)
    /// spares a checked retain on every access.
    private unowned(unsafe) let server: HTTPServer
    private var watcher: IOWatcher!
    private var timer: Timer!
    private let parser: RequestParser

    private var input: [UInt8] = []
    private var inputStart = 0
    private var output: [UInt8] = []
    private var outputStart = 0

    private(set) var isClosed = false
    private var current: ResponseContext?
    private var stream: ResponseStream?
    /// Deadlines, keep-alive and close decisions, socket interest: the pure part.
    private var state: HTTPConnectionState
    private var processing = false
    private var flushScheduled = false
    private var nextRequestID: UInt64 = 0
    var requestCount = 0

    init(id: UInt64, fd: Int32, server: HTTPServer) {
        self.id = id
        self.fd = fd
        self.server = server
        parser = RequestParser(maxHeaderBytes: server.limits.maxHeaderBytes, maxBodyBytes: server.limits.maxBodyBytes)
        state = HTTPConnectionState(requestTimeout: server.limits.requestTimeout, idleTimeout: server.limits.idleTimeout)
        // The connection owns both and stops them before it goes: unowned(unsafe) spares a
        // reference-count round trip per event.
        watcher = IOWatcher(fd: fd) { [unowned(unsafe) self] events in self.onEvents(events) }
        timer = Timer { [unowned(unsafe) self] in self.onDeadline() }
    }

    func start() {
        watcher.watch(.read)
        arm(.request)
    }

    var isIdle: Bool { current == nil && stream == nil && pendingOutput == 0 && !parser.inMessage && inputStart >= input.count }
    var pendingOutput: Int { output.count - outputStart }
    var isBackedUp: Bool { pendingOutput > server.limits.highWaterBytes }

    // MARK: reading

    private func onEvents(_ events: IOEvents) {
        if events.contains(.write) { flush() }
        if events.contains(.read) && !isClosed { readAvailable() }
    }

    /// One read buffer for every connection: reads never overlap on the one loop thread.
    private static let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)

    private func readAvailable() {
        let buffer = Self.readBuffer
        var total = 0
        while !isClosed {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n > 0 {
                if inputStart > 0 && inputStart == input.count { input.removeAll(keepingCapacity: true); inputStart = 0 }
                input.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                total += n
                if n < buffer.count || total >= 1 << 20 { break }
            } else if n == 0 {
                close(reason: "peer closed")
                return
            } else {
                let e = errno
                if e == EINTR { continue }
                if e == EAGAIN || e == EWOULDBLOCK { break }
                close(reason: "read error \(e)")
                return
            }
        }
        if total > 0 && state.deadline == .idle { arm(.request) }
        process()
    }

    /// Parses buffered input and dispatches requests while no response is outstanding.
    private func process() {
        if processing || isClosed { return }
        processing = true
        defer { processing = false }
        while !isClosed && current == nil && stream == nil && !state.closeAfterFlush && inputStart < input.count {
            if isBackedUp { break }
            let (consumed, event) = input.withUnsafeBytes { raw in
                parser.execute(UnsafeRawBufferPointer(rebasing: raw[inputStart...]))
            }
            inputStart += consumed
            switch event {
            case .needMore:
                inputStart = input.count
            case .headers(let expectsContinue):
                if expectsContinue { append(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)) }
            case .request(let request):
                dispatch(request)
            case .failure(let status, let reason):
                server.log(.debug, "connection=\(id) rejected status=\(status) reason=\"\(reason)\"")
                respondAndClose(status: status, code: Self.errorCode(status), message: reason)
            }
        }
        if inputStart >= input.count && inputStart > 0 {
            input.removeAll(keepingCapacity: input.capacity <= 1 << 16)
            inputStart = 0
        }
        updateInterest()
        if current == nil && stream == nil && !isClosed {
            arm(parser.inMessage || inputStart < input.count ? .request : .idle)
        }
    }

    private static func errorCode(_ status: Int) -> String {
        switch status {
        case 408: return "request_timeout"
        case 413: return "body_too_large"
        case 417: return "expectation_failed"
        case 431: return "headers_too_large"
        case 505: return "http_version_not_supported"
        default: return "bad_request"
        }
    }

    private func dispatch(_ request: HTTPRequest) {
        state.dispatched(keepAlive: request.keepAlive, draining: server.isDraining)
        nextRequestID += 1
        requestCount += 1
        let context = ResponseContext(connection: self, requestID: nextRequestID, request: request,
                                      requestTag: Self.tag(request.header("x-request-id"), server: server))
        current = context
        server.responder(request, context)
    }

    static func tag(_ presented: String?, server: HTTPServer) -> RequestTag {
        if let p = presented, !p.isEmpty, p.utf8.count <= 128, p.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) { return RequestTag(p) }
        return server.nextRequestTag()
    }

    // MARK: responding

    func finish(_ context: ResponseContext, response: HTTPResponse) {
        guard context === current, !isClosed else { return }
        current = nil
        let keepAlive = state.responseFinished(draining: server.isDraining)
        // Head and body in one buffer: one allocation, one send.
        append(Self.head(response.status, response.headers, tag: { context.writeTagHeader(into: &$0) }, contentLength: response.body.count,
                         keepAlive: keepAlive, body: context.isHead ? [] : response.body))
        server.observe(context, status: response.status)
        if !processing { process() }
    }

    func beginStream(_ context: ResponseContext, status: Int, headers: [(name: String, value: String)], stream: ResponseStream) {
        guard context === current, !isClosed else { stream.markClosed(); return }
        self.stream = stream
        var head = "HTTP/1.1 \(status) \(HTTPStatus.reason(status))\r\n"
        for h in headers { head += "\(h.name): \(h.value)\r\n" }
        head += "X-Request-Id: \(context.requestTag)\r\n"
        head += "Transfer-Encoding: chunked\r\n"
        if !state.keepAlive { head += "Connection: close\r\n" }
        head += "\r\n"
        append(Array(head.utf8))
        server.observe(context, status: status)
        if context.isHead { endStream(); stream.markClosed() }
    }

    func writeChunk(_ bytes: [UInt8]) {
        guard stream != nil, !isClosed else { return }
        append(Array((String(bytes.count, radix: 16) + "\r\n").utf8))
        append(bytes)
        append([13, 10])
    }

    func endStream() {
        guard stream != nil, !isClosed else { return }
        append([0x30, 13, 10, 13, 10])
        stream = nil
        current = nil
        state.streamEnded(draining: server.isDraining)
        if !processing { process() }
    }

    /// The response head (with `tag` writing the request-id header), then `body` in the same buffer.
    static func head(_ status: Int, _ headers: [(name: String, value: String)], tag: (inout [UInt8]) -> Void,
                     contentLength: Int, keepAlive: Bool, body: [UInt8] = []) -> [UInt8] {
        var out: [UInt8] = []
        var size = 200 + body.count
        for h in headers { size += h.name.utf8.count + h.value.utf8.count + 4 }
        out.reserveCapacity(size)
        out += HTTPStatus.line(status)
        for h in headers {
            out += h.name.utf8
            out += [0x3A, 0x20]
            out += h.value.utf8
            out += [0x0D, 0x0A]
        }
        tag(&out)
        if status >= 200 && status != 204 && status != 304 {
            out += "Content-Length: ".utf8
            out += String(contentLength).utf8
            out += [0x0D, 0x0A]
        }
        if !keepAlive { out += "Connection: close\r\n".utf8 }
        out += [0x0D, 0x0A]
        out += body
        return out
    }

    private func respondAndClose(status: Int, code: String, message: String) {
        let response = HTTPResponse.error(status, code: code, message: message)
        let tag = Self.tag(parser.partialHeader("x-request-id"), server: server)
        server.observeRejected(status: status, reason: message, tag: tag.string, connection: id)
        append(Self.head(status, response.headers, tag: { tag.writeHeader(into: &$0) }, contentLength: response.body.count, keepAlive: false,
                         body: response.body))
        state.closeWhenFlushed()
        current = nil
    }

    // MARK: writing

    private func append(_ bytes: [UInt8]) {
        if outputStart == output.count {
            output = bytes
            outputStart = 0
        } else {
            output.append(contentsOf: bytes)
        }
        if !flushScheduled {
            flushScheduled = true
            server.scheduleFlush(self)
        }
    }

    /// Writes as much as the socket takes; called before the loop sleeps and when writable.
    func flush() {
        flushScheduled = false
        if isClosed { return }
        while outputStart < output.count {
            let n = output.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + outputStart, raw.count - outputStart, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                outputStart += n
            } else {
                let e = errno
                if n < 0 && e == EINTR { continue }
                if n < 0 && (e == EAGAIN || e == EWOULDBLOCK) { break }
                close(reason: "write error \(e)")
                return
            }
        }
        if outputStart == output.count {
            output.removeAll(keepingCapacity: output.capacity <= 1 << 16)
            outputStart = 0
            if state.closeAfterFlush { close(reason: "done"); return }
        } else if outputStart > 1 << 20 && outputStart > output.count / 2 {
            output.removeFirst(outputStart)
            outputStart = 0
        }
        updateInterest()
        if !isBackedUp && current == nil && stream == nil && inputStart < input.count && !processing { process() }
    }

    private func updateInterest() {
        if isClosed { return }
        let (read, write) = state.interest(pendingOutput: pendingOutput, flushScheduled: flushScheduled, backedUp: isBackedUp,
                                           answering: current != nil || stream != nil, bufferedInput: input.count - inputStart)
        var events: IOEvents = []
        if read { events.insert(.read) }
        if write { events.insert(.write) }
        watcher.watch(events)
    }

    // MARK: deadlines

    private func arm(_ kind: HTTPConnectionState.Deadline) {
        if let after = state.arm(kind, now: EventLoop.main.now, timerActive: timer.isActive) { timer.start(after: after) }
    }

    private func onDeadline() {
        switch state.timerFired(now: EventLoop.main.now, idle: isIdle, answering: current != nil || stream != nil) {
        case .none:
            break
        case .rearm(let after):
            timer.start(after: after)
        case .requestTimedOut:
            server.log(.debug, "connection=\(id) request timeout")
            respondAndClose(status: 408, code: "request_timeout", message: "request not received in time")
            updateInterest()
        case .idleTimedOut:
            close(reason: "idle timeout")
        }
    }

    // MARK: closing

    /// Closes at once. Owners learn through their onClose handlers.
    func close(reason: String) {
        if isClosed { return }
        isClosed = true
        watcher.stop()
        timer.stop()
        Glibc.close(fd)
        server.log(.trace, "connection=\(id) closed reason=\"\(reason)\"")
        let context = current
        current = nil
        let openStream = stream
        stream = nil
        context?.clientClosed()
        openStream?.markClosed()
        server.connectionClosed(self)
    }

    /// For graceful shutdown: close now if nothing is outstanding, else after the current response.
    func closeWhenIdle() {
        if isClosed { return }
        if let stream { stream.end() }
        if current == nil && stream == nil {
            if pendingOutput == 0 { close(reason: "shutdown") } else { state.closeWhenFlushed() }
        }
    }
}

extension HTTPConnection {
    static func peerAddress(_ fd: Int32) -> String {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) == 0 }
        }
        guard ok else { return "unknown" }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        return withUnsafePointer(to: &storage) { p -> String in
            switch Int32(p.pointee.ss_family) {
            case AF_INET:
                return p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    var a = sin.pointee.sin_addr
                    return inet_ntop(AF_INET, &a, &text, socklen_t(text.count)) != nil ? String(cString: text) : "unknown"
                }
            case AF_INET6:
                return p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin in
                    var a = sin.pointee.sin6_addr
                    return inet_ntop(AF_INET6, &a, &text, socklen_t(text.count)) != nil ? String(cString: text) : "unknown"
                }
            case AF_UNIX:
                return "local"
            default:
                return "unknown"
            }
        }
    }
}
