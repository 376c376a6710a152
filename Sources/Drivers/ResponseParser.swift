import CGatewayShims
import GatewayCore

/// Incremental HTTP/1.1 response parsing over http-parser, for the reactor's HTTP client. Feed it
/// what the socket gives; after each call, read what became available: the head (once), the body
/// bytes decoded so far (chunked framing removed), and whether the message is complete.
final class ResponseParser {
    private let parser = UnsafeMutablePointer<http_parser>.allocate(capacity: 1)
    private var block: HeaderBlock

    /// Set when the head is complete; taken once by the caller.
    private(set) var head: IncomingHead?
    /// Body bytes decoded by the last `execute`.
    var body: [UInt8] = []
    private(set) var complete = false
    private(set) var keepAlive = false
    private(set) var failure: String?

    init(maxHeaderBytes: Int = 64 * 1024) {
        block = HeaderBlock(limit: maxHeaderBytes)
        http_parser_init(parser, HTTP_RESPONSE)
        parser.pointee.data = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit { parser.deallocate() }

    /// Ready for the next response on the same connection.
    func reset() {
        http_parser_init(parser, HTTP_RESPONSE)
        parser.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        block.reset()
        head = nil
        body.removeAll(keepingCapacity: true)
        complete = false
        keepAlive = false
        failure = nil
    }

    func takeHead() -> IncomingHead? {
        defer { head = nil }
        return head
    }

    /// Feeds bytes; an empty buffer tells the parser the connection ended (which completes a
    /// body delimited by the close). Returns false on a malformed response (`failure` says why).
    @discardableResult
    func execute(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard !complete, failure == nil else { return failure == nil }
        let n = bytes.withMemoryRebound(to: CChar.self) { chars in
            http_parser_execute(parser, &ResponseParser.settings, chars.baseAddress, chars.count)
        }
        let errno = http_errno(rawValue: parser.pointee.http_errno)
        if errno == HPE_PAUSED { return true }  // paused at the message's end
        if errno != HPE_OK {
            if failure == nil { failure = "malformed response: " + String(cString: http_errno_description(errno)) }
            return false
        }
        if n != bytes.count && failure == nil { failure = "malformed response" }
        return failure == nil
    }

    private static func me(_ p: UnsafeMutablePointer<http_parser>?) -> ResponseParser {
        Unmanaged<ResponseParser>.fromOpaque(p!.pointee.data).takeUnretainedValue()
    }

    private func countHeaderBytes(_ n: Int) -> Bool {
        guard block.count(n) else {
            failure = "response head larger than \(block.limit) bytes"
            return false
        }
        return true
    }

    nonisolated(unsafe) static var settings: http_parser_settings = {
        var s = http_parser_settings()
        s.on_header_field = { p, at, len in
            let me = ResponseParser.me(p)
            guard me.countHeaderBytes(len) else { return 1 }
            me.block.fieldPiece(UnsafeRawBufferPointer(start: at, count: len))
            return 0
        }
        s.on_header_value = { p, at, len in
            let me = ResponseParser.me(p)
            guard me.countHeaderBytes(len) else { return 1 }
            me.block.valuePiece(UnsafeRawBufferPointer(start: at, count: len))
            return 0
        }
        s.on_headers_complete = { p in
            let me = ResponseParser.me(p)
            me.block.finish()
            me.head = IncomingHead(status: Int(p!.pointee.status_code), headers: me.block.headers)
            return 0
        }
        s.on_body = { p, at, len in
            ResponseParser.me(p).body.append(contentsOf: UnsafeRawBufferPointer(start: at, count: len))
            return 0
        }
        s.on_message_complete = { p in
            let me = ResponseParser.me(p)
            me.complete = true
            me.keepAlive = http_should_keep_alive(p) != 0
            http_parser_pause(p, 1)
            return 0
        }
        return s
    }()
}
