import Drivers
import Glibc
import GatewayCore
import Reactor

/// Keeps this replica's tool index at the stored registry version.
///
/// A change event (from Redis, or from a mutation made here) whose `previous` is the snapshot's
/// version is applied as a delta: one service's row is read and patched in. Anything else — a gap,
/// an unknown version, start-up — is one full reload; reloads coalesce (one running, one pending).
/// Pub/sub is only a hint: the fence compares the snapshot with the stored version on every Redis
/// (re)connect and every `VERSION_CHECK_INTERVAL`, and reloads when behind.
@LoopActor
final class IndexSync {
    private let store: any RegistryStore
    private let signal: ReplicaBus
    private let log: Log
    private let current: () -> ToolIndex
    /// Installs a snapshot; the second argument names the one service a delta changed (or
    /// `AccessConfig.changeKey`), nil after a full reload.
    private let install: (ToolIndex, String?) -> Void
    private let pageSize: Int
    private let fence = Timer {}
    /// Trims the heap once full reloads have stopped for a while (see `releaseFreedMemory`).
    private let trim = Timer { Snapshots.releaser.submit { Reactor.releaseFreedMemory() } }
    static let trimDelay = 5.0
    /// Where full snapshots are built, off the loop, half each.
    private static let builders = [BlockingWorker(), BlockingWorker()]
    /// Every decision: delta or reload, coalescing, the fence.
    private var machine = IndexSyncMachine()
    var storedVersion: Int64 { machine.storedVersion }
    private(set) var reloads = 0
    private(set) var deltas = 0
    private(set) var lastReloadSeconds = 0.0
    private(set) var lastDeltaSeconds = 0.0

    static func ms(_ seconds: Double) -> String { String(Double(Int(seconds * 1_000_000)) / 1000) }
    var onReload: (Double) -> Void = { _ in }
    /// A change this replica is about to apply (newer than its snapshot): version, previous,
    /// action, service; a change that arrives twice may be reported twice.
    var onApplying: (Int64, Int64?, String, String?) -> Void = { _, _, _, _ in }

    private let interval: Double

    init(store: any RegistryStore, signal: ReplicaBus, log: Log, pageSize: Int, interval: Double,
         current: @escaping () -> ToolIndex, install: @escaping (ToolIndex, String?) -> Void) {
        self.store = store
        self.signal = signal
        self.log = log
        self.pageSize = pageSize
        self.interval = interval
        self.current = current
        self.install = install
        fence.setHandler { [unowned self] in self.check() }
    }

    /// Storage is ready: a first full reload, a first fence check, then the fence on its timer.
    func start() {
        fence.start(after: interval, repeating: interval)
        reload()
        check()
    }

    /// A change event: `{version, previous, action, service}`.
    func apply(event payload: String) {
        guard let event = try? JSONParser.parse(payload), let version = event["version"]?.intValue else {
            log(.warn, "ignored malformed registry event")
            return
        }
        let previous = event["previous"]?.intValue.map(Int64.init), named = event["service"]?.stringValue
        if Int64(version) > current().version {
            onApplying(Int64(version), previous, event["action"]?.stringValue ?? "change", named)
        }
        // A change of virtual servers or tokens names no service: it travels under the access key.
        let service = event["scope"]?.stringValue == "access" ? AccessConfig.changeKey : named
        apply(version: Int64(version), previous: previous, service: service)
    }

    /// A change committed here: patched in with the stored row we already hold, or (when this
    /// snapshot is not at `previous`) after a full reload — either way before the caller replies.
    func applyLocal(_ change: RegistryChange, record: ServiceRecord?, access: AccessConfig? = nil) async {
        let index = current()
        let decision = machine.localChange(version: change.version, previous: change.previous, current: index.version)
        if decision != .skip { onApplying(change.version, change.previous, change.action, change.service) }
        switch decision {
        case .skip:
            return
        case .applyDelta:
            let started = EventLoop.clock()
            if let access {
                install(index.replacingAccess(access, version: change.version), change.service)
            } else {
                install(index.replacing(change.service, with: record, version: change.version), change.service)
            }
            deltaApplied(change.service, version: change.version, started: started, origin: "local")
        case .reloadFirst:
            _ = await fullReload()
        }
    }

    private func apply(version: Int64, previous: Int64?, service: String?) {
        carryOut(machine.changeEvent(version: version, previous: previous, service: service, current: current().version))
    }

    /// One full reload now, or right after the one running.
    func reload() { carryOut(machine.reload()) }

    /// The fence: compare with the stored version; reload when behind; keep Redis's key raised.
    func check() { carryOut(machine.fenceTick()) }

    private func carryOut(_ action: IndexSyncMachine.Action) {
        switch action {
        case .none:
            return
        case .readRow(let service, let version, let previous):
            spawn { [self] in
                let started = EventLoop.clock()
                do {
                    // A change of virtual servers or tokens reads them all (a few rows); else one service's row.
                    let access = service == AccessConfig.changeKey ? try await store.accessConfig() : nil
                    let record = access == nil ? try await store.service(named: service) : nil
                    let (install, then) = machine.deltaRowRead(previous: previous, current: current().version)
                    if install {
                        self.install(access.map { current().replacingAccess($0, version: version) }
                                     ?? current().replacing(service, with: record, version: version), service)
                        deltaApplied(service, version: version, started: started, origin: "event")
                    }
                    carryOut(then)
                } catch {
                    log(.warn, "index delta failed, reloading", [("service", service), ("error", "\(error)")])
                    carryOut(machine.deltaReadFailed())
                }
            }
        case .startReload:
            spawn { [self] in
                let installed = await fullReload()
                carryOut(machine.reloadFinished(installed: installed))
            }
        case .checkPending:
            spawn { [self] in
                let stored = try? await store.version()
                carryOut(machine.pendingChecked(stored: stored, current: current().version))
            }
        case .readStoredVersion:
            spawn { [self] in await fence() }
        }
    }

    private func deltaApplied(_ service: String, version: Int64, started: Double, origin: String) {
        deltas += 1
        lastDeltaSeconds = EventLoop.clock() - started
        log(.debug, "index delta applied", [("service", service), ("version", String(version)),
                                            ("ms", Self.ms(lastDeltaSeconds)), ("origin", origin)])
    }

    private func fence() async {
        let stored: Int64?
        do {
            stored = try await store.version()
        } catch {
            log(.warn, "version fence check failed", [("error", "\(error)")])
            stored = nil
        }
        let have = current().version
        let (then, compareRedis) = machine.fenceRead(stored: stored, current: have)
        if then != .none, let stored {
            log(.info, "index behind the stored version, reloading", [("have", String(have)), ("stored", String(stored))])
        }
        carryOut(then)
        guard compareRedis, let stored else { return }
        guard let redis = signal.redis, redis.isReady else { machine.fenceDone(); return }
        let held: Int64?
        do {
            held = try await redis.command(["GET", ReplicaBus.versionKey]).string.flatMap { Int64($0) }
        } catch {
            log(.warn, "version fence could not read redis", [("error", "\(error)")])
            machine.fenceDone()
            return
        }
        if machine.redisKeyRead(held: held) { await signal.resync(storedVersion: stored) }
    }

    /// Reads and builds the whole registry, installs it; the version installed, nil on failure.
    private func fullReload() async -> Int64? {
        let started = EventLoop.clock()
        do {
            let version = try await store.version()
            let services = try await store.services()
            let access = try await store.accessConfig()
            let fetched = EventLoop.clock()
            // Building a snapshot of 100k tools takes ~170 ms of CPU: done on a worker thread, so
            // the loop keeps answering (from the current snapshot) meanwhile.
            let pageSize = self.pageSize
            let half = services.count / 2
            let first = Array(services[..<half]), second = Array(services[half...])
            async let a = Self.builders[0].run { first.map(ToolIndex.Service.init(record:)) }
            async let b = Self.builders[1].run { second.map(ToolIndex.Service.init(record:)) }
            let built = try await a + b
            let next = ToolIndex(version: version, built: built, pageSize: pageSize, access: access)
            let builtAt = EventLoop.clock()
            install(next, nil)
            // Timed from the first byte read to the swap; the heap is trimmed after it, off the loop.
            lastReloadSeconds = EventLoop.clock() - started
            releaseFreedMemory()
            reloads += 1
            onReload(lastReloadSeconds)
            log(.debug, "index reloaded", [("version", String(version)), ("services", String(next.serviceCount)),
                                           ("tools", String(next.toolCount)), ("ms", Self.ms(lastReloadSeconds)),
                                           ("fetch_ms", Self.ms(fetched - started)), ("build_ms", Self.ms(builtAt - fetched))])
            return version
        } catch {
            log(.warn, "index reload failed", [("error", "\(error)")])
            return nil
        }
    }

    /// A full reload frees the previous rows and, later, a dropped snapshot: the pages go back to
    /// the system so the resident size reflects the snapshot, not the peak of building it. Not at
    /// once: reloads in a row reuse the memory the previous ones freed, where after a trim every
    /// page of the next build is a fresh page fault (a third of a reload's time at 100k tools).
    /// `trimDelay` seconds after the last full reload, `malloc_trim` (which walks the whole heap)
    /// runs on the worker that frees dropped snapshots, after them.
    private func releaseFreedMemory() {
        trim.start(after: Self.trimDelay)
    }
}
