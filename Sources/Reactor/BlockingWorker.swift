import Glibc

/// Threads that run blocking work (a local file database's fsync, a host-name lookup) away from
/// the loop. With one thread (the default) jobs run in submission order; with more, they share
/// one queue and run side by side. `run` suspends the calling task until its job is done, and the
/// loop picks the task up again through its thread-safe queue.
public final class BlockingWorker: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var queue: [@Sendable () -> Void] = []

    public init(threads: Int = 1) {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
        for _ in 0..<max(threads, 1) {
            var thread = pthread_t()
            let context = Unmanaged.passRetained(self).toOpaque()  // each thread keeps the worker alive
            pthread_create(&thread, nil, { arg in
                Unmanaged<BlockingWorker>.fromOpaque(arg!).takeUnretainedValue().serve()
                return nil
            }, context)
            pthread_detach(thread)
        }
    }

    public func submit(_ job: @escaping @Sendable () -> Void) {
        pthread_mutex_lock(mutex)
        queue.append(job)
        pthread_cond_signal(cond)
        pthread_mutex_unlock(mutex)
    }

    /// Runs `body` on the worker thread and returns its result to the caller.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
            submit {
                do { c.resume(returning: try body()) } catch { c.resume(throwing: error) }
            }
        }
    }

    private func serve() {
        while true {
            pthread_mutex_lock(mutex)
            while queue.isEmpty { pthread_cond_wait(cond, mutex) }
            let job = queue.removeFirst()
            pthread_mutex_unlock(mutex)
            job()
        }
    }
}
