import FoundationEssentials
import Git

/// Questions about a pool's first-parent history in one repository.
public struct PoolHistory {
    public let repository: Repository
    public let pool: String

    public init(repository: Repository, pool: String) {
        self.repository = repository
        self.pool = pool
    }

    private func treeOfFirstParent(_ commit: Commit) throws -> ObjectID? {
        try commit.parents.first.map { try repository.treeID(ofCommit: $0) }
    }

    private func entry(_ path: String, _ tree: ObjectID?) throws -> TreeEntry? {
        guard let tree else { return nil }
        return try repository.entry(at: path, inTree: tree)
    }

    /// Whether `commit` changes something under `<pool>/` relative to its first parent, apart from the fair queue's
    /// `<pool>/waiting/` (queueing is not a change of the pool's locks, so `check` reports no version for it).
    public func touchesPool(_ commit: Commit) throws -> Bool {
        let mine = try entry(pool, commit.tree)
        let theirs = try entry(pool, try treeOfFirstParent(commit))
        guard mine?.id != theirs?.id else { return false }
        guard let mine, let theirs, mine.kind == .tree, theirs.kind == .tree else { return true }
        func outsideQueue(_ tree: ObjectID) throws -> [TreeEntry] {
            try repository.entries(ofTree: tree).filter { $0.name != "waiting" }
        }
        return try outsideQueue(mine.id) != outsideQueue(theirs.id)
    }

    /// The newest commit at or before `start` that adds, deletes or modifies `claimed/L` or `unclaimed/L`.
    public func lastChange(of lock: String, at start: ObjectID) throws -> ObjectID? {
        var found: ObjectID?
        let paths = ["\(pool)/claimed/\(lock)", "\(pool)/unclaimed/\(lock)"]
        try repository.walkFirstParents(from: start) { id in
            let commit = try repository.commit(id)
            let parentTree = try treeOfFirstParent(commit)
            for path in paths {
                let mine = try entry(path, commit.tree)
                let theirs = try entry(path, parentTree)
                if mine?.id != theirs?.id || mine?.mode != theirs?.mode {
                    found = id
                    return false
                }
            }
            return true
        }
        return found
    }

    /// The claim commit of a lock claimed at `start`: the newest commit whose tree has `claimed/L` while its first
    /// parent's does not.
    public func claimCommit(of lock: String, at start: ObjectID) throws -> Commit? {
        try newestTransition(at: start, limit: .max) { mine, theirs in
            try entry("\(pool)/claimed/\(lock)", mine) != nil && entry("\(pool)/claimed/\(lock)", theirs) == nil
        }
    }

    /// The newest commit (within `limit` commits) that ended a claim of `lock`: `claimed/L` disappeared.
    public func releaseCommit(of lock: String, at start: ObjectID, limit: Int = 2000) throws -> Commit? {
        try newestTransition(at: start, limit: limit) { mine, theirs in
            try entry("\(pool)/claimed/\(lock)", mine) == nil && entry("\(pool)/claimed/\(lock)", theirs) != nil
        }
    }

    private func newestTransition(
        at start: ObjectID, limit: Int, _ matches: (ObjectID?, ObjectID?) throws -> Bool
    ) throws -> Commit? {
        var found: Commit?
        var seen = 0
        try repository.walkFirstParents(from: start) { id in
            let commit = try repository.commit(id)
            if try matches(commit.tree, try treeOfFirstParent(commit)) {
                found = commit
                return false
            }
            seen += 1
            return seen < limit
        }
        return found
    }

    /// Who made `commit`, as docs/commits.md#reading-history describes.
    public static func holder(of commit: Commit) -> Holder {
        Holder.from(
            message: commit.message, committerName: commit.committer.name, committerEmail: commit.committer.email)
    }
}

extension PoolHistory {
    /// Lock names whose entries under `claimed/` or `unclaimed/` differ between `commit` and its first parent, in
    /// byte order of their paths (claimed before unclaimed).
    public func changedLocks(in commit: Commit) throws -> [String] {
        let parentTree = try commit.parents.first.map { try repository.treeID(ofCommit: $0) }
        var changed: [String] = []
        for directory in ["claimed", "unclaimed"] {
            let path = "\(pool)/\(directory)"
            let mine = try lockEntries(path, commit.tree)
            let theirs = try lockEntries(path, parentTree)
            var names = Set(mine.keys).union(theirs.keys).filter { mine[$0] != theirs[$0] }.map { $0 }
            names.sort { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            changed += names
        }
        return changed
    }

    private func lockEntries(_ path: String, _ tree: ObjectID?) throws -> [String: TreeEntry] {
        guard let tree, let directory = try repository.entry(at: path, inTree: tree), directory.kind == .tree else {
            return [:]
        }
        var result: [String: TreeEntry] = [:]
        for entry in try repository.entries(ofTree: directory.id) where PoolSnapshot.isLockEntry(entry) {
            result[entry.name] = entry
        }
        return result
    }

    /// The first-parent commits from `tip` back to `stop` (included when given), newest first, that touch the pool.
    /// Without `stop`, at most `limit` of them.
    public func commitsTouchingPool(from tip: ObjectID, downTo stop: ObjectID? = nil, limit: Int = .max) throws
        -> [Commit]
    {
        var result: [Commit] = []
        try repository.walkFirstParents(from: tip) { id in
            let commit = try repository.commit(id)
            if try touchesPool(commit) { result.append(commit) }
            return id != stop && result.count < limit
        }
        return result
    }

    /// Whether `commit` is `tip` or on its first-parent chain: a version on the branch.
    ///
    /// - Throws: `HistoryTruncated` when the repository is shallow and the answer lies below its boundary.
    public func isOnBranch(_ commit: ObjectID, tip: ObjectID) throws -> Bool {
        guard repository.contains(commit) || repository.isShallow else { return false }
        return try repository.isSameOrDescendant(tip, of: commit)
    }

    /// The first commit after `version` (on the first-parent line from `tip`) that changed `<pool>/claimed/<lock>`:
    /// the end of the claim `version` holds, for the message that names it; nil when none did (`in`'s "no longer
    /// acquired" rule, docs/resource.md#the-get-step).
    public func firstClaimChange(of lock: String, after version: ObjectID, tip: ObjectID) throws -> Commit? {
        var first: Commit?
        let path = "\(pool)/claimed/\(lock)"
        try repository.walkFirstParents(from: tip) { id in
            if id == version { return false }
            let commit = try repository.commit(id)
            let mine = try repository.entry(at: path, inTree: commit.tree)
            let parentTree = try commit.parents.first.map { try repository.treeID(ofCommit: $0) }
            let theirs = try parentTree.flatMap { try repository.entry(at: path, inTree: $0) }
            if mine?.id != theirs?.id || mine?.mode != theirs?.mode { first = commit }
            return true
        }
        return first
    }
}
