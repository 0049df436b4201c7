import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A `git daemon` serving the repositories of one directory on loopback, with pushes enabled.
///
/// Runs `git daemon --reuseaddr --listen=127.0.0.1 --port=PORT --base-path=DIR --export-all
/// --enable=receive-pack DIR` as a child process; its log goes to `logURL`. Stopped by `stop()` or when the last
/// reference goes away. Use it from `.serialized` suites: each daemon takes a port and a process.
public final class GitDaemon: Sendable {
    /// The served directory (`--base-path`).
    public let baseDirectory: URL
    /// The TCP port on 127.0.0.1.
    public let port: Int
    /// The daemon's stderr (connection log), kept for diagnostics.
    public let logURL: URL
    private let running: ChildProcess.Running
    private let isStopped = Mutex(false)

    /// The daemon's process id.
    public var pid: Int32 { running.pid }

    /// Starts a daemon serving `baseDirectory` and waits until its port accepts connections.
    ///
    /// - Parameters:
    ///   - baseDirectory: the directory whose repositories are served, e.g. the scratch directory.
    ///   - git: the runner whose environment (empty configuration) the daemon gets.
    ///   - startTimeout: how long to wait for the port to accept a TCP connection.
    ///   - accessHook: a program run before each service (`--access-hook`); see `accessHook(in:refusing:reason:)`.
    ///   - informativeErrors: `--informative-errors`: the daemon passes on a refusal's reason (the hook's first line)
    ///     instead of its one sentence for every refusal.
    ///   - port: listen on this port (a daemon started again where a stopped one was); a free one when nil.
    /// - Throws: `GitDaemonError` when no port is free or the daemon exits or does not listen in time.
    public init(
        serving baseDirectory: URL, git: GitCLI, startTimeout: Duration = .seconds(10), accessHook: URL? = nil,
        informativeErrors: Bool = true, port fixedPort: Int? = nil
    ) throws {
        // Run git-daemon itself, not the `git` wrapper: signalling the wrapper would orphan the daemon.
        let execPath = try git.output("--exec-path")
        let executable = URL(fileURLWithPath: execPath).appendingPathComponent("git-daemon")
        var lastError: GitDaemonError = .notListening(port: 0, log: "")
        // The port found free may be taken again before the daemon binds it; try a few ports.
        for _ in 0..<3 {
            let port = try fixedPort ?? Self.freePort()
            let log = baseDirectory.appendingPathComponent("git-daemon-\(port).log")
            let running = try ChildProcess.start(
                executable: executable,
                arguments: [
                    "--reuseaddr", "--listen=127.0.0.1", "--port=\(port)",
                    "--base-path=\(baseDirectory.path)", "--export-all", "--enable=receive-pack",
                    "--verbose",
                ] + (informativeErrors ? ["--informative-errors"] : [])
                    + (accessHook.map { ["--access-hook=\($0.path)"] } ?? []) + [baseDirectory.path],
                environment: git.environment, directory: baseDirectory, stdin: Data(), stderrFile: log)
            if Self.waitUntilListening(port: port, running: running, timeout: startTimeout) {
                self.baseDirectory = baseDirectory
                self.port = port
                self.logURL = log
                self.running = running
                return
            }
            running.signalGroup(SIGKILL)
            _ = running.waitForExit()
            _ = running.collect()
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            lastError = .notListening(port: port, log: text)
        }
        throw lastError
    }

    /// Starts a daemon serving the scratch directory.
    ///
    /// - Throws: `GitDaemonError`, or a file-system error for the empty git configuration.
    public convenience init(scratch: Scratch) throws {
        try self.init(serving: scratch.url, git: try GitCLI(scratch: scratch))
    }

    /// Writes an executable `--access-hook` script into `directory` that refuses `services` (`upload-pack` is a
    /// fetch, `receive-pack` a push), printing `reason`, and allows every other service.
    ///
    /// - Returns: the script's URL.
    /// - Throws: a file-system error.
    public static func accessHook(in directory: URL, refusing services: [String], reason: String) throws -> URL {
        let hook = directory.appendingPathComponent("access-hook")
        let refused = services.map { "\($0)) echo '\(reason)'; exit 1 ;;" }.joined(separator: " ")
        try "#!/bin/sh\ncase \"$1\" in \(refused) esac\nexit 0\n".write(to: hook, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: hook.path)
        return hook
    }

    deinit { stop() }

    /// The `git://` URL of repository `name` (a path relative to the base directory, e.g. `origin.git`).
    public func url(for name: String) -> String {
        "git://127.0.0.1:\(port)/\(name)"
    }

    /// The `git://` URL of `repository`, which must lie inside the base directory.
    public func url(for repository: LockRepository) -> String {
        let base = baseDirectory.resolvingSymlinksInPath().path
        let path = repository.url.resolvingSymlinksInPath().path
        precondition(path.hasPrefix(base + "/"), "\(path) is not served by the daemon at \(base)")
        return url(for: String(path.dropFirst(base.count + 1)))
    }

    /// What the daemon logged so far.
    public var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    /// Stops the daemon and the children serving connections (its process group): SIGTERM, then SIGKILL after 5 s,
    /// and waits for it to exit. Safe to call more than once.
    public func stop() {
        let alreadyStopped = isStopped.withLock { stopped in
            defer { stopped = true }
            return stopped
        }
        guard !alreadyStopped else { return }
        running.signalGroup(SIGTERM)
        if !running.waitForExit(until: .now() + 5) {
            running.signalGroup(SIGKILL)
            _ = running.waitForExit()
        }
        // Children serving a connection that outlived the daemon.
        running.signalGroup(SIGKILL)
        _ = running.collect()
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago: binds port 0 and reads the port chosen.
    ///
    /// - Throws: `GitDaemonError.noFreePort`.
    public static func freePort() throws -> Int {
        #if canImport(Glibc)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw GitDaemonError.noFreePort(errno: errno) }
        defer { close(fd) }
        var address = loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw GitDaemonError.noFreePort(errno: errno) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw GitDaemonError.noFreePort(errno: errno) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether a TCP connection to 127.0.0.1:`port` succeeds now.
    public static func acceptsConnection(port: Int) -> Bool {
        #if canImport(Glibc)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = loopback(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return connected == 0
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        #if canImport(Darwin)
            address.sin_len = UInt8(MemoryLayout<sockaddr_in>.size)
        #endif
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr = in_addr(s_addr: UInt32(0x7f00_0001).bigEndian)
        return address
    }

    private static func waitUntilListening(port: Int, running: ChildProcess.Running, timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if acceptsConnection(port: port) { return true }
            // The daemon exited (e.g. the port was taken): give up on this port at once.
            if running.waitForExit(until: .now() + 0.05) { return false }
        }
        return false
    }
}

/// A `git daemon` that could not be started.
public enum GitDaemonError: Error, Sendable, CustomStringConvertible {
    case noFreePort(errno: Int32)
    case notListening(port: Int, log: String)

    public var description: String {
        switch self {
        case .noFreePort(let code): "could not find a free TCP port on 127.0.0.1: errno \(code)"
        case .notListening(let port, let log): "git daemon did not listen on 127.0.0.1:\(port): \(log)"
        }
    }
}
