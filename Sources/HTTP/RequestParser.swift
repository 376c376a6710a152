import CGatewayShims
import GatewayCore

/// Incremental HTTP/1.x request parsing over http-parser, with the server's limits applied as the
/// bytes arrive. It pauses after the headers (so the caller can answer `Expect: 100-continue`) and
/// after each complete message (so pipelined requests are handled one at a time, in order).
final class RequestParser {
    enum Event {
        /// Every byte given was consumed; the request (if any) is incomplete.
        case needMore
        /// Headers are complete; `expectsContinue` tells whether the client waits for 100.
        case headers(expectsContinue: Bool)
        case request(HTTPRequest)
        case failure(status: Int, reason: String)
    }

    private let parser = UnsafeMutablePointer<http_parser>.allocate(capacity: 1)
    let maxHeaderBytes: Int
    let maxBodyBytes: Int

    // The message being built.
    private(set) var inMessage = false
    private var url: [UInt8] = []
    private var head: HeaderBlock
    private var body: [UInt8] = []
    private var finished: HTTPRequest?
    private var headersDone = false
    private var expectsContinue = false
    private var failure: (Int, String)?
    /// The request line as it arrives, checked for an exact `HTTP/1.x` version (http-parser as
    /// built by Debian accepts any word starting with H and any major version).
    private var line: [UInt8] = []
    private var lineChecked = false

    init(maxHeaderBytes: Int, maxBodyBytes: Int) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxBodyBytes = maxBodyBytes
        head = HeaderBlock(limit: maxHeaderBytes)
        http_parser_init(parser, HTTP_REQUEST)
        parser.pointee.data = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit { parser.deallocate() }

    /// Feeds bytes; returns how many were consumed and what happened.
    func execute(_ bytes: UnsafeRawBufferPointer) -> (consumed: Int, event: Event) {
        if !lineChecked, let problem = checkRequestLine(bytes) {
            return (0, .failure(status: problem.0, reason: problem.1))
        }
        let n = bytes.withMemoryRebound(to: CChar.self) { chars in
            http_parser_execute(parser, &RequestParser.settings, chars.baseAddress, chars.count)
        }
        let errno = http_errno(rawValue: parser.pointee.http_errno)
        if errno == HPE_PAUSED {
            http_parser_pause(parser, 0)
            if let request = finished {
                finished = nil
                return (n, .request(request))
            }
            return (n, .headers(expectsContinue: expectsContinue))
        }
        if errno != HPE_OK {
            if let (status, reason) = failure { return (n, .failure(status: status, reason: reason)) }
            if errno == HPE_HEADER_OVERFLOW { return (n, .failure(status: 431, reason: "header block too large")) }
            let name = String(cString: http_errno_description(errno))
            return (n, .failure(status: 400, reason: "malformed request: \(name)"))
        }
        return (n, .needMore)
    }

    private func checkRequestLine(_ bytes: UnsafeRawBufferPointer) -> (Int, String)? {
        for b in bytes {
            if b == 0x0A {
                if line.isEmpty || (line.count == 1 && line[0] == 0x0D) {  // blank lines before a request
                    line.removeAll(keepingCapacity: true)
                    continue
                }
                lineChecked = true
                defer { line.removeAll(keepingCapacity: true) }
                return Self.versionProblem(line)
            }
            line.append(b)
            if line.count > maxHeaderBytes { return (431, "request line larger than \(maxHeaderBytes) bytes") }
        }
        return nil
    }

    /// What is wrong with a request line's version (its last space-separated word, a CR before the
    /// LF ignored): nil for `HTTP/1.<digit>`, 505 for another `HTTP/` version, else 400.
    static func versionProblem(_ line: [UInt8]) -> (Int, String)? {
        var end = line.count
        if end > 0 && line[end - 1] == 0x0D { end -= 1 }
        while end > 0 && line[end - 1] == 0x20 { end -= 1 }
        var start = end
        while start > 0 && line[start - 1] != 0x20 { start -= 1 }
        func at(_ i: Int, _ c: Unicode.Scalar) -> Bool { start + i < end && line[start + i] == UInt8(ascii: c) }
        let http = at(0, "H") && at(1, "T") && at(2, "T") && at(3, "P") && at(4, "/")
        if http && end - start == 8 && at(5, "1") && at(6, ".") && line[start + 7] >= 0x30 && line[start + 7] <= 0x39 {
            return nil
        }
        return http ? (505, "HTTP version not supported") : (400, "malformed request line")
    }

    /// A header of the message being parsed (for answering a request refused mid-way).
    func partialHeader(_ name: String) -> String? {
        for h in head.headers where h.name == name { return h.value }
        return nil
    }

    // MARK: callbacks

    private static func me(_ p: UnsafeMutablePointer<http_parser>?) -> RequestParser {
        Unmanaged<RequestParser>.fromOpaque(p!.pointee.data).takeUnretainedValue()
    }

    private func countHeaderBytes(_ n: Int) -> Bool {
        guard head.count(n) else {
            failure = (431, "header block larger than \(maxHeaderBytes) bytes")
            return false
        }
        return true
    }

    nonisolated(unsafe) static var settings: http_parser_settings = {
        var s = http_parser_settings()
        s.on_message_begin = { p in
            let me = RequestParser.me(p)
            me.inMessage = true
            me.url.removeAll(keepingCapacity: true)
            me.head.reset()
            me.body = []
            me.headersDone = false
            me.expectsContinue = false
            return 0
        }
        s.on_url = { p, at, len in
            let me = RequestParser.me(p)
            guard me.countHeaderBytes(len) else { return 1 }
            me.url.append(contentsOf: UnsafeRawBufferPointer(start: at, count: len))
            return 0
        }
        s.on_header_field = { p, at, len in
            let me = RequestParser.me(p)
            guard me.countHeaderBytes(len) else { return 1 }
            me.head.fieldPiece(UnsafeRawBufferPointer(start: at, count: len))
            return 0
        }
        s.on_header_value = { p, at, len in
            let me = RequestParser.me(p)
            guard me.countHeaderBytes(len) else { return 1 }
            me.head.valuePiece(UnsafeRawBufferPointer(start: at, count: len))
            return 0
        }
        s.on_headers_complete = { p in
            let me = RequestParser.me(p)
            me.head.finish()
            me.headersDone = true
            let length = p!.pointee.content_length
            if p!.pointee.flags & UInt32(F_CONTENTLENGTH.rawValue) != 0 && length != UInt64.max && length > UInt64(me.maxBodyBytes) {
                me.failure = (413, "request body larger than \(me.maxBodyBytes) bytes")
                return -1
            }
            for h in me.head.headers where h.name == "expect" {
                if h.value.lowercased() == "100-continue" { me.expectsContinue = true }
                else { me.failure = (417, "unsupported expectation"); return -1 }
            }
            if me.expectsContinue { http_parser_pause(p, 1) }
            return 0
        }
        s.on_body = { p, at, len in
            let me = RequestParser.me(p)
            if me.body.count + len > me.maxBodyBytes {
                me.failure = (413, "request body larger than \(me.maxBodyBytes) bytes")
                return 1
            }
            me.body.append(contentsOf: UnsafeRawBufferPointer(start: at, count: len))
            return 0
        }
        s.on_message_complete = { p in
            let me = RequestParser.me(p)
            let method = String(cString: http_method_str(http_method(rawValue: p!.pointee.method)))
            let target = String(decoding: me.url, as: UTF8.self)
            me.finished = HTTPRequest(
                method: method, target: target, headers: me.head.headers, body: me.body,
                versionMajor: Int(p!.pointee.http_major), versionMinor: Int(p!.pointee.http_minor),
                keepAlive: http_should_keep_alive(p) != 0)
            me.inMessage = false
            me.lineChecked = false
            me.body = []
            http_parser_pause(p, 1)
            return 0
        }
        return s
    }()
}
