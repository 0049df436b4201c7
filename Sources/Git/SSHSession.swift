import CLibgit2
import FoundationEssentials
import Glibc
import Synchronization

/// One OpenSSH connection to an ssh remote, shared by every git command of a `Remote`: the fetch and the push of an
/// operation run as two channels of it (docs/decisions/0010-openssh-transport.md).
///
/// - **The connection.** A master `ssh -M -N` authenticates once; each git command is then an `ssh` client that asks
///   the master for a channel through its control socket (`ControlPath`), with no handshake of its own.
/// - **The key never touches the disk.** `private_key` is written to an anonymous file in memory (`memfd_create`,
///   mode 0600) that `ssh` opens as `/proc/<pid>/fd/<n>`; a passphrase likewise, read by an askpass script that holds
///   only that path. The private directory holds the control socket, the script and `known_hosts` text, and is
///   removed by `close()`.
/// - **Host keys** are OpenSSH's business: `known_hosts` text makes checking strict, none accepts any key (the upstream
///   resource's `StrictHostKeyChecking no`).
/// - **The push connection is prepared** (`preparePush`): once the master is up, `git-receive-pack` starts at once,
///   and the push finds its reference list waiting, as over git:// (`PreparedConnection`).
///
/// Not `Sendable`: used by the thread that runs the `Remote`.
final class SSHSession {
    let address: SSHAddress
    let options: RemoteOptions
    private var directory: String?
    private var keyFile: Int32 = -1
    private var passphraseFile: Int32 = -1
    /// The master's process id once it has authenticated (it runs in the background, `ControlPersist`).
    private var masterPID: pid_t?
    private var relay: TunnelRelay?
    private var preparedPush: SpawnedProcess?
    private var wantsPreparedPush = false

    init(address: SSHAddress, options: RemoteOptions) {
        self.address = address
        self.options = options
    }

    deinit { close() }

    /// Starts `service` (`git-upload-pack`, `git-receive-pack`) on the shared connection.
    ///
    /// - Throws: the failure as `Remote` reports it: `AuthenticationRefused`, `CertificateRejected`,
    ///   `PrivateKey`-style `GitError`s and network `GitError`s (`SSHFailure.error`).
    func start(_ service: String) throws -> SpawnedProcess {
        try startMaster()
        if service == "git-receive-pack", let prepared = preparedPush {
            preparedPush = nil
            if !prepared.hasExited { return prepared }
        }
        return try client(service)
    }

    /// Starts the push's `git-receive-pack` as soon as the connection is up (now, when it is).
    func preparePush() {
        wantsPreparedPush = true
        if masterPID != nil, preparedPush == nil { preparedPush = try? client("git-receive-pack") }
    }

    /// Ends a prepared `git-receive-pack` that no push used.
    func discardPreparedPush() {
        wantsPreparedPush = false
        preparedPush?.terminate()
        preparedPush = nil
    }

    /// Ends the connection and every command on it, and removes the private directory and the in-memory files.
    func close() {
        discardPreparedPush()
        if let masterPID { SSHMasters.end(masterPID) }
        masterPID = nil
        relay?.stop()
        relay = nil
        for fd in [keyFile, passphraseFile] where fd >= 0 { Glibc.close(fd) }
        keyFile = -1
        passphraseFile = -1
        if let directory {
            for name in ["askpass", "known_hosts", "m"] { unlink("\(directory)/\(name)") }
            rmdir(directory)
        }
        directory = nil
    }

    private func client(_ service: String) throws -> SpawnedProcess {
        let arguments =
            try baseArguments() + ["-o", "ControlMaster=no", "--", destinationHost, address.command(service)]
        guard
            let process = SpawnedProcess(
                arguments: arguments, environment: environment, pipesInput: true, pipesOutput: true)
        else { throw SSHFailure.notStarted(errno) }
        return process
    }

    /// Starts the master connection unless it runs, and waits until it has authenticated.
    ///
    /// `ssh -M -N -o ControlPersist=30` goes into the background once it has logged in, so the child's exit is the
    /// signal: status 0 with the control socket listening, or OpenSSH's failure. The background master is a fork of
    /// that child; its id comes from the master itself (`masterID()`). `close()` ends it, and so does this process's
    /// exit (`SSHMasters`). Should this process be killed outright, the master ends itself after 30 idle seconds.
    private func startMaster() throws {
        if let masterPID, let directory, kill(masterPID, 0) == 0, access("\(directory)/m", F_OK) == 0 { return }
        if let masterPID { SSHMasters.end(masterPID) }
        masterPID = nil
        relay?.stop()
        relay = nil
        try prepareFiles()
        let arguments =
            try baseArguments() + ["-M", "-N", "-o", "ControlPersist=30", "--", destinationHost]
        guard
            let process = SpawnedProcess(
                arguments: arguments, environment: environment, pipesInput: false, pipesOutput: false)
        else { throw SSHFailure.notStarted(errno) }
        process.collectErrors(block: true)
        process.wait()
        guard process.exitCode == 0 else { throw SSHFailure(process: process, session: self).error }
        let pid = try masterID()
        SSHMasters.started(pid)
        masterPID = pid
        if wantsPreparedPush, preparedPush == nil { preparedPush = try? client("git-receive-pack") }
    }

    /// The background master's process id, as it reports it (`ssh -O check`: `Master running (pid=N)`); a local
    /// exchange over the control socket, no network.
    private func masterID() throws -> pid_t {
        let arguments = ["ssh", "-o", "ControlPath=\(directory!)/m", "-O", "check", "--", destinationHost]
        guard
            let process = SpawnedProcess(
                arguments: arguments, environment: environment, pipesInput: false, pipesOutput: false)
        else { throw SSHFailure.notStarted(errno) }
        process.collectErrors(block: true)
        process.wait()
        let report = process.errorMessage
        let digits = report.split(separator: "pid=").dropFirst().first?.prefix(while: \.isNumber)
        guard process.exitCode == 0, let digits, let pid = pid_t(digits), pid > 0 else {
            throw GitError(
                code: .generic, errorClass: .ssh, function: "ssh -O check",
                message: "the ssh master did not report its process id: \(report)")
        }
        return pid
    }

    /// The private directory and the in-memory files, made once.
    private func prepareFiles() throws {
        guard directory == nil else { return }
        directory = try Self.makePrivateDirectory()
        if let text = options.knownHosts {
            try write(text, to: "\(directory!)/known_hosts", mode: 0o600)
        }
        guard case .sshKey(_, let key, let passphrase)? = options.credentials?.kind else { return }
        keyFile = try Self.memoryFile(key)
        if let passphrase, !passphrase.isEmpty {
            passphraseFile = try Self.memoryFile(passphrase)
            try write(
                "#!/bin/sh\nexec cat /proc/\(getpid())/fd/\(passphraseFile)\n", to: "\(directory!)/askpass", mode: 0o700
            )
            try checkPassphrase()
        }
    }

    /// Decrypts the key once with `ssh-keygen -y`: `ssh` says nothing of a wrong passphrase at `LogLevel=ERROR` (it
    /// goes on to a refused login), `ssh-keygen` says `incorrect passphrase supplied to decrypt private key`.
    private func checkPassphrase() throws {
        let arguments = ["ssh-keygen", "-y", "-f", "/proc/\(getpid())/fd/\(keyFile)"]
        guard
            let process = SpawnedProcess(
                arguments: arguments, environment: environment, pipesInput: false, pipesOutput: false)
        else { throw SSHFailure.notStarted(errno) }
        process.collectErrors(block: true)
        process.wait()
        guard process.exitCode != 0 else { return }
        let problem = SSHFailure.keyProblem(process.errorMessage) ?? process.errorMessage
        throw GitError(code: .auth, errorClass: .ssh, function: GitError.privateKeyFunction, message: problem)
    }

    /// The host `ssh` connects to: the remote's, or the loopback end of the tunnel relay.
    private var destinationHost: String { relay == nil ? address.host : "127.0.0.1" }

    /// The options every `ssh` of this session gets; they come before any of the user's `~/.ssh/config`.
    private func baseArguments() throws -> [String] {
        // core.sshCommand runs as git runs it: `sh -c '<command> "$@"' <command> <arguments>`.
        var arguments = options.sshCommand.map { ["/bin/sh", "-c", "\($0) \"$@\"", $0] } ?? ["ssh"]
        arguments += [
            "-T", "-x", "-o", "ControlPath=\(directory!)/m", "-o", "LogLevel=ERROR", "-o", "UpdateHostKeys=no",
            "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no", "-o",
            "NumberOfPasswordPrompts=1", "-o", "ConnectTimeout=30", "-o", "ServerAliveInterval=15",
        ]
        if options.knownHosts != nil {
            arguments += [
                "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=\(directory!)/known_hosts", "-o",
                "GlobalKnownHostsFile=/dev/null",
            ]
        } else {
            arguments += [
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o",
                "GlobalKnownHostsFile=/dev/null",
            ]
        }
        if keyFile >= 0 {
            arguments += [
                "-o", "IdentityFile=/proc/\(getpid())/fd/\(keyFile)", "-o", "IdentitiesOnly=yes", "-o",
                "IdentityAgent=none", "-o", "CertificateFile=none",
            ]
        }
        // A passphrase is read through askpass, which batch mode forbids; nothing else may ask anything.
        if passphraseFile < 0 { arguments += ["-o", "BatchMode=yes"] }
        if options.forwardsAgent { arguments += ["-o", "ForwardAgent=yes"] }
        if let user = address.user ?? options.credentials?.defaultUser { arguments += ["-l", user] }
        if let tunnel = ConnectTunnel.active {
            if relay == nil { relay = try TunnelRelay(tunnel: tunnel, host: address.host, port: address.port ?? 22) }
            arguments += [
                "-p", "\(relay!.port)", "-o", "HostKeyAlias=\(Self.knownHostsName(address))", "-o", "ProxyCommand=none",
                "-o", "ProxyJump=none",
            ]
        } else if let port = address.port {
            arguments += ["-p", "\(port)"]
        }
        return arguments
    }

    /// The environment of every `ssh`: this process's, with the askpass script when a passphrase is needed.
    private var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        if passphraseFile >= 0 {
            environment["SSH_ASKPASS"] = "\(directory!)/askpass"
            environment["SSH_ASKPASS_REQUIRE"] = "force"
        } else {
            environment["SSH_ASKPASS_REQUIRE"] = "never"
        }
        return environment
    }

    /// The name the host has in `known_hosts`: `host` for port 22, else `[host]:port`.
    static func knownHostsName(_ address: SSHAddress) -> String {
        guard let port = address.port, port != 22 else { return address.host }
        return "[\(address.host)]:\(port)"
    }

    /// A directory of this process only (mode 0700), short enough for the control socket: a socket's path holds at
    /// most 107 bytes, and ssh binds `<root>/lockpool-ssh-XXXXXX/m.<16 random characters>` (root + 39 bytes) before
    /// it renames it. A longer `TMPDIR` gives way to /tmp.
    private static func makePrivateDirectory() throws -> String {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        for root in [base, "/tmp"] where root.utf8.count <= 64 {
            var template = Array(
                "\(root.hasSuffix("/") ? String(root.dropLast()) : root)/lockpool-ssh-XXXXXX".utf8CString)
            if let made = mkdtemp(&template) { return String(cString: made) }
        }
        throw SSHFailure.notStarted(errno)
    }

    /// An anonymous file in memory, mode 0600, holding `text`.
    private static func memoryFile(_ text: String) throws -> Int32 {
        let fd = lockpool_memfd_create("lockpool-ssh")
        guard fd >= 0 else { throw SSHFailure.notStarted(errno) }
        let bytes = Array(text.utf8)
        guard fchmod(fd, 0o600) == 0, Glibc.write(fd, bytes, bytes.count) == bytes.count else {
            Glibc.close(fd)
            throw SSHFailure.notStarted(errno)
        }
        return fd
    }

    private func write(_ text: String, to path: String, mode: mode_t) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw SSHFailure.notStarted(errno) }
        defer { Glibc.close(fd) }
        let bytes = Array(text.utf8)
        guard Glibc.write(fd, bytes, bytes.count) == bytes.count else { throw SSHFailure.notStarted(errno) }
    }
}

/// The ssh masters this process started, ended when it exits (`exit()` runs `atexit` handlers; the resource's
/// executables end with `exit`).
enum SSHMasters {
    private static let running = Mutex<Set<pid_t>>([])
    private static let handler: Void = { atexit { SSHMasters.endAll() } }()

    static func started(_ pid: pid_t) {
        _ = handler
        running.withLock { _ = $0.insert(pid) }
    }

    /// Ends the master `pid` (SIGTERM; it is not this process's child any more, so it is not waited for).
    static func end(_ pid: pid_t) {
        guard running.withLock({ $0.remove(pid) }) != nil else { return }
        kill(pid, SIGTERM)
    }

    static func endAll() {
        for pid in running.withLock({ $0 }) { end(pid) }
    }
}
