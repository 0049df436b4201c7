/// The kind of operation a user asked for, as events and metrics name it.
public enum OperationKind: String, Sendable, CaseIterable {
    case acquire, claim, release, add, addClaimed = "add_claimed", remove, update
    case check, checkUnclaimed = "check_unclaimed", renew
}

/// Something a user should see while an operation runs. The core only reports events; the adapters render them
/// (ConcourseResource's `ProgressPrinter` in the upstream resource's words, LockPoolCLI's progress views).
public enum PoolEvent: Sendable, Equatable {
    /// The operation began (`acquiring lock on: P`, …).
    case started(OperationKind, lock: String?, pool: String, claimed: Bool)
    /// Waiting began: for a free lock, for the lock to become unclaimed, or to become claimed.
    case waitingStarted(OperationKind)
    /// One poll while waiting.
    case poll
    /// A lost push race.
    case lostRace
    /// The holders of the locks waited for (at most five of `total`), sent when the tip moved, if asked for.
    case holders([LockStatus], total: Int, waitingForClaim: Bool)
    /// The periodic line naming holders: `waiting 1m30s: env-1 claimed by … since …`.
    case waitingStatus(String)
    /// A no-op add or update.
    case nothingToCommit(lock: String, pool: String)
    /// A transient network failure that will be retried.
    case networkRetry(attempt: Int, of: Int, cause: String)
    /// A warning that does not fail the operation.
    case warning(String)
    /// The change was pushed (or the check condition holds).
    case succeeded(OperationKind)
}
