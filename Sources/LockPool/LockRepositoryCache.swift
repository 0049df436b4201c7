import FoundationEssentials
import Git
import Glibc
import Logging
import StringSupport

/// The persistent bare repository that mirrors one branch of one lock repository, under
/// `<root>/<hash of "URI\nbranch">`, shared by `check`, `in`, `out` and the CLI. Not `Sendable`.
///
/// An advisory lock file (`<dir>.lock`) serialises git work on it between processes; callers hold it only while
/// doing git work, never while sleeping.
public final class LockRepositoryCache {
    public let path: String
    public let remoteURL: String
    public let branch: String
    let options: RemoteOptions
    private(set) public var repository: Repository
    private var cachedRemote: Remote?
    private var cachedPushRemote: Remote?
    /// Where pushes go when it differs from `remoteURL`.
    public let pushURL: String?
    private let lockFile: Int32
    private var lockDepth = 0
    /// The depth `deepen` chose for the next fetch of the emptied cache (0: the whole history).
    private var nextFetchDepth: Int?
    /// Whether this process has cleared git's lock files left by a killed process (`removeStaleGitLocks`).
    private var staleLocksRemoved = false

    /// The local reference that holds the last fetched tip.
    public var tipReference: String { "refs/heads/\(branch)" }

    /// Opens (or creates) the cache for `remoteURL` and `branch` below `root`.
    ///
    /// - Parameters:
    ///   - root: the cache root, usually `$TMPDIR/lockpool-cache`; when it is not a directory of this user's own (not
    ///     writable by others), `<root>-<uid>` is used instead.
    ///   - remoteURL: the remote URL without userinfo.
    ///   - branch: the branch name.
    ///   - options: how to reach the remote.
    /// - Throws: `LockPoolError.gitFailed` when the cache cannot be created, `LockPoolError.notPrivate` when neither
    ///   root is this user's own.
    public init(root: String, remoteURL: String, pushURL: String? = nil, branch: String, options: RemoteOptions) throws
    {
        // The root must be this user's own (or `<root>-<uid>` is used): another user's could hold a planted cache.
        let root = try PrivateDirectory.ensure(root)
        self.pushURL = pushURL
        self.path = Self.directory(root: root, remoteURL: remoteURL, branch: branch)
        self.remoteURL = remoteURL
        self.branch = branch
        self.options = options
        let fd = open(path + ".lock", O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw LockPoolError.gitFailed(
                operation: "open the cache",
                underlying: GitError(code: .generic, function: "open", message: String(cString: strerror(errno))))
        }
        lockFile = fd
        flock(fd, LOCK_EX)
        defer { flock(fd, LOCK_UN) }
        do {
            repository = try Self.openOrCreate(path)
        } catch {
            // An unusable cache is deleted and rebuilt once.
            try? FileManager.default.removeItem(atPath: path)
            do { repository = try Self.openOrCreate(path) } catch let error as GitError {
                throw LockPoolError.gitFailed(operation: "create the cache at \(path)", underlying: error)
            }
        }
    }

    deinit { close(lockFile) }

    /// The cache directory for a URI and branch: a hash of the URI without userinfo, a newline and the branch.
    public static func directory(root: String, remoteURL: String, branch: String) -> String {
        let key = Repository.hashBlob(Array("\(remoteURL)\n\(branch)".utf8))
        return FilePaths.join(root, key.hex)
    }

    private static func openOrCreate(_ path: String) throws -> Repository {
        if FileManager.default.fileExists(atPath: path) {
            let repository = try Repository.open(at: path)
            _ = try repository.referenceTarget("HEAD")  // a corrupt HEAD or refs fail here
            return repository
        }
        return try Repository.createScratch(at: path)
    }

    /// Runs `body` holding the advisory lock (re-entrant within this object).
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        if lockDepth == 0 {
            flock(lockFile, LOCK_EX)
            if !staleLocksRemoved {
                removeStaleGitLocks()
                staleLocksRemoved = true
            }
        }
        lockDepth += 1
        defer {
            lockDepth -= 1
            if lockDepth == 0 { flock(lockFile, LOCK_UN) }
        }
        return try body()
    }

    /// Removes git's own lock files (`HEAD.lock`, `packed-refs.lock`, `config.lock`, `refs/**/*.lock`). Called holding
    /// the advisory lock, under which every lockpool process does all its git work: such a file can only be left by a
    /// process killed mid-write (SIGKILL during a fetch or a push), and it would stop every later write to that ref.
    /// Once per process: nothing in this one can leave one behind.
    private func removeStaleGitLocks() {
        for name in ["HEAD.lock", "packed-refs.lock", "config.lock"] { unlink(path + "/" + name) }
        let refs = path + "/refs"
        guard let below = try? FileManager.default.subpathsOfDirectory(atPath: refs) else { return }
        for relative in below where relative.hasSuffix(".lock") {
            unlink(refs + "/" + relative)
        }
    }

    /// How deep an empty cache fetches: the tip and its parent, so that "what did the tip change" needs nothing more
    /// (docs/concurrency.md#a-shallow-cache).
    public static let coldDepth = 2

    /// Fetches the branch tip into the cache (forced) and returns it: an empty cache fetches `coldDepth` commits where
    /// the transport can (`Remote.fetchesShallow`), a warm one what is new since its last fetch.
    ///
    /// A damaged cache is not repaired here: the `GitError` is thrown as is, and the caller's retry schedule rebuilds
    /// the cache once per operation (``RetryPolicy``, docs/concurrency.md#the-cache).
    ///
    /// - Throws: `LockPoolError.branchNotFound`, `.repositoryNotFound`, `.authenticationFailed`, `TransientError` for
    ///   failures worth retrying, or the `GitError` of a damaged cache.
    public func fetchTip(logger: Logger) throws -> ObjectID {
        try withLock {
            let previous = (try? repository.referenceTarget(tipReference)) ?? nil
            let depth = nextFetchDepth ?? (previous == nil ? Self.coldDepth : 0)
            nextFetchDepth = nil
            return try fetchTip(depth: depth, previous: previous, logger: logger)
        }
    }

    private func fetchTip(depth: Int, previous: ObjectID?, logger: Logger) throws -> ObjectID {
        logger.debug(
            "fetching branch", metadata: ["branch": "\(branch)", "remote": "\(remoteURL)", "depth": "\(depth)"])
        let tip: ObjectID?
        let remote: Remote
        do {
            remote = try self.remote()
            tip = try remote.fetch(branch: branch, into: tipReference, depth: depth)
            // libgit2 1.8.4 forgets a shallow cache's roots in memory when a fetch brings commits, although the file
            // keeps them (`Remote.fetch`); a repository opened again reads them (docs/decisions/0009-shallow-cache.md).
            if previous != nil, tip != previous, repository.isShallow {
                repository = try Repository.open(at: path)
            }
        } catch let error as GitError where Self.isCorruption(error) {
            throw error
        } catch {
            throw RemoteFailure.classify(error, uri: remoteURL, step: "fetch")
        }
        guard let tip else {
            throw LockPoolError.branchNotFound(branch: branch, uri: remoteURL, existing: remote.advertisedBranches)
        }
        return tip
    }

    /// Prepares a deeper fetch after a walk met the shallow boundary (`HistoryTruncated`): the cache is emptied, and
    /// the next `fetchTip` fetches 16 times deeper than the walk reached (at least 256 commits), or the whole history
    /// past 65,536 commits. libgit2 1.8.4 does not deepen a repository that already has the tip, so the cache starts
    /// again; the fetch itself is the next attempt's, with its failures sorted and retried as any fetch's
    /// (docs/concurrency.md#a-shallow-cache).
    ///
    /// - Throws: `LockPoolError.gitFailed` when the cache cannot be created again.
    public func deepen(logger: Logger) throws {
        try withLock {
            var reached = 0
            if let tip = try? repository.referenceTarget(tipReference) {
                try? repository.walkFirstParentIDs(from: tip) { _ in
                    reached += 1
                    return true
                }
            }
            let depth = max(256, reached * 16)
            logger.debug("deepening the cache", metadata: ["reached": "\(reached)", "depth": "\(depth)"])
            try recreate()
            nextFetchDepth = depth > 65_536 ? 0 : depth
        }
    }

    /// Deletes the cache repository and creates it empty again; the next fetch fills it.
    ///
    /// For a cache found unusable (docs/concurrency.md#the-cache): damaged objects, a corrupt reference, or a stale `*.lock` file left by
    /// a process killed during git work. Holds the advisory lock, so no other process is using the cache.
    ///
    /// - Throws: `LockPoolError.gitFailed` when the cache cannot be created again.
    public func rebuild(cause: GitError, logger: Logger) throws {
        try withLock {
            logger.debug("rebuilding unusable cache", metadata: ["cause": "\(cause)"])
            try recreate()
        }
    }

    private func recreate() throws {
        nextFetchDepth = nil
        // The remotes stay: `remote()` reopens them on the new repository, keeping their connections.
        try? FileManager.default.removeItem(atPath: path)
        do { repository = try Self.openOrCreate(path) } catch let error as GitError {
            throw LockPoolError.gitFailed(operation: "rebuild the cache at \(path)", underlying: error)
        }
    }

    /// The remote of this cache's repository, created once (see `Remote`).
    public func remote() throws -> Remote {
        if let cachedRemote, cachedRemote.repository === repository { return cachedRemote }
        // A reopened repository keeps the remote's connection (an ssh master: one login per operation).
        let remote =
            try cachedRemote?.reopened(on: repository)
            ?? Remote(repository: repository, url: remoteURL, options: options)
        cachedRemote = remote
        return remote
    }

    /// Pushes `commit` to the branch (to `pushURL` when set) and sorts the outcome (docs/concurrency.md#push-outcomes).
    ///
    /// - Returns: `.won`; `.lost` when the branch moved (a stale tip); `.transient` for a failure worth retrying, after
    ///   which the push may still have landed.
    /// - Throws: `PushRejected` for any other refusal (each caller words it), the `GitError` of a damaged cache (for the
    ///   caller's retry schedule to rebuild it; the push is judged by the next fetch), or the classified permanent
    ///   failure.
    func push(_ commit: ObjectID) throws -> PushOutcome {
        do {
            try pushRemote().push(commit, toBranch: branch)
            return .won
        } catch let rejected as PushRejected {
            if rejected.isStaleTip { return .lost }
            throw rejected
        } catch let error as GitError where Self.isCorruption(error) {
            throw error
        } catch {
            let classified = RemoteFailure.classify(error, uri: remoteURL, step: "push")
            if let transient = classified as? TransientError { return .transient(transient.cause) }
            throw classified
        }
    }

    /// Opens the next push's connection while the fetch runs, over git:// (`Remote.preparePush`,
    /// docs/decisions/0009-shallow-cache.md); it saves the push three round trips.
    func preparePush() {
        try? pushRemote().preparePush()
    }

    /// Closes the connection `preparePush` opened if the attempt did not push.
    func discardPreparedPush() {
        try? pushRemote().discardPreparedPush()
    }

    /// The remote pushes go to: `pushURL`'s when set, else `remote()`.
    public func pushRemote() throws -> Remote {
        guard let pushURL else { return try remote() }
        if let cachedPushRemote, cachedPushRemote.repository === repository { return cachedPushRemote }
        let remote =
            try cachedPushRemote?.reopened(on: repository)
            ?? Remote(repository: repository, url: pushURL, options: options)
        cachedPushRemote = remote
        return remote
    }
}

extension LockRepositoryCache {
    /// The branch new lock repositories get when none is named: `lockpool init`, `examples/create-lock-repo.sh`.
    public static let newRepositoryBranch = "main"

    /// The branch to use when none is given: the one the remote's HEAD names; else its only branch; else, for a
    /// remote without branches or a local repository still to be made (`init`), `newRepositoryBranch`.
    ///
    /// - Throws: `LockPoolError` for a remote that cannot be listed (unreachable, refused, authentication).
    public static func defaultBranch(root: String, remoteURL: String, options: RemoteOptions) throws -> String {
        let cache = try LockRepositoryCache(root: root, remoteURL: remoteURL, branch: "HEAD", options: options)
        let listed: (branches: [String], head: String?)
        do {
            listed = try cache.withLock { try cache.remote().listBranches() }
        } catch {
            switch RemoteFailure.classify(error, uri: remoteURL, step: "fetch") {
            case LockPoolError.repositoryNotFound where RemoteAddress(remoteURL).transport == .local:
                return newRepositoryBranch
            case let failure: throw failure
            }
        }
        if let head = listed.head, listed.branches.contains(head) || listed.branches.isEmpty { return head }
        return listed.branches.count == 1 ? listed.branches[0] : newRepositoryBranch
    }
}
