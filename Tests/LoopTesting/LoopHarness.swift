import Glibc
import Reactor
import Synchronization

/// Runs the process's event loop on a thread of its own, so that tests, whatever thread they run
/// on, can await loop-isolated code: `try await onLoop { … }` runs the body on the loop, where
/// timers, watchers and continuations behave as in the gateway.
///
/// The loop's thread is whichever thread first touches `EventLoop.main`: this harness must be
/// that thread, so every test reaches the loop through `onLoop`.
public enum LoopHarness {
    private static let ready = Mutex(false)
    private static let once: Void = {
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { _ in
            LoopHarness.runLoop()
            return nil
        }, nil)
        precondition(rc == 0, "pthread_create failed")
        pthread_detach(thread)
        while !ready.withLock({ $0 }) { usleep(200) }
    }()

    /// Starts the loop thread (once).
    public static func start() { _ = once }

    private static func runLoop() {
        let loop = EventLoop.main  // this thread becomes the loop thread
        LoopActor.assumeIsolated {
            // An idle loop would return from ev_run; this keeps it running for the whole test process.
            keepAlive.start(after: 1e9, repeating: 1e9)
        }
        ready.withLock { $0 = true }
        while true { loop.run() }
    }

    @LoopActor private static let keepAlive = Timer {}
}

/// Runs `body` on the event loop (starting the loop thread first if needed).
public func onLoop<T: Sendable>(_ body: @LoopActor () async throws -> T) async rethrows -> T {
    LoopHarness.start()
    return try await body()
}

/// Lets the loop turn until `condition` holds, polling every millisecond; false after `timeout` seconds.
@LoopActor
public func eventually(timeout: Double = 5, _ condition: @LoopActor () -> Bool) async -> Bool {
    let deadline = EventLoop.clock() + timeout
    while !condition() {
        if EventLoop.clock() > deadline { return false }
        await sleep(seconds: 0.001)
    }
    return true
}
