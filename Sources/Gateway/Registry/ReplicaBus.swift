import Drivers
import GatewayCore
import Reactor

/// Tells other replicas about committed changes through Redis: the key `mcp:registry:version`
/// (only ever raised, never lowered) and an event on `mcp:registry:events`. Redis is a signal,
/// never the truth: when it is down the change is still committed, and the key is rewritten from
/// the stored version when Redis comes back.
@LoopActor
public final class ChangeSignal {
    public static let versionKey = "mcp:registry:version"
    public static let channel = "mcp:registry:events"
    /// Ended MCP sessions (their ids), so every replica refuses them.
    public static let sessionsChannel = "mcp:sessions:revoked"
    /// Cancellations of handshake-era calls (`<session id>|<request id>`) that arrived at a replica
    /// not running the call.
    public static let cancelsChannel = "mcp:calls:cancelled"
    /// SET the key only if the new version is greater than what it holds.
    static let raiseScript = """
        local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
        local new = tonumber(ARGV[1])
        if new > cur then redis.call('SET', KEYS[1], ARGV[1]) return 1 end
        return 0
        """

    public let redis: RedisClient?
    private let log: Log

    public init(redis: RedisClient?, log: Log) {
        self.redis = redis
        self.log = log
    }

    public var state: String {
        guard let redis else { return "disabled" }
        return redis.isReady ? "up" : "down"
    }

    static func eventJSON(_ change: RegistryChange) -> JSON {
        .object([("version", .number(String(change.version))), ("previous", .number(String(change.previous))),
                 ("action", .string(change.action)), ("service", .string(change.service))])
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
