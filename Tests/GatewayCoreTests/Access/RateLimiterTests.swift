import Testing
@testable import GatewayCore

@Suite struct RateLimiterTests {
    @Test func aMinutesShareIsTheBurstAndRefillsSteadily() {
        var l = RateLimiter()
        for i in 0..<60 { #expect(l.take("k", perMinute: 60, replicas: 1, now: 0) == .allowed, "call \(i)") }
        guard case .limited(let wait) = l.take("k", perMinute: 60, replicas: 1, now: 0) else { Issue.record("61st call allowed"); return }
        #expect(abs(wait - 1) < 1e-9)
        #expect(l.take("k", perMinute: 60, replicas: 1, now: 0.5) != .allowed)
        #expect(l.take("k", perMinute: 60, replicas: 1, now: 1.0) == .allowed)
        #expect(l.take("other", perMinute: 60, replicas: 1, now: 1.0) == .allowed, "keys are independent")
    }

    @Test func replicasShareTheBudget() {
        var l = RateLimiter()
        var allowed = 0
        for _ in 0..<100 where l.take("k", perMinute: 60, replicas: 3, now: 10) == .allowed { allowed += 1 }
        #expect(allowed == 20)
        guard case .limited(let wait) = l.take("k", perMinute: 60, replicas: 3, now: 10) else { Issue.record("over budget"); return }
        #expect(abs(wait - 3) < 1e-9, "20 per minute per replica: one every 3 s")
    }

    @Test func memoryIsBoundedAndIdleBucketsAreForgotten() {
        var l = RateLimiter(maxBuckets: 100)
        for i in 0..<1000 { _ = l.take("k\(i)", perMinute: 10, replicas: 1, now: Double(i) * 0.001) }
        #expect(l.count <= 100)
        _ = l.take("late", perMinute: 10, replicas: 1, now: 500)
        #expect(l.count == 1)
    }
}
