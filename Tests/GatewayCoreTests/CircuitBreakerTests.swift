import Testing
@testable import GatewayCore

@Suite struct CircuitBreakerTests {
    @Test(arguments: [1, 2, 5])
    func opensAfterThresholdConsecutiveFailures(_ threshold: Int) {
        var b = CircuitBreaker(settings: .init(failureThreshold: threshold, coolDown: 10))
        for i in 1..<threshold {
            #expect(b.failed(now: Double(i)) == nil)
            #expect(b.admit(now: Double(i)).0 == .allow)
        }
        #expect(b.failed(now: 100) == .opened(retryAt: 110))
        #expect(b.admit(now: 105).0 == .reject(retryAt: 110))
    }

    @Test func aSuccessResetsTheCount() {
        var b = CircuitBreaker(settings: .init(failureThreshold: 3, coolDown: 10))
        _ = b.failed(now: 0)
        _ = b.failed(now: 0)
        #expect(b.succeeded() == nil)
        _ = b.failed(now: 0)
        _ = b.failed(now: 0)
        #expect(b.state == .closed(consecutiveFailures: 2))
    }

    @Test func afterTheCoolDownOneProbeDecides() {
        var b = CircuitBreaker(settings: .init(failureThreshold: 1, coolDown: 10))
        _ = b.failed(now: 0)
        #expect(b.admit(now: 9.9).0 == .reject(retryAt: 10))
        let (admission, transition) = b.admit(now: 10)
        #expect(admission == .probe && transition == .halfOpened)
        #expect(b.admit(now: 10.1).0 == .reject(retryAt: 20.1), "only one probe at a time")
        #expect(b.succeeded() == .closed)
        #expect(b.admit(now: 11).0 == .allow)
    }

    @Test func aFailedProbeOpensForAnotherCoolDown() {
        var b = CircuitBreaker(settings: .init(failureThreshold: 1, coolDown: 10))
        _ = b.failed(now: 0)
        _ = b.admit(now: 10)
        #expect(b.failed(now: 12) == .opened(retryAt: 22))
        #expect(b.admit(now: 21).0 == .reject(retryAt: 22))
        #expect(b.admit(now: 22).0 == .probe)
    }

    @Test func lateFailuresOfCallsAdmittedBeforeTheOpeningDoNotExtendIt() {
        var b = CircuitBreaker(settings: .init(failureThreshold: 1, coolDown: 10))
        _ = b.failed(now: 0)
        #expect(b.failed(now: 5) == nil)
        #expect(b.admit(now: 10).0 == .probe)
    }

    /// Random event sequences: a probe is admitted only from an open circuit whose cool-down
    /// passed, never while another probe is out; a rejection names a time in the future.
    @Test func randomSequencesAdmitOneProbeAtATime() {
        var rng = SplitMix64(seed: 5)
        for _ in 0..<200 {
            var b = CircuitBreaker(settings: .init(failureThreshold: 3, coolDown: 1))
            var now = 0.0
            for _ in 0..<100 {
                now += Double(Int.random(in: 0...4, using: &rng)) * 0.5
                let before = b.state
                switch Int.random(in: 0..<3, using: &rng) {
                case 0:
                    let (admission, _) = b.admit(now: now)
                    switch admission {
                    case .probe:
                        guard case .open(let until) = before else { Issue.record("probe from \(before)"); return }
                        #expect(until <= now)
                        #expect(b.state == .halfOpen)
                    case .reject(let retryAt):
                        #expect(retryAt > now || before == .halfOpen)
                        #expect(before != .closed(consecutiveFailures: 0))
                    case .allow:
                        guard case .closed = before else { Issue.record("allowed from \(before)"); return }
                    }
                case 1:
                    _ = b.succeeded()
                    #expect(b.state == .closed(consecutiveFailures: 0))
                default:
                    _ = b.failed(now: now)
                }
            }
        }
    }
}
