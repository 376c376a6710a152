import Testing
@testable import GatewayCore

@Suite struct IndexSyncMachineTests {
    typealias M = IndexSyncMachine

    @Test func anEventRightAfterTheSnapshotIsADelta() {
        var m = M()
        #expect(m.changeEvent(version: 11, previous: 10, service: "a", current: 10) == .readRow(service: "a", version: 11, previous: 10))
        #expect(m.storedVersion == 11)
        let (install, then) = m.deltaRowRead(previous: 10, current: 10)
        #expect(install && then == .none)
    }

    @Test(arguments: [
        (Int64?.some(9), "a" as String?), (nil, "a"), (11, "a"), (10, nil),
    ])
    func anythingElseNewerIsAReload(_ previous: Int64?, _ service: String?) {
        var m = M()
        #expect(m.changeEvent(version: 12, previous: previous, service: service, current: 10) == .startReload)
        #expect(m.reloading)
    }

    @Test(arguments: [Int64(5), 10])
    func oldOrDuplicateEventsAreIgnored(_ version: Int64) {
        var m = M()
        #expect(m.changeEvent(version: version, previous: version - 1, service: "a", current: 10) == .none)
        #expect(!m.reloading)
    }

    @Test func aSnapshotThatMovedDuringTheRowReadReloads() {
        var m = M()
        _ = m.changeEvent(version: 11, previous: 10, service: "a", current: 10)
        let (install, then) = m.deltaRowRead(previous: 10, current: 12)
        #expect(!install && then == .startReload)
        #expect(m.deltaReadFailed() == .none, "a second reason to reload while one runs only marks it pending")
        #expect(m.pending)
    }

    /// A burst of events during a reload: one reload runs, one more at most, and that one only
    /// if storage moved past what the first installed.
    @Test(arguments: [1, 2, 10])
    func burstsCoalesceIntoOneMoreReload(_ burst: Int) {
        var m = M()
        #expect(m.reload() == .startReload)
        for i in 0..<burst {
            #expect(m.changeEvent(version: 20 + Int64(i), previous: 10, service: "a", current: 10) == .none)
        }
        #expect(m.reloadFinished(installed: 21) == .checkPending)
        // storage at 20 + burst - 1: moved past 21 only when the burst went further
        let stored = 20 + Int64(burst) - 1
        let then = m.pendingChecked(stored: stored, current: 21)
        #expect(then == (stored > 21 ? .startReload : .none))
        if then == .startReload {
            #expect(m.reloadFinished(installed: stored) == .none)
        }
        #expect(!m.reloading && !m.pending)
    }

    @Test func aFailedPendingCheckReloadsAnyway() {
        var m = M()
        _ = m.reload()
        _ = m.reload()
        #expect(m.reloadFinished(installed: nil) == .checkPending)
        #expect(m.pendingChecked(stored: nil, current: 0) == .startReload)
        #expect(m.reloading)
    }

    @Test func localChangesPatchOrReloadFirst() {
        var m = M()
        #expect(m.localChange(version: 11, previous: 10, current: 10) == .applyDelta)
        #expect(m.localChange(version: 11, previous: 10, current: 11) == .skip)
        #expect(m.localChange(version: 13, previous: 12, current: 11) == .reloadFirst)
        _ = m.reload()
        #expect(m.localChange(version: 14, previous: 13, current: 13) == .reloadFirst, "not while a reload runs")
    }

    @Test func theFenceRunsOneCheckAtATime() {
        var m = M()
        #expect(m.fenceTick() == .readStoredVersion)
        #expect(m.fenceTick() == .none)
        let (then, compare) = m.fenceRead(stored: 15, current: 10)
        #expect(then == .startReload && compare)
        #expect(m.redisKeyRead(held: 12) == true, "redis behind storage: rewrite")
        #expect(m.fenceTick() == .readStoredVersion)
        let (then2, compare2) = m.fenceRead(stored: 15, current: 15)
        #expect(then2 == .none && compare2)
        #expect(m.redisKeyRead(held: 15) == false)
        #expect(m.redisKeyRead(held: nil) == true, "an absent key is rewritten")
    }

    @Test func aFailedFenceReadEndsTheCheck() {
        var m = M()
        _ = m.fenceTick()
        let (then, compare) = m.fenceRead(stored: nil, current: 10)
        #expect(then == .none && !compare)
        #expect(m.fenceTick() == .readStoredVersion)
        m.fenceDone()
        #expect(m.fenceTick() == .readStoredVersion)
    }

    /// Random interleavings of events, reads and reload completions against a simulated store:
    /// the machine never runs two reloads at once, and once everything settles the snapshot is at
    /// the stored version.
    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6, 7, 8])
    func randomInterleavingsConverge(_ seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var m = M()
        var stored: Int64 = 1
        var snapshot: Int64 = 0
        var running: [M.Action] = []  // outstanding I/O, completed in random order
        func take(_ a: M.Action) {
            guard a != .none else { return }
            if a == .startReload { #expect(!running.contains(.startReload), "two reloads at once") }
            running.append(a)
        }
        func complete(_ a: M.Action) {
            switch a {
            case .readRow(_, let version, let previous):
                let (install, then) = m.deltaRowRead(previous: previous, current: snapshot)
                if install { snapshot = version }
                take(then)
            case .startReload:
                snapshot = max(snapshot, stored)
                take(m.reloadFinished(installed: snapshot))
            case .checkPending:
                take(m.pendingChecked(stored: stored, current: snapshot))
            case .readStoredVersion:
                let (then, compare) = m.fenceRead(stored: stored, current: snapshot)
                take(then)
                if compare { _ = m.redisKeyRead(held: stored) }
            case .none:
                break
            }
        }
        take(m.reload())
        for _ in 0..<300 {
            switch Int.random(in: 0..<4, using: &rng) {
            case 0:  // a commit elsewhere, and its event (sometimes lost)
                let previous = stored
                stored += Int64.random(in: 1...3, using: &rng)
                if Bool.random(using: &rng) {
                    take(m.changeEvent(version: stored, previous: previous, service: "s", current: snapshot))
                }
            case 1:
                take(m.fenceTick())
            default:  // complete one outstanding operation
                guard !running.isEmpty else { continue }
                complete(running.remove(at: Int.random(in: 0..<running.count, using: &rng)))
            }
        }
        // No more commits: outstanding work finishes, then the fence runs until nothing changes.
        for _ in 0..<200 {
            if running.isEmpty {
                take(m.fenceTick())
                if running.isEmpty { break }
            }
            complete(running.remove(at: Int.random(in: 0..<running.count, using: &rng)))
            if running.isEmpty && snapshot == stored { break }
        }
        #expect(running.isEmpty)
        #expect(snapshot == stored, "seed \(seed): snapshot \(snapshot), stored \(stored)")
        #expect(!m.reloading && !m.checking)
    }
}
