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
