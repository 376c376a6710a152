/// How a replica keeps its tool index at the stored registry version, as a value: change events,
/// finished reads and reloads, and fence ticks go in (with the snapshot's version as input); one
/// action comes out. The I/O shell (`IndexSync`) reads rows and versions, builds snapshots and
/// carries the actions out.
///
/// - A change event whose `previous` is the snapshot's version, while no reload runs, is a
///   **delta**: read that one service's row and patch it in — unless the snapshot moved while the
///   row was read, then reload.
/// - Anything else newer than the snapshot (a gap, a resync event without `previous`, a failed
///   read) is a **full reload**. Reloads coalesce: one runs, at most one more is pending, and the
///   pending one runs only if storage moved past what the finished reload installed.
/// - The **fence** (a timer, and every Redis reconnect) reads the stored version: behind → reload;
///   Redis's key lower than storage → rewrite it. One fence check at a time.
public struct IndexSyncMachine: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        case none
        /// Read `service`'s row; then report `deltaRowRead`/`deltaReadFailed`.
        case readRow(service: String, version: Int64, previous: Int64)
        /// Start a full reload; then report `reloadFinished`.
        case startReload
        /// A reload was asked for while one ran: read the stored version, then report `pendingChecked`.
        case checkPending
        /// Read the stored version for the fence; then report `fenceRead`.
        case readStoredVersion
    }

    /// What to do with a change committed on this replica (its row is in hand).
    public enum LocalDecision: Sendable, Equatable {
        /// Nothing: the snapshot already has it.
        case skip
        /// Patch the row in now.
        case applyDelta
        /// The snapshot is not at `previous` (or a reload runs): reload, and reply after it.
        case reloadFirst
    }

    public private(set) var reloading = false
    public private(set) var pending = false
    public private(set) var checking = false
    /// The newest version seen in storage or in an event.
    public private(set) var storedVersion: Int64 = 0

    public init() {}

    // MARK: events

    public mutating func changeEvent(version: Int64, previous: Int64?, service: String?, current: Int64) -> Action {
        storedVersion = max(storedVersion, version)
        guard version > current else { return .none }
        guard let previous, let service, previous == current, !reloading else { return reload() }
        return .readRow(service: service, version: version, previous: previous)
    }

    /// The delta's row arrived; `current` is the snapshot's version now. True: install it.
    public mutating func deltaRowRead(previous: Int64, current: Int64) -> (install: Bool, then: Action) {
        current == previous ? (true, .none) : (false, reload())  // the snapshot moved meanwhile
    }

    public mutating func deltaReadFailed() -> Action { reload() }

    public mutating func localChange(version: Int64, previous: Int64, current: Int64) -> LocalDecision {
        storedVersion = max(storedVersion, version)
        guard version > current else { return .skip }
        return previous == current && !reloading ? .applyDelta : .reloadFirst
    }

    /// One full reload now, or right after the one running.
    public mutating func reload() -> Action {
        if reloading {
            pending = true
            return .none
        }
        reloading = true
        pending = false
        return .startReload
    }

    /// A reload ended (`installed`: the version it installed, nil when it failed).
    public mutating func reloadFinished(installed: Int64?) -> Action {
        if let installed { storedVersion = max(storedVersion, installed) }
        guard pending else {
            reloading = false
            return .none
        }
        return .checkPending
    }

    /// The stored version read for a pending reload (nil: the read failed). A pending reload is
    /// needed only if storage moved past the snapshot.
    public mutating func pendingChecked(stored: Int64?, current: Int64) -> Action {
        if let stored {
            storedVersion = max(storedVersion, stored)
            if stored <= current {
                pending = false
                reloading = false
                return .none
            }
        }
        pending = false
        return .startReload  // still reloading
    }

    public mutating func fenceTick() -> Action {
        guard !checking else { return .none }
        checking = true
        return .readStoredVersion
    }

    /// The fence's read of the stored version (nil: it failed). Returns whether to reload, and
    /// whether Redis's key should be compared with `stored`.
    public mutating func fenceRead(stored: Int64?, current: Int64) -> (then: Action, compareRedis: Bool) {
        guard let stored else {
            checking = false
            return (.none, false)
        }
        storedVersion = stored
        let then = stored > current ? reload() : .none
        return (then, true)
    }

    /// Redis's key held `held` (nil: unreadable or absent); true: raise it to the stored version.
    public mutating func redisKeyRead(held: Int64?) -> Bool {
        checking = false
        return (held ?? -1) < storedVersion
    }

    /// The fence check ended without reaching Redis.
    public mutating func fenceDone() { checking = false }
}
