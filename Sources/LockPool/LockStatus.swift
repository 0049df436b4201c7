import FoundationEssentials
import Git

/// One lock as `lockpool status` and the waiting line show it: its state, who holds it and since when.
public struct LockStatus: Sendable, Equatable {
    /// The pool.
    public var pool: String
    /// The lock name.
    public var lock: String
    /// The state at the commit read.
    public var state: LockState
    /// For a claimed lock, who made its claim commit; `nil` for other states or when history does not show it.
    public var holder: Holder?
    /// For a claimed lock, the claim commit's committer time; otherwise the time of the lock's last change.
    public var since: Date?
    /// For a claimed lock, its claim commit; otherwise the lock's last change.
    public var commit: ObjectID?
    /// The claim's `Lease-Expires`, when one was recorded.
    public var leaseExpires: Date?

    /// Creates a status from its parts.
    public init(
        pool: String, lock: String, state: LockState, holder: Holder? = nil, since: Date? = nil,
        commit: ObjectID? = nil, leaseExpires: Date? = nil
    ) {
        self.pool = pool
        self.lock = lock
        self.state = state
        self.holder = holder
        self.since = since
        self.commit = commit
        self.leaseExpires = leaseExpires
    }

    /// Whether the lease has passed at `now`.
    public func leaseHasExpired(at now: Date) -> Bool { leaseExpires.map { $0 <= now } ?? false }

    /// The status of `locks` (every lock of the pool when `nil`) at the snapshot's commit, from one walk of the
    /// first-parent history that stops once every lock is explained.
    ///
    /// - Parameters:
    ///   - repository: the repository holding the snapshot's history.
    ///   - snapshot: the pool at the commit to describe.
    ///   - locks: the locks to describe; absent ones are reported as `.absent`.
    /// - Returns: one status per lock, in byte order of the names.
    /// - Throws: `GitError` when the history cannot be read.
    public static func read(repository: Repository, snapshot: PoolSnapshot, locks: [String]? = nil) throws
        -> [LockStatus]
    {
        let names = (locks ?? Array(Set(snapshot.claimed.keys).union(snapshot.unclaimed.keys))).sorted {
            Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8))
        }
        var statuses: [String: LockStatus] = [:]
        var pending = Set<String>()
        for lock in names {
            statuses[lock] = LockStatus(pool: snapshot.pool, lock: lock, state: snapshot.state(of: lock))
            if snapshot.state(of: lock) != .absent { pending.insert(lock) }
        }
        if !pending.isEmpty {
            let reader = PoolDirectories(repository: repository, pool: snapshot.pool)
            var mine: PoolDirectories.Listing?
            // The newest renewal of each lock seen on the way down, applied when its claim is reached.
            var renewals: [String: (claim: String, expires: Date)] = [:]
            try repository.walkFirstParents(from: snapshot.commit) { id in
                let commit = try repository.commit(id)
                if let renewal = Self.renewal(in: commit.message, pool: snapshot.pool), pending.contains(renewal.lock),
                    renewals[renewal.lock] == nil
                {
                    renewals[renewal.lock] = (renewal.claim, renewal.expires)
                }
                let current = try mine ?? reader.listing(ofTree: commit.tree)
                let parentTree = try commit.parents.first.map { try repository.treeID(ofCommit: $0) }
                let parentPool = try parentTree.flatMap { try repository.entry(at: snapshot.pool, inTree: $0) }
                guard parentPool?.id != current.poolTree else {
                    mine = current
                    return true
                }
                let parent = try reader.listing(ofTree: parentTree)
                mine = parent
                for lock in pending {
                    let found: Bool
                    if statuses[lock]?.state.isHeld == true {
                        found = current.claimed[lock] != nil && parent.claimed[lock] == nil
                    } else {
                        found =
                            current.claimed[lock] != parent.claimed[lock]
                            || current.unclaimed[lock] != parent.unclaimed[lock]
                    }
                    guard found else { continue }
                    pending.remove(lock)
                    var status = statuses[lock]!
                    status.commit = id
                    status.since = commit.committer.time
                    if status.state.isHeld {
                        status.holder = PoolHistory.holder(of: commit)
                        let renewed = renewals[lock].flatMap { $0.claim == id.hex ? $0.expires : nil }
                        status.leaseExpires = renewed ?? Holder.leaseExpiry(in: commit.message)
                    }
                    statuses[lock] = status
                }
                return !pending.isEmpty
            }
        }
        return names.map { statuses[$0]! }
    }
}

extension LockStatus {
    /// The lock, claim and new expiry a `renew` commit of `pool` records (docs/decisions/0011-lease-takeover.md); nil
    /// for any other commit.
    public static func renewal(in message: String, pool: String) -> (lock: String, claim: String, expires: Date)? {
        guard message.contains("\nLock-Operation: renew"), Trailers.value("Lock-Pool", in: message) == pool,
            let lock = Trailers.value("Lock-Name", in: message), let claim = Trailers.value("Lock-Claim", in: message),
            let expires = Holder.leaseExpiry(in: message)
        else { return nil }
        return (lock, claim, expires)
    }
}

/// The lock entries of a pool's `claimed/` and `unclaimed/` directories in one tree.
struct PoolDirectories {
    let repository: Repository
    let pool: String

    /// A pool's lock entries at one tree; `poolTree` is the id of the pool directory (nil when absent).
    struct Listing {
        var poolTree: ObjectID?
        var claimed: [String: TreeEntry] = [:]
        var unclaimed: [String: TreeEntry] = [:]
    }

    func listing(ofTree tree: ObjectID?) throws -> Listing {
        guard let tree, let poolEntry = try repository.entry(at: pool, inTree: tree), poolEntry.kind == .tree else {
            return Listing(poolTree: nil)
        }
        var listing = Listing(poolTree: poolEntry.id)
        for entry in try repository.entries(ofTree: poolEntry.id) where entry.kind == .tree {
            guard entry.name == "claimed" || entry.name == "unclaimed" else { continue }
            var locks: [String: TreeEntry] = [:]
            for lock in try repository.entries(ofTree: entry.id) where PoolSnapshot.isLockEntry(lock) {
                locks[lock.name] = lock
            }
            if entry.name == "claimed" { listing.claimed = locks } else { listing.unclaimed = locks }
        }
        return listing
    }
}
