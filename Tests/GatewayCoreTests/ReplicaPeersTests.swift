import Testing
@testable import GatewayCore

@Suite struct ReplicaPeersTests {
    private func beat(_ id: String, version: Int64 = 10, uptime: Double = 1) -> ReplicaPeers.Heartbeat {
        .init(id: id, address: "10.0.0.1:3000", version: version, startedAt: "2026-01-01T00:00:00.000Z", uptime: uptime)
    }

    @Test func heartbeatRoundTrips() throws {
        let h = beat("ab12", version: 1_795_563_772_123, uptime: 42.5)
        #expect(ReplicaPeers.Heartbeat(h.json.text) == h)
    }

    @Test(arguments: [
        "", "nope", "[]", #"{"address":"a:1","version":1,"uptime":1}"#,
        #"{"id":"","address":"a:1","version":1,"uptime":1}"#,
        #"{"id":"x","address":"a:1","version":-1,"uptime":1}"#,
        #"{"id":"x","address":"a:1","version":"1","uptime":1}"#,
        #"{"id":"x","address":"a:1","version":1,"uptime":-2}"#,
        #"{"id":"x","address":7,"version":1,"uptime":1}"#,
    ])
    func malformedHeartbeatsAreRefused(_ payload: String) {
        #expect(ReplicaPeers.Heartbeat(payload) == nil)
    }

    @Test func oversizedHeartbeatIsRefused() {
        let id = String(repeating: "x", count: 65)
        #expect(ReplicaPeers.Heartbeat(#"{"id":"\#(id)","address":"a:1","version":1,"uptime":1}"#) == nil)
        #expect(ReplicaPeers.Heartbeat(String(repeating: " ", count: 2000)) == nil)
    }

    @Test func peersExpireAfterThreeIntervals() {
        var peers = ReplicaPeers(interval: 5)
        peers.record(beat("a"), now: 100, selfID: "me")
        peers.record(beat("b"), now: 104, selfID: "me")
        #expect(peers.liveCount(now: 104) == 3)
        #expect(peers.fresh(now: 115).map(\.heartbeat.id) == ["a", "b"])  // exactly 3 intervals: still live
        #expect(peers.fresh(now: 115.1).map(\.heartbeat.id) == ["b"])
        #expect(peers.liveCount(now: 120) == 1)
        peers.record(beat("a"), now: 121, selfID: "me")  // heard again: back
        #expect(peers.liveCount(now: 121) == 2)
    }

    @Test func expireForgetsAndRemoveDropsAtOnce() {
        var peers = ReplicaPeers(interval: 1)
        peers.record(beat("a"), now: 0, selfID: "me")
        peers.record(beat("b"), now: 2, selfID: "me")
        let gone = peers.expire(now: 4), again = peers.expire(now: 4)
        #expect(gone == ["a"] && again == [])
        #expect(peers.fresh(now: 0).map(\.heartbeat.id) == ["b"])  // a is gone even for an earlier clock
        let removed = peers.remove(id: "b"), removedTwice = peers.remove(id: "b")
        #expect(removed && !removedTwice)
        #expect(peers.liveCount(now: 2) == 1)
    }

    @Test func recordSaysWhenAPeerJoinsOrComesBack() {
        var peers = ReplicaPeers(interval: 1)
        // silent for more than 3 intervals: back; its own heartbeat never counts
        let joined = [(beat("a"), 0.0), (beat("a"), 1), (beat("a"), 10), (beat("me"), 10)].map {
            peers.record($0.0, now: $0.1, selfID: "me")
        }
        #expect(joined == [true, false, true, false])
    }

    @Test func leavingMessages() {
        #expect(ReplicaPeers.leaving(ReplicaPeers.leavingMessage(id: "ab12")) == "ab12")
        #expect(ReplicaPeers.leaving(beat("ab12").json.text) == nil)
        #expect(ReplicaPeers.leaving(#"{"id":"","leaving":true}"#) == nil)
        #expect(ReplicaPeers.leaving(#"{"id":"x","leaving":"yes"}"#) == nil)
        #expect(ReplicaPeers.Heartbeat(ReplicaPeers.leavingMessage(id: "ab12")) == nil)
    }

    @Test func ownHeartbeatsAreNotPeers() {
        var peers = ReplicaPeers(interval: 5)
        peers.record(beat("me"), now: 1, selfID: "me")
        #expect(peers.liveCount(now: 1) == 1)
    }

    @Test func currentMeansAtTheNewestVersionAnyoneReports() {
        var peers = ReplicaPeers(interval: 5)
        peers.record(beat("a", version: 12), now: 0, selfID: "me")
        peers.record(beat("b", version: 10), now: 0, selfID: "me")
        let newest = peers.newestVersion(own: 10, known: 11, now: 1)
        #expect(newest == 12)
        let views = peers.views(me: beat("me", version: 10), newest: newest, now: 1)
        #expect(views.map(\.id) == ["me", "a", "b"])
        #expect(views.map(\.isSelf) == [true, false, false])
        #expect(views.map(\.current) == [false, true, false])
        // A stale peer no longer counts towards the newest version.
        #expect(peers.newestVersion(own: 10, known: 0, now: 16) == 10)
    }

    @Test func storedVersionAheadOfEveryoneMakesNobodyCurrent() {
        let peers = ReplicaPeers(interval: 5)
        let newest = peers.newestVersion(own: 3, known: 4, now: 0)
        #expect(peers.views(me: beat("me", version: 3), newest: newest, now: 0).map(\.current) == [false])
    }

    @Test func peerUptimeGrowsSinceItWasHeard() {
        var peers = ReplicaPeers(interval: 5)
        peers.record(beat("a", uptime: 30), now: 100, selfID: "me")
        let a = peers.views(me: beat("me"), newest: 10, now: 104).last!
        #expect(a.uptimeSeconds == 34)
        #expect(a.current)
    }
}
