import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An OpenSSH server on 127.0.0.1 for the SSH transport tests, logging in the current user (root in CI) by public key.
///
/// Runs `/usr/sbin/sshd -D -e -f <config>` (spawned as `LoopbackServerProcess` explains) with its own ed25519 and RSA
/// host keys, all in a directory of the scratch directory. Public keys are accepted when listed in `authorizedKeysURL` (`authorize(_:)` appends one; sshd reads
/// the file on every attempt, so keys can be added while it runs). Passwords and keyboard-interactive logins are off;
/// `StrictModes no` lets the scratch directory's permissions pass. The login shell runs `git-upload-pack` and
/// `git-receive-pack`, so `url(for:)` can be cloned from and pushed to. Stopped by `stop()` or when the last reference
/// goes away. Use it from `.serialized` suites.
public final class SSHServer: Sendable {
    /// Where the configuration, host keys, `authorized_keys`, pid file and log live.
    public let directory: URL
    /// The TCP port on 127.0.0.1.
    public let port: Int
    /// The user the server logs in: the current user (the only one a server can log in without root is itself).
    public let user: String
    /// The server's host keys: ed25519 first, then RSA.
    public let hostKeys: [SSHKey]
    /// The file sshd reads authorized public keys from.
    public let authorizedKeysURL: URL
    /// sshd's log (`-e`: stderr; `LogLevel VERBOSE`).
    public let logURL: URL
    private let server: LoopbackServerProcess
    private let authorizedKeysLock = Mutex(())

    /// sshd's process id (the listener; it leads its own process group).
    public var pid: Int32 { server.pid }

    /// The host public key lines (`ssh-ed25519 AAAA… comment`), ed25519 first.
    public var hostPublicKeys: [String] { hostKeys.map(\.publicKey) }

    /// What sshd logged so far.
    public var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    /// Whether `sshd`, `ssh` and `ssh-keygen` can be found (for `.enabled(if:)`).
    public static var isAvailable: Bool { ExternalTool.areAvailable("sshd", "ssh", "ssh-keygen") }

    /// Starts sshd with its files in `directory` and waits until its port accepts connections.
    ///
    /// - Parameters:
    ///   - directory: a directory of its own (created if needed), e.g. `scratch.uniqueDirectory("sshd")`.
    ///   - authorizedKeys: public key lines accepted from the start.
    ///   - extraConfiguration: more `sshd_config` lines, e.g. `PubkeyAcceptedAlgorithms +ssh-rsa`.
    ///   - startTimeout: how long to wait for the port.
    /// - Throws: `LoopbackServerError`, `ToolError` from `ssh-keygen`, or a file-system error.
    public init(
        directory: URL, authorizedKeys: [String] = [], extraConfiguration: [String] = [],
        startTimeout: Duration = .seconds(10)
    ) throws {
        guard let sshd = ExternalTool.locate("sshd") else { throw ChildProcessError.notFound("sshd") }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // The privilege separation directory; sshd refuses to start without it. Debian's init script creates it.
        if !FileManager.default.fileExists(atPath: "/run/sshd") {
            try? FileManager.default.createDirectory(
                atPath: "/run/sshd", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        }
        let hostKeyDirectory = directory.appendingPathComponent("host-keys", isDirectory: true)
        let hostKeys = [
            try SSHKeys.generate(
                .ed25519, comment: "lockpool-test-host", name: "ssh_host_ed25519_key", in: hostKeyDirectory),
            try SSHKeys.generate(.rsa, comment: "lockpool-test-host", name: "ssh_host_rsa_key", in: hostKeyDirectory),
        ]
        let authorizedKeysURL = directory.appendingPathComponent("authorized_keys")
        let keysText = authorizedKeys.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) + "\n" }.joined()
        try Data(keysText.utf8).write(to: authorizedKeysURL)
        let configURL = directory.appendingPathComponent("sshd_config")
        let pidURL = directory.appendingPathComponent("sshd.pid")
        var logURL = directory.appendingPathComponent("sshd.log")
        self.server = try LoopbackServerProcess.start(
            name: "sshd", environment: ExternalTool.baseEnvironment(home: directory),
            startTimeout: startTimeout
        ) { port in
            let lines =
                [
                    "ListenAddress 127.0.0.1:\(port)",
                    "AddressFamily inet",
                ] + hostKeys.map { "HostKey \($0.privateKeyPath)" } + [
                    "PidFile \(pidURL.path)",
                    "AuthorizedKeysFile \(authorizedKeysURL.path)",
                    "PermitRootLogin yes",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "UseDNS no",
                    "PrintMotd no",
                    "PrintLastLog no",
                    "X11Forwarding no",
                    "AllowAgentForwarding no",
                    "MaxStartups 100",
                    "MaxSessions 100",
                    "LogLevel VERBOSE",
                ] + extraConfiguration
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: configURL)
            logURL = directory.appendingPathComponent("sshd-\(port).log")
            // sshd re-executes itself for every connection, so it must be started by absolute path.
            return LoopbackServerProcess.Launch(
                executable: sshd, arguments: ["-D", "-e", "-f", configURL.path], logURL: logURL)
        }
        self.directory = directory
        self.port = server.port
        self.user = Self.currentUserName()
        self.hostKeys = hostKeys
        self.authorizedKeysURL = authorizedKeysURL
        self.logURL = logURL
    }

    /// Starts sshd with its files in a new directory of `scratch`.
    ///
    /// - Throws: as `init(directory:authorizedKeys:extraConfiguration:startTimeout:)`.
    public convenience init(
        scratch: Scratch, authorizedKeys: [String] = [], extraConfiguration: [String] = [],
        startTimeout: Duration = .seconds(10)
    ) throws {
        try self.init(
            directory: try scratch.uniqueDirectory("sshd"), authorizedKeys: authorizedKeys,
            extraConfiguration: extraConfiguration, startTimeout: startTimeout)
    }

    deinit { stop() }

    /// Accepts logins with `publicKeyLine` (`ssh-ed25519 AAAA… comment`) from now on.
    ///
    /// - Throws: a file-system error.
    public func authorize(_ publicKeyLine: String) throws {
        try authorizedKeysLock.withLock { _ in
            let handle = try FileHandle(forWritingTo: authorizedKeysURL)
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(
                contentsOf: Data((publicKeyLine.trimmingCharacters(in: .whitespacesAndNewlines) + "\n").utf8))
        }
    }

    /// Accepts logins with `key` from now on.
    ///
    /// - Throws: a file-system error.
    public func authorize(_ key: SSHKey) throws { try authorize(key.publicKey) }

    /// `ssh://USER@127.0.0.1:PORT/abs/path` for the repository at the absolute path `repositoryPath`.
    ///
    /// - Parameter user: the login name; the server's `user` when `nil`. An empty string leaves the user out.
    public func url(for repositoryPath: String, user: String? = nil) -> String {
        let login = user ?? self.user
        let path = repositoryPath.hasPrefix("/") ? repositoryPath : "/" + repositoryPath
        return "ssh://\(login.isEmpty ? "" : login + "@")127.0.0.1:\(port)\(path)"
    }

    /// The `ssh://` URL of `repository`.
    public func url(for repository: LockRepository, user: String? = nil) -> String {
        url(for: repository.path, user: user)
    }

    /// `known_hosts` text naming every host key of the server as `[host]:PORT` (one line per key).
    ///
    /// - Parameters:
    ///   - host: the name clients connect to.
    ///   - hashed: hash the host names with `ssh-keygen -H`.
    /// - Throws: from `SSHKeys.hashedKnownHosts(_:in:)` when hashing.
    public func knownHosts(host: String = "127.0.0.1", hashed: Bool = false) throws -> String {
        let text = hostPublicKeys.map { SSHKeys.knownHostsLine(host: host, port: port, publicKey: $0) + "\n" }.joined()
        return hashed ? try SSHKeys.hashedKnownHosts(text, in: directory) : text
    }

    /// An `ssh` command line for `GIT_SSH_COMMAND` that logs in with `identity` only and ignores the machine's
    /// configuration, agent and `known_hosts`.
    ///
    /// - Parameter knownHostsFile: when given, host keys are checked strictly against this file; else not at all.
    public static func sshCommand(identity: URL, knownHostsFile: URL? = nil) -> String {
        var parts = [
            "ssh", "-F", "/dev/null", "-i", shellQuoted(identity.path), "-o", "IdentitiesOnly=yes", "-o",
            "IdentityAgent=none", "-o", "BatchMode=yes", "-o", "GlobalKnownHostsFile=/dev/null", "-o",
            "LogLevel=ERROR", "-o", "ConnectTimeout=5",
        ]
        if let knownHostsFile {
            parts += [
                "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=\(shellQuoted(knownHostsFile.path))",
            ]
        } else {
            parts += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
        }
        return parts.joined(separator: " ")
    }

    /// Stops sshd (SIGTERM to its process group, SIGKILL after 5 s) and waits for it. Connections already accepted
    /// run in sessions of their own and end with their client. Safe to call more than once.
    public func stop() { server.stop() }

    static func shellQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    private static func currentUserName() -> String {
        if let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return ProcessInfo.processInfo.environment["USER"] ?? "root"
    }
}

// MARK: - Shared by the server fixtures

/// A server fixture that could not be started.
public enum LoopbackServerError: Error, Sendable, CustomStringConvertible {
    case notListening(server: String, port: Int, log: String)
    case spawnFailed(server: String, errno: Int32)
    case launchFailed(server: String, reason: String)
    case unavailable(String)

    public var description: String {
        switch self {
        case .notListening(let server, let port, let log): "\(server) did not listen on 127.0.0.1:\(port): \(log)"
        case .spawnFailed(let server, let code): "could not start \(server): \(String(cString: strerror(code)))"
        case .launchFailed(let server, let reason): "could not start \(server): \(reason)"
        case .unavailable(let what): what
        }
    }
}

/// A server child process on a loopback port (sshd, lighttpd, tinyproxy, the Pushgateway), started like `GitDaemon`'s:
/// on a port that was free a moment ago (up to three tries), waited for until the port accepts a TCP connection, and
/// stopped through its process group.
///
/// Started by `ChildProcess` (swift-subprocess), which gives it every signal unblocked and at its default action, a
/// process group of its own and no descriptor but stdin (empty), stdout (`/dev/null`) and stderr (its log file,
/// appended), and watches it through a pidfd. That last point matters: Foundation's `Process` learns that a child
/// exited when the child's copy of an inherited socket is closed; sshd closes every inherited descriptor at startup, and
/// `Process` then blocks its monitoring thread in `waitpid()` on the running server, so that no later child of the whole
/// test process is ever reaped.
final class LoopbackServerProcess: Sendable {
    /// What to run on a given port.
    struct Launch {
        let executable: URL
        let arguments: [String]
        /// Receives the server's stderr (appended).
        let logURL: URL
    }

    let port: Int
    private let running: ChildProcess.Running
    private let isStopped = Mutex(false)

    /// The server's process id; it leads its own process group.
    var pid: pid_t { running.pid }

    private init(port: Int, running: ChildProcess.Running) {
        self.port = port
        self.running = running
    }

    deinit { stop() }

    /// Starts the server `prepare` describes for a free port (writing its configuration) and waits for the port.
    ///
    /// - Parameters:
    ///   - name: the server's name, for errors.
    ///   - extraLog: more log text for errors (e.g. a log file the server writes itself), given the port.
    /// - Throws: `LoopbackServerError` after three failed ports or when the server cannot be spawned, or what
    ///   `prepare` throws.
    static func start(
        name: String, environment: [String: String], startTimeout: Duration, extraLog: (Int) -> String = { _ in "" },
        prepare: (Int) throws -> Launch
    ) throws -> LoopbackServerProcess {
        var lastError = LoopbackServerError.notListening(server: name, port: 0, log: "")
        for _ in 0..<3 {
            let port = try GitDaemon.freePort()
            let launch = try prepare(port)
            let running: ChildProcess.Running
            do {
                running = try ChildProcess.start(
                    executable: launch.executable, arguments: launch.arguments, environment: environment,
                    directory: launch.logURL.deletingLastPathComponent(), stdin: Data(),
                    stdoutFile: URL(fileURLWithPath: "/dev/null"), stderrFile: launch.logURL)
            } catch {
                throw LoopbackServerError.launchFailed(server: name, reason: "\(error)")
            }
            let server = LoopbackServerProcess(port: port, running: running)
            if server.waitUntilListening(timeout: startTimeout) { return server }
            server.stop()
            let log = (try? String(contentsOf: launch.logURL, encoding: .utf8)) ?? ""
            lastError = .notListening(server: name, port: port, log: log + extraLog(port))
        }
        throw lastError
    }

    /// Waits until the server has exited; `false` when `deadline` passes first. Can be called any number of times.
    func waitForExit(until deadline: DispatchTime = .distantFuture) -> Bool {
        running.waitForExit(until: deadline)
    }

    /// SIGTERM to the process group, SIGKILL after 5 s, then SIGKILL to what is left of the group. Idempotent.
    func stop() {
        let alreadyStopped = isStopped.withLock { stopped in
            defer { stopped = true }
            return stopped
        }
        guard !alreadyStopped else { return }
        running.signalGroup(SIGTERM)
        if !waitForExit(until: .now() + 5) {
            running.signalGroup(SIGKILL)
            _ = waitForExit()
        }
        // Children (CGI programs, connection handlers) that outlived the server and stayed in its group.
        running.signalGroup(SIGKILL)
        _ = running.collect()
    }

    private func waitUntilListening(timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if GitDaemon.acceptsConnection(port: port) { return true }
            // The server exited (e.g. the port was taken): give up on this port at once.
            if waitForExit(until: .now() + 0.05) { return false }
        }
        return false
    }
}
