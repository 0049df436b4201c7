import ArgumentParser
import LockPool

/// A failure of a `lockpool` subcommand, with the exit status it maps to.
public enum CLIError: Error, Sendable, CustomStringConvertible {
    /// Bad arguments or settings (exit 64); `warnings` are printed first.
    case usage(String, warnings: [String] = [])
    /// An operational failure (exit 1).
    case failure(String)
    /// `verify` found errors (exit 65).
    case unhealthy(String)

    public var description: String {
        switch self {
        case .usage(let text, _), .failure(let text), .unhealthy(let text): text
        }
    }
}

/// The exit statuses of `lockpool` (docs/resource.md#the-lockpool-command), listed in `--help`.
public enum ExitStatus {
    /// Success.
    public static let success: Int32 = 0
    /// A failure: the lock could not be changed, the repository or remote failed, …
    public static let failure: Int32 = 1
    /// A usage error: bad arguments, options or settings.
    public static let usage: Int32 = 64
    /// `verify` found the repository unhealthy.
    public static let unhealthy: Int32 = 65
    /// `--timeout` passed before the operation could be done.
    public static let timeout: Int32 = 75
    /// SIGINT or SIGTERM ended the command (128 + SIGINT, as a shell reports a Ctrl-C).
    public static let interrupted: Int32 = 130

    static let help = """
        Exit status: 0 success; 1 failure; 64 usage error (bad arguments or settings); 65 `verify` found the \
        repository unhealthy; 75 `--timeout` passed (nothing was changed); 130 interrupted (Ctrl-C, SIGTERM).
        """

    /// The exit status for an error thrown by an operation.
    static func of(_ error: any Error) -> Int32 {
        switch error {
        case LockPoolError.timedOut: timeout
        case LockPoolError.interrupted, LockPoolError.interruptedAfterChange: interrupted
        case CLIError.usage: usage
        case CLIError.unhealthy: unhealthy
        default: failure
        }
    }
}
