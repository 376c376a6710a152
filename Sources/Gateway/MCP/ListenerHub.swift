import GatewayCore
import HTTP
import Reactor

/// The streams that want `notifications/tools/list_changed`: handshake-era GET streams (one per
/// session) and 2026-07-28 `subscriptions/listen` streams. Keep-alive comments flow on a timer.
@LoopActor
final class ListenerHub {
    private struct Listener {
        let stream: ResponseStream
        /// The session (handshake era) or nil (2026 listen stream).
        let session: String?
        /// The listen request's id, echoed as `_meta.subscriptionId` (2026 era).
        let subscriptionID: JSON?
        /// The list_changed methods it asked for (a handshake-era stream gets every one).
        let wants: Set<String>
        /// The federated resource URIs a 2026 listen asked updates for (a handshake-era stream's
        /// come from its session's `resources/subscribe`).
        let resources: Set<String>
        /// The virtual server it listens on (nil: `/mcp`).
        let view: String?
    }

    /// Resource subscriptions of handshake-era sessions (federated URIs), whichever replica took
    /// the `resources/subscribe`: kept in step through the replica bus.
    private(set) var sessionResources: [String: Set<String>] = [:]
    /// Called whenever the resources this replica's listeners want may have changed.
    var onResourcesChanged: () -> Void = {}

    static let allLists: Set<String> = [
        "notifications/tools/list_changed", "notifications/resources/list_changed", "notifications/prompts/list_changed",
    ]
    private var listeners: [ObjectIdentifier: Listener] = [:]
    private let keepAlive = Timer {}

    init(keepAliveInterval: Double) {
        keepAlive.setHandler { [unowned self] in self.ping() }
        keepAlive.start(after: keepAliveInterval, repeating: keepAliveInterval)
    }

    var count: Int { listeners.count }

    func hasStream(session: String) -> Bool { listeners.values.contains { $0.session == session } }

    func add(_ stream: ResponseStream, session: String?, subscriptionID: JSON?, wants: Set<String> = allLists,
             resources: Set<String> = [], view: String? = nil) {
        let key = ObjectIdentifier(stream)
        listeners[key] = Listener(stream: stream, session: session, subscriptionID: subscriptionID, wants: wants, resources: resources,
                                  view: view)
        stream.onClose { [weak self] in
            self?.listeners[key] = nil
            self?.onResourcesChanged()
        }
        if !resources.isEmpty || (session.map { sessionResources[$0]?.isEmpty == false } ?? false) { onResourcesChanged() }
    }

    /// A session (re)subscribed or unsubscribed `uri` (here or on another replica).
    func setSubscribed(session: String, uri: String, _ on: Bool) {
        if on {
            sessionResources[session, default: []].insert(uri)
        } else {
            sessionResources[session]?.remove(uri)
            if sessionResources[session]?.isEmpty == true { sessionResources[session] = nil }
        }
        onResourcesChanged()
    }

    /// The federated URIs the listeners on this replica want updates of.
    var wantedResources: Set<String> {
        var out = Set<String>()
        for l in listeners.values {
            out.formUnion(l.resources)
            if let s = l.session, let uris = sessionResources[s] { out.formUnion(uris) }
        }
        return out
    }

    /// A resource changed: `notifications/resources/updated` to the listeners subscribed to it.
    func notifyResourceUpdated(_ uri: String) {
        let plain = MCPReply.event(JSONRPC.notification(method: "notifications/resources/updated",
                                                        params: .object([("uri", .string(uri))])).serialized())
        for l in listeners.values {
            if let sub = l.subscriptionID {
                guard l.resources.contains(uri) else { continue }
                let params = JSON.object([("uri", .string(uri)), ("_meta", .object([("io.modelcontextprotocol/subscriptionId", sub)]))])
                l.stream.write(MCPReply.event(JSONRPC.notification(method: "notifications/resources/updated", params: params).serialized()))
            } else if let s = l.session, sessionResources[s]?.contains(uri) == true {
                l.stream.write(plain)
            }
        }
    }

    func endSession(_ session: String) {
        sessionResources[session] = nil
        for l in listeners.values where l.session == session { l.stream.end() }
        onResourcesChanged()
    }

    func notifyToolsChanged() { notify("notifications/tools/list_changed") }

    /// The views listened on (nil: `/mcp`).
    var views: Set<String?> { Set(listeners.values.map(\.view)) }

    /// A virtual server was deleted: the streams listening on it end.
    func endView(_ view: String) {
        for l in listeners.values where l.view == view { l.stream.end() }
    }

    /// Sends `method` (a list_changed notification) to every listener of `view` that wants it.
    func notify(_ method: String, view: String? = nil) {
        let plain = MCPReply.event(JSONRPC.notification(method: method).serialized())
        for l in listeners.values where l.wants.contains(method) && l.view == view {
            if let sub = l.subscriptionID {
                let params = JSON.object([("_meta", .object([("io.modelcontextprotocol/subscriptionId", sub)]))])
                l.stream.write(MCPReply.event(JSONRPC.notification(method: method, params: params).serialized()))
            } else {
                l.stream.write(plain)
            }
        }
    }

    /// The list_changed notifications for what differs between two listings.
    func notifyChanges(_ changed: (tools: Bool, resources: Bool, prompts: Bool), view: String? = nil) {
        if changed.tools { notify("notifications/tools/list_changed", view: view) }
        if changed.resources { notify("notifications/resources/list_changed", view: view) }
        if changed.prompts { notify("notifications/prompts/list_changed", view: view) }
    }

    private func ping() {
        let comment = Array(": keepalive\n\n".utf8)
        for l in listeners.values { l.stream.write(comment) }
    }
}
