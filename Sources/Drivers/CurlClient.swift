import CGatewayShims
import GatewayCore
import Glibc
import Reactor

/// An outgoing HTTP request.
public struct OutgoingRequest: Sendable {
    public var method = "POST"
    public var url: String
    public var headers: [(name: String, value: String)] = []
    public var body: [UInt8] = []
    public var timeout: Double
    public var connectTimeout: Double
    public init(url: String, timeout: Double, connectTimeout: Double) {
        self.url = url
        self.timeout = timeout
        self.connectTimeout = connectTimeout
    }
}

/// The head of a response, available before its body.
public struct IncomingHead: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public init(status: Int, headers: [(name: String, value: String)]) {
        self.status = status
        self.headers = headers
    }
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        for h in headers where h.name == lower { return h.value }
        return nil
    }
}

public struct IncomingResponse: Sendable {
    public var head: IncomingHead
    public var body: [UInt8]
    public init(head: IncomingHead, body: [UInt8]) {
        self.head = head
        self.body = body
    }
}

public enum TransferError: Error, CustomStringConvertible, Sendable {
    case connect(String)
    case timeout
    case failed(String)
    case cancelled

    public var description: String {
        switch self {
        case .connect(let m): return "connection failed: \(m)"
        case .timeout: return "timed out"
        case .failed(let m): return "transfer failed: \(m)"
        case .cancelled: return "cancelled"
        }
    }
}

/// One transfer in flight. Body bytes go to `onData` as they arrive (streaming) or are collected.
@LoopActor
final class CurlTransfer {
    let easy: UnsafeMutableRawPointer
    /// Called when the transfer object goes: the easy handle and header list return to the client.
    var recycle: ((UnsafeMutableRawPointer, String) -> Void)?
    var headerKey = ""
    var status = 0
    var headers: [(name: String, value: String)] = []
    var body: [UInt8] = []
    var onHead: ((IncomingHead) -> Void)?
    var onData: (([UInt8]) -> Void)?
    var headDelivered = false
    var continuation: CheckedContinuation<IncomingResponse, any Error>?
    /// Tells this transfer from a later one that reuses its address (a stale handle's cancel).
    let serial: UInt64

    init(easy: UnsafeMutableRawPointer, serial: UInt64) {
        self.easy = easy
        self.serial = serial
    }

    isolated deinit {
        if let recycle { recycle(easy, headerKey) } else { curl_easy_cleanup(easy) }
    }

    func deliverHeadIfNeeded() {
        guard !headDelivered else { return }
        headDelivered = true
        var code = 0
        gw_curl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &code)
        status = code
        onHead?(IncomingHead(status: status, headers: headers))
    }
}

/// libcurl's multi interface on the loop: one ev_io per socket curl asks for, one timer for curl's
/// timeout, and completion drained with curl_multi_info_read after every socket action.
/// Connections are kept alive and reused per host by curl's connection cache.
@LoopActor
public final class CurlClient: HTTPTransport {
    public static let shared = CurlClient()

    private let multi: UnsafeMutableRawPointer
    private let timer = Timer {}
    private var sockets: [Int32: IOWatcher] = [:]
    private var transfers: [UnsafeMutableRawPointer: CurlTransfer] = [:]
    /// Easy handles kept for reuse (reset between transfers), and header lists by their text:
    /// a call then allocates neither.
    private var idleHandles: [UnsafeMutableRawPointer] = []
    private var serials: UInt64 = 0
    private var headerLists: [String: (list: UnsafeMutablePointer<curl_slist>?, users: Int)] = [:]

    private init() {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
        multi = curl_multi_init()
        let me = Unmanaged.passUnretained(self).toOpaque()
        gw_curl_multi_setopt_ptr(multi, CURLMOPT_SOCKETDATA, me)
        gw_curl_multi_setopt_ptr(multi, CURLMOPT_TIMERDATA, me)
        gw_curl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0)
        gw_curl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, 256)
        gw_curl_multi_setopt_socket_cb(multi) { _, fd, what, userp, _ in
            let me = Unmanaged<CurlClient>.fromOpaque(userp!).takeUnretainedValue()
            LoopActor.assumeIsolated { me.socketChanged(fd, what) }
            return 0
        }
        gw_curl_multi_setopt_timer_cb(multi) { _, ms, userp in
            let me = Unmanaged<CurlClient>.fromOpaque(userp!).takeUnretainedValue()
            LoopActor.assumeIsolated { me.timerChanged(ms) }
            return 0
        }
        timer.setHandler { [unowned self] in self.action(fd: -1, flags: 0) }
    }

    private func socketChanged(_ fd: Int32, _ what: Int32) {
        if what == CURL_POLL_REMOVE {
            sockets[fd]?.stop()
            sockets[fd] = nil
            return
        }
        let watcher = sockets[fd] ?? IOWatcher(fd: fd) { [unowned self] events in
            var flags: Int32 = 0
            if events.contains(.read) { flags |= CURL_CSELECT_IN }
            if events.contains(.write) { flags |= CURL_CSELECT_OUT }
            self.action(fd: fd, flags: flags)
        }
        sockets[fd] = watcher
        var events: IOEvents = []
        if what == CURL_POLL_IN || what == CURL_POLL_INOUT { events.insert(.read) }
        if what == CURL_POLL_OUT || what == CURL_POLL_INOUT { events.insert(.write) }
        watcher.watch(events)
    }

    private func timerChanged(_ ms: Int) {
        if ms < 0 { timer.stop() } else { timer.start(after: Double(ms) / 1000) }
    }

    private func action(fd: Int32, flags: Int32) {
        var running: Int32 = 0
        curl_multi_socket_action(multi, fd, flags, &running)
        var left: Int32 = 0
        while let msg = curl_multi_info_read(multi, &left) {
            guard msg.pointee.msg == CURLMSG_DONE, let easy = msg.pointee.easy_handle else { continue }
            let code = msg.pointee.data.result
            var priv: UnsafeMutableRawPointer?
            gw_curl_easy_getinfo_ptr(easy, CURLINFO_PRIVATE, &priv)
            curl_multi_remove_handle(multi, easy)
            guard let priv, let transfer = transfers.removeValue(forKey: priv) else { continue }
            Unmanaged<CurlTransfer>.fromOpaque(priv).release()
            finish(transfer, code: code)
        }
    }

    private func finish(_ t: CurlTransfer, code: CURLcode) {
        let c = t.continuation
        t.continuation = nil
        guard let c else { return }
        switch code {
        case CURLE_OK:
            t.deliverHeadIfNeeded()
            c.resume(returning: IncomingResponse(head: IncomingHead(status: t.status, headers: t.headers), body: t.body))
        case CURLE_OPERATION_TIMEDOUT:
            c.resume(throwing: TransferError.timeout)
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION:
            c.resume(throwing: TransferError.connect(String(cString: curl_easy_strerror(code))))
        case CURLE_WRITE_ERROR where t.continuation == nil && t.onData == nil:
            c.resume(throwing: TransferError.cancelled)
        default:
            c.resume(throwing: TransferError.failed(String(cString: curl_easy_strerror(code))))
        }
    }

    /// Performs a request. With `onHead`/`onData`, the head and body chunks are delivered as they
    /// arrive and the returned body is empty. `cancel` can end the transfer early.
    public func perform(_ request: OutgoingRequest,
                        onHead: ((IncomingHead) -> Void)? = nil,
                        onData: (([UInt8]) -> Void)? = nil,
                        handle: ((TransferHandle) -> Void)? = nil) async throws -> IncomingResponse {
        let easy: UnsafeMutableRawPointer
        if let reused = idleHandles.popLast() {
            curl_easy_reset(reused)
            easy = reused
        } else {
            guard let fresh = curl_easy_init() else { throw TransferError.failed("curl_easy_init") }
            easy = fresh
        }
        serials += 1
        let t = CurlTransfer(easy: easy, serial: serials)
        t.recycle = { [unowned(unsafe) self] handle, headerKey in
            if self.idleHandles.count < 256 { self.idleHandles.append(handle) } else { curl_easy_cleanup(handle) }
            self.releaseHeaderList(headerKey)
        }
        t.onHead = onHead
        t.onData = onData
        let priv = Unmanaged.passRetained(t).toOpaque()
        gw_curl_easy_setopt_ptr(easy, CURLOPT_PRIVATE, priv)
        gw_curl_easy_setopt_ptr(easy, CURLOPT_WRITEDATA, priv)
        gw_curl_easy_setopt_ptr(easy, CURLOPT_HEADERDATA, priv)
        _ = request.url.withCString { gw_curl_easy_setopt_ptr(easy, CURLOPT_URL, $0) }
        gw_curl_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        gw_curl_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, Int(request.timeout * 1000))
        gw_curl_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Int(request.connectTimeout * 1000))
        gw_curl_easy_setopt_long(easy, CURLOPT_TCP_NODELAY, 1)
        gw_curl_easy_setopt_long(easy, CURLOPT_PROTOCOLS, Int(CURLPROTO_HTTP | CURLPROTO_HTTPS))
        if request.method == "POST" {
            gw_curl_easy_setopt_long(easy, CURLOPT_POST, 1)
            gw_curl_easy_setopt_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count))
            _ = request.body.withUnsafeBytes { gw_curl_easy_setopt_ptr(easy, CURLOPT_COPYPOSTFIELDS, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)) }
        } else if request.method != "GET" {
            _ = request.method.withCString { gw_curl_easy_setopt_ptr(easy, CURLOPT_CUSTOMREQUEST, $0) }
        }
        let (headerKey, list) = acquireHeaderList(request.headers)
        t.headerKey = headerKey
        gw_curl_easy_setopt_ptr(easy, CURLOPT_HTTPHEADER, list)
        gw_curl_easy_setopt_header_cb(easy) { ptr, size, n, userdata in
            let t = Unmanaged<CurlTransfer>.fromOpaque(userdata!).takeUnretainedValue()
            let count = size * n
            var bytes = UnsafeRawBufferPointer(start: ptr, count: count)[...]
            while let l = bytes.last, l == 13 || l == 10 || l == 32 || l == 9 { bytes = bytes.dropLast() }
            LoopActor.assumeIsolated {
                if bytes.starts(with: "HTTP/".utf8) {
                    t.headers = []  // a new response (after 100 Continue or a redirect)
                } else if let colon = bytes.firstIndex(of: UInt8(ascii: ":")) {
                    let name = String(decoding: bytes[..<colon], as: UTF8.self).lowercased()
                    var value = bytes[(colon + 1)...]
                    while let f = value.first, f == 32 || f == 9 { value = value.dropFirst() }
                    t.headers.append((name, String(decoding: value, as: UTF8.self)))
                }
            }
            return count
        }
        gw_curl_easy_setopt_write_cb(easy) { ptr, size, n, userdata in
            let t = Unmanaged<CurlTransfer>.fromOpaque(userdata!).takeUnretainedValue()
            let count = size * n
            let bytes = UnsafeRawBufferPointer(start: ptr, count: count)
            return LoopActor.assumeIsolated {
                t.deliverHeadIfNeeded()
                if let onData = t.onData {
                    onData(Array(bytes))
                } else {
                    if t.body.count + count > 64 << 20 { return 0 }  // refuse absurd bodies
                    t.body.append(contentsOf: bytes)
                }
                return count
            }
        }
        transfers[priv] = t
        handle?(TransferHandle(transport: self, key: priv, serial: t.serial))
        return try await withCheckedThrowingContinuation { c in
            t.continuation = c
            curl_multi_add_handle(multi, easy)
            // Start it now rather than on curl's 0 ms timer one loop pass later.
            action(fd: CURL_SOCKET_TIMEOUT, flags: 0)
        }
    }

    /// The curl list for these headers, built once per distinct set (a session repeats its own)
    /// and counted while transfers use it.
    private func acquireHeaderList(_ headers: [(name: String, value: String)]) -> (String, UnsafeMutablePointer<curl_slist>?) {
        var key = ""
        for h in headers { key += h.name; key += ": "; key += h.value; key += "\n" }
        if let cached = headerLists[key] {
            headerLists[key] = (cached.list, cached.users + 1)
            return (key, cached.list)
        }
        var list: UnsafeMutablePointer<curl_slist>?
        for h in headers { list = curl_slist_append(list, "\(h.name): \(h.value)") }
        list = curl_slist_append(list, "Expect:")  // no 100-continue round trip
        headerLists[key] = (list, 1)
        return (key, list)
    }

    /// A transfer is done with its list; unused lists are freed once there are many.
    private func releaseHeaderList(_ key: String) {
        guard let cached = headerLists[key] else { return }
        headerLists[key] = (cached.list, cached.users - 1)
        if headerLists.count > 256 {
            for (k, v) in headerLists where v.users <= 0 {
                curl_slist_free_all(v.list)
                headerLists[k] = nil
            }
        }
    }

    public func cancel(_ handle: TransferHandle) {
        let key = handle.key
        guard let t = transfers[key], t.serial == handle.serial else { return }
        transfers[key] = nil
        curl_multi_remove_handle(multi, t.easy)
        Unmanaged<CurlTransfer>.fromOpaque(key).release()
        let c = t.continuation
        t.continuation = nil
        c?.resume(throwing: TransferError.cancelled)
    }
}
