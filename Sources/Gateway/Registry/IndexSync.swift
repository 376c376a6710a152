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
    private let signal: ChangeSignal
    private let log: Log
    private let current: () -> ToolIndex
    private let install: (ToolIndex) -> Void
    private let pageSize: Int
    private let fence = Timer {}
    /// Where full snapshots are built, off the loop, half each.
    private static let builders = [BlockingWorker(), BlockingWorker()]
    private var reloading = false
    private var pending = false
    private var checking = false
    private(set) var storedVersion: Int64 = 0
    private(set) var reloads = 0
    private(set) var deltas = 0
    private(set) var lastReloadSeconds = 0.0
    private(set) var lastDeltaSeconds = 0.0

    static func ms(_ seconds: Double) -> String { String(Double(Int(seconds * 1_000_000)) / 1000) }
    var onReload: (Double) -> Void = { _ in }

    init(store: any RegistryStore, signal: ChangeSignal, log: Log, pageSize: Int, interval: Double,
         current: @escaping () -> ToolIndex, install: @escaping (ToolIndex) -> Void) {
        self.store = store
        self.signal = signal
        self.log = log
        self.pageSize = pageSize
        self.current = current
        self.install = install
        fence.setHandler { [unowned self] in self.check() }
        fence.start(after: interval, repeating: interval)
    }

    /// A change event: `{version, previous, action, service}`.
    func apply(event payload: String) {
        guard let event = try? JSONParser.parse(payload), let version = event["version"]?.intValue else {
            log(.warn, "ignored malformed registry event")
            return
        }
        apply(version: Int64(version), previous: event["previous"]?.intValue.map(Int64.init), service: event["service"]?.stringValue)
    }

    /// A change committed here: patched in with the stored row we already hold, or (when this
    /// snapshot is not at `previous`) after a full reload — either way before the caller replies.
    func applyLocal(_ change: RegistryChange, record: ServiceRecord?) async {
        storedVersion = max(storedVersion, change.version)
        let index = current()
        guard change.version > index.version else { return }
        if change.previous == index.version && !reloading {
            let started = EventLoop.clock()
            install(index.replacing(change.service, with: record, version: change.version))
            deltas += 1
            lastDeltaSeconds = EventLoop.clock() - started
            log(.debug, "index delta applied", [("service", change.service), ("version", String(change.version)),
                                                ("ms", Self.ms(lastDeltaSeconds)), ("origin", "local")])
        } else {
            await fullReload()
        }
    }

    private func apply(version: Int64, previous: Int64?, service: String?) {
        storedVersion = max(storedVersion, version)
        let index = current()
        guard version > index.version else { return }
        guard let previous, let service, previous == index.version, !reloading else {
            reload()
            return
        }
        spawn { [self] in
            let started = EventLoop.clock()
            do {
                let record = try await store.service(named: service)
                let now = current()
                guard now.version == previous else { reload(); return }  // moved meanwhile
                install(now.replacing(service, with: record, version: version))
                deltas += 1
                lastDeltaSeconds = EventLoop.clock() - started
                log(.debug, "index delta applied", [("service", service), ("version", String(version)),
                                                    ("ms", Self.ms(lastDeltaSeconds))])
            } catch {
                log(.warn, "index delta failed, reloading", [("service", service), ("error", "\(error)")])
                reload()
            }
        }
    }

    /// One full reload now, or right after the one running.
    func reload() {
        if reloading { pending = true; return }
        reloading = true
        spawn { [self] in
            repeat {
                pending = false
                await fullReload()
                // A reload asked for while this one ran is needed only if storage moved past it.
                if pending, let stored = try? await store.version(), stored <= current().version { pending = false }
            } while pending
            reloading = false
        }
    }

    private func fullReload() async {
        let started = EventLoop.clock()
        do {
            let version = try await store.version()
            let services = try await store.services()
            let fetched = EventLoop.clock()
            // Building a snapshot of 100k tools takes ~170 ms of CPU: done on a worker thread, so
            // the loop keeps answering (from the current snapshot) meanwhile.
            let pageSize = self.pageSize
            let half = services.count / 2
            let first = Array(services[..<half]), second = Array(services[half...])
            async let a = Self.builders[0].run { first.map(ToolIndex.Service.init(record:)) }
            async let b = Self.builders[1].run { second.map(ToolIndex.Service.init(record:)) }
            let built = try await a + b
            let next = ToolIndex(version: version, built: built, pageSize: pageSize)
            let builtAt = EventLoop.clock()
            storedVersion = max(storedVersion, version)
            install(next)
            releaseFreedMemory()
            reloads += 1
            lastReloadSeconds = EventLoop.clock() - started
            onReload(lastReloadSeconds)
            log(.debug, "index reloaded", [("version", String(version)), ("services", String(next.serviceCount)),
                                           ("tools", String(next.toolCount)), ("ms", Self.ms(lastReloadSeconds)),
                                           ("fetch_ms", Self.ms(fetched - started)), ("build_ms", Self.ms(builtAt - fetched))])
        } catch {
            log(.warn, "index reload failed", [("error", "\(error)")])
        }
    }

    /// A full reload frees the previous rows at once; hand the pages back to the system so the
    /// resident size reflects the snapshot, not the peak of building it.
    private func releaseFreedMemory() {
        Reactor.releaseFreedMemory()
    }

    /// The fence: compare with the stored version; reload when behind; keep Redis's key raised.
    func check() {
        guard !checking else { return }
        checking = true
        spawn { [self] in
            defer { checking = false }
            guard let stored = try? await store.version() else { return }
            storedVersion = stored
            if stored > current().version {
                log(.info, "index behind the stored version, reloading", [("have", String(current().version)), ("stored", String(stored))])
                reload()
            }
            if let redis = signal.redis, redis.isReady {
                let key = try? await redis.command(["GET", ChangeSignal.versionKey])
                let held = key?.string.flatMap { Int64($0) } ?? -1
                if held < stored { await signal.resync(storedVersion: stored) }
            }
        }
    }
}
