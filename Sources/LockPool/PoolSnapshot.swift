import Git

/// The state of one lock at a commit.
public enum LockState: String, Sendable, Hashable {
    case claimed, unclaimed, absent
    /// Present in both directories; older tools could make this, lockpool never does.
    case both

    /// Whether a holder has the lock: its file is under `claimed/`, alone or beside one under `unclaimed/`
    /// (docs/concurrency.md#why-there-are-never-double-claims).
    public var isHeld: Bool { self == .claimed || self == .both }
}

/// A pool as it is at one commit: its lock entries, by name.
public struct PoolSnapshot: Sendable {
    public let commit: ObjectID
    public let pool: String
    /// Whether `<pool>/claimed` or `<pool>/unclaimed` is a directory at this commit.
    public let exists: Bool
    public let claimed: [String: TreeEntry]
    public let unclaimed: [String: TreeEntry]

    /// Reads `pool` at `commit`: only lock entries (regular files with valid lock names) count.
    ///
    /// - Throws: `GitError`.
    public init(repository: Repository, commit: ObjectID, pool: String) throws {
        self.commit = commit
        self.pool = pool
        let tree = try repository.treeID(ofCommit: commit)
        var exists = false
        func locks(_ directory: String) throws -> [String: TreeEntry] {
            guard let entry = try repository.entry(at: "\(pool)/\(directory)", inTree: tree), entry.kind == .tree else {
                return [:]
            }
            exists = true
            let items = try repository.entries(ofTree: entry.id)
            var result: [String: TreeEntry] = [:]
            result.reserveCapacity(items.count)
            for item in items where Self.isLockEntry(item) {
                result[item.name] = item
            }
            return result
        }
        claimed = try locks("claimed")
        unclaimed = try locks("unclaimed")
        self.exists = exists
        let (claimed, unclaimed) = (claimed, unclaimed)
        freeLocks = unclaimed.keys.filter { claimed[$0] == nil }.sorted()
        heldLocks = claimed.keys.filter { unclaimed[$0] == nil }.sorted()
        doubleLocks = claimed.keys.filter { unclaimed[$0] != nil }.sorted()
    }

    /// Whether a tree entry is a lock: a regular file whose name obeys the lock rule.
    public static func isLockEntry(_ entry: TreeEntry) -> Bool {
        entry.isRegularFile && NameRule.lockProblem(entry.name) == nil
    }

    /// The file of `lock` here, claimed or unclaimed (the claimed one when it is in both); nil when absent.
    public func entry(of lock: String) -> TreeEntry? { claimed[lock] ?? unclaimed[lock] }

    /// The file of `lock` in `pool` at `tree`, claimed or unclaimed, found without listing the pool's directories
    /// (one lookup for a lock, where a `PoolSnapshot` lists every lock).
    ///
    /// - Throws: `GitError` when the tree cannot be read.
    public static func entry(of lock: String, pool: String, inTree tree: ObjectID, repository: Repository) throws
        -> TreeEntry?
    {
        for state in ["claimed", "unclaimed"] {
            if let entry = try repository.entry(at: "\(pool)/\(state)/\(lock)", inTree: tree), isLockEntry(entry) {
                return entry
            }
        }
        return nil
    }

    /// The state of `lock` here.
    public func state(of lock: String) -> LockState {
        switch (claimed[lock] != nil, unclaimed[lock] != nil) {
        case (true, true): .both
        case (true, false): .claimed
        case (false, true): .unclaimed
        case (false, false): .absent
        }
    }

    /// Locks that are only unclaimed (free to take), sorted by name (computed once: pools can hold 10,000 locks).
    public let freeLocks: [String]
    /// Locks that are only claimed, sorted by name.
    public let heldLocks: [String]
    /// Locks present in both directories, sorted by name.
    public let doubleLocks: [String]
}

/// Unclaimed and claimed lock counts of a pool at one commit, for reports and metrics.
struct PoolCounts: Sendable {
    let commit: ObjectID
    let available: Int
    let claimed: Int

    init(_ snapshot: PoolSnapshot) {
        commit = snapshot.commit
        available = snapshot.freeLocks.count
        claimed = snapshot.heldLocks.count
    }

    /// The counts at `commit`, made from `snapshot` by moving `locks` to `state` (`absent` for a removal).
    init(_ snapshot: PoolSnapshot, changing locks: [String], to state: LockState, at commit: ObjectID) {
        var available = snapshot.freeLocks.count
        var claimed = snapshot.heldLocks.count
        for lock in Set(locks) {
            switch snapshot.state(of: lock) {
            case .unclaimed: available -= 1
            case .claimed: claimed -= 1
            case .absent, .both: break
            }
            switch state {
            case .unclaimed: available += 1
            case .claimed: claimed += 1
            case .absent, .both: break
            }
        }
        self.commit = commit
        self.available = available
        self.claimed = claimed
    }
}
