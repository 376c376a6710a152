/// The replicas this one has heard from on the replica bus (`mcp:replicas`), and the decisions
/// about them: a peer is live while its last heartbeat is younger than three intervals; a replica is
/// current when it serves the newest registry version any live replica reports. Time goes in as
/// input (this process's monotonic clock when a heartbeat arrived), so a peer's clock never decides.
public struct ReplicaPeers: Sendable {
    /// One heartbeat: `{id, address, version, startedAt, uptime}`.
    public struct Heartbeat: Sendable, Equatable {
        public let id: String
        /// `HOST:PORT` as the replica listens.
        public let address: String
        /// The registry version of its tool index.
        public let version: Int64
        /// When it started (ISO 8601, its own clock; shown, never compared).
        public let startedAt: String
        /// Seconds since it started, when it sent this.
        public let uptime: Double

        public init(id: String, address: String, version: Int64, startedAt: String, uptime: Double) {
            self.id = id; self.address = address; self.version = version; self.startedAt = startedAt; self.uptime = uptime
        }

        /// Parses a bus message; nil for anything malformed or oversized (a message is never trusted blindly).
        public init?(_ payload: String) {
            guard payload.utf8.count <= 1024, let v = try? JSONParser.parse(Array(payload.utf8)),
                  let id = v["id"]?.stringValue, !id.isEmpty, id.utf8.count <= 64,
                  let address = v["address"]?.stringValue, address.utf8.count <= 300,
                  let version = v["version"]?.intValue, version >= 0,
                  let uptime = v["uptime"]?.doubleValue, uptime.isFinite, uptime >= 0 else { return nil }
            let startedAt = v["startedAt"]?.stringValue ?? ""
            guard startedAt.utf8.count <= 64 else { return nil }
            self.init(id: id, address: address, version: Int64(version), startedAt: startedAt, uptime: uptime)
        }

        public var json: JSON {
            .object([("id", .string(id)), ("address", .string(address)), ("version", .number(String(version))),
                     ("startedAt", .string(startedAt)), ("uptime", .double(uptime))])
        }
    }

    /// A peer as last heard, and when (this process's clock).
    public struct Peer: Sendable, Equatable {
        public let heartbeat: Heartbeat
        public let seenAt: Double
    }

    /// A replica as `GET /replicas` lists it.
    public struct View: Sendable, Equatable {
        public let id: String
        public let address: String
        public let version: Int64
        public let uptimeSeconds: Double
        public let isSelf: Bool
        public let current: Bool
    }

    /// Seconds between heartbeats; a peer not heard from for `3 * interval` is gone.
    public let interval: Double
    public var maxAge: Double { 3 * interval }
    private var peers: [String: Peer] = [:]

    public init(interval: Double) { self.interval = interval }

    /// A heartbeat arrived at `now`. True when it comes from a replica not live before (joined, or
    /// back). Its own (same id as `selfID`) are ignored.
    @discardableResult
    public mutating func record(_ heartbeat: Heartbeat, now: Double, selfID: String) -> Bool {
        guard heartbeat.id != selfID else { return false }
        let known = peers[heartbeat.id].map { now - $0.seenAt <= maxAge } ?? false
        peers[heartbeat.id] = Peer(heartbeat: heartbeat, seenAt: now)
        return !known
    }

    /// A replica said it is leaving. True when it was known.
    @discardableResult
    public mutating func remove(id: String) -> Bool { peers.removeValue(forKey: id) != nil }

    /// Forgets the peers not heard from within `maxAge`; returns their ids.
    @discardableResult
    public mutating func expire(now: Double) -> [String] {
        let gone = peers.filter { now - $0.value.seenAt > maxAge }.keys.sorted()
        for id in gone { peers[id] = nil }
        return gone
    }

    /// The id in a leaving message (`{"id":…,"leaving":true}`), nil for anything else.
    public static func leaving(_ payload: String) -> String? {
        guard payload.utf8.count <= 1024, let v = try? JSONParser.parse(Array(payload.utf8)), v["leaving"]?.boolValue == true,
              let id = v["id"]?.stringValue, !id.isEmpty, id.utf8.count <= 64 else { return nil }
        return id
    }

    public static func leavingMessage(id: String) -> String {
        JSON.object([("id", .string(id)), ("leaving", .bool(true))]).text
    }

    /// The peers heard from within `maxAge` of `now`, by id.
    public func fresh(now: Double) -> [Peer] {
        peers.values.filter { now - $0.seenAt <= maxAge }.sorted { $0.heartbeat.id < $1.heartbeat.id }
    }

    /// This replica and its fresh peers.
    public func liveCount(now: Double) -> Int { 1 + fresh(now: now).count }

    /// The newest registry version this replica knows of: its own, what storage said (`known`),
    /// and what any fresh peer reports.
    public func newestVersion(own: Int64, known: Int64, now: Double) -> Int64 {
        fresh(now: now).reduce(max(own, known)) { max($0, $1.heartbeat.version) }
    }

    /// Every live replica, this one first, each marked current when it is at `newest`. A peer's
    /// uptime is what it reported plus the time since it was heard.
    public func views(me: Heartbeat, newest: Int64, now: Double) -> [View] {
        let mine = View(id: me.id, address: me.address, version: me.version, uptimeSeconds: me.uptime, isSelf: true,
                        current: me.version >= newest)
        return [mine] + fresh(now: now).map { p in
            let h = p.heartbeat
            return View(id: h.id, address: h.address, version: h.version, uptimeSeconds: h.uptime + max(0, now - p.seenAt),
                        isSelf: false, current: h.version >= newest)
        }
    }
}
