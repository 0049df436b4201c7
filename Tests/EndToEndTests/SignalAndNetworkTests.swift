import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// SIGTERM and `timeout` while waiting, and transient network failures (docs/concurrency.md#waiting, #timeout,
/// #transient-failures).
@Suite(.serialized, .enabled(if: signalAndNetworkTestsCanRun))
struct SignalAndNetworkTests {
    static let pool = "p"

    /// A request for pool `p` on `master` of `uri`.
    static func request(uri: String, params: JSONValue, retryDelay: String) -> JSONValue {
        [
            "source": [
                "uri": .string(uri), "branch": "master", "pool": .string(pool), "retry_delay": .string(retryDelay),
            ],
            "params": params,
        ]
    }

    /// A pool whose every lock is claimed.
    static func fullPool(in scratch: Scratch) throws -> LockRepository {
        try LockRepository.create(in: scratch, pools: [pool: ["env-1": .claimed("one"), "env-2": .claimed("two")]])
    }

    @Test func sigtermWhileWaitingChangesNothing() async throws {
        let scratch = try Scratch(label: "sigterm")
        let repository = try Self.fullPool(in: scratch)
        let tip = try repository.commitID()
        let executables = try Executables(scratch: scratch)
        let source = try scratch.directory("source")

        let handle = try executables.start(
            .out, arguments: [source.path],
            request: Self.request(uri: repository.fileURL, params: ["acquire": true], retryDelay: "200ms"))
        try #require(
            try await handle.waitForStderr(containing: "waiting for lock", timeout: .seconds(30)),
            "\(handle.stderrSoFar)")
        try await Task.sleep(for: .milliseconds(300))  // a poll or two
        let sent = ContinuousClock.now
        handle.terminate()
        let result = try handle.waitUntilExit(timeout: .seconds(10))  // blocking: see timeoutIsHonouredWhileWaiting
        let elapsed = ContinuousClock.now - sent

        #expect(elapsed < .seconds(2), "exited \(elapsed) after SIGTERM")
        #expect(result.status == 1, "\(result)")
        #expect(result.signal == nil)
        #expect(result.stderr.hasSuffix("\nerror: interrupted; nothing was changed\n"), "\(result.stderr)")
        #expect(result.lastStderrLine == "error: interrupted; nothing was changed")
        #expect(result.stdout.isEmpty)
        #expect(try repository.commitID() == tip)
        #expect(try repository.history().count == 1)
    }

    @Test func timeoutIsHonouredWhileWaiting() async throws {
        let scratch = try Scratch(label: "timeout")
        let repository = try Self.fullPool(in: scratch)
        let tip = try repository.commitID()
        let executables = try Executables(scratch: scratch)
        let source = try scratch.directory("source")

        // A blocking wait: the figure is the step's own duration, not how late a busy cooperative pool resumes an
        // awaiting test (seconds, when the other end-to-end tests hold its threads).
        let started = ContinuousClock.now
        let result = try executables.start(
            .out, arguments: [source.path],
            request: Self.request(
                uri: repository.fileURL, params: ["acquire": true, "timeout": "1s"], retryDelay: "200ms")
        ).waitUntilExit(timeout: .seconds(30))
        let elapsed = ContinuousClock.now - started

        #expect(result.status == 1, "\(result)")
        #expect(result.stderrLines.contains("waiting for lock"), "\(result.stderr)")
        #expect(result.lastStderrLine == "error: timed out after 1s: no unclaimed lock in pool '\(Self.pool)'")
        #expect(result.stdout.isEmpty)
        #expect(elapsed >= .seconds(1) && elapsed < .seconds(10), "took \(elapsed)")
        #expect(try repository.commitID() == tip)
        #expect(try repository.history().count == 1)
    }

    @Test func fetchFailureDuringAWaitIsRetried() async throws {
        let scratch = try Scratch(label: "net-retry")
        let repository = try LockRepository.create(
            in: scratch, pools: [Self.pool: ["env-1": .claimed("one"), "env-2": .unclaimed("two")]])
        let git = try GitCLI(scratch: scratch)
        let daemon = try GitDaemon(scratch: scratch)
        let uri = daemon.url(for: repository)
        let executables = try Executables(scratch: scratch)
        let source = try scratch.directory("source")

        let handle = try executables.start(
            .out, arguments: [source.path],
            request: Self.request(uri: uri, params: ["claim": "env-1", "timeout": "60s"], retryDelay: "200ms"))
        try #require(
            try await handle.waitForStderr(containing: "waiting for lock", timeout: .seconds(30)),
            "\(handle.stderrSoFar)")

        daemon.stop()
        try #require(
            try await handle.waitForStderr(
                containing: "network error, retrying (attempt 2 of 5)", timeout: .seconds(20)),
            "\(handle.stderrSoFar)")
        #expect(handle.isRunning)

        // The request's URI names the port, so the server comes back on the same one.
        let restarted = try RestartedGitDaemon(
            port: daemon.port, baseDirectory: daemon.baseDirectory, git: git,
            log: scratch.url("git-daemon-restarted.log"))
        defer { restarted.stop() }
        let release = try repository.moveLock("env-1", in: Self.pool, toClaimed: false)

        let result = try await handle.wait(timeout: .seconds(40))
        try #require(result.status == 0, "\(result)")
        let response = try result.decode(ResourceResponse.self)
        #expect(response.lockName == "env-1")
        #expect(result.lastStderrLine == "claimed!")
        #expect(result.stderrLines.contains { $0.hasPrefix("network error, retrying (attempt 2 of 5): ") })
        #expect(!result.stderr.contains("\nerror:"), "\(result.stderr)")
        #expect(try repository.commitID() == response.version.ref)
        #expect(try repository.commit().parents == [release])
        #expect(try repository.locks(in: Self.pool) == PoolLocks(claimed: ["env-1"], unclaimed: ["env-2"]))
        let report = try repository.replay()
        #expect(report.isConsistent, "\(report)")
    }

    /// Takes about 15 s: retries after about 1, 2, 4 and 8 s before giving up.
    @Test func fiveConsecutiveNetworkFailuresFailTheStep() async throws {
        let scratch = try Scratch(label: "net-fail")
        let executables = try Executables(scratch: scratch)
        let port = try GitDaemon.freePort()  // nothing listens on it
        let started = ContinuousClock.now
        let result = try await executables.start(
            .check,
            request: [
                "source": [
                    "uri": .string("git://127.0.0.1:\(port)/origin.git"), "branch": "master",
                    "pool": .string(Self.pool),
                ]
            ]
        ).wait(timeout: .seconds(60))
        let elapsed = ContinuousClock.now - started

        #expect(result.status == 1, "\(result)")
        #expect(result.stdout.isEmpty)
        let attempts = result.stderrLines.compactMap { line -> Int? in
            guard line.hasPrefix("network error, retrying (attempt ") else { return nil }
            return Int(line.dropFirst("network error, retrying (attempt ".count).prefix { $0.isNumber })
        }
        #expect(attempts == [2, 3, 4, 5], "\(result.stderr)")
        #expect(
            result.stderrLines.filter { $0.hasPrefix("network error, retrying") }.allSatisfy {
                $0.contains(" of 5): ")
            })
        let last = try #require(result.lastStderrLine)
        #expect(last.hasPrefix("error: network error: "), "\(result.stderr)")
        #expect(elapsed >= .seconds(10) && elapsed < .seconds(30), "took \(elapsed)")
    }
}

/// Whether `git` (for the fixtures and `git daemon`) is on `PATH`.
private let signalAndNetworkTestsCanRun: Bool = {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    return path.split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/git") }
}()

/// A `git daemon` started again on a given port with the same arguments as TestSupport's `GitDaemon` (which always
/// picks a fresh port); stopped with SIGKILL to its process group, so the test threads' blocked signals don't matter.
private final class RestartedGitDaemon {
    private let process = Process()
    private var isStopped = false

    /// Starts the daemon and waits until `port` accepts connections.
    ///
    /// - Throws: `GitCLIError`, a file-system error, or `GitDaemonError.notListening`.
    init(port: Int, baseDirectory: URL, git: GitCLI, log: URL, timeout: Duration = .seconds(10)) throws {
        let execPath = try git.output("--exec-path")
        process.executableURL = URL(fileURLWithPath: execPath).appendingPathComponent("git-daemon")
        process.arguments = [
            "--reuseaddr", "--listen=127.0.0.1", "--port=\(port)", "--base-path=\(baseDirectory.path)",
            "--export-all", "--enable=receive-pack", "--informative-errors", "--verbose", baseDirectory.path,
        ]
        process.environment = git.environment
        process.currentDirectoryURL = baseDirectory
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let logHandle = try FileHandle(forWritingTo: log)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = logHandle
        process.standardError = logHandle
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, process.isRunning {
            if GitDaemon.acceptsConnection(port: port) { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        stop()
        throw GitDaemonError.notListening(port: port, log: (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }

    deinit { stop() }

    /// Kills the daemon and the children serving connections; safe to call more than once.
    func stop() {
        guard !isStopped else { return }
        isStopped = true
        let pid = process.processIdentifier
        if process.isRunning {
            kill(getpgid(pid) == pid ? -pid : pid, SIGKILL)
        }
        process.waitUntilExit()
    }
}
