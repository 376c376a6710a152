import Drivers
import GatewayCore
import Reactor

/// Holds one downstream's notification stream: a 2026-07-28 `subscriptions/listen` asking for
/// tools, resources and prompts list changes (and updates of the resources this replica's clients
/// subscribed to), and reports each `notifications/*/list_changed` and
/// `notifications/resources/updated` it carries. A downstream that does not serve
/// `subscriptions/listen` is watched the handshake era's way instead: the GET stream of the
/// pooled session, with `resources/subscribe` / `unsubscribe` requests on that session. The stream
/// is reopened when it ends or fails, after a backoff that grows from 1 s to 30 s (5 minutes for a
/// downstream that serves neither), and is closed for good by `stop`.
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
    /// The stream's mode and backoff: every reopen decision is its.
    private var policy = NotificationStreamPolicy()
    var mode: NotificationStreamPolicy.Mode { policy.mode }
    /// The current stream's state.
    private var parser = SSEParser()
    private var status = 0
    private var isStream = false
    private var acknowledged = false
    /// How long one stream may stay open before it is reopened.
    static let streamLifetime = 3600.0

    /// The pooled session a handshake-era watch uses (the pool's, shared with calls).
    var session: () -> DownstreamSession? = { nil }
    /// Resources subscribed on the current handshake-era session.
    private var subscribedOnSession: Set<String> = []

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
        if policy.mode == .handshake {  // subscriptions are requests on the session: no new stream
            syncSessionSubscriptions()
            return
        }
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
        if policy.mode == .handshake { return openHandshake() }
        var request = OutgoingRequest(url: url, timeout: Self.streamLifetime, connectTimeout: connectTimeout)
        request.headers = [
            ("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream"),
            ("MCP-Protocol-Version", MCPVersions.modern[0]), ("Mcp-Method", "subscriptions/listen"),
        ]
        request.body = Self.listenBody(resources: resources)
        beginStream()
        spawn { [self] in
            do {
                try await read(request)
            } catch {
                if stopped { return }
                if !restarting { log(.debug, "downstream notification stream failed", [("service", service), ("error", DownstreamError(error).description)]) }
            }
            ended()
        }
    }

    /// A stream of either mode ended (not stopped): the policy says when to open the next.
    private func ended() {
        transfer = nil
        inFlight = false
        guard !stopped else { return }
        let before = policy.mode
        let next = policy.ended(status: status, wasStream: isStream, acknowledged: acknowledged, restarting: restarting)
        restarting = false
        if policy.mode != before {
            log(.debug, "downstream has no subscriptions/listen, watching its GET stream", [("service", service)])
        }
        switch next {
        case .reopenNow: open()
        case .reopen(let delay): retry.start(after: delay)
        }
    }

    private func beginStream() {
        parser = SSEParser()
        status = 0
        isStream = false
        acknowledged = false
        inFlight = true
    }

    /// Performs the stream request of either mode, handing its events to `received` until it ends.
    private func read(_ request: OutgoingRequest) async throws {
        _ = try await transport.perform(request, onHead: { [weak self] head in
            guard let self else { return }
            self.status = head.status
            self.isStream = (head.header("content-type") ?? "").lowercased().hasPrefix("text/event-stream")
            if self.isStream, self.policy.mode == .handshake {
                self.policy.opened()
                self.log(.debug, "downstream GET stream open", [("service", self.service)])
            }
        }, onData: { [weak self] bytes in self?.received(bytes) }, handle: { [weak self] handle in
            self?.transfer = handle
            if self?.restarting == true || self?.stopped == true { handle.cancel() }
        })
    }

    /// Stream bytes of either mode: the notifications the gateway acts on.
    private func received(_ bytes: [UInt8]) {
        guard isStream else { return }
        for event in parser.feed(bytes) {
            guard let message = try? JSONParser.parse(Array(event.data.utf8)), let method = message["method"]?.stringValue else { continue }
            if method == "notifications/subscriptions/acknowledged" {
                acknowledged = true
                policy.opened()
                log(.debug, "downstream notification stream open", [("service", service)])
            } else if method.hasSuffix("/list_changed") {
                onListChanged(service, method)
            } else if method == "notifications/resources/updated", let uri = message["params"]?["uri"]?.stringValue {
                onResourceUpdated(service, uri)
            }
        }
    }

    /// The handshake era: the pooled session's GET stream (after `initialize` if needed), with the
    /// wanted resources subscribed on that session.
    private func openHandshake() {
        guard let session = session() else { return }
        beginStream()
        spawn { [self] in
            do {
                try await session.initialize()
                guard let sid = session.sessionID, let version = session.protocolVersion else {
                    // A stateless server: it has no stream to send notifications on.
                    status = 405
                    throw DownstreamError.notMCP("stateless (no session), so no GET stream to watch")
                }
                subscribedOnSession = []
                syncSessionSubscriptions()
                var request = OutgoingRequest(url: url, timeout: Self.streamLifetime, connectTimeout: connectTimeout)
                request.method = "GET"
                request.headers = [("Accept", "text/event-stream"), ("Mcp-Session-Id", sid), ("MCP-Protocol-Version", version)]
                try await read(request)
            } catch {
                if stopped { return }
                log(.debug, "downstream GET stream failed", [("service", service), ("error", DownstreamError(error).description)])
            }
            ended()
        }
    }

    /// Brings the session's resource subscriptions to `resources` (requests on the pooled session).
    private func syncSessionSubscriptions() {
        guard policy.mode == .handshake, let session = session(), session.isInitialized else { return }
        let add = resources.subtracting(subscribedOnSession), drop = subscribedOnSession.subtracting(resources)
        subscribedOnSession = resources
        for (uri, method) in add.map({ ($0, "resources/subscribe") }) + drop.map({ ($0, "resources/unsubscribe") }) {
            spawn { [log, service] in
                do { _ = try await session.request(method, params: .object([("uri", .string(uri))])) } catch {
                    log(.debug, "downstream \(method) failed", [("service", service), ("error", DownstreamError(error).description)])
                }
            }
        }
    }
}
