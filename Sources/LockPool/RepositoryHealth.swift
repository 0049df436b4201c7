import FoundationEssentials
import Git

/// One finding of `RepositoryHealth.check`.
public struct HealthProblem: Sendable, Equatable, CustomStringConvertible {
    /// How bad it is: an error makes the repository unhealthy; a warning is worth a look.
    public enum Severity: String, Sendable { case error, warning }
    /// What was found.
    public enum Kind: String, Sendable {
        /// A lock in both `claimed/` and `unclaimed/` at the tip.
        case bothStates = "both-states"
        /// A pool with only one of its two directories at the tip.
        case missingDirectory = "missing-directory"
        /// A pool directory without `.gitkeep`: it disappears from git once its last lock leaves.
        case missingGitkeep = "missing-gitkeep"
        /// An entry in `claimed/` or `unclaimed/` that is not a lock (subdirectory, symlink, invalid name).
        case strayEntry = "stray-entry"
        /// A commit claimed a lock that its first parent already had claimed.
        case doubleClaim = "double-claim"
        /// A commit put a lock in both states.
        case duplicated
        /// A lock disappeared without a remove.
        case lostLock = "lost-lock"
    }

    public var severity: Severity
    public var kind: Kind
    public var pool: String
    public var lock: String?
    /// The commit showing it (history findings).
    public var commit: ObjectID?
    /// The finding in words.
    public var message: String

    /// `error: <message>` or `warning: <message>`.
    public var description: String { "\(severity.rawValue): \(message)" }
}

/// What `RepositoryHealth.check` found.
public struct HealthReport: Sendable {
    /// The tip checked.
    public var tip: ObjectID
    /// The pools checked.
    public var pools: [String]
    /// First-parent commits replayed.
    public var commitsReplayed: Int
    /// Everything found, tip findings first, then history in order.
    public var problems: [HealthProblem]

    /// Whether no error was found (warnings allowed).
    public var isHealthy: Bool { !problems.contains { $0.severity == .error } }
}

/// The invariants of a lock repository (docs/resource.md#repository-layout) at the tip, and a replay of its history for
/// double claims and lost locks.
public struct RepositoryHealth {
    public let repository: Repository

    public init(repository: Repository) { self.repository = repository }

    /// Checks `pools` (every pool at the tip when empty) at `tip` and replays their first-parent history: all of it,
    /// or with `since` the commits from `since` on, starting from the pools as the newest older commit left them (the
    /// bound that keeps a shallow cache from fetching the whole history, docs/concurrency.md#a-shallow-cache).
    ///
    /// - Throws: `GitError` when the repository cannot be read, `HistoryTruncated` when it needs more history.
    public func check(tip: ObjectID, pools requested: [String] = [], since: Date? = nil) throws -> HealthReport {
        let pools = requested.isEmpty ? try PoolCatalog.pools(in: repository, at: tip) : requested
        var problems: [HealthProblem] = []
        let tipTree = try repository.treeID(ofCommit: tip)
        for pool in pools { problems += try tipProblems(pool, tree: tipTree) }
        let (commits, base) = try commitsToReplay(from: tip, since: since)
        for pool in pools {
            let reader = PoolDirectories(repository: repository, pool: pool)
            var before =
                try base.map { try reader.listing(ofTree: try repository.treeID(ofCommit: $0)) }
                ?? PoolDirectories.Listing()
            for id in commits.reversed() {
                let commit = try repository.commit(id)
                let poolEntry = try repository.entry(at: pool, inTree: commit.tree)
                if poolEntry?.id == before.poolTree { continue }
                let after = try reader.listing(ofTree: commit.tree)
                problems += replayProblems(pool: pool, commit: commit, before: before, after: after)
                before = after
            }
        }
        return HealthReport(tip: tip, pools: pools, commitsReplayed: commits.count, problems: problems)
    }

    /// The first-parent commits from `tip`, newest first, down to the first one older than `since` (the base, not
    /// replayed), or to the root.
    private func commitsToReplay(from tip: ObjectID, since: Date?) throws -> (commits: [ObjectID], base: ObjectID?) {
        var commits: [ObjectID] = []
        var base: ObjectID?
        try repository.walkFirstParents(from: tip) { id in
            if let since, try repository.commit(id).committer.time < since {
                base = id
                return false
            }
            commits.append(id)
            return true
        }
        return (commits, base)
    }

    private func tipProblems(_ pool: String, tree: ObjectID) throws -> [HealthProblem] {
        var problems: [HealthProblem] = []
        func add(_ severity: HealthProblem.Severity, _ kind: HealthProblem.Kind, _ lock: String?, _ text: String) {
            problems.append(
                HealthProblem(severity: severity, kind: kind, pool: pool, lock: lock, commit: nil, message: text))
        }
        var names: [String: Set<String>] = [:]
        for directory in ["claimed", "unclaimed"] {
            guard let entry = try repository.entry(at: "\(pool)/\(directory)", inTree: tree), entry.kind == .tree
            else {
                add(.error, .missingDirectory, nil, "pool '\(pool)' has no \(directory)/ directory")
                continue
            }
            var hasKeep = false
            for item in try repository.entries(ofTree: entry.id) {
                if item.name == ".gitkeep" {
                    hasKeep = true
                } else if PoolSnapshot.isLockEntry(item) {
                    names[directory, default: []].insert(item.name)
                } else {
                    let what =
                        switch item.kind {
                        case .tree: "a directory"
                        case .commit: "a submodule"
                        case .blob where !item.isRegularFile: "a symbolic link"
                        default: "a file whose name is not a lock name"
                        }
                    add(
                        .warning, .strayEntry, nil,
                        "\(pool)/\(directory)/\(NameRule.jsonQuoted(item.name)) is \(what); it is not a lock")
                }
            }
            if !hasKeep {
                add(.warning, .missingGitkeep, nil, "\(pool)/\(directory)/.gitkeep is missing")
            }
        }
        for lock in (names["claimed"] ?? []).intersection(names["unclaimed"] ?? []).sorted() {
            add(.error, .bothStates, lock, "lock '\(lock)' is both claimed and unclaimed in pool '\(pool)'")
        }
        return problems
    }

    private func replayProblems(
        pool: String, commit: Commit, before: PoolDirectories.Listing, after: PoolDirectories.Listing
    ) -> [HealthProblem] {
        var problems: [HealthProblem] = []
        let subject = commit.subject
        let operation = Trailers.value("Lock-Operation", in: commit.message)?.lowercased()
        let trailerLocks = CommitMessage.lockNames(in: commit.message)
        let trailerPool = Trailers.value("Lock-Pool", in: commit.message)
        // Trailers, when present, name the locks; the subject is read only without them (as `PoolTimeline` does).
        func names(_ lock: String) -> Bool {
            guard !trailerLocks.isEmpty else { return subject.hasSuffix(": \(lock)") }
            return trailerLocks.contains(lock) && (trailerPool == nil || trailerPool == pool)
        }
        func add(_ severity: HealthProblem.Severity, _ kind: HealthProblem.Kind, _ lock: String, _ text: String) {
            problems.append(
                HealthProblem(
                    severity: severity, kind: kind, pool: pool, lock: lock, commit: commit.id,
                    message: "\(commit.id.short) \(text)"))
        }
        let locks = Set(before.claimed.keys).union(before.unclaimed.keys).union(after.claimed.keys)
            .union(after.unclaimed.keys)
        for lock in locks.sorted() {
            let wasClaimed = before.claimed[lock] != nil
            let isClaimed = after.claimed[lock] != nil
            let wasBoth = wasClaimed && before.unclaimed[lock] != nil
            let isBoth = isClaimed && after.unclaimed[lock] != nil
            let claimsByMessage =
                names(lock)
                && (operation.map { $0 == "acquire" || $0 == "claim" }
                    ?? (subject.hasSuffix("claiming: \(lock)") && !subject.hasSuffix("unclaiming: \(lock)")))
            if wasClaimed && isClaimed && claimsByMessage {
                add(.error, .doubleClaim, lock, "claims lock '\(lock)' in pool '\(pool)', which was already claimed")
            }
            if isBoth && !wasBoth {
                add(.error, .duplicated, lock, "puts lock '\(lock)' in pool '\(pool)' in both claimed and unclaimed")
            }
            let existed = wasClaimed || before.unclaimed[lock] != nil
            let exists = isClaimed || after.unclaimed[lock] != nil
            let removesByMessage = names(lock) && (operation == "remove" || subject.hasSuffix("removing: \(lock)"))
            if existed && !exists && !removesByMessage {
                add(.warning, .lostLock, lock, "deletes lock '\(lock)' in pool '\(pool)' without a remove")
            }
        }
        return problems
    }
}
