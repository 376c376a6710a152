import Testing
@testable import GatewayCore

@Suite struct NotificationStreamPolicyTests {
    @Test func failuresBackOffFromOneSecondToThirtyAndStartOverOnceOpen() {
        var p = NotificationStreamPolicy()
        var delays: [Double] = []
        for _ in 0..<7 {
            guard case .reopen(let d) = p.ended(status: 0, wasStream: false, acknowledged: false, restarting: false) else {
                Issue.record("a connection failure reopened at once"); return
            }
            delays.append(d)
        }
        #expect(delays == [1, 2, 4, 8, 16, 30, 30])
        p.opened()
        #expect(p.ended(status: 200, wasStream: true, acknowledged: true, restarting: false) == .reopen(after: 1))
        #expect(p.mode == .listen)
    }

    @Test(arguments: [(400, false), (404, false), (405, false), (200, false)])
    func aDownstreamWithoutListenIsWatchedTheHandshakeWay(_ status: Int, _ wasStream: Bool) {
        var p = NotificationStreamPolicy()
        #expect(p.ended(status: status, wasStream: wasStream, acknowledged: false, restarting: false) == .reopenNow)
        #expect(p.mode == .handshake)
    }

    @Test func anAcknowledgedListenThatEndsIsNotAbandoned() {
        var p = NotificationStreamPolicy()
        _ = p.ended(status: 200, wasStream: true, acknowledged: true, restarting: false)
        _ = p.ended(status: 503, wasStream: false, acknowledged: false, restarting: false)
        #expect(p.mode == .listen, "a 503 or an ended stream is a failure, not a missing listen")
    }

    @Test func aHandshakeDownstreamWithoutAGetStreamIsAskedEveryFiveMinutes() {
        var p = NotificationStreamPolicy()
        _ = p.ended(status: 404, wasStream: false, acknowledged: false, restarting: false)
        #expect(p.ended(status: 405, wasStream: false, acknowledged: false, restarting: false) == .reopen(after: 300))
        #expect(p.ended(status: 0, wasStream: false, acknowledged: false, restarting: false) == .reopen(after: 1))
        #expect(p.mode == .handshake, "the handshake era is kept once chosen")
    }

    @Test func aRestartReopensAtOnceWithoutTouchingTheBackoff() {
        var p = NotificationStreamPolicy()
        _ = p.ended(status: 0, wasStream: false, acknowledged: false, restarting: false)
        #expect(p.ended(status: 0, wasStream: false, acknowledged: false, restarting: true) == .reopenNow)
        #expect(p.backoff == 2 && p.mode == .listen)
    }
}
