import Testing
@testable import GatewayCore

@Suite struct DownstreamHealthTests {
    @Test func failuresDegradeThenMarkDownAndOneSuccessRecovers() {
        var h = DownstreamHealth(settings: .init(downAfter: 2, degradedLatency: 1), now: 0)
        #expect(h.state == .healthy)
        #expect(h.failed("refused", now: 1) == .init(from: .healthy, to: .degraded))
        #expect(h.failed("refused", now: 2) == .init(from: .degraded, to: .down))
        #expect(h.since == 2)
        #expect(h.failed("refused", now: 3) == nil)
        #expect(h.lastError == "refused")
        #expect(h.succeeded(latency: 0.01, now: 4) == .init(from: .down, to: .healthy))
        #expect(h.since == 4)
    }

    @Test func slowSuccessesDegrade() {
        var h = DownstreamHealth(settings: .init(downAfter: 3, degradedLatency: 0.5), now: 0)
        for i in 0..<10 { _ = h.succeeded(latency: 0.1, now: Double(i)) }
        #expect(h.state == .healthy)
        var transitions: [DownstreamHealth.Transition] = []
        for i in 0..<20 { if let t = h.succeeded(latency: 2, now: Double(10 + i)) { transitions.append(t) } }
        #expect(transitions == [.init(from: .healthy, to: .degraded)])
        #expect(h.latency(quantile: 0.99) == 2)
    }

    @Test func quantilesOfTheRecentWindow() {
        var h = DownstreamHealth(now: 0)
        #expect(h.latency(quantile: 0.5) == nil)
        for i in 1...100 { _ = h.succeeded(latency: Double(i) / 1000, now: 0) }
        #expect(h.latency(quantile: 0.5) == 0.05)
        #expect(h.latency(quantile: 0.99) == 0.099)
        for _ in 0..<DownstreamHealth.window { _ = h.succeeded(latency: 0.2, now: 0) }
        #expect(h.latency(quantile: 0.5) == 0.2, "old latencies leave the window")
    }

    @Test(arguments: [1, 2, 4])
    func downExactlyAfterTheConfiguredCount(_ n: Int) {
        var h = DownstreamHealth(settings: .init(downAfter: n, degradedLatency: 1), now: 0)
        for i in 1..<n { _ = h.failed("x", now: Double(i)); #expect(h.state == .degraded) }
        _ = h.failed("x", now: Double(n))
        #expect(h.state == .down)
    }
}

@Suite struct PeerHealthTests {
    @Test func reportsRoundTripAndMalformedOnesAreDropped() {
        let r = PeerHealth.Report(replica: "ab12", service: "svc", state: "down", at: 1_700_000_000.5)
        #expect(PeerHealth.Report(r.json.text) == r)
        for bad in ["", "{}", "[]", #"{"replica":"x","service":"svc","state":"on fire","at":1}"#,
                    #"{"replica":"x","service":"bad name!","state":"down","at":1}"#,
                    #"{"replica":"","service":"svc","state":"down","at":1}"#,
                    #"{"replica":"x","service":"svc","state":"down","at":"soon"}"#] {
            #expect(PeerHealth.Report(bad) == nil, "\(bad)")
        }
    }

    @Test func theLatestViewPerReplicaIsKeptAndOldOnesExpire() {
        var peers = PeerHealth(maxAge: 60)
        peers.record(.init(replica: "r2", service: "svc", state: "down", at: 100))
        peers.record(.init(replica: "r1", service: "svc", state: "degraded", at: 90))
        peers.record(.init(replica: "r2", service: "svc", state: "healthy", at: 120))
        #expect(peers.views(of: "svc", now: 130).map { "\($0.replica)=\($0.state)" } == ["r1=degraded", "r2=healthy"])
        #expect(peers.views(of: "svc", now: 175).map(\.replica) == ["r2"], "r1's view is older than maxAge")
        peers.forget(servicesNotIn: ["other"])
        #expect(peers.views(of: "svc", now: 130).isEmpty)
    }
}

@Suite struct MedianWithoutSortTests {
    /// The counted median decision agrees with sorting, over random latencies and a window that wraps.
    @Test(arguments: [1, 7, 128, 300])
    func theCountedMedianAgreesWithTheSortedOne(_ calls: Int) {
        var g = SystemRandomNumberGenerator()
        var h = DownstreamHealth(settings: .init(downAfter: 2, degradedLatency: 0.5), now: 0)
        for i in 0..<calls {
            _ = h.succeeded(latency: Double.random(in: 0...1, using: &g), now: Double(i))
            #expect(h.medianIsSlow == ((h.latency(quantile: 0.5) ?? 0) > 0.5), "after \(i + 1) calls")
        }
    }
}
