import Drivers
import GatewayCore
import Reactor

/// The downstreams this replica talks to: one shared, kept-alive session per service (many
/// clients' calls go over it; the session's request ids are unique, so responses never cross),
/// and their health and circuit breakers (`monitor`), checked over the same sessions.
@LoopActor
final class DownstreamPool {
    private var sessions: [String: DownstreamSession] = [:]
    private var urls: [String: String] = [:]
    private let timeout: Double
    private let connectTimeout: Double
    private let transport: any HTTPTransport
    let monitor: DownstreamMonitor
    /// Notification streams from the downstreams (nil: not watched), and where their list changes go.
    private var watches: [String: DownstreamWatch] = [:]
    var watching = false
    var onListChanged: (String, String) -> Void = { _, _ in }
    /// A downstream's `notifications/resources/updated` (service, original URI).
    var onResourceUpdated: (String, String) -> Void = { _, _ in }
    /// The original URIs this replica's clients are subscribed to, per service.
    private var wantedResources: [String: Set<String>] = [:]
    private let log: Log

    init(timeout: Double, connectTimeout: Double, transport: any HTTPTransport = ReactorHTTPClient.shared,
         health: DownstreamMonitor.Settings = .init(), log: Log = Log(level: "warn", format: .text)) {
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.transport = transport
        self.log = log
        monitor = DownstreamMonitor(settings: health, log: log)
        monitor.check = { [unowned self] name in
            guard let url = self.urls[name] else { return nil }
            do {
                _ = try await self.session(service: name, url: url).request("ping", timeout: min(health.interval, 10))
                return nil
            } catch DownstreamError.rpc {
                return nil  // it answered: alive, even if it does not implement ping
            } catch {
                return DownstreamError(error).description
            }
        }
    }

    func session(service: String, url: String) -> DownstreamSession {
        if let s = sessions[service], s.url == url { return s }
        sessions[service]?.close()
        let s = DownstreamSession(url: url, timeout: timeout, connectTimeout: connectTimeout, transport: transport)
        sessions[service] = s
        return s
    }

    /// Follows a new snapshot: sessions of services that are gone or moved are dropped; health is
    /// tracked for exactly the snapshot's services.
    func retain(_ index: ToolIndex, changed: String? = nil) {
        if let changed { return retain(changed, in: index) }
        for (name, s) in sessions where index.service(named: name)?.url != s.url {
            s.close()
            sessions[name] = nil
        }
        urls = index.serviceURLs
        monitor.retain(urls.keys)
        guard watching else { return }
        for (name, w) in watches where urls[name] != w.url {
            w.stop()
            watches[name] = nil
        }
        for (name, url) in urls where watches[name] == nil { watch(name, url) }
    }

    /// A delta changed one service (or only views and tokens): follow that one, in O(1) — at
    /// 5,000 services, rebuilding every table costs a delta milliseconds.
    private func retain(_ name: String, in index: ToolIndex) {
        guard name != AccessConfig.changeKey else { return }
        let url = index.service(named: name)?.url
        if let s = sessions[name], s.url != url {
            s.close()
            sessions[name] = nil
        }
        urls[name] = url
        monitor.retain(one: name, present: url != nil)
        guard watching else { return }
        if let w = watches[name], w.url != url {
            w.stop()
            watches[name] = nil
        }
        if let url, watches[name] == nil { watch(name, url) }
    }

    private func watch(_ name: String, _ url: String) {
        let w = DownstreamWatch(service: name, url: url, transport: transport, connectTimeout: connectTimeout, log: log,
                                onListChanged: { [unowned self] service, method in self.onListChanged(service, method) })
        w.onResourceUpdated = { [unowned self] service, uri in self.onResourceUpdated(service, uri) }
        w.session = { [unowned self] in self.urls[name].map { self.session(service: name, url: $0) } }
        w.setResources(wantedResources[name] ?? [])
        watches[name] = w
        w.start()
    }

    /// The services of the snapshot last retained.
    var serviceNames: Dictionary<String, String>.Keys { urls.keys }

    /// Makes each downstream's stream ask for updates of exactly these resources.
    func setResourceSubscriptions(_ wanted: [String: Set<String>]) {
        wantedResources = wanted
        for (name, w) in watches { w.setResources(wanted[name] ?? []) }
    }

    /// Closes every notification stream (shutdown).
    func stopWatching() {
        for w in watches.values { w.stop() }
        watches = [:]
        watching = false
    }
}
