import CGatewayShims
import Glibc

/// Readiness of a file descriptor, as libev reports it.
public struct IOEvents: OptionSet, Sendable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public static let read = IOEvents(rawValue: Int32(EV_READ))
    public static let write = IOEvents(rawValue: Int32(EV_WRITE))
}

/// One `ev_io` embedded in a heap cell, calling back into Swift with the events that fired.
/// The watcher does not retain its owner: whoever creates it keeps it alive and stops it.
@LoopActor
public final class IOWatcher {
    private let watcher = UnsafeMutablePointer<ev_io>.allocate(capacity: 1)
    public private(set) var fd: Int32
    public private(set) var events: IOEvents = []
    private var handler: (IOEvents) -> Void

    public init(fd: Int32, handler: @escaping (IOEvents) -> Void) {
        self.fd = fd
        self.handler = handler
        gw_ev_io_init(watcher, { _, w, revents in
            let me = Unmanaged<IOWatcher>.fromOpaque(gw_ev_get_data(w!)!).takeUnretainedValue()
            me.handler(IOEvents(rawValue: revents))
        }, fd, 0)
        gw_ev_set_data(watcher, Unmanaged.passUnretained(self).toOpaque())
    }

    isolated deinit {
        ev_io_stop(EventLoop.main.raw, watcher)
        watcher.deallocate()
    }

    /// Watches for exactly `events` (empty stops the watcher). Idempotent.
    public func watch(_ events: IOEvents) {
        if events == self.events { return }
        let loop = EventLoop.main.raw
        ev_io_stop(loop, watcher)
        self.events = events
        if !events.isEmpty {
            gw_ev_io_set(watcher, fd, events.rawValue)
            ev_io_start(loop, watcher)
        }
    }

    public func stop() { watch([]) }

    public func setHandler(_ handler: @escaping (IOEvents) -> Void) { self.handler = handler }
}

/// One `ev_timer`. `start(after:)` restarts it; the handler runs on the loop.
@LoopActor
public final class Timer {
    private let watcher = UnsafeMutablePointer<ev_timer>.allocate(capacity: 1)
    private var handler: () -> Void

    public init(handler: @escaping () -> Void) {
        self.handler = handler
        gw_ev_timer_init(watcher, { _, w, _ in
            let me = Unmanaged<Timer>.fromOpaque(gw_ev_get_data(w!)!).takeUnretainedValue()
            me.handler()
        }, 0, 0)
        gw_ev_set_data(watcher, Unmanaged.passUnretained(self).toOpaque())
    }

    isolated deinit {
        ev_timer_stop(EventLoop.main.raw, watcher)
        watcher.deallocate()
    }

    public var isActive: Bool { gw_ev_is_active(watcher) != 0 }

    /// (Re)starts the timer to fire once after `seconds`, then every `repeating` seconds if non-zero.
    public func start(after seconds: Double, repeating: Double = 0) {
        let loop = EventLoop.main.raw
        ev_timer_stop(loop, watcher)
        gw_ev_timer_set(watcher, max(seconds, 0), repeating)
        ev_timer_start(loop, watcher)
    }

    public func stop() { ev_timer_stop(EventLoop.main.raw, watcher) }

    public func setHandler(_ handler: @escaping () -> Void) { self.handler = handler }
}

/// Catches a signal on the loop (libev turns it into a loop event; the handler runs on the loop).
@LoopActor
public final class SignalWatcher {
    private let watcher = UnsafeMutablePointer<ev_signal>.allocate(capacity: 1)
    private let handler: () -> Void

    public init(signal: Int32, handler: @escaping () -> Void) {
        self.handler = handler
        gw_ev_signal_init(watcher, { _, w, _ in
            let me = Unmanaged<SignalWatcher>.fromOpaque(gw_ev_get_data(w!)!).takeUnretainedValue()
            me.handler()
        }, signal)
        gw_ev_set_data(watcher, Unmanaged.passUnretained(self).toOpaque())
        ev_signal_start(EventLoop.main.raw, watcher)
        ev_unref(EventLoop.main.raw)  // a signal watcher alone does not keep the loop alive
    }

    isolated deinit {
        ev_ref(EventLoop.main.raw)
        ev_signal_stop(EventLoop.main.raw, watcher)
        watcher.deallocate()
    }
}

/// Suspends the calling task for `seconds` on the loop's timer.
@LoopActor
public func sleep(seconds: Double) async {
    let timer = Timer {}
    await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
        timer.setHandler { cont.resume() }
        timer.start(after: seconds)
    }
    withExtendedLifetime(timer) {}
}
