import CLibgit2

/// A failed libgit2 call: its return code, error class, the function and libgit2's message (secrets redacted).
public struct GitError: Error, Sendable, CustomStringConvertible {
    /// A libgit2 return code such as `GIT_ENOTFOUND`.
    public struct Code: Hashable, Sendable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        public static let generic = Code(rawValue: GIT_ERROR.rawValue)
        public static let notFound = Code(rawValue: GIT_ENOTFOUND.rawValue)
        public static let exists = Code(rawValue: GIT_EEXISTS.rawValue)
        public static let user = Code(rawValue: GIT_EUSER.rawValue)
        public static let nonFastForward = Code(rawValue: GIT_ENONFASTFORWARD.rawValue)
        public static let invalidSpec = Code(rawValue: GIT_EINVALIDSPEC.rawValue)
        public static let locked = Code(rawValue: GIT_ELOCKED.rawValue)
        public static let modified = Code(rawValue: GIT_EMODIFIED.rawValue)
        public static let auth = Code(rawValue: GIT_EAUTH.rawValue)
        public static let certificate = Code(rawValue: GIT_ECERTIFICATE.rawValue)
        public static let endOfFile = Code(rawValue: GIT_EEOF.rawValue)
        public static let mismatch = Code(rawValue: GIT_EMISMATCH.rawValue)
    }

    /// A libgit2 error class (`git_error_t`, the `klass` of `git_error_last()`), e.g. `.net` for `GIT_ERROR_NET`.
    ///
    /// One member per class of libgit2 1.5's `git2/errors.h`, named after it.
    public struct Class: Hashable, Sendable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        /// `GIT_ERROR_NONE`.
        public static let none = Class(rawValue: Int32(GIT_ERROR_NONE.rawValue))
        /// `GIT_ERROR_NOMEMORY`.
        public static let noMemory = Class(rawValue: Int32(GIT_ERROR_NOMEMORY.rawValue))
        /// `GIT_ERROR_OS`.
        public static let os = Class(rawValue: Int32(GIT_ERROR_OS.rawValue))
        /// `GIT_ERROR_INVALID`.
        public static let invalid = Class(rawValue: Int32(GIT_ERROR_INVALID.rawValue))
        /// `GIT_ERROR_REFERENCE`.
        public static let reference = Class(rawValue: Int32(GIT_ERROR_REFERENCE.rawValue))
        /// `GIT_ERROR_ZLIB`.
        public static let zlib = Class(rawValue: Int32(GIT_ERROR_ZLIB.rawValue))
        /// `GIT_ERROR_REPOSITORY`.
        public static let repository = Class(rawValue: Int32(GIT_ERROR_REPOSITORY.rawValue))
        /// `GIT_ERROR_CONFIG`.
        public static let config = Class(rawValue: Int32(GIT_ERROR_CONFIG.rawValue))
        /// `GIT_ERROR_REGEX`.
        public static let regex = Class(rawValue: Int32(GIT_ERROR_REGEX.rawValue))
        /// `GIT_ERROR_ODB`.
        public static let odb = Class(rawValue: Int32(GIT_ERROR_ODB.rawValue))
        /// `GIT_ERROR_INDEX`.
        public static let index = Class(rawValue: Int32(GIT_ERROR_INDEX.rawValue))
        /// `GIT_ERROR_OBJECT`.
        public static let object = Class(rawValue: Int32(GIT_ERROR_OBJECT.rawValue))
        /// `GIT_ERROR_NET`.
        public static let net = Class(rawValue: Int32(GIT_ERROR_NET.rawValue))
        /// `GIT_ERROR_TAG`.
        public static let tag = Class(rawValue: Int32(GIT_ERROR_TAG.rawValue))
        /// `GIT_ERROR_TREE`.
        public static let tree = Class(rawValue: Int32(GIT_ERROR_TREE.rawValue))
        /// `GIT_ERROR_INDEXER`.
        public static let indexer = Class(rawValue: Int32(GIT_ERROR_INDEXER.rawValue))
        /// `GIT_ERROR_SSL`.
        public static let ssl = Class(rawValue: Int32(GIT_ERROR_SSL.rawValue))
        /// `GIT_ERROR_SUBMODULE`.
        public static let submodule = Class(rawValue: Int32(GIT_ERROR_SUBMODULE.rawValue))
        /// `GIT_ERROR_THREAD`.
        public static let thread = Class(rawValue: Int32(GIT_ERROR_THREAD.rawValue))
        /// `GIT_ERROR_STASH`.
        public static let stash = Class(rawValue: Int32(GIT_ERROR_STASH.rawValue))
        /// `GIT_ERROR_CHECKOUT`.
        public static let checkout = Class(rawValue: Int32(GIT_ERROR_CHECKOUT.rawValue))
        /// `GIT_ERROR_FETCHHEAD`.
        public static let fetchHead = Class(rawValue: Int32(GIT_ERROR_FETCHHEAD.rawValue))
        /// `GIT_ERROR_MERGE`.
        public static let merge = Class(rawValue: Int32(GIT_ERROR_MERGE.rawValue))
        /// `GIT_ERROR_SSH`.
        public static let ssh = Class(rawValue: Int32(GIT_ERROR_SSH.rawValue))
        /// `GIT_ERROR_FILTER`.
        public static let filter = Class(rawValue: Int32(GIT_ERROR_FILTER.rawValue))
        /// `GIT_ERROR_REVERT`.
        public static let revert = Class(rawValue: Int32(GIT_ERROR_REVERT.rawValue))
        /// `GIT_ERROR_CALLBACK`.
        public static let callback = Class(rawValue: Int32(GIT_ERROR_CALLBACK.rawValue))
        /// `GIT_ERROR_CHERRYPICK`.
        public static let cherryPick = Class(rawValue: Int32(GIT_ERROR_CHERRYPICK.rawValue))
        /// `GIT_ERROR_DESCRIBE`.
        public static let describe = Class(rawValue: Int32(GIT_ERROR_DESCRIBE.rawValue))
        /// `GIT_ERROR_REBASE`.
        public static let rebase = Class(rawValue: Int32(GIT_ERROR_REBASE.rawValue))
        /// `GIT_ERROR_FILESYSTEM`.
        public static let filesystem = Class(rawValue: Int32(GIT_ERROR_FILESYSTEM.rawValue))
        /// `GIT_ERROR_PATCH`.
        public static let patch = Class(rawValue: Int32(GIT_ERROR_PATCH.rawValue))
        /// `GIT_ERROR_WORKTREE`.
        public static let worktree = Class(rawValue: Int32(GIT_ERROR_WORKTREE.rawValue))
        /// `GIT_ERROR_SHA`.
        public static let sha = Class(rawValue: Int32(GIT_ERROR_SHA.rawValue))
        /// `GIT_ERROR_HTTP`.
        public static let http = Class(rawValue: Int32(GIT_ERROR_HTTP.rawValue))
        /// `GIT_ERROR_INTERNAL`.
        public static let `internal` = Class(rawValue: Int32(GIT_ERROR_INTERNAL.rawValue))
    }

    public let code: Code
    public let errorClass: Class
    public let function: String
    public let message: String

    public init(code: Code, errorClass: Class = .none, function: String, message: String) {
        self.code = code
        self.errorClass = errorClass
        self.function = function
        self.message = message
    }

    public var description: String { "\(function) failed: \(message)" }
}

/// Turns a libgit2 return code into a `GitError`; call it right after the C call (the message is per thread).
@discardableResult
func check(_ status: Int32, _ function: StaticString, redacting secrets: [String] = []) throws(GitError) -> Int32 {
    guard status < 0 else { return status }
    throw lastError(status, function, redacting: secrets)
}

/// The `GitError` for `status`, with libgit2's last message for this thread.
func lastError(_ status: Int32, _ function: StaticString, redacting secrets: [String] = []) -> GitError {
    // Since libgit2 1.8 git_error_last() never returns NULL: with nothing set it returns a static "no error" of class
    // GIT_ERROR_NONE.
    let last = git_error_last().flatMap { $0.pointee.klass == Int32(GIT_ERROR_NONE.rawValue) ? nil : $0 }
    var message = last.flatMap { $0.pointee.message.map { String(cString: $0) } } ?? "libgit2 gave no message"
    let errorClass = last.map { GitError.Class(rawValue: $0.pointee.klass) } ?? .none
    message = redact(message, secrets)
    return GitError(code: .init(rawValue: status), errorClass: errorClass, function: "\(function)", message: message)
}

/// Replaces every occurrence of each non-empty secret with `****`.
public func redact(_ text: String, _ secrets: [String]) -> String {
    var text = text
    for secret in secrets where !secret.isEmpty { text = text.replacing(secret, with: "****") }
    return text
}
