import Testing
@testable import GatewayCore

@Suite struct HTTPConnectionStateTests {
    static func fresh() -> HTTPConnectionState { HTTPConnectionState(requestTimeout: 30, idleTimeout: 60) }

    @Test func aRequestDeadlineCountsFromTheFirstByte() {
        var s = Self.fresh()
        #expect(s.arm(.request, now: 100, timerActive: false) == 30)
        #expect(s.arm(.request, now: 110, timerActive: true) == nil, "more bytes do not move it")
        #expect(s.deadlineAt == 130)
    }

    /// Lazy timers: the idle deadline after a request is later than the timer already running,
    /// so the timer is left; when it fires early it is re-armed for the rest.
    @Test func aLaterDeadlineLeavesTheTimerAndReArmsWhenItFiresEarly() {
        var s = Self.fresh()
        _ = s.arm(.request, now: 0, timerActive: false)  // timer at 30
        s.dispatched(keepAlive: true, draining: false)
        _ = s.responseFinished(draining: false)
        #expect(s.arm(.idle, now: 1, timerActive: true) == nil, "the running timer (30) fires before the idle deadline (61)")
        #expect(s.timerFired(now: 30, idle: true, answering: false) == .rearm(after: 31))
        #expect(s.timerFired(now: 61, idle: true, answering: false) == .idleTimedOut)
        #expect(s.deadline == .none)
    }

    @Test func anEarlierDeadlineRestartsTheTimer() {
        var s = HTTPConnectionState(requestTimeout: 5, idleTimeout: 60)
        _ = s.arm(.idle, now: 0, timerActive: false)  // timer at 60
        #expect(s.arm(.request, now: 1, timerActive: true) == 5, "the request deadline (6) is before the timer (60)")
    }

    @Test(arguments: [true, false])
    func anExpiredRequestDeadlineIs408OnlyWhileNothingIsAnswered(_ answering: Bool) {
        var s = Self.fresh()
        _ = s.arm(.request, now: 0, timerActive: false)
        #expect(s.timerFired(now: 30, idle: false, answering: answering) == (answering ? .none : .requestTimedOut))
        #expect(s.closeAfterFlush == !answering)
    }

    @Test func theIdleDeadlineClosesOnlyAnIdleConnection() {
        var s = Self.fresh()
        _ = s.arm(.idle, now: 0, timerActive: false)
        #expect(s.timerFired(now: 60, idle: false, answering: false) == .none, "bytes arrived meanwhile")
        #expect(s.timerFired(now: 61, idle: true, answering: false) == .none, "and the deadline was spent")
    }

    @Test func aDispatchedRequestHasNoDeadline() {
        var s = Self.fresh()
        _ = s.arm(.request, now: 0, timerActive: false)
        s.dispatched(keepAlive: true, draining: false)
        #expect(s.timerFired(now: 31, idle: false, answering: true) == .none)
    }

    @Test(arguments: [(true, false, true), (false, false, false), (true, true, false), (false, true, false)])
    func keepAliveUnlessTheClientOrTheServerSaysClose(_ clientKeepAlive: Bool, _ draining: Bool, _ open: Bool) {
        var s = Self.fresh()
        s.dispatched(keepAlive: clientKeepAlive, draining: false)
        #expect(s.responseFinished(draining: draining) == open)
        #expect(s.closeAfterFlush == !open)
    }

    @Test func aStreamEndedWhileDrainingCloses() {
        var s = Self.fresh()
        s.dispatched(keepAlive: true, draining: false)
        s.streamEnded(draining: false)
        #expect(!s.closeAfterFlush)
        s.dispatched(keepAlive: true, draining: false)
        s.streamEnded(draining: true)
        #expect(s.closeAfterFlush)
    }

    @Test(arguments: [
        // pending, scheduled, backedUp, answering, buffered, closing → read, write
        (0, false, false, false, 0, false, true, false),
        (10, false, false, false, 0, false, true, true),
        (10, true, false, false, 0, false, true, false),
        (10, false, true, false, 0, false, false, true),
        (0, false, false, true, 100, false, true, false),
        (0, false, false, true, 70000, false, false, false),
        (0, false, false, false, 0, true, false, false),
    ])
    func interest(_ pending: Int, _ scheduled: Bool, _ backedUp: Bool, _ answering: Bool, _ buffered: Int, _ closing: Bool,
                  _ read: Bool, _ write: Bool) {
        var s = Self.fresh()
        if closing { s.closeWhenFlushed() }
        let got = s.interest(pendingOutput: pending, flushScheduled: scheduled, backedUp: backedUp, answering: answering, bufferedInput: buffered)
        #expect(got.read == read && got.write == write)
    }
}
