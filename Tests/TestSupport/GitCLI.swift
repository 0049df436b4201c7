import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

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

/// A child process that could not be started or did not finish in time.
public enum ChildProcessError: Error, Sendable, CustomStringConvertible {
    case notFound(String)
    case timedOut(command: String, after: Duration, stdout: String, stderr: String)

    public var description: String {
        switch self {
        case .notFound(let name): "executable '\(name)' not found in PATH"
        case .timedOut(let command, let after, let stdout, let stderr):
            "\(command) did not finish within \(after) and was killed\nstdout: \(stdout)\nstderr: \(stderr)"
        }
    }
}

/// Starts child processes with stdin, stdout and stderr connected to files, never pipes.
///
/// Files cannot fill up and deadlock the child, and a grandchild that inherits them (git daemon forks) cannot delay
/// the parent's reading by holding a pipe open.
enum ChildProcess {
    struct Outcome: Sendable {
        let status: Int32
        let signal: Int32?
        let stdout: Data
        let stderr: Data
    }

    /// A started process and the files holding its output; removed by `cleanUp()`.
    final class Running: Sendable {
        let process: Process
        private let exited: DispatchSemaphore
        let directory: URL
        let stdoutURL: URL
        let stderrURL: URL
        let command: String
        /// Whether the child leads its own process group; decided at start, while the pid surely is the child's.
        let leadsGroup: Bool

        init(
            process: Process, exited: DispatchSemaphore, directory: URL, stdoutURL: URL, stderrURL: URL,
            command: String
        ) {
            self.process = process
            self.exited = exited
            self.directory = directory
            self.stdoutURL = stdoutURL
            self.stderrURL = stderrURL
            self.command = command
            self.leadsGroup = getpgid(process.processIdentifier) == process.processIdentifier
        }

        var pid: Int32 { process.processIdentifier }

        /// Waits until the process has exited (and been reaped); `false` when `deadline` passes first.
        /// Can be called any number of times: the exit signal is put back for the next caller.
        func waitForExit(until deadline: DispatchTime = .distantFuture) -> Bool {
            guard exited.wait(timeout: deadline) == .success else { return false }
            exited.signal()
            return true
        }

        /// Sends `signal` to the child's process group when it leads one (Foundation's `Process` starts each child
        /// in a group of its own on Linux), so grandchildren are reached too; else to the child alone.
        func signalGroup(_ signal: Int32) {
            if leadsGroup {
                kill(-pid, signal)
            } else if process.isRunning {
                kill(pid, signal)
            }
        }

        /// Waits for exit; kills the process (SIGKILL) and throws after `timeout`.
        func wait(timeout: Duration) throws -> Outcome {
            if !waitForExit(until: .now() + timeout.timeInterval) {
                signalGroup(SIGKILL)
                // Bounded: a grandchild in another session (a tmux server) can keep Foundation from noticing the exit.
                let exited = waitForExit(until: .now() + 10)
                let outcome = collect(waitingForExit: exited)
                throw ChildProcessError.timedOut(
                    command: command, after: timeout, stdout: String(decoding: outcome.stdout, as: UTF8.self),
                    stderr: String(decoding: outcome.stderr, as: UTF8.self))
            }
            return collect()
        }

        /// Reads the exit status and output of an exited process and removes its files.
        func collect(waitingForExit: Bool = true) -> Outcome {
            guard waitingForExit else {
                let outcome = Outcome(
                    status: 128 + SIGKILL, signal: SIGKILL, stdout: (try? Data(contentsOf: stdoutURL)) ?? Data(),
                    stderr: (try? Data(contentsOf: stderrURL)) ?? Data())
                try? FileManager.default.removeItem(at: directory)
                return outcome
            }
            process.waitUntilExit()
            let signal: Int32? = process.terminationReason == .uncaughtSignal ? process.terminationStatus : nil
            let outcome = Outcome(
                status: signal.map { 128 + $0 } ?? process.terminationStatus, signal: signal,
                stdout: (try? Data(contentsOf: stdoutURL)) ?? Data(),
                stderr: (try? Data(contentsOf: stderrURL)) ?? Data())
            try? FileManager.default.removeItem(at: directory)
            return outcome
        }
    }

    static func findExecutable(_ name: String, path: String?) throws -> URL {
        if name.contains("/") { return URL(fileURLWithPath: name) }
        for directory in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw ChildProcessError.notFound(name)
    }

    static func start(
        executable: URL, arguments: [String], environment: [String: String], directory: URL, stdin: Data,
        stdoutFile: URL? = nil, stderrFile: URL? = nil
    ) throws -> Running {
        let files = URL(fileURLWithPath: NSTemporaryDirectory(), isDirectory: true)
            .appendingPathComponent("lockpool-child-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: files, withIntermediateDirectories: true)
        let stdinURL = files.appendingPathComponent("stdin")
        try stdin.write(to: stdinURL)
        let stdoutURL = stdoutFile ?? files.appendingPathComponent("stdout")
        let stderrURL = stderrFile ?? files.appendingPathComponent("stderr")
        for url in [stdoutURL, stderrURL] {
            _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        }
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        process.currentDirectoryURL = directory
        process.standardInput = try FileHandle(forReadingFrom: stdinURL)
        process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        let command = ([executable.lastPathComponent] + arguments).joined(separator: " ")
        try launchWithSignalsUnblocked(process)
        return Running(
            process: process, exited: exited, directory: files, stdoutURL: stdoutURL, stderrURL: stderrURL,
            command: command)
    }

    /// Box for the outcome of `Process.run()` on the launching thread.
    private final class LaunchOutcome: Sendable {
        let error = Mutex<(any Error)?>(nil)
    }

    /// Calls `process.run()` on a fresh thread whose signal mask blocks only SIGCHLD.
    ///
    /// A child inherits the signal mask of the thread that spawns it, and the threads running tests (dispatch and
    /// Swift concurrency workers) block nearly every signal, SIGTERM and SIGINT included. Spawned from such a thread,
    /// an executable under test would never see the SIGTERM of a signal test, and `git daemon` would ignore `stop()`.
    /// SIGCHLD stays blocked so that the thread cannot take a child-exit notification meant for Foundation.
    private static func launchWithSignalsUnblocked(_ process: Process) throws {
        let outcome = LaunchOutcome()
        let launched = DispatchSemaphore(value: 0)
        let thread = Thread {
            var mask = sigset_t()
            sigemptyset(&mask)
            sigaddset(&mask, SIGCHLD)
            pthread_sigmask(SIG_SETMASK, &mask, nil)
            do {
                try process.run()
            } catch {
                outcome.error.withLock { $0 = error }
            }
            launched.signal()
        }
        thread.start()
        launched.wait()
        if let error = outcome.error.withLock({ $0 }) { throw error }
    }

    static func run(
        executable: URL, arguments: [String], environment: [String: String], directory: URL, stdin: Data,
        timeout: Duration
    ) throws -> Outcome {
        try start(
            executable: executable, arguments: arguments, environment: environment, directory: directory,
            stdin: stdin
        ).wait(timeout: timeout)
    }
}

extension Duration {
    /// The duration in seconds, as `TimeInterval`.
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
