import FoundationEssentials
import Git

/// A lock pool operation failed; the description is the message a user sees after `error: `.
public enum LockPoolError: Error, Sendable, CustomStringConvertible {
    case poolMissing(pool: String, branch: String)
    case lockMissing(lock: String, pool: String)
    case lockInBothStates(lock: String, pool: String)
    case notClaimed(lock: String, pool: String, releasedBy: String?)
    case removeUnclaimed(lock: String, pool: String)
    case fenceBroken(
        lock: String, pool: String, holder: String, current: ObjectID, fence: ObjectID, leaseTakenOver: Bool = false)
    case existsWithOtherContent(lock: String, pool: String)
    case existsClaimed(lock: String, pool: String)
    case existsUnclaimed(lock: String, pool: String)
    case pushRefused(branch: String, reason: String)
    case branchNotFound(branch: String, uri: String, existing: [String] = [])
    case repositoryNotFound(uri: String)
    /// The server ended the conversation with its own refusal (e.g. git daemon's access hook said no to a push).
    case refusedByServer(operation: String, uri: String, message: String)
    /// The URL names no transport lockpool can use (an unknown scheme) or is malformed (no host).
    case unsupportedURL(uri: String)
    /// The resolver says the remote's host name does not exist (getaddrinfo's words).
    case unknownHost(message: String)
    case authenticationFailed(uri: String, tried: String?)
    case authenticationError(uri: String, message: String)
    case certificateRejected(reason: String)
    case tunnelRefused(message: String)
    case privateKey(PrivateKey.Problem)
    case network(cause: String)
    case timedOut(after: Duration, reason: String)
    case interrupted
    case interruptedAfterChange(operation: String)
    case versionNotOnBranch(ref: String, branch: String)
    case noHistory(pool: String, ref: String)
    case leasePassed(lock: String, pool: String, at: Date)
    case noLongerAcquired(lock: String, pool: String, claim: ObjectID, ended: ObjectID, subject: String)
    case gitFailed(operation: String, underlying: GitError)
    /// A directory lockpool keeps state in (the cache root) is not its own, nor is the per-user alternative.
    case notPrivate(path: String, problem: String, fallback: String, fallbackProblem: String)

    public var description: String {
        switch self {
        case .poolMissing(let pool, let branch):
            "pool '\(pool)' does not exist on branch '\(branch)' (expected \(pool)/claimed and \(pool)/unclaimed)"
        case .lockMissing(let lock, let pool): "lock '\(lock)' does not exist in pool '\(pool)'"
        case .lockInBothStates(let lock, let pool):
            "lock '\(lock)' is both claimed and unclaimed in pool '\(pool)'; fix the repository by hand"
        case .notClaimed(let lock, let pool, let releasedBy):
            "lock '\(lock)' in pool '\(pool)' is not claimed" + (releasedBy.map { " (released by \($0))" } ?? "")
        case .removeUnclaimed(let lock, let pool):
            "lock '\(lock)' in pool '\(pool)' is not claimed: only claimed locks can be removed; claim it first"
        case .fenceBroken(let lock, let pool, let holder, let current, let fence, let leaseTakenOver):
            "lock '\(lock)' in pool '\(pool)' was claimed again by \(holder) in \(current.short) after this job's claim "
                + "\(fence.short)"
                + (leaseTakenOver ? ", which took it over when this claim's lease had passed" : "")
                + "; not releasing it"
        case .existsWithOtherContent(let lock, let pool):
            "lock '\(lock)' already exists in pool '\(pool)' as unclaimed with different content; use update to change it"
        case .existsClaimed(let lock, let pool): "lock '\(lock)' already exists in pool '\(pool)' as claimed"
        case .existsUnclaimed(let lock, let pool):
            "lock '\(lock)' already exists in pool '\(pool)' as unclaimed; use claim to take it"
        case .pushRefused(let branch, let reason): "push to branch '\(branch)' was refused by the server: \(reason)"
        case .branchNotFound(let branch, let uri, let existing):
            "branch '\(branch)' not found in \(uri)"
                + (existing.isEmpty
                    ? " (it has no branches yet; lockpool init creates one)"
                    : " (its branches: \(existing.prefix(10).joined(separator: ", "))"
                        + (existing.count > 10 ? ", and \(existing.count - 10) more)" : ")"))
        case .repositoryNotFound(let uri): "repository not found: \(uri)"
        case .refusedByServer(let operation, let uri, let message):
            "\(operation == "push" ? "push to" : "\(operation) from") \(uri) was refused by the server: \(message)"
        case .unsupportedURL(let uri):
            "unsupported repository URL: \(uri) (use a path, or a file://, git://, ssh://, http:// or https:// URL with "
                + "a host, or user@host:path)"
        case .unknownHost(let message): "unknown host: \(message)"
        case .authenticationFailed(let uri, let tried):
            "authentication failed for \(uri)"
                + (tried.map { " (\($0) refused)" }
                    ?? " (no credential to offer: set private_key, username and password, or SSH_AUTH_SOCK)")
        case .authenticationError(let uri, let message): "authentication failed for \(uri): \(message)"
        case .certificateRejected(let reason): reason
        case .tunnelRefused(let message): message
        case .privateKey(let problem): problem.description
        case .network(let cause): "network error: \(cause)"
        case .timedOut(let after, let reason): "timed out after \(after.goDescription): \(reason)"
        case .interrupted: "interrupted; nothing was changed"
        case .interruptedAfterChange(let operation): "interrupted after the \(operation) was pushed"
        case .versionNotOnBranch(let ref, let branch): "version \(ref) is not on branch '\(branch)'"
        case .noHistory(let pool, let ref): "pool '\(pool)' has no history at version \(ref)"
        case .leasePassed(let lock, let pool, let at):
            "the lease of lock '\(lock)' in pool '\(pool)' passed at \(CommitMessage.timestamp(at)); it can no longer be "
                + "renewed (claim the lock again)"
        case .noLongerAcquired(let lock, let pool, let claim, let ended, let subject):
            "lock instance is no longer acquired: lock '\(lock)' in pool '\(pool)' was claimed in \(claim.short), and "
                + "\(ended.short) (\(NameRule.jsonQuoted(subject))) changed it since; put again to claim it, or get "
                + "the newest version"
        case .gitFailed(let operation, let underlying): "could not \(operation): \(underlying.message)"
        case .notPrivate(let path, let problem, let fallback, let fallbackProblem):
            "the cache directory \(path) \(problem), and \(fallback) \(fallbackProblem); remove them or set TMPDIR "
                + "to a directory of your own"
        }
    }
}
