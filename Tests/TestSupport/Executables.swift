import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The resource executables, by the names Concourse runs them under.
public enum ResourceExecutable: String, Sendable, CaseIterable {
    case check, `in`, out
}

/// The outcome of one run of a built executable.
public struct ExecutableResult: Sendable, CustomStringConvertible {
    /// The exit status; 128 + the signal number when a signal ended the process.
    public let status: Int32
    /// The signal that ended the process, if one did.
    public let signal: Int32?
    /// Everything written to stdout.
    public let stdout: Data
    /// Everything written to stderr, decoded as UTF-8.
    public let stderr: String

    /// stdout decoded as UTF-8.
    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }

    /// stderr split into lines, without the empty line after the final newline.
    public var stderrLines: [String] {
        var lines = stderr.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    /// The last non-empty stderr line (the `error: …` line on failure).
    public var lastStderrLine: String? {
        stderrLines.last { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
    }

    /// stdout parsed as JSON (`[String: Any]`, `[Any]`, …).
    ///
    /// - Throws: the `JSONSerialization` error when stdout is not JSON.
    public func json() throws -> Any {
        try JSONSerialization.jsonObject(with: stdout, options: [.fragmentsAllowed])
    }

    /// stdout decoded as `type`.
    ///
    /// - Throws: `DecodingError`.
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(type, from: stdout)
    }

    public var description: String {
        "status \(status)\(signal.map { " (signal \($0))" } ?? "")\nstdout: \(stdoutText)\nstderr: \(stderr)"
    }
}

/// The built `check`, `in` and `out` executables and the environment they run in.
///
/// Every run gets exactly the environment the test passes, plus `PATH` and `TMPDIR` (the test's own temporary
/// directory, so each test has its own lockpool cache; pass `TMPDIR` explicitly to share one on purpose).
public struct Executables: Sendable {
    /// The directory holding `check`, `in` and `out`.
    public let binDirectory: URL
    /// The `TMPDIR` given to every run unless the environment names another.
    public let temporaryDirectory: URL

    /// Uses the executables in `binDirectory`, or those found by `locateBinDirectory()`.
    ///
    /// - Throws: `ExecutablesError.notFound` when the executables cannot be found.
    public init(temporaryDirectory: URL, binDirectory: URL? = nil) throws {
        self.binDirectory = try binDirectory ?? Self.locateBinDirectory()
        self.temporaryDirectory = temporaryDirectory
        try FileManager.default.createDirectory(at: temporaryDirectory, withIntermediateDirectories: true)
    }

    /// Uses the located executables with `TMPDIR` = `<scratch>/tmp`.
    ///
    /// - Throws: `ExecutablesError.notFound`, or a file-system error.
    public init(scratch: Scratch) throws {
        try self.init(temporaryDirectory: try scratch.temporaryDirectory())
    }

    /// The path of `executable`.
    public func url(of executable: ResourceExecutable) -> URL {
        binDirectory.appendingPathComponent(executable.rawValue)
    }

    /// Whether the executables can be found (for `.enabled(if:)`).
    public static var areAvailable: Bool { (try? locateBinDirectory()) != nil }

    /// Finds the directory holding the built `check`, `in` and `out`.
    ///
    /// `LOCKPOOL_BIN_DIR` wins when set. Otherwise the directory of the running test binary (`/proc/self/exe`,
    /// `Bundle.main`, `CommandLine.arguments[0]`) and up to four of its ancestors are searched, since SwiftPM puts
    /// the test bundle next to the products (`.build/debug/`, `.build/x86_64-unknown-linux-gnu/debug/`; on macOS
    /// inside `*.xctest/Contents/MacOS/`).
    ///
    /// - Throws: `ExecutablesError.notFound` listing the directories searched.
    public static func locateBinDirectory() throws -> URL {
        let environment = ProcessInfo.processInfo.environment
        if let override = environment["LOCKPOOL_BIN_DIR"], !override.isEmpty {
            let directory = URL(fileURLWithPath: override, isDirectory: true)
            guard holdsExecutables(directory) else { throw ExecutablesError.notFound(searched: [override]) }
            return directory
        }
        var starts: [URL] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            starts.append(URL(fileURLWithPath: exe).deletingLastPathComponent())
        }
        if let executable = Bundle.main.executableURL {
            starts.append(executable.resolvingSymlinksInPath().deletingLastPathComponent())
        }
        starts.append(Bundle.main.bundleURL.resolvingSymlinksInPath())
        if let first = CommandLine.arguments.first, !first.isEmpty {
            let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true)
            starts.append(URL(fileURLWithPath: first, relativeTo: cwd).standardized.deletingLastPathComponent())
        }
        var searched: [String] = []
        for start in starts {
            var directory = start.standardized
            for _ in 0...4 {
                if !searched.contains(directory.path) {
                    searched.append(directory.path)
                    if holdsExecutables(directory) { return directory }
                }
                let parent = directory.deletingLastPathComponent()
                if parent.path == directory.path { break }
                directory = parent
            }
        }
        throw ExecutablesError.notFound(searched: searched)
    }

    static func holdsExecutables(_ directory: URL) -> Bool {
        ResourceExecutable.allCases.allSatisfy { executable in
            var isDirectory: ObjCBool = false
            let path = directory.appendingPathComponent(executable.rawValue).path
            return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
                && FileManager.default.isExecutableFile(atPath: path)
        }
    }

    /// The environment of a run: `environment` plus `PATH` and `TMPDIR` when it does not name them.
    ///
    /// With `LOCKPOOL_CLEAN_ENV=1` in the test's environment (`make test-staged`), a run gets what a Concourse container
    /// gives: `HOME` an empty directory and `PATH` a directory with no `git` (nor anything else), unless the test
    /// names them.
    public func environment(for environment: [String: String]) -> [String: String] {
        var result = environment
        if Self.cleanEnvironment {
            let empty = temporaryDirectory.deletingLastPathComponent().appendingPathComponent("clean-env-empty")
            try? FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
            if result["HOME"] == nil { result["HOME"] = empty.path }
            if result["PATH"] == nil { result["PATH"] = empty.path }
        }
        if result["PATH"] == nil {
            result["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        }
        if result["TMPDIR"] == nil { result["TMPDIR"] = temporaryDirectory.path }
        return result
    }

    /// Whether runs get a container's clean environment (`LOCKPOOL_CLEAN_ENV=1`).
    public static var cleanEnvironment: Bool { ProcessInfo.processInfo.environment["LOCKPOOL_CLEAN_ENV"] == "1" }

    /// Runs `executable` to completion.
    ///
    /// - Parameters:
    ///   - executable: `check`, `in` or `out`.
    ///   - arguments: argv after the program name (`in`'s destination, `out`'s source directory).
    ///   - stdin: the request bytes.
    ///   - environment: the variables the test wants; `PATH` and `TMPDIR` are added unless given.
    ///   - workingDirectory: the working directory; the temporary directory when `nil`.
    ///   - timeout: after this the process is killed (SIGKILL) and `ChildProcessError.timedOut` is thrown.
    /// - Returns: status, stdout and stderr.
    /// - Throws: `ChildProcessError` when the process cannot start or times out.
    public func run(
        _ executable: ResourceExecutable, arguments: [String] = [], stdin: Data = Data(),
        environment: [String: String] = [:], workingDirectory: URL? = nil, timeout: Duration = .seconds(60)
    ) throws -> ExecutableResult {
        try start(
            executable, arguments: arguments, stdin: stdin, environment: environment,
            workingDirectory: workingDirectory
        ).waitUntilExit(timeout: timeout)
    }

    /// Runs `executable` with a JSON request on stdin.
    ///
    /// - Throws: `ChildProcessError` when the process cannot start or times out.
    public func run(
        _ executable: ResourceExecutable, arguments: [String] = [], request: JSONValue,
        environment: [String: String] = [:], workingDirectory: URL? = nil, timeout: Duration = .seconds(60)
    ) throws -> ExecutableResult {
        try run(
            executable, arguments: arguments, stdin: request.data, environment: environment,
            workingDirectory: workingDirectory, timeout: timeout)
    }

    /// Starts `executable` in the background, for concurrency and signal tests.
    ///
    /// - Returns: a handle to signal the process and wait for it.
    /// - Throws: `ChildProcessError` when the process cannot start.
    public func start(
        _ executable: ResourceExecutable, arguments: [String] = [], stdin: Data = Data(),
        environment: [String: String] = [:], workingDirectory: URL? = nil
    ) throws -> RunningExecutable {
        let running = try ChildProcess.start(
            executable: url(of: executable), arguments: arguments, environment: self.environment(for: environment),
            directory: workingDirectory ?? temporaryDirectory, stdin: stdin)
        return RunningExecutable(running: running)
    }

    /// Starts `executable` in the background with a JSON request on stdin.
    ///
    /// - Throws: `ChildProcessError` when the process cannot start.
    public func start(
        _ executable: ResourceExecutable, arguments: [String] = [], request: JSONValue,
        environment: [String: String] = [:], workingDirectory: URL? = nil
    ) throws -> RunningExecutable {
        try start(
            executable, arguments: arguments, stdin: request.data, environment: environment,
            workingDirectory: workingDirectory)
    }
}

extension Executables {
    /// The path of the built `lockpool` CLI: next to the resource executables, or in a staged image layout
    /// (`make stage`, `LOCKPOOL_BIN_DIR=<stage>/opt/resource`) at `<stage>/usr/local/bin/lockpool`.
    public var lockpoolURL: URL {
        let sibling = binDirectory.appendingPathComponent("lockpool")
        let staged = binDirectory.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("usr/local/bin/lockpool")
        return !FileManager.default.fileExists(atPath: sibling.path)
            && FileManager.default.fileExists(atPath: staged.path) ? staged : sibling
    }

    /// Runs `lockpool` with `arguments` to completion.
    ///
    /// - Parameters:
    ///   - arguments: argv after the program name, such as `["status", "--repo", path, "--json"]`.
    ///   - stdin: bytes for stdin (closed after them).
    ///   - environment: the variables the test wants; `PATH` and `TMPDIR` are added unless given. Nothing else of
    ///     the test process's environment is passed, so `HOME`, `NO_COLOR` and `LOCKPOOL_*` are the test's choice.
    ///   - workingDirectory: the working directory; the temporary directory when `nil`.
    ///   - timeout: after this the process is killed (SIGKILL) and `ChildProcessError.timedOut` is thrown.
    /// - Throws: `ChildProcessError` when the process cannot start or times out.
    public func lockpool(
        _ arguments: [String], stdin: Data = Data(), environment: [String: String] = [:],
        workingDirectory: URL? = nil, timeout: Duration = .seconds(60)
    ) throws -> ExecutableResult {
        try startLockpool(arguments, stdin: stdin, environment: environment, workingDirectory: workingDirectory)
            .waitUntilExit(timeout: timeout)
    }

    /// Starts `lockpool` in the background, for waiting and signal tests.
    ///
    /// - Throws: `ChildProcessError` when the process cannot start.
    public func startLockpool(
        _ arguments: [String], stdin: Data = Data(), environment: [String: String] = [:],
        workingDirectory: URL? = nil
    ) throws -> RunningExecutable {
        let running = try ChildProcess.start(
            executable: lockpoolURL, arguments: arguments, environment: self.environment(for: environment),
            directory: workingDirectory ?? temporaryDirectory, stdin: stdin)
        return RunningExecutable(running: running)
    }
}

/// A built executable running in the background.
public final class RunningExecutable: Sendable {
    private let running: ChildProcess.Running
    private let result = Mutex<ExecutableResult?>(nil)

    init(running: ChildProcess.Running) { self.running = running }

    deinit {
        // A test that failed before waiting must not leave the process behind.
        guard result.withLock({ $0 == nil }) else { return }
        running.signalGroup(SIGKILL)
        if running.waitForExit(until: .now() + 5) { _ = running.collect() }
    }

    /// The process id.
    public var pid: Int32 { running.pid }

    /// Whether the process has not exited yet.
    public var isRunning: Bool { running.isRunning }

    /// Sends `signal` (e.g. `SIGTERM`) to the process, if it is still running.
    public func send(_ signal: Int32) {
        running.send(signal)
    }

    /// Sends SIGTERM, as a Concourse abort does.
    public func terminate() { send(SIGTERM) }

    /// What the process has written to stderr so far (e.g. to wait for `waiting for lock`).
    public var stderrSoFar: String {
        String(decoding: (try? Data(contentsOf: running.stderrURL)) ?? Data(), as: UTF8.self)
    }

    /// Blocks until the process exits; kills it (SIGKILL) and throws after `timeout`.
    ///
    /// - Throws: `ChildProcessError.timedOut`.
    public func waitUntilExit(timeout: Duration = .seconds(60)) throws -> ExecutableResult {
        if let result = result.withLock({ $0 }) { return result }
        let outcome = try running.wait(timeout: timeout)
        return store(outcome)
    }

    /// Waits without blocking a thread until the process exits; kills it (SIGKILL) and throws after `timeout`.
    ///
    /// - Throws: `ChildProcessError.timedOut`.
    public func wait(timeout: Duration = .seconds(60)) async throws -> ExecutableResult {
        if let result = result.withLock({ $0 }) { return result }
        let deadline = ContinuousClock.now + timeout
        while running.isRunning, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        // A busy machine may resume this task late; allow a short blocking grace before killing.
        return try waitUntilExit(timeout: .seconds(2))
    }

    /// Waits until stderr contains `text` or the process exits; `false` after `timeout`.
    public func waitForStderr(containing text: String, timeout: Duration = .seconds(30)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if stderrSoFar.contains(text) { return true }
            if !running.isRunning { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        // Checked once more: the task may have been resumed only after the deadline.
        return stderrSoFar.contains(text)
    }

    /// Blocks until stderr contains `text` or the process exits; `false` after `timeout`.
    ///
    /// Prefer this to the async form when the test must act promptly once the text appears (release a lock while
    /// `out` waits): a blocked thread keeps polling, while a suspended task may be resumed late when every thread
    /// of the concurrency pool is busy with other tests.
    public func waitUntilStderr(contains text: String, timeout: Duration = .seconds(30)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if stderrSoFar.contains(text) { return true }
            if !running.isRunning { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return stderrSoFar.contains(text)
    }

    private func store(_ outcome: ChildProcess.Outcome) -> ExecutableResult {
        let value = ExecutableResult(
            status: outcome.status, signal: outcome.signal, stdout: outcome.stdout,
            stderr: String(decoding: outcome.stderr, as: UTF8.self))
        result.withLock { $0 = value }
        return value
    }
}

/// The built executables could not be found.
public enum ExecutablesError: Error, Sendable, CustomStringConvertible {
    case notFound(searched: [String])

    public var description: String {
        switch self {
        case .notFound(let searched):
            "check, in and out not found (build with `swift build --build-tests` or set LOCKPOOL_BIN_DIR); searched: "
                + searched.joined(separator: ", ")
        }
    }
}

// MARK: - Resource JSON

/// A JSON value written with literals, for requests: `["source": ["uri": .string(uri)], "params": ["acquire": true]]`.
public enum JSONValue: Sendable, Hashable, Encodable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    case string(String)
    case number(Double)
    case integer(Int)
    case bool(Bool)
    case array([JSONValue])
    case object([String: JSONValue])
    case null

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .integer(value) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { $1 }))
    }
    public init(nilLiteral: ()) { self = .null }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        case .null: try container.encodeNil()
        }
    }

    /// The compact JSON encoding (keys sorted).
    public var data: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding strings, numbers, Booleans, arrays and objects cannot fail (finite numbers are the caller's job).
        return (try? encoder.encode(self)) ?? Data("null".utf8)
    }

    /// A copy with `value` stored at `key` (self must be an object).
    public func setting(_ key: String, to value: JSONValue) -> JSONValue {
        guard case .object(var object) = self else { return self }
        object[key] = value
        return .object(object)
    }

    /// The member `key` of an object.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let object) = self else { return nil }
        return object[key]
    }
}

/// A version as exchanged with Concourse: `{"ref": "<commit>"}`.
public struct ResourceVersion: Codable, Sendable, Hashable {
    /// The commit id.
    public let ref: String
    /// Creates a version.
    public init(ref: String) { self.ref = ref }
}

/// One `{"name":…,"value":…}` metadata entry.
public struct MetadataField: Codable, Sendable, Hashable {
    public let name: String
    public let value: String
    /// Creates an entry.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// The stdout document of `in` and `out`.
public struct ResourceResponse: Codable, Sendable, Hashable {
    public let version: ResourceVersion
    public let metadata: [MetadataField]

    /// The `lock_name` value, if present.
    public var lockName: String? { metadata.first { $0.name == "lock_name" }?.value }
    /// The `pool_name` value, if present.
    public var poolName: String? { metadata.first { $0.name == "pool_name" }?.value }
}

extension Scratch {
    /// Writes a step directory `relativePath` inside `sourceDirectory` (an `out` source directory) holding the files
    /// given (`name`, `metadata`, `claim_ref`); `nil` leaves a file out.
    ///
    /// - Returns: the step directory.
    /// - Throws: a file-system error.
    @discardableResult
    public func writeStepDirectory(
        _ relativePath: String, in sourceDirectory: URL, name: String?, metadata: String? = nil,
        claimRef: String? = nil
    ) throws -> URL {
        let directory = sourceDirectory.appendingPathComponent(relativePath, isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        if let name { try Data(name.utf8).write(to: directory.appendingPathComponent("name")) }
        if let metadata { try Data(metadata.utf8).write(to: directory.appendingPathComponent("metadata")) }
        if let claimRef { try Data(claimRef.utf8).write(to: directory.appendingPathComponent("claim_ref")) }
        return directory
    }
}

// MARK: - Requests for one pool

/// One pool of a lock repository and the executables that work on it: builds requests and runs `check`, `in` and
/// `out` the way Concourse does.
///
/// `source` always carries `uri`, `branch`, `pool` and `"retry_delay": "100ms"`, so that waiting tests poll fast.
public struct ResourceHarness: Sendable {
    /// The test's scratch directory.
    public let scratch: Scratch
    /// The lock repository.
    public let repository: LockRepository
    /// The executables, with `TMPDIR` inside the scratch directory.
    public let executables: Executables
    /// `source.uri`: the repository's `file://` URL unless given.
    public let uri: String
    /// `source.pool`.
    public let pool: String
    /// `out`'s `$1`, the build's source directory holding step directories.
    public let sourceDirectory: URL
    /// The environment of every run (`PATH` and `TMPDIR` are added by `Executables`).
    public var environment: [String: String] = [:]

    /// `source.branch`: the repository's branch.
    public var branch: String { repository.branch }

    /// Creates a harness for `pool` of `repository`.
    ///
    /// - Throws: `ExecutablesError.notFound`, or a file-system error.
    public init(
        scratch: Scratch, repository: LockRepository, pool: String, uri: String? = nil,
        executables: Executables? = nil
    ) throws {
        self.scratch = scratch
        self.repository = repository
        self.pool = pool
        self.uri = uri ?? repository.fileURL
        self.executables = try executables ?? Executables(scratch: scratch)
        self.sourceDirectory = try scratch.directory("build")
    }

    /// The `source` object, with `overrides` merged in (`.null` removes nothing; it is sent as `null`).
    public func source(_ overrides: [String: JSONValue] = [:]) -> JSONValue {
        var object: [String: JSONValue] = [
            "uri": .string(uri), "branch": .string(branch), "pool": .string(pool), "retry_delay": "100ms",
        ]
        object.merge(overrides) { $1 }
        return .object(object)
    }

    /// Runs `out` with `{"source": …, "params": params}` and `$1` = `sourceDirectory`.
    ///
    /// - Throws: `ChildProcessError` when `out` cannot start or runs longer than `timeout`.
    public func out(
        _ params: JSONValue, source overrides: [String: JSONValue] = [:], environment: [String: String]? = nil,
        timeout: Duration = .seconds(60)
    ) throws -> ExecutableResult {
        try executables.run(
            .out, arguments: [sourceDirectory.path], request: ["source": source(overrides), "params": params],
            environment: environment ?? self.environment, timeout: timeout)
    }

    /// Starts `out` in the background with `{"source": …, "params": params}`.
    ///
    /// - Throws: `ChildProcessError` when `out` cannot start.
    public func startOut(
        _ params: JSONValue, source overrides: [String: JSONValue] = [:], environment: [String: String]? = nil
    ) throws -> RunningExecutable {
        try executables.start(
            .out, arguments: [sourceDirectory.path], request: ["source": source(overrides), "params": params],
            environment: environment ?? self.environment)
    }

    /// Runs `in` into `destination` with `version` (`nil`: no version key) and optional `params`.
    ///
    /// - Throws: `ChildProcessError` when `in` cannot start or runs longer than `timeout`.
    public func get(
        version: String?, into destination: URL, params: JSONValue? = nil, source overrides: [String: JSONValue] = [:],
        timeout: Duration = .seconds(60)
    ) throws -> ExecutableResult {
        var request: [String: JSONValue] = ["source": source(overrides)]
        if let version { request["version"] = ["ref": .string(version)] }
        if let params { request["params"] = params }
        return try executables.run(
            .in, arguments: [destination.path], request: .object(request), environment: environment,
            timeout: timeout)
    }

    /// Runs `check` with `version` as the whole `version` value (`nil`: no version key; `.null`: `null`).
    ///
    /// - Throws: `ChildProcessError` when `check` cannot start or runs longer than `timeout`.
    public func check(
        version: JSONValue?, source overrides: [String: JSONValue] = [:], timeout: Duration = .seconds(60)
    ) throws -> ExecutableResult {
        var request: [String: JSONValue] = ["source": source(overrides)]
        if let version { request["version"] = version }
        return try executables.run(.check, request: .object(request), environment: environment, timeout: timeout)
    }

    /// Runs `check` with `{"ref": ref}`.
    ///
    /// - Throws: `ChildProcessError`.
    public func check(ref: String) throws -> ExecutableResult {
        try check(version: ["ref": .string(ref)])
    }

    /// Writes step directory `name` in `sourceDirectory` (see `Scratch.writeStepDirectory`).
    ///
    /// - Returns: the step directory.
    /// - Throws: a file-system error.
    @discardableResult
    public func stepDirectory(
        _ name: String, lock: String?, metadata: String? = nil, claimRef: String? = nil
    ) throws -> URL {
        try scratch.writeStepDirectory(name, in: sourceDirectory, name: lock, metadata: metadata, claimRef: claimRef)
    }
}

extension ExecutableResult {
    /// stdout decoded as the `in`/`out` response.
    ///
    /// - Throws: `DecodingError`.
    public func response() throws -> ResourceResponse { try decode(ResourceResponse.self) }

    /// stdout decoded as the `check` response, as commit ids.
    ///
    /// - Throws: `DecodingError`.
    public func versions() throws -> [String] { try decode([ResourceVersion].self).map(\.ref) }
}
