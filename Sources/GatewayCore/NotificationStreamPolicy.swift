/// How the gateway holds a downstream's notification stream and when it opens it again: a pure
/// value the watch feeds each ending to. A 2026-07-28 `subscriptions/listen` first; a downstream
/// that answers it without a stream (400, 404, 405, or 200 with a plain body before any
/// acknowledgement) is watched the handshake era's way from then on. Failures back off from 1 s,
/// doubling to 30 s, and start over once a stream opens; a handshake-era downstream without a GET
/// stream (405) is asked again every 5 minutes.
public struct NotificationStreamPolicy: Sendable, Equatable {
    public enum Mode: Sendable, Equatable { case listen, handshake }
    public enum Next: Sendable, Equatable {
        case reopenNow
        case reopen(after: Double)
    }

    public private(set) var mode = Mode.listen
    public private(set) var backoff = 1.0
    public static let maxBackoff = 30.0
    public static let idleRetry = 300.0

    public init() {}

    /// A stream opened (a listen acknowledged, or a GET stream's head).
    public mutating func opened() { backoff = 1 }

    /// The stream ended: `status` of its response head (0 when none came), whether it was an event
    /// stream, whether a listen was acknowledged, and whether the watch ended it on purpose to
    /// reopen it with other resource subscriptions.
    public mutating func ended(status: Int, wasStream: Bool, acknowledged: Bool, restarting: Bool) -> Next {
        if restarting { return .reopenNow }
        switch mode {
        case .listen:
            if !acknowledged && ([400, 404, 405].contains(status) || (status == 200 && !wasStream)) {
                mode = .handshake
                return .reopenNow
            }
        case .handshake:
            if status == 405 { return .reopen(after: Self.idleRetry) }
        }
        let delay = backoff
        backoff = min(backoff * 2, Self.maxBackoff)
        return .reopen(after: delay)
    }
}
