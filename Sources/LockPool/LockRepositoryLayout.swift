import FoundationEssentials
import Git
import Logging

/// Creating pools: the `claimed/.gitkeep` and `unclaimed/.gitkeep` files of docs/resource.md#repository-layout, on a
/// new or existing branch.
public enum LockRepositoryLayout {
    /// What `initialize` did.
    public struct Outcome: Sendable, Equatable {
        /// Whether a local bare repository was created at the URI.
        public var createdRepository: Bool
        /// Whether the branch was created.
        public var createdBranch: Bool
        /// The pools that were created (the others already existed).
        public var createdPools: [String]
        /// The commit pushed, or nil when every pool existed.
        public var commit: ObjectID?
    }

    /// Makes sure that `pools` exist on the configured branch: creates a bare repository when the URI is a local
    /// path that does not exist yet (or an empty directory), the branch when the remote lacks it, and the two
    /// `.gitkeep` files of each missing pool, in one commit pushed without force (redone if the branch moved).
    ///
    /// - Parameters:
    ///   - configuration: the remote, branch, identity and tool; `pool` is ignored.
    ///   - pools: valid pool names.
    /// - Throws: `LockPoolError` (unreachable remote, refused push, authentication, …).
    public static func initialize(
        configuration: PoolConfiguration, pools: [String], wallClock: WallClock = .system, logger: Logger
    ) throws -> Outcome {
        var outcome = Outcome(createdRepository: false, createdBranch: false, createdPools: [], commit: nil)
        outcome.createdRepository = try createLocalRepositoryIfMissing(configuration)
        let cache = try LockRepositoryCache(
            root: configuration.cacheRoot, remoteURL: configuration.remoteURL, pushURL: configuration.pushURL,
            branch: configuration.branch, options: configuration.remoteOptions)
        // A lost race is retried at once: each one is another client's progress, and 20 in a row mean a branch too
        // busy to initialise now.
        for _ in 0..<20 {
            let done = try cache.withLock {
                try addMissingPools(
                    pools, cache: cache, configuration: configuration, time: wallClock.wholeSeconds(),
                    outcome: &outcome, logger: logger)
            }
            if done { return outcome }
        }
        throw LockPoolError.timedOut(after: .zero, reason: "lost every push race on branch '\(configuration.branch)'")
    }

    /// Creates a bare repository when the URI is a local path that does not exist yet, or an empty directory.
    ///
    /// - Returns: whether it created one.
    private static func createLocalRepositoryIfMissing(_ configuration: PoolConfiguration) throws -> Bool {
        guard RemoteAddress(configuration.remoteURL).transport == .local else { return false }
        var path = configuration.remoteURL
        if path.hasPrefix("file://") { path = String(path.dropFirst("file://".count)) }
        let contents = try? FileManager.default.contentsOfDirectory(atPath: path)
        guard contents == nil || contents?.isEmpty == true else { return false }
        do {
            let repository = try Repository.create(at: path, bare: true)
            try repository.setHead("refs/heads/\(configuration.branch)")
        } catch let error as GitError {
            throw LockPoolError.gitFailed(operation: "create a repository at \(path)", underlying: error)
        }
        return true
    }

    /// One attempt on a fresh tip: commits the `.gitkeep` files of the pools that are missing and pushes the commit.
    ///
    /// - Returns: true when done (pushed, or nothing was missing); false when the branch moved.
    private static func addMissingPools(
        _ pools: [String], cache: LockRepositoryCache, configuration: PoolConfiguration, time: Date,
        outcome: inout Outcome, logger: Logger
    ) throws -> Bool {
        let tip: ObjectID?
        do { tip = try cache.fetchTip(logger: logger) } catch LockPoolError.branchNotFound { tip = nil }
        let repository = cache.repository
        do {
            let base = try tip.map { try repository.treeID(ofCommit: $0) } ?? repository.createTree([])
            let (updates, created) = try missingPools(pools, in: base, repository: repository)
            outcome.createdPools = created
            outcome.createdBranch = tip == nil
            guard !updates.isEmpty else { return true }
            let tree = try repository.updatedTree(base, applying: updates)
            let signature = Signature(name: configuration.identityName, email: configuration.identityEmail, time: time)
            let message =
                "initializing pools: \(created.joined(separator: ", "))\n\n"
                + "Lock-Tool: \(configuration.tool)\nLock-Nonce: \(CommitMessage.freshNonce())\n"
            let commit = try repository.createCommit(
                tree: tree, parents: tip.map { [$0] } ?? [], message: message, author: signature, committer: signature)
            guard try push(commit, cache: cache, configuration: configuration) else { return false }
            try repository.setReference(cache.tipReference, to: commit, message: "lockpool: init")
            outcome.commit = commit
            return true
        } catch let error as GitError {
            throw LockPoolError.gitFailed(operation: "initialize the pools", underlying: error)
        }
    }

    /// The `.gitkeep` files to add for the pools that lack a `claimed` or `unclaimed` directory in `tree`, and those
    /// pools' names.
    private static func missingPools(_ pools: [String], in tree: ObjectID, repository: Repository) throws -> (
        updates: [TreeUpdate], created: [String]
    ) {
        let keep = try repository.createBlob([])
        var updates: [TreeUpdate] = []
        var created: [String] = []
        for pool in pools {
            var missing = false
            for directory in ["claimed", "unclaimed"] {
                let path = "\(pool)/\(directory)"
                if try repository.entry(at: path, inTree: tree)?.kind != .tree {
                    missing = true
                    updates.append(.upsert(path: "\(path)/.gitkeep", id: keep, mode: 0o100644))
                }
            }
            if missing { created.append(pool) }
        }
        return (updates, created)
    }

    /// Pushes `commit` with the cache's classification; false when the branch moved (a lost race). Not retried: a
    /// transient failure is thrown.
    private static func push(_ commit: ObjectID, cache: LockRepositoryCache, configuration: PoolConfiguration) throws
        -> Bool
    {
        do {
            switch try cache.push(commit) {
            case .won: return true
            case .lost: return false
            case .transient(let cause): throw TransientError(cause: cause)
            }
        } catch let rejected as PushRejected {
            throw LockPoolError.pushRefused(branch: configuration.branch, reason: rejected.reason)
        }
    }
}
