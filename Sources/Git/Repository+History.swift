import CLibgit2

extension Repository {
    /// Walks the first-parent history from `start` (included), newest first, calling `body` for each commit id
    /// until it returns false. Calls `git_revwalk_push` with `git_revwalk_simplify_first_parent`.
    ///
    /// In a shallow repository a walk that reaches a shallow root throws `HistoryTruncated` instead of showing it to
    /// `body`: libgit2 presents such a commit as parentless, and every question asked of a commit compares it with its
    /// first parent (docs/concurrency.md#a-shallow-cache).
    ///
    /// - Throws: `HistoryTruncated`, `GitError`, or what `body` throws.
    public func walkFirstParents(from start: ObjectID, _ body: (ObjectID) throws -> Bool) throws {
        let boundary = shallowRoots
        try revwalkFirstParents(from: start) { id in
            if boundary.contains(id) { throw HistoryTruncated(commit: id) }
            return try body(id)
        }
    }

    /// Walks the first-parent history from `start` like `walkFirstParents`, for a caller that compares ids only: a
    /// shallow root is shown to `body`, and the walk throws `HistoryTruncated` only when `body` asks to go past it.
    ///
    /// - Throws: `HistoryTruncated`, `GitError`, or what `body` throws.
    public func walkFirstParentIDs(from start: ObjectID, _ body: (ObjectID) throws -> Bool) throws {
        let boundary = shallowRoots
        try revwalkFirstParents(from: start) { id in
            guard try body(id) else { return false }
            if boundary.contains(id) { throw HistoryTruncated(commit: id) }
            return true
        }
    }

    /// The first-parent walk itself, shallow roots included.
    private func revwalkFirstParents(from start: ObjectID, _ body: (ObjectID) throws -> Bool) throws {
        var walk: OpaquePointer?
        try check(git_revwalk_new(&walk, pointer), "git_revwalk_new")
        defer { git_revwalk_free(walk) }
        try check(git_revwalk_sorting(walk, GIT_SORT_NONE.rawValue), "git_revwalk_sorting")
        try check(git_revwalk_simplify_first_parent(walk), "git_revwalk_simplify_first_parent")
        var oid = start.oid
        try check(git_revwalk_push(walk, &oid), "git_revwalk_push")
        var next = git_oid()
        while true {
            let status = git_revwalk_next(&next, walk)
            if status == GIT_ITEROVER.rawValue { return }
            try check(status, "git_revwalk_next")
            guard try body(ObjectID(next)) else { return }
        }
    }

    /// The first-parent commits from `start` back to, but excluding, `stop` (or to the root), newest first,
    /// whose entry at `path` differs from their first parent's (a root commit: has the path).
    /// This is a path-filtered revwalk that compares tree entry ids, so it never diffs whole trees.
    ///
    /// - Throws: `GitError`.
    public func firstParentCommits(touching path: String, from start: ObjectID, limit: Int = .max) throws -> [ObjectID]
    {
        var result: [ObjectID] = []
        try walkFirstParents(from: start) { id in
            let commit = try self.commit(id)
            let mine = try entry(at: path, inTree: commit.tree)
            let theirs = try commit.parents.first.map { try entry(at: path, inTree: try treeID(ofCommit: $0)) } ?? nil
            if mine?.id != theirs?.id || mine?.mode != theirs?.mode { result.append(id) }
            return result.count < limit
        }
        return result
    }

    /// Whether `commit` is `ancestor` or one of its descendants. Calls `git_graph_descendant_of`; in a shallow
    /// repository, walks the first parents of `commit` instead (a lock branch is linear), since a shallow boundary
    /// would otherwise read as "not a descendant".
    ///
    /// - Throws: `HistoryTruncated` when a shallow boundary comes before `ancestor`, `GitError`.
    public func isSameOrDescendant(_ commit: ObjectID, of ancestor: ObjectID) throws -> Bool {
        if commit == ancestor { return true }
        if isShallow {
            var found = false
            try walkFirstParentIDs(from: commit) { id in
                found = id == ancestor
                return !found
            }
            return found
        }
        var a = commit.oid
        var b = ancestor.oid
        let status = git_graph_descendant_of(pointer, &a, &b)
        try check(status, "git_graph_descendant_of")
        return status == 1
    }
}
