import Foundation
import Subprocess
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

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

/// The one process launcher of TestSupport: `git`, the tools, the built executables and the server fixtures all start
/// here, through swift-subprocess.
///
/// swift-subprocess spawns the child as the tests need it: every signal unblocked and at its default action (the
/// threads running tests block nearly all signals, and a child inherits its spawner's mask, so an executable under test
/// would never see a signal test's SIGTERM), in a process group of its own (`stop()` and timeouts signal the group, so
/// grandchildren such as git daemon's connection handlers go too), with no descriptor but stdin, stdout and stderr
/// (sshd closes what it inherits; a server holding another child's descriptors would keep it from finishing), watched
/// through a pidfd, so that no other child of the test process is ever waited for or reaped by mistake.
///
/// stdin, stdout and stderr are files, never pipes: a file cannot fill up and deadlock the child, a grandchild that
/// inherits it (git daemon forks) cannot delay the parent's reading by holding a pipe open, and a background process's
/// stderr can be read while it runs (`RunningExecutable.stderrSoFar`).
///
/// The one piece written by hand is how the exit is observed (`ExitWatch`). `Subprocess.run` is asynchronous and hands
/// the termination status back only after a hop to the global concurrent executor (an unstructured `Task` in every
/// run, swift-subprocess 1.0.2's `withUncancelledTask`), while TestSupport's callers are synchronous tests that block a
/// thread of that executor's pool, which has one thread per core: two tests waiting for their processes would wait for
/// each other forever. So `run` goes on in a task on `executor` (a dispatch queue outside the pool), its body holds the
/// child unreaped, and a thread of its own learns the exit status with `waitid(WNOWAIT)`; then the body returns and
/// swift-subprocess reaps the child.
enum ChildProcess {
    struct Outcome: Sendable {
        let status: Int32
        let signal: Int32?
        let stdout: Data
        let stderr: Data
    }

    /// Where every `Subprocess.run` of TestSupport executes: not the global pool, which blocked tests may fill.
    static let executor = DispatchTaskExecutor(label: "TestSupport.ChildProcess")

    /// A started process and the files holding its output; the files are removed by `collect()`.
    final class Running: Sendable {
        /// The process id; the child leads its own process group, whose id is the same.
        let pid: pid_t
        private let exit: ExitWatch
        let directory: URL
        let stdoutURL: URL
        let stderrURL: URL
        let command: String

        fileprivate init(exit: ExitWatch, directory: URL, stdoutURL: URL, stderrURL: URL, command: String) {
            self.pid = exit.pid
            self.exit = exit
            self.directory = directory
            self.stdoutURL = stdoutURL
            self.stderrURL = stderrURL
            self.command = command
        }

        /// Whether the process has not exited yet.
        var isRunning: Bool { exit.termination == nil }

        /// Waits until the process has exited; `false` when `deadline` passes first. Can be called any number of times.
        func waitForExit(until deadline: DispatchTime = .distantFuture) -> Bool {
            exit.wait(until: deadline)
        }

        /// Sends `signal` to the process, if it has not exited (until then it cannot be reaped, so the pid is its own).
        func send(_ signal: Int32) {
            if isRunning { kill(pid, signal) }
        }

        /// Sends `signal` to the child's process group, so that grandchildren are reached too.
        func signalGroup(_ signal: Int32) {
            kill(-pid, signal)
        }

        /// Waits for exit; kills the process group (SIGKILL) and throws after `timeout`.
        func wait(timeout: Duration) throws -> Outcome {
            if !waitForExit(until: .now() + timeout.timeInterval) {
                signalGroup(SIGKILL)
                let outcome = collect(waitingForExit: waitForExit(until: .now() + 10))
                throw ChildProcessError.timedOut(
                    command: command, after: timeout, stdout: String(decoding: outcome.stdout, as: UTF8.self),
                    stderr: String(decoding: outcome.stderr, as: UTF8.self))
            }
            return collect()
        }

        /// Reads the exit status and output of an exited process and removes its files.
        func collect(waitingForExit: Bool = true) -> Outcome {
            let termination = waitingForExit && self.waitForExit() ? exit.termination : nil
            var status = Int32(128) + SIGKILL
            var signal: Int32? = SIGKILL
            switch termination {
            case .exited(let code)?:
                status = code
                signal = nil
            case .signalled(let number)?:
                status = 128 + number
                signal = number
            case nil: break
            }
            let outcome = Outcome(
                status: status, signal: signal, stdout: (try? Data(contentsOf: stdoutURL)) ?? Data(),
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

    /// Starts `executable` with exactly `environment`, in `directory`, reading `stdin`.
    ///
    /// - Parameters:
    ///   - stdoutFile: where stdout goes (appended; created if missing), e.g. `/dev/null`; a fresh file when `nil`.
    ///   - stderrFile: where stderr goes (appended; created if missing), e.g. a server's log; a fresh file when `nil`.
    /// - Throws: the file-system error when the files cannot be made, or swift-subprocess's `SubprocessError` when the
    ///   process cannot be spawned.
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
        let input = try FileDescriptor.open(FilePath(stdinURL.path), .readOnly, options: [.closeOnExec])
        let output: FileDescriptor
        let error: FileDescriptor
        do {
            output = try appending(to: stdoutURL)
            do { error = try appending(to: stderrURL) } catch {
                try? output.close()
                throw error
            }
        } catch {
            try? input.close()
            throw error
        }
        var options = PlatformOptions()
        options.processGroupID = 0
        let configuration = Configuration(
            executable: .path(FilePath(executable.path)), arguments: Arguments(arguments),
            environment: .custom(
                Dictionary(
                    uniqueKeysWithValues: environment.compactMap { key, value in
                        Environment.Key(rawValue: key).map { ($0, value) }
                    })),
            workingDirectory: FilePath(directory.path), platformOptions: options)
        let launch = Launch()
        Task(executorPreference: executor) {
            do {
                _ = try await Subprocess.run(
                    configuration, input: .fileDescriptor(input, closeAfterSpawningProcess: true),
                    output: .fileDescriptor(output, closeAfterSpawningProcess: true),
                    error: .fileDescriptor(error, closeAfterSpawningProcess: true)
                ) { execution in
                    let exit = ExitWatch(pid: execution.processIdentifier.value)
                    launch.report(.success(exit))
                    // Returning lets swift-subprocess reap the child: only once its status has been read.
                    await exit.untilExited()
                }
            } catch {
                launch.report(.failure(error))
            }
        }
        let exit = try launch.wait()
        return Running(
            exit: exit, directory: files, stdoutURL: stdoutURL, stderrURL: stderrURL,
            command: ([executable.lastPathComponent] + arguments).joined(separator: " "))
    }

    private static func appending(to url: URL) throws -> FileDescriptor {
        try FileDescriptor.open(
            FilePath(url.path), .writeOnly, options: [.create, .append, .closeOnExec],
            permissions: [.ownerReadWrite, .groupRead, .otherRead])
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

/// The spawn's outcome, handed from the task running `Subprocess.run` to the thread waiting in `start`.
private final class Launch: Sendable {
    private let outcome = Mutex<Result<ExitWatch, any Error>?>(nil)
    private let reported = DispatchSemaphore(value: 0)

    func report(_ result: Result<ExitWatch, any Error>) {
        let first = outcome.withLock { outcome in
            defer { if outcome == nil { outcome = result } }
            return outcome == nil
        }
        if first { reported.signal() }
    }

    func wait() throws -> ExitWatch {
        reported.wait()
        return try outcome.withLock { $0! }.get()
    }
}

/// How a child ended.
enum Termination: Sendable, Equatable {
    case exited(Int32)
    case signalled(Int32)
}

/// Learns a child's exit status without reaping it (`waitid` with `WNOWAIT`, on a thread of its own), so that the pid
/// stays the child's until swift-subprocess reaps it, and signalling by pid is safe until then.
private final class ExitWatch: Sendable {
    let pid: pid_t
    private let state = Mutex<Termination?>(nil)
    private let exited = DispatchSemaphore(value: 0)

    init(pid: pid_t) { self.pid = pid }

    var termination: Termination? { state.withLock { $0 } }

    /// Waits until the exit status is known; `false` when `deadline` passes first. Can be called any number of times:
    /// the exit signal is put back for the next caller.
    func wait(until deadline: DispatchTime) -> Bool {
        guard exited.wait(timeout: deadline) == .success else { return false }
        exited.signal()
        return true
    }

    /// Returns once the child has exited and its status is stored.
    func untilExited() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let thread = Thread { [self] in
                observe()
                continuation.resume()
            }
            thread.name = "exit watch \(pid)"
            thread.start()
        }
    }

    private func observe() {
        var info = siginfo_t()
        var result: Int32
        repeat {
            result = waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT)
        } while result < 0 && errno == EINTR
        let termination: Termination
        #if canImport(Glibc)
            let code = info._sifields._sigchld.si_status
        #else
            let code = info.si_status
        #endif
        if result < 0 {
            termination = .signalled(SIGKILL)  // not ours to wait for (cannot happen: the body holds the child)
        } else if info.si_code == CLD_EXITED {
            termination = .exited(code)
        } else {
            termination = .signalled(code)
        }
        state.withLock { $0 = termination }
        exited.signal()
    }
}

/// A task executor on a dispatch queue of its own, outside the global concurrent pool.
final class DispatchTaskExecutor: TaskExecutor {
    private let queue: DispatchQueue

    init(label: String) { queue = DispatchQueue(label: label) }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

extension Duration {
    /// The duration in seconds, as `TimeInterval`.
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
