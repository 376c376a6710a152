import Drivers
import GatewayCore
import Reactor

/// What replicas tell each other, through Redis. It owns every channel: committed registry changes
/// (the key `mcp:registry:version`, only ever raised, and an event on `mcp:registry:events`), ended
/// sessions (`mcp:sessions:revoked`) and cancellations of calls running elsewhere
/// (`mcp:calls:cancelled`), both ways: the command connection publishes, the subscriber connection
/// listens. Redis is a signal, never the truth: when it is down a change is still committed (the
/// key is rewritten from the stored version when Redis comes back), and every message that could
/// not go out is logged.
@LoopActor
public final class ReplicaBus {
    public static let versionKey = "mcp:registry:version"
    public static let channel = "mcp:registry:events"
    /// Ended MCP sessions (their ids), so every replica refuses them.
    public static let sessionsChannel = "mcp:sessions:revoked"
    /// Cancellations of handshake-era calls (`<session id>|<request id>`) that arrived at a replica
    /// not running the call.
    public static let cancelsChannel = "mcp:calls:cancelled"
    /// Downstream health transitions each replica saw, so an operator asking any replica sees them all.
    public static let healthChannel = "mcp:health:events"
    /// Handshake-era resource subscriptions (`{"session","uri","on"}`): the replica holding the
    /// session's GET stream subscribes downstream and delivers the updates.
    public static let subscriptionsChannel = "mcp:resources:subscriptions"
    /// Heartbeats (`{id, address, version, startedAt, uptime}`), so each replica knows the live ones.
    public static let replicasChannel = "mcp:replicas"

    /// This process's name on the bus (random per start).
    public let replicaID: String = {
        var rng = SystemRandomNumberGenerator()
        return String((0..<8).map { _ in Array("0123456789abcdef")[Int(rng.next() % 16)] })
    }()
    /// SET the key only if the new version is greater than what it holds.
    static let raiseScript = """
        local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
        local new = tonumber(ARGV[1])
        if new > cur then redis.call('SET', KEYS[1], ARGV[1]) return 1 end
        return 0
        """

    public let redis: RedisClient?
    /// The subscriber connection, once `listen` started it.
    public private(set) var subscriber: RedisClient?
    private let log: Log

    public init(redis: RedisClient?, log: Log) {
        self.redis = redis
        self.log = log
    }

    /// What arrives from the other replicas.
    public struct Handlers {
        public var registryEvent: (String) -> Void
        public var sessionRevoked: (String) -> Void
        public var callCancelled: (String) -> Void
        /// A health transition another replica saw (its own are not delivered back).
        public var healthChanged: (PeerHealth.Report) -> Void = { _ in }
        /// A session subscribed to (true) or unsubscribed from a resource on another replica.
        public var subscriptionChanged: (String, String, Bool) -> Void = { _, _, _ in }
        /// A heartbeat on `mcp:replicas` (this replica's own included: the receiver filters).
        public var heartbeat: (String) -> Void = { _ in }
        /// After every (re)connect of either connection: whatever was missed meanwhile is caught
        /// up by the caller (the version fence).
        public var reconnected: () -> Void
    }

    /// Subscribes to every channel on a connection of its own (`settings` as the command one).
    public func listen(settings: Configuration.RedisSettings, _ handlers: Handlers) {
        let sub = RedisClient(settings: settings, name: "subscriber", log: { [log] level, m in log(level, m) })
        sub.subscribe(Self.channel, handler: handlers.registryEvent)
        sub.subscribe(Self.sessionsChannel, handler: handlers.sessionRevoked)
        sub.subscribe(Self.cancelsChannel, handler: handlers.callCancelled)
        sub.subscribe(Self.replicasChannel, handler: handlers.heartbeat)
        let me = replicaID
        sub.subscribe(Self.subscriptionsChannel) { payload in
            guard let v = try? JSONParser.parse(Array(payload.utf8)), v["replica"]?.stringValue != me,
                  let session = v["session"]?.stringValue, let uri = v["uri"]?.stringValue, let on = v["on"]?.boolValue,
                  session.utf8.count <= 256, uri.utf8.count <= 4096 else { return }
            handlers.subscriptionChanged(session, uri, on)
        }
        sub.subscribe(Self.healthChannel) { payload in
            guard let report = PeerHealth.Report(payload), report.replica != me else { return }
            handlers.healthChanged(report)
        }
        sub.onReady(handlers.reconnected)
        redis?.onReady(handlers.reconnected)
        sub.start()
        subscriber = sub
    }

    /// Tells the other replicas a session ended here. Without Redis they learn of it only when the
    /// session's client comes to them with it; that is logged.
    public func announceRevocation(_ sessionID: String) {
        publish(Self.sessionsChannel, sessionID, what: "session revocation", [("session", String(sessionID.suffix(8)))])
    }

    /// Asks the replica running a call to cancel it (`<session id>|<request id>`).
    public func announceCancellation(_ key: String) {
        let session = key.split(separator: "|", maxSplits: 1).first.map { String($0.suffix(8)) } ?? ""
        publish(Self.cancelsChannel, key, what: "cancellation", [("session", session)])
    }

    /// Tells the other replicas a session subscribed to or unsubscribed from a resource here.
    public func announceSubscription(session: String, uri: String, on: Bool) {
        let message = JSON.object([("replica", .string(replicaID)), ("session", .string(session)), ("uri", .string(uri)),
                                   ("on", .bool(on))]).text
        publish(Self.subscriptionsChannel, message, what: "resource subscription", [("session", String(session.suffix(8)))])
    }

    /// Tells the other replicas a downstream changed state here.
    public func announceHealth(service: String, transition: DownstreamHealth.Transition) {
        let report = PeerHealth.Report(replica: replicaID, service: service, state: transition.to.rawValue, at: Timestamp.now)
        publish(Self.healthChannel, report.json.text, what: "health transition", [("service", service)])
    }

    /// Publishes this replica's heartbeat. Silent while Redis is down: the next one follows in an
    /// interval, and the outage is logged by the connection itself.
    public func announceHeartbeat(_ message: String) {
        guard let redis, redis.isReady else { return }
        publish(Self.replicasChannel, message, what: "heartbeat", [("replica", replicaID)])
    }

    /// Publishes this replica's goodbye on `mcp:replicas` and waits until Redis took it, at most
    /// `seconds` (shutdown goes on either way).
    public func announceLeaving(_ message: String, within seconds: Double) async {
        guard let redis, redis.isReady else { return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            var resumed = false
            let deadline = Timer {}
            deadline.setHandler {
                guard !resumed else { return }
                resumed = true
                c.resume()
            }
            deadline.start(after: seconds)
            spawn {
                _ = try? await redis.command(["PUBLISH", Self.replicasChannel, message])
                deadline.stop()
                guard !resumed else { return }
                resumed = true
                c.resume()
            }
        }
    }

    private func publish(_ channel: String, _ message: String, what: String, _ fields: [(String, String)]) {
        guard let redis else { return }  // a single node: nobody else to tell
        guard redis.isReady else {
            log(.warn, "\(what) not announced to other replicas: redis is down", fields)
            return
        }
        let log = self.log
        spawn {
            do {
                _ = try await redis.command(["PUBLISH", channel, message])
            } catch {
                log(.warn, "\(what) not announced to other replicas", fields + [("error", "\(error)")])
            }
        }
    }

    public func stop() {
        redis?.stop()
        subscriber?.stop()
    }

    public var state: String {
        guard let redis else { return "disabled" }
        return redis.isReady ? "up" : "down"
    }

    /// `{version, previous, action, service}`; a change of virtual servers or tokens names no
    /// service and carries `"scope":"access"` instead.
    static func eventJSON(_ change: RegistryChange) -> JSON {
        let access = change.service == AccessConfig.changeKey
        return .object([("version", .number(String(change.version))), ("previous", .number(String(change.previous))),
                        ("action", .string(change.action)), ("service", access ? .null : .string(change.service))]
                       + (access ? [("scope", .string("access"))] : []))
    }

    /// Publishes a committed change. Returns "published", "pending" (Redis down: caught up later)
    /// or "disabled" (no Redis configured).
    public func publish(_ change: RegistryChange) async -> String {
        guard let redis else { return "disabled" }
        do {
            _ = try await redis.command(["EVAL", Self.raiseScript, "1", Self.versionKey, String(change.version)])
            _ = try await redis.command(["PUBLISH", Self.channel, Self.eventJSON(change).text])
            return "published"
        } catch {
            log(.warn, "registry change not signalled, will resync when redis returns",
                [("version", String(change.version)), ("service", change.service), ("error", "\(error)")])
            return "pending"
        }
    }

    /// Raises the Redis key to the stored version (after a reconnect, or when Redis restarted empty).
    public func resync(storedVersion: Int64) async {
        guard let redis, redis.isReady else { return }
        do {
            let raised = try await redis.command(["EVAL", Self.raiseScript, "1", Self.versionKey, String(storedVersion)])
            if raised == .integer(1) {
                log(.info, "redis version key rewritten from storage", [("version", String(storedVersion))])
                _ = try await redis.command(["PUBLISH", Self.channel, JSON.object([
                    ("version", .number(String(storedVersion))), ("previous", .null),
                    ("action", .string("resync")), ("service", .null)]).text])
            }
        } catch {
            log(.warn, "redis resync failed", [("error", "\(error)")])
        }
    }
}
