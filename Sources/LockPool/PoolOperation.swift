import FoundationEssentials
import Git
import StringSupport

/// An operation on one pool, as the resource's put params or the CLI ask for it.
public enum PoolOperation: Sendable, Equatable {
    /// Claims any unclaimed lock, chosen uniformly at random; waits while there is none.
    case acquire(lease: Duration?)
    /// Claims `count` unclaimed locks of the pool in one commit, all or nothing, chosen uniformly at random; waits
    /// while fewer are unclaimed.
    case acquireSet(count: Int, lease: Duration?)
    /// Claims `lock`; waits while it is claimed.
    case claim(lock: String, lease: Duration?)
    /// Moves the claimed `lock` back to unclaimed; with `fence`, only if that commit started the current claim.
    case release(lock: String, fence: ObjectID?)
    /// Deletes the claimed `lock`; with `fence`, only if that commit started the current claim.
    case remove(lock: String, fence: ObjectID?)
    /// Releases (or with `remove`, deletes) every one of `locks` in one commit, all or nothing; with `fence`, only if
    /// that commit started the current claim of each (the commit of an `acquireSet`).
    case releaseSet(locks: [String], fence: ObjectID?, remove: Bool)
    /// Creates `lock` with `content`, claimed or unclaimed; a no-op when it already exists identically.
    case add(lock: String, content: [UInt8], claimed: Bool, lease: Duration?)
    /// Replaces an unclaimed lock's content, or adds it as unclaimed; waits while it is claimed.
    case update(lock: String, content: [UInt8])
    /// Releases `lock` for a reaper: only while `claim` is its current claim commit; `evidence` becomes trailers.
    case reap(lock: String, claim: ObjectID, evidence: [TrailerField])
    /// Extends the lease of `lock`'s claim `claim` to `lease` from now: only while `claim` is its current claim and
    /// its lease (if any) has not passed.
    case renew(lock: String, claim: ObjectID, lease: Duration)
    /// Waits until `lock` is not claimed (the put param `check`).
    case check(lock: String)
    /// Waits until `lock` is claimed (the put param `check_unclaimed`).
    case checkUnclaimed(lock: String)

    /// The operation's kind.
    public var kind: OperationKind {
        switch self {
        case .acquire, .acquireSet: .acquire
        case .claim: .claim
        case .release, .reap: .release
        case .remove: .remove
        case .releaseSet(_, _, let remove): remove ? .remove : .release
        case .add(_, _, let claimed, _): claimed ? .addClaimed : .add
        case .update: .update
        case .check: .check
        case .checkUnclaimed: .checkUnclaimed
        case .renew: .renew
        }
    }

    /// The named lock (the first of a set), or nil for `acquire`.
    public var lock: String? {
        switch self {
        case .acquire, .acquireSet: nil
        case .releaseSet(let locks, _, _): locks.first
        case .claim(let lock, _), .release(let lock, _), .remove(let lock, _), .add(let lock, _, _, _),
            .update(let lock, _), .check(let lock), .checkUnclaimed(let lock), .reap(let lock, _, _),
            .renew(let lock, _, _):
            lock
        }
    }
}

/// What an operation did.
extension PoolOperation {
    /// Whether this adds a lock in the claimed state (`add_claimed`).
    var isAddClaimed: Bool { kind == .addClaimed }
}

public struct OperationResult: Sendable, Equatable {
    /// The lock acted on (for acquire, the one taken; for a set, the first).
    public var lock: String
    /// Every lock acted on: one, or the set of `acquireSet` and `releaseSet`, in byte order.
    public var locks: [String]
    /// The version to report: the new commit, or for no-ops and checks the last change of the lock.
    public var version: ObjectID
    /// Whether a commit was pushed.
    public var committed: Bool
    /// The last tip seen (the pushed commit when one was pushed).
    public var tip: ObjectID
    /// Unclaimed and claimed lock counts at `tip`.
    public var availableCount: Int
    public var claimedCount: Int
    /// Time spent waiting for availability.
    public var waited: Duration
    /// Lost push races.
    public var lostRaces: Int
    /// With a fair queue, the clients still queued (live tickets) at the last tip seen; nil without one.
    public var waitingCount: Int?
}

/// Where a pool lives and how to write to it.
public struct PoolConfiguration: Sendable {
    /// The remote URL, without userinfo.
    public var remoteURL: String
    /// The URL pushes go to when it differs from `remoteURL` (`url.<base>.pushInsteadOf`), without userinfo.
    public var pushURL: String?
    public var branch: String
    public var pool: String
    public var remoteOptions: RemoteOptions
    /// The cache root, usually `$TMPDIR/lockpool-cache`.
    public var cacheRoot: String
    /// Poll interval while waiting; cap of the lost-race backoff.
    public var retryDelay: Duration
    /// Author and committer name and email.
    public var identityName: String
    public var identityEmail: String
    /// The build on whose behalf commits are made.
    public var build: BuildInfo
    /// The `Lock-Tool` trailer value, e.g. `lockpool 0.1.0 (resource)`.
    public var tool: String
    /// First-come-first-served waiting for acquire and claim (`source.fair`, ``FairQueue``).
    public var fair: Bool

    public init(
        remoteURL: String, pushURL: String? = nil, branch: String, pool: String,
        remoteOptions: RemoteOptions = RemoteOptions(),
        cacheRoot: String, retryDelay: Duration = .seconds(10), identityName: String = "CI Pool Resource",
        identityEmail: String = "ci-pool@localhost", build: BuildInfo = BuildInfo(), tool: String, fair: Bool = false
    ) {
        self.remoteURL = remoteURL
        self.pushURL = pushURL
        self.branch = branch
        self.pool = pool
        self.remoteOptions = remoteOptions
        self.cacheRoot = cacheRoot
        self.retryDelay = retryDelay
        self.identityName = identityName
        self.identityEmail = identityEmail
        self.build = build
        self.tool = tool
        self.fair = fair
    }

    /// The cache root for a temporary directory: `<tmp>/lockpool-cache`.
    public static func cacheRoot(temporaryDirectory: String?) -> String {
        let base = temporaryDirectory.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        return FilePaths.join(base, "lockpool-cache")
    }
}
