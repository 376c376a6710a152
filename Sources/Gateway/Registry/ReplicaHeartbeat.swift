import GatewayCore
import Reactor

/// This replica's heartbeat on the replica bus (`mcp:replicas`), and the peers it hears there.
/// Every `REPLICA_HEARTBEAT_INTERVAL` seconds, and at once when its registry version moves, when
/// Redis (re)connects or when a new peer shows up (so the newcomer learns of it within a message),
/// it publishes `{id, address, version, startedAt, uptime}`. The decisions (who is live, who is
/// current) are `ReplicaPeers`'; this keeps the clock and the messages. Without Redis it knows only
/// itself.
@LoopActor
final class ReplicaHeartbeat {
    private let bus: ReplicaBus
    private let log: Log
    /// The registry version this replica's index serves.
    private let version: () -> Int64
    /// The newest registry version it knows is stored (set once the index sync exists).
    var storedVersion: () -> Int64 = { 0 }
    private var peers: ReplicaPeers
    private let timer = Timer {}
    private let startedAt = EventLoop.clock()
    private let startedAtText = Timestamp.iso8601(Timestamp.now)
    /// `HOST:PORT`, once listening.
    private(set) var address = ""

    init(bus: ReplicaBus, interval: Double, log: Log, version: @escaping () -> Int64) {
        self.bus = bus
        self.log = log
        self.version = version
        peers = ReplicaPeers(interval: interval)
        timer.setHandler { [unowned self] in self.beat() }
    }

    var id: String { bus.replicaID }

    /// This replica and the peers heard from within three intervals: for code that shares
    /// something between replicas (a limit, a quota).
    var liveReplicaCount: Int { peers.liveCount(now: EventLoop.clock()) }

    /// Starts beating (listening on `address`).
    func start(address: String) {
        self.address = address
        guard bus.redis != nil else { return }
        timer.start(after: peers.interval, repeating: peers.interval)
    }

    /// Stops beating and tells the peers this replica is leaving, so they drop it at once (waiting
    /// at most `seconds` for Redis to take the message).
    func leave(within seconds: Double) async {
        timer.stop()
        await bus.announceLeaving(ReplicaPeers.leavingMessage(id: id), within: seconds)
    }

    private var me: ReplicaPeers.Heartbeat {
        ReplicaPeers.Heartbeat(id: id, address: address, version: version(), startedAt: startedAtText,
                               uptime: ((EventLoop.clock() - startedAt) * 10).rounded() / 10)
    }

    /// Publishes a heartbeat now (and forgets the peers that fell silent).
    func beat() {
        for gone in peers.expire(now: EventLoop.clock()) {
            log(.info, "replica gone", [("replica", gone), ("reason", "no heartbeat within \(Int(peers.maxAge * 1000)) ms")])
        }
        bus.announceHeartbeat(me.json.text)
    }

    /// A message on `mcp:replicas`.
    func received(_ payload: String) {
        if let leaving = ReplicaPeers.leaving(payload) {
            if leaving != id, peers.remove(id: leaving) { log(.info, "replica gone", [("replica", leaving), ("reason", "leaving")]) }
            return
        }
        guard let heartbeat = ReplicaPeers.Heartbeat(payload) else {
            log(.debug, "ignored malformed heartbeat")
            return
        }
        if peers.record(heartbeat, now: EventLoop.clock(), selfID: id) {
            log(.info, "replica joined", [("replica", heartbeat.id), ("address", heartbeat.address),
                                          ("version", String(heartbeat.version))])
            beat()  // so the newcomer knows this one without waiting an interval
        }
    }

    /// `GET /replicas`: the live replicas, this one first, and the newest registry version known.
    var report: JSON {
        let now = EventLoop.clock()
        let newest = peers.newestVersion(own: version(), known: storedVersion(), now: now)
        return .object([
            ("replicas", .array(peers.views(me: me, newest: newest, now: now).map { v in
                .object([("id", .string(v.id)), ("address", .string(v.address)), ("version", .number(String(v.version))),
                         ("uptimeSeconds", .double(v.uptimeSeconds)), ("self", .bool(v.isSelf)), ("current", .bool(v.current))])
            })),
            ("version", .number(String(newest))),
            ("heartbeatIntervalSeconds", .double(peers.interval)),
        ])
    }
}
