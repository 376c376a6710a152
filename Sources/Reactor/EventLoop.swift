import CGatewayShims
import Glibc
import Synchronization

/// The one libev loop of the process, usable as a Swift executor.
///
/// Jobs enqueued from the loop thread go on a local queue; jobs from other threads go on a locked
/// queue and wake the loop with `ev_async_send`. Both are drained from an `ev_prepare` watcher, right
/// before the loop would block, followed by the before-sleep hooks (write flushing and the like).
public final class EventLoop: SerialExecutor, TaskExecutor, @unchecked Sendable {
    /// The process's loop. Touch it first from the main thread: that thread becomes the loop thread.
    public static let main = EventLoop()

    public let raw: OpaquePointer
    private let thread: pthread_t
    private var local: [UnownedJob] = []
    private let remote = Mutex<[UnownedJob]>([])
    private let async = UnsafeMutablePointer<ev_async>.allocate(capacity: 1)
    private let prepare = UnsafeMutablePointer<ev_prepare>.allocate(capacity: 1)
    private var beforeSleep: [@LoopActor () -> Void] = []
    private var holdsRef = false

    private init() {
        guard let loop = gw_ev_default_loop() else { fatalError("libev: no default loop") }
        raw = loop
        thread = pthread_self()
        let me = Unmanaged.passUnretained(self).toOpaque()
        gw_ev_async_init(async) { _, w, _ in
            EventLoop.owner(of: UnsafeRawPointer(w!)).drain()
        }
        gw_ev_set_data(async, me)
        ev_async_start(raw, async)
        ev_unref(raw)
        gw_ev_prepare_init(prepare) { _, w, _ in
            EventLoop.owner(of: UnsafeRawPointer(w!)).drain()
        }
        gw_ev_set_data(prepare, me)
        ev_prepare_start(raw, prepare)
        ev_unref(raw)
    }

    private static func owner(of watcher: UnsafeRawPointer) -> EventLoop {
        Unmanaged<EventLoop>.fromOpaque(gw_ev_get_data(watcher)!).takeUnretainedValue()
    }

    public var inLoopThread: Bool { pthread_equal(pthread_self(), thread) != 0 }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        if inLoopThread {
            local.append(job)
            if !holdsRef {
                // Queued work keeps the loop alive until drained, even with no active watcher.
                holdsRef = true
                ev_ref(raw)
            }
        } else {
            remote.withLock { $0.append(job) }
            ev_async_send(raw, async)
        }
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(complexEquality: self)
    }

    public func isSameExclusiveExecutionContext(other: EventLoop) -> Bool { other === self }

    public func checkIsolated() {
        precondition(inLoopThread, "not on the event loop thread")
    }

    public func isIsolatingCurrentContext() -> Bool? { inLoopThread }

    /// Registers work to run every time right before the loop sleeps, after queued jobs.
    public func addBeforeSleepHook(_ hook: @escaping @LoopActor () -> Void) {
        beforeSleep.append(hook)
    }

    private func drain() {
        let serial = asUnownedSerialExecutor()
        let task = asUnownedTaskExecutor()
        var rounds = 0
        while true {
            var progressed = false
            if !local.isEmpty {
                let jobs = local
                local.removeAll(keepingCapacity: true)
                for job in jobs { job.runSynchronously(isolatedTo: serial, taskExecutor: task) }
                progressed = true
            }
            let incoming = remote.withLock { q -> [UnownedJob] in
                if q.isEmpty { return [] }
                let jobs = q
                q.removeAll()
                return jobs
            }
            if !incoming.isEmpty {
                for job in incoming { job.runSynchronously(isolatedTo: serial, taskExecutor: task) }
                progressed = true
            }
            let hooks = beforeSleep
            LoopActor.assumeIsolated { for hook in hooks { hook() } }
            rounds += 1
            if !progressed && local.isEmpty { break }
            if rounds > 64 { break }  // let I/O in; the next prepare continues
        }
        if !local.isEmpty {
            // Jobs left after the round cap: make sure the loop wakes again without blocking.
            ev_async_send(raw, async)
        } else if holdsRef {
            holdsRef = false
            ev_unref(raw)
        }
    }

    /// Runs the loop until `stop()` or until no active watcher is left.
    public func run() {
        ev_run(raw, 0)
    }

    public func stop() {
        ev_break(raw, Int32(EVBREAK_ALL))
    }

    /// The loop's cached time (set once per iteration): cheap, for timeouts.
    public var now: Double { ev_now(raw) }

    /// A monotonic clock read now, for measuring durations.
    public static func clock() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// The global actor whose executor is the event loop: code isolated to it runs on the loop thread.
@globalActor
public actor LoopActor {
    public static let shared = LoopActor()
    public nonisolated var unownedExecutor: UnownedSerialExecutor {
        EventLoop.main.asUnownedSerialExecutor()
    }
}

/// Starts loop-isolated async work that stays on the loop (continuations resumed from C callbacks
/// come back to the loop directly instead of through the global pool).
@discardableResult
public func spawn(_ body: sending @escaping @LoopActor () async -> Void) -> Task<Void, Never> {
    Task(executorPreference: EventLoop.main, operation: body)
}

/// Starts throwing loop-isolated work that stays on the loop.
public func spawnThrowing<T: Sendable>(_ body: sending @escaping @LoopActor () async throws -> T) -> Task<T, any Error> {
    let work: @LoopActor () async throws -> T = body
    return Task(executorPreference: EventLoop.main) { try await work() }
}

extension LoopActor {
    /// Asserts the caller runs on the loop thread and runs `body` as loop-isolated code. For code
    /// reached from C callbacks that are not themselves written inside loop-isolated code.
    public static func assumeIsolated<T>(_ body: @LoopActor () throws -> T) rethrows -> T {
        typealias Unchecked = () throws -> T
        EventLoop.main.checkIsolated()
        return try withoutActuallyEscaping(body) { fn in
            try unsafeBitCast(fn, to: Unchecked.self)()
        }
    }
}

/// Returns memory freed by the allocator to the system (after a large structure is replaced).
public func releaseFreedMemory() {
    _ = gw_malloc_trim()
}
