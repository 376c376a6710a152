import Drivers
import GatewayCore
import Reactor

/// Holds one downstream's notification stream: a 2026-07-28 `subscriptions/listen` asking for
/// tools, resources and prompts list changes, and reports each `notifications/*/list_changed` it
/// carries. The stream is reopened when it ends or fails, after a backoff that grows from 1 s to
/// 30 s (to 5 minutes for a downstream that does not serve `subscriptions/listen`), and is closed
/// for good by `stop`.
///
/// Ownership: the watcher's table in `DownstreamPool` holds it; the task running the stream holds
/// it while a transfer is open; `stop` cancels that transfer, so nothing outlives the service.
@LoopActor
final class DownstreamWatch {
    let service: String
    let url: String
    private let transport: any HTTPTransport
    private let connectTimeout: Double
    private let log: Log
    private let onListChanged: (String, String) -> Void
    /// A `notifications/resources/updated` for one of `resources` (service, original URI).
    var onResourceUpdated: (String, String) -> Void = { _, _ in }
    /// The original URIs this replica's clients are subscribed to: the listen asks for them.
    private(set) var resources: Set<String> = []
    private var restarting = false
    /// A stream request is running (from `open` until its task ends).
    private var inFlight = false
    private var transfer: TransferHandle?
    private var stopped = false
    private let retry = Timer {}
    private var backoff = 1.0
    /// The current stream's state.
    private var parser = SSEParser()
    private var status = 0
    private var isStream = false
    private var acknowledged = false
    /// How long one stream may stay open before it is reopened.
    static let streamLifetime = 3600.0

    init(service: String, url: String, transport: any HTTPTransport, connectTimeout: Double, log: Log,
         onListChanged: @escaping (String, String) -> Void) {
        self.service = service
        self.url = url
        self.transport = transport
        self.connectTimeout = connectTimeout
        self.log = log
        self.onListChanged = onListChanged
        retry.setHandler { [unowned self] in self.open() }
    }

    /// The listen request: every list change, and updates of `resources` (sorted, so the same set
    /// gives the same bytes).
    static func listenBody(resources: Set<String>) -> [UInt8] {
        var filter: [(String, JSON)] = [
            ("toolsListChanged", .bool(true)), ("resourcesListChanged", .bool(true)), ("promptsListChanged", .bool(true)),
        ]
        if !resources.isEmpty { filter.append(("resourceSubscriptions", .array(resources.sorted().map { .string($0) }))) }
        return JSONRPC.request(id: .string("mcp-gateway-listen"), method: "subscriptions/listen", params: .object([
            ("_meta", .object([
                (MCPVersions.metaProtocolVersion, .string(MCPVersions.modern[0])),
                ("io.modelcontextprotocol/clientCapabilities", .object([])),
            ])),
            ("notifications", .object(filter)),
        ])).serialized()
    }

    /// Changes the resources the stream asks updates for: the stream is reopened with the new set.
    func setResources(_ uris: Set<String>) {
        guard uris != resources, !stopped else { return }
        resources = uris
        guard started else { return }
        if inFlight {
            restarting = true
            transfer?.cancel()  // (a transfer whose handle has not arrived yet is cancelled when it does)
        } else {
            retry.stop()
            open()
        }
    }

    private var started = false

    func start() {
        started = true
        open()
    }

    func stop() {
        stopped = true
        retry.stop()
        transfer?.cancel()
        transfer = nil
    }

    private func open() {
        guard !stopped else { return }
        var request = OutgoingRequest(url: url, timeout: Self.streamLifetime, connectTimeout: connectTimeout)
        request.headers = [
            ("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream"),
            ("MCP-Protocol-Version", MCPVersions.modern[0]), ("Mcp-Method", "subscriptions/listen"),
        ]
        request.body = Self.listenBody(resources: resources)
        parser = SSEParser()
        status = 0
        isStream = false
        acknowledged = false
        inFlight = true
        spawn { [self] in
            do {
                _ = try await transport.perform(request, onHead: { [weak self] head in
                    self?.status = head.status
                    self?.isStream = (head.header("content-type") ?? "").lowercased().hasPrefix("text/event-stream")
                }, onData: { [weak self] bytes in
                    guard let self, self.isStream else { return }
                    for event in self.parser.feed(bytes) {
                        guard let message = try? JSONParser.parse(Array(event.data.utf8)), let method = message["method"]?.stringValue else { continue }
                        if method == "notifications/subscriptions/acknowledged" {
                            self.acknowledged = true
                            self.backoff = 1
                            self.log(.debug, "downstream notification stream open", [("service", self.service)])
                        } else if method.hasSuffix("/list_changed") {
                            self.onListChanged(self.service, method)
                        } else if method == "notifications/resources/updated", let uri = message["params"]?["uri"]?.stringValue {
                            self.onResourceUpdated(self.service, uri)
                        }
                    }
                }, handle: { [weak self] handle in
                    self?.transfer = handle
                    if self?.restarting == true || self?.stopped == true { handle.cancel() }
                })
            } catch {
                if stopped { return }
                if !restarting { log(.debug, "downstream notification stream failed", [("service", service), ("error", DownstreamError(error).description)]) }
            }
            transfer = nil
            inFlight = false
            guard !stopped else { return }
            if restarting {  // the set of resources changed: reopen at once
                restarting = false
                open()
                return
            }
            // A downstream that does not serve subscriptions/listen answers without a stream.
            let unsupported = !acknowledged && (status == 400 || status == 404 || status == 405 || (status == 200 && !isStream))
            let delay = unsupported ? 300 : backoff
            if !unsupported { backoff = min(backoff * 2, 30) }
            retry.start(after: delay)
        }
    }
}
