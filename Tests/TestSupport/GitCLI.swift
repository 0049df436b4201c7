import Foundation

/// The outcome of one `git` command.
public struct GitResult: Sendable {
    /// The exit status.
    public let status: Int32
    /// Everything git wrote to stdout.
    public let stdout: Data
    /// Everything git wrote to stderr, decoded as UTF-8 (invalid bytes replaced).
    public let stderr: String

    /// stdout decoded as UTF-8 with trailing newlines removed.
    public var output: String {
        var text = String(decoding: stdout, as: UTF8.self)
        while text.hasSuffix("\n") { text.removeLast() }
        return text
    }
}

/// A `git` command that exited with a non-zero status.
public struct GitCLIError: Error, Sendable, CustomStringConvertible {
    /// The arguments after `git`.
    public let arguments: [String]
    /// The working directory the command ran in.
    public let directory: String
    /// The exit status (128 + signal when killed by a signal).
    public let status: Int32
    /// What git wrote to stdout.
    public let stdout: String
    /// What git wrote to stderr.
    public let stderr: String

    public var description: String {
        var text = "git \(arguments.joined(separator: " ")) failed with status \(status) in \(directory)"
        if !stderr.isEmpty { text += "\nstderr: \(stderr.trimmingCharacters(in: .whitespacesAndNewlines))" }
        if !stdout.isEmpty { text += "\nstdout: \(stdout.trimmingCharacters(in: .whitespacesAndNewlines))" }
        return text
    }
}

/// Runs the `git` command-line tool isolated from the machine's configuration.
///
/// `GIT_CONFIG_GLOBAL` and `GIT_CONFIG_SYSTEM` point at an empty file, author and committer are fixed
/// (`Lockpool Test <test@lockpool.invalid>`), prompts are disabled and the locale is `C`, so output is stable.
public struct GitCLI: Sendable {
    /// The fixed author and committer name.
    public static let authorName = "Lockpool Test"
    /// The fixed author and committer email.
    public static let authorEmail = "test@lockpool.invalid"

    /// The environment every command runs with (plus what a call adds).
    public let environment: [String: String]
    /// The directory commands run in unless a call names another.
    public let directory: URL

    /// Creates a runner whose configuration files are `emptyConfig`.
    ///
    /// - Parameters:
    ///   - directory: the default working directory.
    ///   - emptyConfig: an empty file used as global and system configuration.
    public init(directory: URL, emptyConfig: URL) {
        self.directory = directory
        var environment: [String: String] = [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin",
            "HOME": emptyConfig.deletingLastPathComponent().path,
            "GIT_CONFIG_GLOBAL": emptyConfig.path,
            "GIT_CONFIG_SYSTEM": emptyConfig.path,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": Self.authorName,
            "GIT_AUTHOR_EMAIL": Self.authorEmail,
            "GIT_COMMITTER_NAME": Self.authorName,
            "GIT_COMMITTER_EMAIL": Self.authorEmail,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ADVICE": "0",
            "LC_ALL": "C",
            "LANG": "C",
        ]
        if let tmp = ProcessInfo.processInfo.environment["TMPDIR"] { environment["TMPDIR"] = tmp }
        self.environment = environment
    }

    /// Creates a runner working in `scratch`, with the scratch directory's empty configuration file.
    ///
    /// - Throws: the file-system error when the empty configuration file cannot be written.
    public init(scratch: Scratch) throws {
        self.init(directory: scratch.url, emptyConfig: try scratch.emptyGitConfig())
    }

    /// The same runner working in `directory`.
    public func inDirectory(_ directory: URL) -> GitCLI {
        GitCLI(environment: environment, directory: directory)
    }

    private init(environment: [String: String], directory: URL) {
        self.environment = environment
        self.directory = directory
    }

    /// Runs `git arguments…` and returns its result whatever the exit status.
    ///
    /// - Parameters:
    ///   - arguments: the arguments after `git`.
    ///   - directory: the working directory; the runner's own when `nil`.
    ///   - stdin: bytes for git's standard input.
    ///   - extraEnvironment: variables added to (or replacing) the runner's environment.
    ///   - timeout: how long git may run before it is killed.
    /// - Throws: `ChildProcessError` when git cannot be started or times out.
    public func result(
        _ arguments: [String], in directory: URL? = nil, stdin: Data = Data(),
        extraEnvironment: [String: String] = [:], timeout: Duration = .seconds(60)
    ) throws -> GitResult {
        let outcome = try ChildProcess.run(
            executable: try ChildProcess.findExecutable("git", path: environment["PATH"]),
            arguments: arguments,
            environment: environment.merging(extraEnvironment) { $1 },
            directory: directory ?? self.directory, stdin: stdin, timeout: timeout)
        return GitResult(
            status: outcome.status, stdout: outcome.stdout, stderr: String(decoding: outcome.stderr, as: UTF8.self))
    }

    /// Runs `git arguments…` and returns its result, throwing when the exit status is not 0.
    ///
    /// - Throws: `GitCLIError` on a non-zero exit status; `ChildProcessError` when git cannot be started or times out.
    @discardableResult
    public func run(
        _ arguments: [String], in directory: URL? = nil, stdin: Data = Data(),
        extraEnvironment: [String: String] = [:], timeout: Duration = .seconds(60)
    ) throws -> GitResult {
        let result = try result(
            arguments, in: directory, stdin: stdin, extraEnvironment: extraEnvironment, timeout: timeout)
        guard result.status == 0 else {
            throw GitCLIError(
                arguments: arguments, directory: (directory ?? self.directory).path, status: result.status,
                stdout: String(decoding: result.stdout, as: UTF8.self), stderr: result.stderr)
        }
        return result
    }

    /// Variadic form of `run(_:in:stdin:extraEnvironment:timeout:)`.
    ///
    /// - Throws: `GitCLIError` on a non-zero exit status; `ChildProcessError` when git cannot be started.
    @discardableResult
    public func run(_ arguments: String..., in directory: URL? = nil) throws -> GitResult {
        try run(arguments, in: directory)
    }

    /// Runs the executable `script` with this runner's environment (its empty git configuration and its identity): the
    /// example scripts that drive git. Returns its result whatever the exit status.
    ///
    /// - Throws: `ChildProcessError` when the script cannot be started or times out.
    public func runScript(
        _ script: URL, _ arguments: [String], in directory: URL? = nil, timeout: Duration = .seconds(120)
    ) throws -> GitResult {
        let outcome = try ChildProcess.run(
            executable: script, arguments: arguments, environment: environment,
            directory: directory ?? self.directory, stdin: Data(), timeout: timeout)
        return GitResult(
            status: outcome.status, stdout: outcome.stdout, stderr: String(decoding: outcome.stderr, as: UTF8.self))
    }

    /// Runs git and returns stdout as text without trailing newlines.
    ///
    /// - Throws: `GitCLIError` on a non-zero exit status; `ChildProcessError` when git cannot be started.
    public func output(_ arguments: String..., in directory: URL? = nil) throws -> String {
        try run(arguments, in: directory).output
    }
}
