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

    /// A libgit2 error class such as `GIT_ERROR_NET`.
    public struct Class: Hashable, Sendable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        public static let none = Class(rawValue: 0)
        public static let os = Class(rawValue: Int32(GIT_ERROR_OS.rawValue))
        public static let reference = Class(rawValue: Int32(GIT_ERROR_REFERENCE.rawValue))
        public static let zlib = Class(rawValue: Int32(GIT_ERROR_ZLIB.rawValue))
        public static let repository = Class(rawValue: Int32(GIT_ERROR_REPOSITORY.rawValue))
        public static let odb = Class(rawValue: Int32(GIT_ERROR_ODB.rawValue))
        public static let net = Class(rawValue: Int32(GIT_ERROR_NET.rawValue))
        public static let ssl = Class(rawValue: Int32(GIT_ERROR_SSL.rawValue))
        public static let ssh = Class(rawValue: Int32(GIT_ERROR_SSH.rawValue))
        public static let http = Class(rawValue: Int32(GIT_ERROR_HTTP.rawValue))
        public static let callback = Class(rawValue: Int32(GIT_ERROR_CALLBACK.rawValue))
        public static let indexer = Class(rawValue: Int32(GIT_ERROR_INDEXER.rawValue))
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
    let last = git_error_last()
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
