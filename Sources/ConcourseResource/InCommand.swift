import FoundationEssentials
import Git
import LockPool
import ProcessIO
import SystemPackage

/// The `in` step: writes the repository at the version and the lock's `name`, `metadata` and `claim_ref`
/// (docs/resource.md#the-get-step).
public enum InCommand {
    /// Runs `in` for `request` into `context.arguments[1]` and returns its stdout.
    ///
    /// - Throws: `ResourceError`, `LockPoolError`.
    public static func run(_ request: InRequest, _ context: ResourceContext) async throws -> [UInt8] {
        let destination = context.arguments[1]
        let configuration = try context.configuration(for: request.source, readsBuild: false)
        let pool = configuration.pool
        let branch = configuration.branch
        let client = LockPoolClient(configuration: configuration)
        let printer = context.printer
        return try await client.withFreshTip(clock: ContinuousClock(), events: printer.handle, logger: context.logger) {
            cache, tip in
            let repository = cache.repository
            let history = PoolHistory(repository: repository, pool: pool)
            var version = tip
            if let ref = request.version {
                guard let id = ObjectID(hex: ref), try history.isOnBranch(id, tip: tip) else {
                    throw LockPoolError.versionNotOnBranch(ref: ref, branch: branch)
                }
                version = id
            }
            // The destination holds what the cache holds, from the tip down to its shallow boundary, and at least
            // `depth` commits below the version (a walk past the boundary has the cache fetch deeper).
            if request.depth > 0 {
                var seen = 0
                try repository.walkFirstParentIDs(from: version) { _ in
                    seen += 1
                    return seen < request.depth
                }
            }
            guard try !history.commitsTouchingPool(from: version, limit: 1).isEmpty else {
                throw LockPoolError.noHistory(pool: pool, ref: version.hex)
            }
            var subject: (locks: [String], commit: Commit)?
            try repository.walkFirstParents(from: version) { id in
                let commit = try repository.commit(id)
                let changed = try history.changedLocks(in: commit)
                guard let first = changed.first else { return true }
                // A set changed at once (a multi-lock acquire or release) is the subject as a whole.
                let set = CommitMessage.lockNames(in: commit.message)
                let isSet =
                    set.count > 1 && Trailers.value("Lock-Pool", in: commit.message) == pool
                    && set.allSatisfy(changed.contains)
                subject = (isSet ? set : [first], commit)
                return false
            }
            guard let subject else {
                try writeRepository(
                    cache: cache, configuration: configuration, version: version, to: destination)
                context.printer.line("no lock has changed in pool '\(pool)' at or before \(version.short)")
                return ResourceOutput.step(version: version, locks: [], pool: pool)
            }
            let locks = subject.locks
            let snapshot = try PoolSnapshot(repository: repository, commit: version, pool: pool)
            for lock in locks {
                let state = snapshot.state(of: lock)
                if state.isHeld,
                    let ended = try history.firstClaimChange(of: lock, after: version, tip: tip)
                {
                    throw LockPoolError.noLongerAcquired(
                        lock: lock, pool: pool, claim: version, ended: ended.id, subject: ended.subject)
                }
            }
            try writeRepository(
                cache: cache, configuration: configuration, version: version, to: destination)
            let entries = locks.compactMap(snapshot.entry(of:))
            guard entries.count == locks.count else {
                context.printer.line("lock does not exist")
                return ResourceOutput.step(version: version, locks: locks, pool: pool)
            }
            // At a renewal the claim is the one it renewed (docs/decisions/0011-lease-takeover.md).
            let renewed = LockStatus.renewal(in: try repository.commit(version).message, pool: pool)
            let claim = renewed.flatMap { ObjectID(hex: $0.claim) } ?? version
            let claimedHere = try locks.allSatisfy { lock in
                guard snapshot.state(of: lock) == .claimed else { return false }
                return try history.claimCommit(of: lock, at: version)?.id == claim
            }
            // A set lists every name; `metadata` is the first lock's, and each lock's file is in the checkout at
            // <pool>/claimed/<lock>. Mode 0644: the task that reads them may run as another user.
            let metadata = try repository.blob(entries[0].id)
            do throws(FileReplacement.Failure) {
                try StepDirectory.write(
                    locks: locks, metadata: metadata, claim: claimedHere ? claim : nil, to: destination, mode: 0o644)
            } catch {
                throw ResourceError.destination("cannot write \(error.description)")
            }
            return ResourceOutput.step(version: version, locks: locks, pool: pool)
        }
    }

    /// Writes the repository, checked out detached at `version`, with `origin` set to the URI without userinfo, and the
    /// history the cache holds: its object files, shared, with its shallow boundary.
    private static func writeRepository(
        cache: LockRepositoryCache, configuration: PoolConfiguration, version: ObjectID, to destination: String
    ) throws {
        do {
            try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
            let repository = try Repository.create(at: destination, bare: false)
            try repository.setRemote("origin", url: configuration.remoteURL)
            // The cache already holds the history: share its files instead of copying it into a new pack
            // (docs/decisions/0008-in-shares-the-cache-objects.md).
            try repository.shareObjects(of: cache.repository)
            if let tip = try cache.repository.referenceTarget(cache.tipReference) {
                try repository.setReference(
                    "refs/remotes/origin/\(configuration.branch)", to: tip, message: "lockpool: in")
            }
            try repository.checkoutDetached(version)
        } catch let error as GitError {
            throw ResourceError.destination(error.message)
        } catch {
            throw ResourceError.destination("\(error)")
        }
    }
}
