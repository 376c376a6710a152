import Testing
@testable import GatewayCore

/// The refresh policy driven as the JWKS fetcher would: events in time order, each a question
/// ("fetch now?") or a report ("the fetch ended"), checked against the answers it should give.
@Suite struct JWKSRefreshPolicyTests {
    enum Event {
        case ask(Int64, unknownKid: Bool, expect: Bool)
        case done(Int64, ok: Bool)
    }

    func run(_ events: [Event], _ policy: JWKSRefreshPolicy = JWKSRefreshPolicy(), sourceLocation: SourceLocation = #_sourceLocation) {
        var p = policy
        for (i, event) in events.enumerated() {
            switch event {
            case let .ask(now, unknownKid, expected):
                let answer = p.shouldFetch(now: now, unknownKid: unknownKid)
                #expect(answer == expected, "event \(i): at \(now) unknownKid=\(unknownKid)", sourceLocation: sourceLocation)
            case let .done(now, ok):
                p.fetched(now: now, ok: ok)
            }
        }
    }

    @Test func fetchesAtStartThenEveryMaxAge() {
        run([
            .ask(1000, unknownKid: false, expect: true),
            .done(1001, ok: true),
            .ask(1002, unknownKid: false, expect: false),
            .ask(1300, unknownKid: false, expect: false),
            .ask(1301, unknownKid: false, expect: true),    // 300 s after the fetch ended
            .done(1301, ok: true),
            .ask(1600, unknownKid: false, expect: false),
            .ask(1601, unknownKid: false, expect: true),
        ])
    }

    @Test func anUnknownKidFetchesAtMostOncePerMinInterval() {
        run([
            .ask(0, unknownKid: false, expect: true),
            .done(0, ok: true),
            .ask(10, unknownKid: true, expect: false),      // the set is 10 s old: a rotation cannot be that fresh
            .ask(29, unknownKid: true, expect: false),
            .ask(30, unknownKid: true, expect: true),
            .done(31, ok: true),
            .ask(32, unknownKid: true, expect: false),       // a made-up kid does not hammer the issuer
            .ask(60, unknownKid: true, expect: false),
            .ask(61, unknownKid: true, expect: true),
            .done(61, ok: true),
            .ask(100, unknownKid: false, expect: false),     // the unknown-kid fetch restarted the max-age clock
            .ask(361, unknownKid: false, expect: true),
        ])
    }

    @Test func oneFetchAtATime() {
        run([
            .ask(0, unknownKid: false, expect: true),
            .ask(0, unknownKid: false, expect: false),
            .ask(5, unknownKid: true, expect: false),
            .ask(1000, unknownKid: false, expect: false),    // still waiting for the first to end
            .done(1000, ok: true),
            .ask(1000, unknownKid: true, expect: false),
            .ask(1030, unknownKid: true, expect: true),
            .ask(1030, unknownKid: true, expect: false),
        ])
    }

    @Test func failuresBackOffDoublingToTheCapWhateverTheReason() {
        var events: [Event] = [.ask(0, unknownKid: false, expect: true), .done(0, ok: false)]
        var now: Int64 = 0
        for delay: Int64 in [1, 2, 4, 8, 16, 32, 60, 60] {
            events += [
                .ask(now + delay - 1, unknownKid: true, expect: false),
                .ask(now + delay - 1, unknownKid: false, expect: false),
                .ask(now + delay, unknownKid: false, expect: true),
                .done(now + delay, ok: false),
            ]
            now += delay
        }
        // Recovery: back to max age, and the back-off starts over at the next failure.
        events += [
            .ask(now + 60, unknownKid: false, expect: true),
            .done(now + 60, ok: true),
            .ask(now + 60 + 299, unknownKid: false, expect: false),
            .ask(now + 60 + 300, unknownKid: false, expect: true),
            .done(now + 360, ok: false),
            .ask(now + 360, unknownKid: true, expect: false),
            .ask(now + 361, unknownKid: true, expect: true),
        ]
        run(events)
    }

    @Test func anUnknownKidAfterAFailureWaitsOnlyForTheBackOff() {
        run([
            .ask(0, unknownKid: false, expect: true),
            .done(0, ok: true),
            .ask(300, unknownKid: false, expect: true),
            .done(300, ok: false),                           // the old keys stay; retry in 1 s
            .ask(301, unknownKid: true, expect: true),       // not held to the 30 s unknown-kid interval
            .done(301, ok: true),
            .ask(302, unknownKid: true, expect: false),
        ])
    }

    @Test func settingsAreHonoured() {
        let policy = JWKSRefreshPolicy(maxAge: 10, minInterval: 5, retryBase: 3, retryMax: 7)
        run([
            .ask(0, unknownKid: false, expect: true), .done(0, ok: true),
            .ask(4, unknownKid: true, expect: false), .ask(5, unknownKid: true, expect: true), .done(5, ok: true),
            .ask(14, unknownKid: false, expect: false), .ask(15, unknownKid: false, expect: true), .done(15, ok: false),
            .ask(17, unknownKid: true, expect: false), .ask(18, unknownKid: false, expect: true), .done(18, ok: false),
            .ask(23, unknownKid: false, expect: false), .ask(24, unknownKid: false, expect: true), .done(24, ok: false),
            .ask(30, unknownKid: false, expect: false), .ask(31, unknownKid: false, expect: true),  // capped at 7
        ], policy)
    }

    @Test func manyFailuresDoNotOverflowTheBackOff() {
        var p = JWKSRefreshPolicy()
        var now: Int64 = 0
        for _ in 0..<200 {
            let fetch = p.shouldFetch(now: now, unknownKid: false)
            #expect(fetch)
            p.fetched(now: now, ok: false)
            now += 60
        }
        #expect(p.failures == 200)
        #expect(p.quietUntil == now, "still capped at 60 s")
    }
}
