@testable import Gateway
import GatewayCore
import LoopTesting
import Reactor
import Testing

/// The heartbeat shell without Redis: it knows itself, takes in what arrives on `mcp:replicas`,
/// drops a replica that says it is leaving, and reports who is current.
@Suite struct ReplicaHeartbeatTests {
    @LoopActor static func make(version: Int64 = 10) -> ReplicaHeartbeat {
        let beat = ReplicaHeartbeat(bus: ReplicaBus(redis: nil, log: Log(level: "error", format: .text)), interval: 5,
                                    log: Log(level: "error", format: .text), version: { version })
        beat.start(address: "127.0.0.1:3000")
        return beat
    }

    static func peer(_ id: String, version: Int64) -> String {
        ReplicaPeers.Heartbeat(id: id, address: "10.0.0.2:3000", version: version, startedAt: "", uptime: 3).json.text
    }

    @Test func withoutPeersItListsOnlyItself() async {
        await onLoop {
            let beat = Self.make()
            let report = beat.report
            let replicas = report["replicas"]?.arrayValue ?? []
            #expect(replicas.count == 1)
            #expect(replicas.first?["self"] == .bool(true) && replicas.first?["current"] == .bool(true))
            #expect(replicas.first?["address"]?.stringValue == "127.0.0.1:3000")
            #expect(replicas.first?["id"]?.stringValue == beat.id)
            #expect(report["version"]?.intValue == 10)
            #expect(beat.liveReplicaCount == 1)
        }
    }

    @Test func peersJoinAreComparedAndLeave() async {
        await onLoop {
            let beat = Self.make(version: 10)
            beat.received(Self.peer("aa", version: 12))
            beat.received(Self.peer(beat.id, version: 99))  // its own, back from Redis
            beat.received("{not json")
            #expect(beat.liveReplicaCount == 2)
            let replicas = beat.report["replicas"]?.arrayValue ?? []
            #expect(replicas.map { $0["id"]?.stringValue } == [beat.id, "aa"])
            #expect(replicas.map { $0["current"] } == [.bool(false), .bool(true)])
            #expect(beat.report["version"]?.intValue == 12)
            beat.received(ReplicaPeers.leavingMessage(id: "aa"))
            #expect(beat.liveReplicaCount == 1)
            beat.storedVersion = { 11 }
            #expect(beat.report["replicas"]?.arrayValue?.first?["current"] == .bool(false), "storage holds a newer version")
        }
    }
}
