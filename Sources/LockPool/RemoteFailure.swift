import Git

/// A failure that may go away by itself: connection refused or reset, DNS, a stalled transfer, HTTP 5xx.
public struct TransientError: Error, Sendable, CustomStringConvertible {
    public let cause: String
    public var description: String { cause }
}

/// Sorting remote failures into lockpool's permanent errors and transient ones.
///
/// The meaning of a libgit2 failure is `Git`'s business (GitError+Classification.swift, next to the libgit2 wording
/// each predicate rests on); this only maps those meanings to `LockPoolError`, in order of precedence.
enum RemoteFailure {
    /// The domain error for `error`, raised by a fetch or push (`step`) of `uri` (shown as given: without userinfo).
    static func classify(_ error: any Error, uri: String, step: String) -> any Error {
        switch error {
        case let refused as AuthenticationRefused:
            return LockPoolError.authenticationFailed(uri: uri, tried: refused.tried)
        case let rejected as CertificateRejected: return LockPoolError.certificateRejected(reason: rejected.reason)
        case let error as GitError: return classify(error, uri: uri, step: step)
        default: return error
        }
    }

    static func classify(_ error: GitError, uri: String, step: String) -> any Error {
        if error.isTunnelRefused { return LockPoolError.tunnelRefused(message: error.message) }
        if error.isUnusablePrivateKey { return LockPoolError.privateKey(.unusable(error.message)) }
        if error.isAuthenticationFailure { return LockPoolError.authenticationError(uri: uri, message: error.message) }
        if error.isRepositoryNotFound { return LockPoolError.repositoryNotFound(uri: uri) }
        if let refusal = error.serverRefusal {
            return LockPoolError.refusedByServer(operation: step, uri: uri, message: refusal)
        }
        if error.isUnsupportedURL { return LockPoolError.unsupportedURL(uri: uri) }
        if error.isUnknownHost { return LockPoolError.unknownHost(message: error.message) }
        if error.isCertificateFailure {
            return LockPoolError.certificateRejected(
                reason: "the TLS certificate of \(uri) is not trusted: \(error.message)")
        }
        if error.isTransient { return TransientError(cause: error.message) }
        return LockPoolError.gitFailed(operation: step, underlying: error)
    }
}

extension LockRepositoryCache {
    /// Whether `error`, raised by git work on the cache, shows the cache is unusable and is to be rebuilt from the
    /// remote (`GitError.isDamagedObjectStore`). A `*.lock` file that stops a write is stale: the advisory lock is
    /// held during all git work, so its writer was killed.
    public static func isCorruption(_ error: GitError) -> Bool { error.isDamagedObjectStore }
}
