import Git

/// The state of one lock at a commit.
public enum LockState: String, Sendable, Hashable {
    case claimed, unclaimed, absent
    /// Present in both directories; older tools could make this, lockpool never does.
    case both
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
            var result: [String: TreeEntry] = [:]
            for item in try repository.entries(ofTree: entry.id) where Self.isLockEntry(item) {
                result[item.name] = item
            }
            return result
        }
        claimed = try locks("claimed")
        unclaimed = try locks("unclaimed")
        self.exists = exists
    }

    /// Whether a tree entry is a lock: a regular file whose name obeys the lock rule.
    public static func isLockEntry(_ entry: TreeEntry) -> Bool {
        entry.isRegularFile && NameRule.lockProblem(entry.name) == nil
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

    /// Locks that are only unclaimed (free to take), sorted by name.
    public var freeLocks: [String] { unclaimed.keys.filter { claimed[$0] == nil }.sorted() }
    /// Locks that are only claimed, sorted by name.
    public var heldLocks: [String] { claimed.keys.filter { unclaimed[$0] == nil }.sorted() }
    /// Locks present in both directories, sorted by name.
    public var doubleLocks: [String] { claimed.keys.filter { unclaimed[$0] != nil }.sorted() }
}
