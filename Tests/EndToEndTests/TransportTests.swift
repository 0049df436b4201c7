import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The transports and credentials end to end (docs/resource.md#executables-and-their-input-and-output,
/// docs/transports.md; README "Credentials and transports"): the built `check`, `in` and `out` against sshd, lighttpd
/// with `git http-backend`, tinyproxy and `git daemon` on loopback.
///
/// Every server takes a port and processes, so the whole suite runs serially; each test is skipped when a server
/// binary it needs is missing.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct TransportTests {
    static let sshAvailable = SSHServer.isAvailable
    static let agentAvailable = SSHServer.isAvailable && ExternalTool.areAvailable("ssh-agent", "ssh-add")
    static let httpsAvailable = HTTPSGitServer.isAvailable(tls: true)
    static let httpAvailable = HTTPSGitServer.isAvailable(tls: false)
    static let proxyAvailable = ConnectProxy.isAvailable
    static let gitAvailable = ExternalTool.areAvailable("git")
}

// MARK: - Shared helpers

/// The lock repository every transport test starts from: pool `envs` with `env-1` unclaimed and `env-2` claimed.
private let seedLocks: [String: LockSeed] = ["env-1": .unclaimed("one\n"), "env-2": .claimed("two\n")]

/// An `out` or `in` result that succeeded with `lock` of pool `envs`.
@discardableResult
private func succeeded(
    _ result: ExecutableResult, lock: String, sourceLocation: SourceLocation = #_sourceLocation
) throws -> ResourceResponse {
    try #require(result.status == 0, "\(result)", sourceLocation: sourceLocation)
    let response = try result.response()
    #expect(
        response.metadata == [
            MetadataField(name: "lock_name", value: lock), MetadataField(name: "pool_name", value: "envs"),
        ],
        "\(result)", sourceLocation: sourceLocation)
    #expect(!result.stderrLines.contains { $0.hasPrefix("error:") }, "\(result)", sourceLocation: sourceLocation)
    return response
}

/// A failure with nothing on stdout and exactly `error: <reason>` as the last stderr line.
private func failed(_ result: ExecutableResult, _ reason: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(result.status == 1, "\(result)", sourceLocation: sourceLocation)
    #expect(result.stdout.isEmpty, "\(result)", sourceLocation: sourceLocation)
    #expect(result.lastStderrLine == "error: \(reason)", "\(result)", sourceLocation: sourceLocation)
}

/// Runs `body` and returns its result and how long it took.
private func timed<T>(_ body: () throws -> T) rethrows -> (T, Duration) {
    let start = ContinuousClock.now
    let value = try body()
    return (value, ContinuousClock.now - start)
}

/// How long a refused credential, host key or tunnel may take to fail: "at once", not after retries.
private let failFast: Duration = .seconds(10)

extension ResourceHarness {
    /// `check` without a version, expected to list the commits that touched the pool.
    @discardableResult
    fileprivate func checkWorks(
        source overrides: [String: JSONValue], sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> [String] {
        let result = try check(version: nil, source: overrides, timeout: .seconds(30))
        try #require(result.status == 0, "\(result)", sourceLocation: sourceLocation)
        let versions = try result.versions()
        #expect(versions.last == (try repository.history(paths: [pool]).first?.id), sourceLocation: sourceLocation)
        return versions
    }

    /// `out` with `params` plus a 20 s timeout, expected to succeed with `lock`.
    @discardableResult
    fileprivate func outWorks(
        _ params: [String: JSONValue], lock: String, source overrides: [String: JSONValue],
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> ResourceResponse {
        var params = params
        params["timeout"] = "20s"
        let result = try out(.object(params), source: overrides, timeout: .seconds(30))
        return try succeeded(result, lock: lock, sourceLocation: sourceLocation)
    }

    /// check, in, and every `out` operation over this harness's URI with `overrides` in `source`, each checked
    /// against the lock repository. Starts from `seedLocks`.
    fileprivate func exerciseEveryOperation(
        source overrides: [String: JSONValue], sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let repo = repository
        let first = try checkWorks(source: overrides, sourceLocation: sourceLocation)
        #expect(first == [try repo.commitID()], sourceLocation: sourceLocation)

        // acquire, then in at the claiming commit, then release with the claim_ref that in wrote.
        let acquired = try outWorks(["acquire": true], lock: "env-1", source: overrides, sourceLocation: sourceLocation)
        #expect(acquired.version.ref == (try repo.commitID()), sourceLocation: sourceLocation)
        #expect(try repo.locks(in: "envs") == PoolLocks(claimed: ["env-1", "env-2"], unclaimed: []))
        let destination = sourceDirectory.appendingPathComponent("lock", isDirectory: true)
        let got = try get(version: acquired.version.ref, into: destination, source: overrides, timeout: .seconds(30))
        let gotResponse = try succeeded(got, lock: "env-1", sourceLocation: sourceLocation)
        #expect(gotResponse.version == acquired.version, sourceLocation: sourceLocation)
        let read = { (name: String) in
            (try? String(contentsOf: destination.appendingPathComponent(name), encoding: .utf8)) ?? "<missing>"
        }
        #expect(read("name").trimmingCharacters(in: .whitespacesAndNewlines) == "env-1", sourceLocation: sourceLocation)
        #expect(read("metadata") == "one\n", sourceLocation: sourceLocation)
        #expect(
            read("claim_ref").trimmingCharacters(in: .whitespacesAndNewlines) == acquired.version.ref,
            sourceLocation: sourceLocation)
        let released = try outWorks(
            ["release": "lock"], lock: "env-1", source: overrides, sourceLocation: sourceLocation)
        #expect(released.version.ref == (try repo.commitID()), sourceLocation: sourceLocation)
        #expect(try repo.locks(in: "envs") == PoolLocks(claimed: ["env-2"], unclaimed: ["env-1"]))

        try outWorks(["claim": "env-1"], lock: "env-1", source: overrides, sourceLocation: sourceLocation)
        #expect(try repo.locks(in: "envs") == PoolLocks(claimed: ["env-1", "env-2"], unclaimed: []))

        try stepDirectory("add", lock: "env-3", metadata: "three\n")
        try outWorks(["add": "add"], lock: "env-3", source: overrides, sourceLocation: sourceLocation)
        try stepDirectory("add-claimed", lock: "env-4", metadata: "four\n")
        try outWorks(["add_claimed": "add-claimed"], lock: "env-4", source: overrides, sourceLocation: sourceLocation)
        #expect(try repo.locks(in: "envs") == PoolLocks(claimed: ["env-1", "env-2", "env-4"], unclaimed: ["env-3"]))

        try stepDirectory("update", lock: "env-3", metadata: "three, updated\n")
        try outWorks(["update": "update"], lock: "env-3", source: overrides, sourceLocation: sourceLocation)
        #expect(try repo.file("envs/unclaimed/env-3") == Data("three, updated\n".utf8), sourceLocation: sourceLocation)

        // check and check_unclaimed make no commit.
        let tip = try repo.commitID()
        try stepDirectory("check", lock: "env-3")
        try outWorks(["check": "check"], lock: "env-3", source: overrides, sourceLocation: sourceLocation)
        try stepDirectory("check-unclaimed", lock: "env-4")
        try outWorks(
            ["check_unclaimed": "check-unclaimed"], lock: "env-4", source: overrides, sourceLocation: sourceLocation)
        #expect(try repo.commitID() == tip, sourceLocation: sourceLocation)

        try stepDirectory("remove", lock: "env-4")
        try outWorks(["remove": "remove"], lock: "env-4", source: overrides, sourceLocation: sourceLocation)
        #expect(try repo.locks(in: "envs") == PoolLocks(claimed: ["env-1", "env-2"], unclaimed: ["env-3"]))

        let later = try check(version: ["ref": .string(first[0])], source: overrides, timeout: .seconds(30))
        #expect(later.status == 0, "\(later)", sourceLocation: sourceLocation)
        #expect(
            try later.versions() == repo.history(paths: ["envs"]).map(\.id).reversed(), sourceLocation: sourceLocation)
        let report = try repo.replay()
        #expect(report.isConsistent, "\(report)", sourceLocation: sourceLocation)
        #expect(report.commits.count == 8, "\(report)", sourceLocation: sourceLocation)
    }
}

/// sshd's configuration line that lets Debian 12's libssh2 1.10 log in with an RSA key: it signs RSA user keys
/// with SHA-1 (`ssh-rsa`) only, which OpenSSH 8.8+ refuses by default.

/// A scratch directory with the seeded lock repository, an sshd serving it and a harness on its `ssh://` URL.
private struct SSHSetup {
    let scratch: Scratch
    let repository: LockRepository
    let server: SSHServer
    let harness: ResourceHarness

    /// An sshd with Debian's default settings (no `PubkeyAcceptedAlgorithms` override: SHA-1 RSA signatures refused).
    init(_ label: String, userInURI: Bool = true, extraConfiguration: [String] = []) throws {
        scratch = try Scratch(label: label)
        repository = try LockRepository.create(in: scratch, pools: ["envs": seedLocks])
        server = try SSHServer(scratch: scratch, extraConfiguration: extraConfiguration)
        harness = try withHome(
            ResourceHarness(
                scratch: scratch, repository: repository, pool: "envs",
                uri: server.url(for: repository, user: userInURI ? nil : "")))
    }

    /// The `ssh://` URL of the repository as lockpool prints it (no userinfo other than the user).
    var uri: String { harness.uri }

    /// A fresh, authorized key.
    func authorizedKey(
        _ type: SSHKeyType = .ed25519, format: SSHKeyFormat = .openSSH, passphrase: String? = nil
    ) throws -> SSHKey {
        let key = try SSHKeys.generate(type, format: format, passphrase: passphrase, scratch: scratch)
        try server.authorize(key)
        return key
    }
}

/// `harness` with `HOME` set to an empty directory of its scratch directory, as Concourse always sets it.
///
/// Over ssh, lockpool needs `HOME` (see `TransportTests.SSH.sshWorksWithoutHOME`).
private func withHome(_ harness: ResourceHarness) throws -> ResourceHarness {
    var harness = harness
    harness.environment["HOME"] = try harness.scratch.directory("home").path
    return harness
}

/// `source` keys for `key`.
private func keySource(_ key: SSHKey, passphrase: String? = nil) -> [String: JSONValue] {
    var source: [String: JSONValue] = ["private_key": .string(key.privateKey)]
    if let passphrase = passphrase ?? key.passphrase { source["private_key_passphrase"] = .string(passphrase) }
    return source
}

// MARK: - SSH

/// One client key of the SSH matrix.
struct SSHKeyCase: Sendable, CustomTestStringConvertible {
    let type: SSHKeyType
    let format: SSHKeyFormat
    let passphrase: String?
    /// Run every `out` operation, not only check, acquire, in and release (the operations do not depend on the key;
    /// two keys run them all to keep the suite fast).
    var everyOperation = false

    var testDescription: String {
        "\(type.rawValue) \(format.rawValue)\(passphrase == nil ? "" : " with passphrase")"
            + (everyOperation ? ": every operation" : "")
    }
}

extension TransportTests {
    @Suite(.serialized)
    struct SSH {
        @Test(
            .enabled(if: sshAvailable),
            arguments: [
                SSHKeyCase(type: .ed25519, format: .openSSH, passphrase: nil, everyOperation: true),
                SSHKeyCase(type: .ed25519, format: .openSSH, passphrase: "ed-pass 1"),
                SSHKeyCase(type: .rsa, format: .pem, passphrase: nil),
                SSHKeyCase(type: .rsa, format: .pem, passphrase: "rsa-pem pass", everyOperation: true),
                SSHKeyCase(type: .rsa, format: .openSSH, passphrase: nil),
                SSHKeyCase(type: .rsa, format: .openSSH, passphrase: "rsa-openssh pass"),
                SSHKeyCase(type: .rsa, format: .pkcs8, passphrase: nil),
                SSHKeyCase(type: .rsa, format: .pkcs8, passphrase: "rsa-pkcs8 pass"),
                SSHKeyCase(type: .ecdsa, format: .openSSH, passphrase: nil),
                SSHKeyCase(type: .ecdsa, format: .pem, passphrase: "ec-pem pass"),
            ])
        func operationsWorkWithAPrivateKey(_ c: SSHKeyCase) throws {
            let setup = try SSHSetup("ssh-ops")
            let key = try setup.authorizedKey(c.type, format: c.format, passphrase: c.passphrase)
            if c.everyOperation {
                try setup.harness.exerciseEveryOperation(source: keySource(key))
            } else {
                let harness = setup.harness
                let source = keySource(key)
                try harness.checkWorks(source: source)
                let acquired = try harness.outWorks(["acquire": true], lock: "env-1", source: source)
                let got = try harness.get(
                    version: acquired.version.ref, into: harness.sourceDirectory.appendingPathComponent("lock"),
                    source: source)
                try succeeded(got, lock: "env-1")
                try harness.outWorks(["release": "lock"], lock: "env-1", source: source)
                #expect(try setup.repository.locks(in: "envs") == PoolLocks(claimed: ["env-2"], unclaimed: ["env-1"]))
            }
            #expect(setup.server.log.contains("Accepted publickey for \(setup.server.user) from 127.0.0.1"))
        }

        @Test(.enabled(if: sshAvailable))
        func theUserComesFromTheURIElsePrivateKeyUser() throws {
            let setup = try SSHSetup("ssh-user", userInURI: false)
            let key = try setup.authorizedKey()
            let user = setup.server.user
            #expect(!setup.uri.contains("@"))

            // No user in the URI: private_key_user names it.
            var source = keySource(key)
            source["private_key_user"] = .string(user)
            try setup.harness.checkWorks(source: source)
            try setup.harness.outWorks(["acquire": true], lock: "env-1", source: source)

            // private_key_user is really used: an unknown user is refused, and named.
            source["private_key_user"] = "lockpool-nobody"
            let (refused, elapsed) = try timed { try setup.harness.check(version: nil, source: source) }
            failed(
                refused, "authentication failed for \(setup.uri) (ssh private key for user 'lockpool-nobody' refused)")
            #expect(elapsed < failFast)

            // A user in the URI wins over private_key_user.
            let withUser = try withHome(
                ResourceHarness(
                    scratch: setup.scratch, repository: setup.repository, pool: "envs",
                    uri: setup.server.url(for: setup.repository)))
            try withUser.checkWorks(source: source)
            try withUser.stepDirectory("release", lock: "env-1")
            try withUser.outWorks(["release": "release"], lock: "env-1", source: source)
            #expect(try setup.repository.locks(in: "envs") == PoolLocks(claimed: ["env-2"], unclaimed: ["env-1"]))
        }

        @Test(.enabled(if: sshAvailable))
        func aKeyTheServerDoesNotKnowFailsAtOnce() throws {
            let setup = try SSHSetup("ssh-wrong-key")
            _ = try setup.authorizedKey()
            let stranger = try SSHKeys.generate(.ed25519, scratch: setup.scratch)
            let (result, elapsed) = try timed { try setup.harness.out(["acquire": true], source: keySource(stranger)) }
            failed(result, "authentication failed for \(setup.uri) (ssh private key for user 'root' refused)")
            #expect(elapsed < failFast)
            let (check, checkElapsed) = try timed {
                try setup.harness.check(version: nil, source: keySource(stranger))
            }
            failed(check, "authentication failed for \(setup.uri) (ssh private key for user 'root' refused)")
            #expect(checkElapsed < failFast)
            #expect(try setup.repository.history().count == 1)
        }

        @Test(
            .enabled(if: sshAvailable),
            arguments: [
                SSHKeyCase(type: .ed25519, format: .openSSH, passphrase: "right pass"),
                SSHKeyCase(type: .rsa, format: .pem, passphrase: "right pass"),
                SSHKeyCase(type: .rsa, format: .openSSH, passphrase: "right pass"),
                SSHKeyCase(type: .rsa, format: .pkcs8, passphrase: "right pass"),
            ])
        func aWrongPassphraseFailsAtOnce(_ c: SSHKeyCase) throws {
            let setup = try SSHSetup("ssh-wrong-pass")
            let key = try setup.authorizedKey(c.type, format: c.format, passphrase: c.passphrase)
            let (result, elapsed) = try timed {
                try setup.harness.out(["acquire": true], source: keySource(key, passphrase: "wrong pass"))
            }
            // OpenSSH's words about the key it cannot decrypt; lockpool never quotes the key or the passphrase.
            failed(result, "private_key could not be loaded: incorrect passphrase supplied to decrypt private key")
            #expect(!result.stderr.contains("wrong pass") && !result.stderr.contains("right pass"))
            #expect(elapsed < failFast)
            #expect(try setup.repository.history().count == 1)
        }

        /// Without `HOME`, libgit2 1.5 cannot expand `~/.ssh/known_hosts`; lockpool gives it a private empty one, so
        /// ssh works in an environment without `HOME` too (fixed in 7af5665; before, every ssh connection failed with
        /// `network error: error loading known_hosts:` after five retries).
        @Test(.enabled(if: sshAvailable))
        func sshWorksWithoutHOME() throws {
            let setup = try SSHSetup("ssh-no-home")
            let key = try setup.authorizedKey()
            var harness = setup.harness
            harness.environment["HOME"] = nil
            // `timeout` bounds the retries should it fail again.
            let (result, elapsed) = try timed {
                try harness.out(["claim": "env-1", "timeout": "5s"], source: keySource(key))
            }
            try succeeded(result, lock: "env-1")
            #expect(elapsed < failFast)
        }

        @Test(
            .enabled(if: sshAvailable),
            arguments: [
                SSHKeyCase(type: .ed25519, format: .openSSH, passphrase: "p"),
                SSHKeyCase(type: .rsa, format: .pem, passphrase: "p"),
                SSHKeyCase(type: .rsa, format: .openSSH, passphrase: "p"),
            ])
        func aMissingPassphraseFailsAtOnce(_ c: SSHKeyCase) throws {
            let setup = try SSHSetup("ssh-no-pass")
            let key = try setup.authorizedKey(c.type, format: c.format, passphrase: "a passphrase")
            for source in [
                ["private_key": .string(key.privateKey)],
                ["private_key": .string(key.privateKey), "private_key_passphrase": ""],
            ] as [[String: JSONValue]] {
                let (result, elapsed) = try timed { try setup.harness.check(version: nil, source: source) }
                failed(result, "Private key has a passphrase but private_key_passphrase has not been set.")
                #expect(elapsed < failFast)
            }
        }

        @Test(.enabled(if: sshAvailable))
        func anUnusablePrivateKeyIsNamedButNotQuoted() throws {
            let setup = try SSHSetup("ssh-bad-key")
            let result = try setup.harness.check(version: nil, source: ["private_key": "not-a-key-at-all"])
            failed(result, "private_key could not be loaded: not a PEM or OpenSSH private key (no BEGIN/END lines)")
            #expect(!result.stderr.contains("not-a-key-at-all"))
        }

        /// A default OpenSSH server refuses SHA-1 RSA signatures (`ssh-rsa`); OpenSSH's client signs with
        /// `rsa-sha2-512`, which the server's log names (docs/decisions/0010-openssh-transport.md).
        @Test(.enabled(if: sshAvailable))
        func anRSAKeySignsWithSHA2() throws {
            let setup = try SSHSetup("ssh-rsa-sha2")
            let key = try setup.authorizedKey(.rsa, format: .pem)
            try setup.harness.checkWorks(source: keySource(key))
            #expect(setup.server.log.contains("Accepted publickey for \(setup.server.user)"), "\(setup.server.log)")
            #expect(setup.server.log.contains("RSA SHA256:"), "\(setup.server.log)")
            #expect(!setup.server.log.contains("not in PubkeyAcceptedAlgorithms"), "\(setup.server.log)")
        }
    }
}

// MARK: - known_hosts

/// A `known_hosts` variant and what it leads to.
struct KnownHostsCase: Sendable, CustomTestStringConvertible {
    enum Entry: String, Sendable { case right, rightHashed, wrongKey, otherHost, otherPort }
    let entry: Entry
    /// The error reason, with `HOST` for `[127.0.0.1]:PORT`; nil when the step works.
    let failure: String?

    var testDescription: String { "\(entry.rawValue) → \(failure ?? "works")" }
}

extension TransportTests {
    @Suite(.serialized)
    struct KnownHosts {
        @Test(
            .enabled(if: sshAvailable),
            arguments: [
                KnownHostsCase(entry: .right, failure: nil),
                KnownHostsCase(entry: .rightHashed, failure: nil),
                KnownHostsCase(entry: .wrongKey, failure: "host key for HOST does not match known_hosts"),
                KnownHostsCase(entry: .otherHost, failure: "host key for HOST is not in known_hosts"),
                KnownHostsCase(entry: .otherPort, failure: "host key for HOST is not in known_hosts"),
            ])
        func hostKeysAreCheckedAgainstKnownHosts(_ c: KnownHostsCase) throws {
            let setup = try SSHSetup("known-hosts")
            let key = try setup.authorizedKey()
            let server = setup.server
            let knownHosts: String
            switch c.entry {
            case .right: knownHosts = try server.knownHosts()
            case .rightHashed:
                knownHosts = try server.knownHosts(hashed: true)
                #expect(!knownHosts.contains("127.0.0.1"))
            case .wrongKey:
                let impostors = [
                    try SSHKeys.generate(.ed25519, comment: "impostor", scratch: setup.scratch),
                    try SSHKeys.generate(.rsa, comment: "impostor", scratch: setup.scratch),
                ]
                knownHosts = impostors.map {
                    SSHKeys.knownHostsLine(host: "127.0.0.1", port: server.port, publicKey: $0.publicKey) + "\n"
                }.joined()
            case .otherHost: knownHosts = try server.knownHosts(host: "127.0.0.2")
            case .otherPort:
                knownHosts =
                    server.hostPublicKeys.map {
                        SSHKeys.knownHostsLine(host: "127.0.0.1", port: server.port + 1, publicKey: $0) + "\n"
                    }.joined() + "github.com \(server.hostKeys[0].publicKeyBlob)\n"
            }
            var source = keySource(key)
            source["known_hosts"] = .string(knownHosts)
            let (result, elapsed) = try timed {
                try setup.harness.out(["acquire": true, "timeout": "20s"], source: source, timeout: .seconds(30))
            }
            if let failure = c.failure {
                failed(result, failure.replacingOccurrences(of: "HOST", with: "[127.0.0.1]:\(server.port)"))
                #expect(elapsed < failFast)
                #expect(try setup.repository.history().count == 1)
                let check = try setup.harness.check(version: nil, source: source)
                failed(check, failure.replacingOccurrences(of: "HOST", with: "[127.0.0.1]:\(server.port)"))
            } else {
                try succeeded(result, lock: "env-1")
                try setup.harness.checkWorks(source: source)
            }
        }
    }
}

// MARK: - ssh-agent

/// An `ssh-agent -D -a <socket>` started for one test; killed by its pid when the test ends.
///
/// Spawned with `posix_spawn` and every inherited descriptor closed, not through `ExternalTool`: Foundation's
/// `Process` learns that a child exited when the child's copy of an inherited socket closes, and an agent that keeps
/// it open would make that wait forever (the same reason `LoopbackServerProcess` spawns the servers itself).
final class SSHAgent {
    let socket: String
    let pid: pid_t

    init(scratch: Scratch) throws {
        socket = scratch.url("agent-\(UUID().uuidString.prefix(4)).sock").path
        let log = scratch.url("ssh-agent.log").path
        guard let agent = ExternalTool.locate("ssh-agent") else { throw LoopbackServerError.unavailable("ssh-agent") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        if let closeFrom = Self.addCloseFrom { _ = closeFrom(&actions, 3) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        let agentPath: String = agent.path
        let argv: [String] = [agentPath, "-D", "-a", self.socket]
        let arguments = argv.map { strdup($0) } + [nil]
        let environment = ExternalTool.baseEnvironment().map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (arguments + environment).forEach { free($0) } }
        var pid = pid_t()
        let code = posix_spawn(&pid, agentPath, &actions, &attributes, arguments, environment)
        guard code == 0 else { throw LoopbackServerError.spawnFailed(server: "ssh-agent", errno: code) }
        self.pid = pid
        let deadline = ContinuousClock.now + .seconds(10)
        while !FileManager.default.fileExists(atPath: self.socket), ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    deinit {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    var environment: [String: String] {
        var environment = ExternalTool.baseEnvironment()
        environment["SSH_AUTH_SOCK"] = socket
        return environment
    }

    /// `ssh-add <key>`, retried while the agent does not accept connections yet (status 2).
    func add(_ key: SSHKey) throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            let result = try ExternalTool.result("ssh-add", [key.privateKeyPath], environment: environment)
            if result.status == 0 { return }
            if result.status != 2 || ContinuousClock.now > deadline {
                throw LoopbackServerError.unavailable("\(result)")
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// `ssh-add -L`: the public key lines the agent holds.
    func identities() throws -> String { try ExternalTool.run("ssh-add", ["-L"], environment: environment).stdout }

    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    /// glibc's `posix_spawn_file_actions_addclosefrom_np`, which Swift does not import.
    private static let addCloseFrom: CloseFrom? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "posix_spawn_file_actions_addclosefrom_np")
        else { return nil }
        return unsafeBitCast(symbol, to: CloseFrom.self)
    }()
}

extension TransportTests {
    @Suite(.serialized)
    struct Agent {
        @Test(.enabled(if: agentAvailable))
        func theAgentAtSSHAuthSockLogsInWithoutAPrivateKey() throws {
            let setup = try SSHSetup("ssh-agent")
            let key = try setup.authorizedKey()
            let agent = try SSHAgent(scratch: setup.scratch)
            try agent.add(key)
            var harness = setup.harness
            harness.environment["SSH_AUTH_SOCK"] = agent.socket
            try harness.checkWorks(source: [:])
            try harness.outWorks(["acquire": true], lock: "env-1", source: [:])
            try harness.stepDirectory("release", lock: "env-1")
            try harness.outWorks(["release": "release"], lock: "env-1", source: [:])
            #expect(try setup.repository.locks(in: "envs") == PoolLocks(claimed: ["env-2"], unclaimed: ["env-1"]))

            // lockpool only used the agent: the identity is still there, and no key file appeared in TMPDIR.
            #expect(try agent.identities().contains(key.publicKeyBlob))
            let leftovers =
                FileManager.default.enumerator(atPath: harness.executables.temporaryDirectory.path)?
                .compactMap { $0 as? String }.filter { $0.contains("id_") } ?? []
            #expect(leftovers.isEmpty)

            // An agent holding no accepted key is refused at once, and named.
            let other = try SSHAgent(scratch: setup.scratch)
            try other.add(try SSHKeys.generate(.ed25519, scratch: setup.scratch))
            harness.environment["SSH_AUTH_SOCK"] = other.socket
            let (refused, elapsed) = try timed { try harness.check(version: nil, source: [:]) }
            failed(refused, "authentication failed for \(setup.uri) (ssh-agent identities for user 'root' refused)")
            #expect(elapsed < failFast)
            withExtendedLifetime(setup) {}
        }
    }
}

// MARK: - HTTP(S)

/// A scratch directory with the seeded lock repository served by lighttpd (TLS and basic auth by default).
private struct HTTPSetup {
    static let user = "alice"
    static let password = "http-pass:w/rd 42"

    let scratch: Scratch
    let repository: LockRepository
    let server: HTTPSGitServer
    let harness: ResourceHarness

    /// The host name in the URI: `localhost` or `127.0.0.1` (lockpool verifies an IP subjectAltName itself where
    /// mbedTLS matches DNS names only; see `aTestCACertificateIsTrustedOnlyWhenConfigured`).
    let host: String

    init(
        _ label: String, tls: Bool = true, authenticated: Bool = true, uriUser: Bool = false,
        host: String = "localhost", certificate: HTTPSGitServer.CertificateNames = .init(), onlyFrom: String? = nil
    ) throws {
        self.host = host
        scratch = try Scratch(label: label)
        repository = try LockRepository.create(in: scratch, pools: ["envs": seedLocks])
        server = try HTTPSGitServer(
            scratch: scratch, tls: tls, user: authenticated ? Self.user : nil,
            password: authenticated ? Self.password : nil, certificate: certificate, onlyFrom: onlyFrom)
        let url =
            uriUser
            ? server.url(for: repository, user: Self.user, password: Self.password) : server.url(for: repository)
        harness = try ResourceHarness(
            scratch: scratch, repository: repository, pool: "envs",
            uri: url.replacingOccurrences(of: "127.0.0.1:", with: "\(host):"))
    }

    /// The URL without userinfo.
    var plainURI: String { server.url(for: repository).replacingOccurrences(of: "127.0.0.1:", with: "\(host):") }

    /// `git_config` trusting the test CA.
    var trustCA: [String: JSONValue] {
        ["git_config": [["name": "http.sslCAInfo", "value": .string(server.caCertificatePath ?? "")]]]
    }

    /// `username`/`password` plus the CA.
    var credentials: [String: JSONValue] {
        trustCA.merging(["username": .string(Self.user), "password": .string(Self.password)]) { $1 }
    }
}

/// A certificate setting and whether the step works with it.
struct CertificateCase: Sendable, CustomTestStringConvertible {
    let name: String
    let source: [String: JSONValue]
    let trusted: Bool
    var host = "127.0.0.1"
    /// The server certificate: the test CA's for `127.0.0.1` and `localhost` by default.
    var certificate = HTTPSGitServer.CertificateNames()
    var certificateName = "IP:127.0.0.1, DNS:localhost"
    var testDescription: String {
        "\(certificateName) · \(name) @\(host) → \(trusted ? "works" : "not trusted")"
    }
}

/// The test CA's certificate for `127.0.0.1` only (an IP subjectAltName, no DNS name).
private let ipOnly = HTTPSGitServer.CertificateNames(ipAddresses: ["127.0.0.1"], dnsNames: [])
/// The test CA's certificate for another address.
private let otherAddress = HTTPSGitServer.CertificateNames(ipAddresses: ["127.0.0.2"], dnsNames: [])
/// A self-signed certificate for `127.0.0.1`.
private let selfSigned = HTTPSGitServer.CertificateNames(ipAddresses: ["127.0.0.1"], dnsNames: [], selfSigned: true)

extension TransportTests {
    @Suite(.serialized)
    struct HTTPS {
        @Test(.enabled(if: httpsAvailable))
        func basicAuthWithTheRightPasswordWorks() throws {
            let setup = try HTTPSetup("https-auth")
            let harness = setup.harness
            try harness.checkWorks(source: setup.credentials)
            try harness.outWorks(["acquire": true], lock: "env-1", source: setup.credentials)
            try harness.stepDirectory("release", lock: "env-1")
            try harness.outWorks(["release": "release"], lock: "env-1", source: setup.credentials)
            #expect(try setup.repository.locks(in: "envs") == PoolLocks(claimed: ["env-2"], unclaimed: ["env-1"]))
        }

        @Test(.enabled(if: httpsAvailable))
        func aWrongPasswordFailsAtOnce() throws {
            let setup = try HTTPSetup("https-wrong")
            var source = setup.credentials
            source["password"] = "not the password"
            let (result, elapsed) = try timed { try setup.harness.out(["acquire": true], source: source) }
            failed(
                result, "authentication failed for \(setup.plainURI) (username and password for user 'alice' refused)")
            #expect(elapsed < failFast)
            #expect(!result.stderr.contains("not the password"))
            let (check, checkElapsed) = try timed { try setup.harness.check(version: nil, source: source) }
            failed(
                check, "authentication failed for \(setup.plainURI) (username and password for user 'alice' refused)")
            #expect(checkElapsed < failFast)
            #expect(try setup.repository.history().count == 1)

            // No credential at all: said so.
            let anonymous = try setup.harness.check(version: nil, source: setup.trustCA)
            failed(
                anonymous,
                "authentication failed for \(setup.plainURI) (no credential to offer: set private_key, username and "
                    + "password, or SSH_AUTH_SOCK)")
        }

        @Test(.enabled(if: httpsAvailable))
        func credentialsInTheURIWorkAndAreNeverShown() throws {
            let setup = try HTTPSetup("https-userinfo", uriUser: true)
            let harness = setup.harness
            #expect(harness.uri.contains("alice:"))
            let encodedPassword = String(harness.uri.split(separator: "@")[0].split(separator: ":").last ?? "")
            var results: [ExecutableResult] = []
            let check = try harness.check(version: nil, source: setup.trustCA)
            #expect(check.status == 0, "\(check)")
            results.append(check)
            var acquire = try harness.out(["acquire": true], source: setup.trustCA)
            try succeeded(acquire, lock: "env-1")
            results.append(acquire)
            let ref = try acquire.response().version.ref
            let got = try harness.get(
                version: ref, into: harness.sourceDirectory.appendingPathComponent("lock"), source: setup.trustCA)
            try succeeded(got, lock: "env-1")
            results.append(got)
            acquire = try harness.out(["release": "lock"], source: setup.trustCA)
            try succeeded(acquire, lock: "env-1")
            results.append(acquire)

            // A wrong password in the URI: the URI is shown without userinfo.
            let wrong = try ResourceHarness(
                scratch: setup.scratch, repository: setup.repository, pool: "envs",
                uri: setup.server.url(for: setup.repository, user: "alice", password: "uri-wrong-pw")
                    .replacingOccurrences(of: "127.0.0.1:", with: "localhost:"))
            let (refused, elapsed) = try timed { try wrong.check(version: nil, source: setup.trustCA) }
            failed(
                refused, "authentication failed for \(setup.plainURI) (username and password for user 'alice' refused)")
            #expect(elapsed < failFast)
            results.append(refused)

            for result in results {
                for secret in [HTTPSetup.password, encodedPassword, "uri-wrong-pw", "alice:", "alice@"] {
                    #expect(!result.stdoutText.contains(secret), "\(result)")
                    #expect(!result.stderr.contains(secret), "\(result)")
                }
            }
            let config = try String(
                contentsOf: setup.repository.url.appendingPathComponent("config"), encoding: .utf8)
            #expect(!config.contains(HTTPSetup.password) && !config.contains(encodedPassword))
        }

        @Test(
            .enabled(if: httpsAvailable),
            arguments: [
                CertificateCase(name: "no setting", source: [:], trusted: false),
                CertificateCase(
                    name: "skip_ssl_verification false", source: ["skip_ssl_verification": false], trusted: false),
                CertificateCase(name: "skip_ssl_verification", source: ["skip_ssl_verification": true], trusted: true),
                CertificateCase(
                    name: "skip_ssl_verification \"true\"", source: ["skip_ssl_verification": "true"], trusted: true),
                CertificateCase(name: "http.sslCAInfo", source: ["git_config": "CA"], trusted: true, host: "localhost"),
                CertificateCase(name: "http.sslCAInfo", source: ["git_config": "CA"], trusted: true),
                CertificateCase(
                    name: "http.sslVerify false",
                    source: ["git_config": [["name": "http.sslVerify", "value": "false"]]],
                    trusted: true),
                // mbedTLS 2.28 matches DNS names only; lockpool verifies an IP subjectAltName itself.
                CertificateCase(
                    name: "http.sslCAInfo", source: ["git_config": "CA"], trusted: true, certificate: ipOnly,
                    certificateName: "IP:127.0.0.1 only"),
                CertificateCase(
                    name: "http.sslCAInfo", source: ["git_config": "CA"], trusted: false, certificate: otherAddress,
                    certificateName: "IP:127.0.0.2 only"),
                CertificateCase(
                    name: "no setting", source: [:], trusted: false, certificate: ipOnly,
                    certificateName: "IP:127.0.0.1 only"),
                CertificateCase(
                    name: "http.sslCAInfo", source: ["git_config": "CA"], trusted: false, certificate: selfSigned,
                    certificateName: "self-signed IP:127.0.0.1"),
                CertificateCase(
                    name: "no setting", source: [:], trusted: false, certificate: selfSigned,
                    certificateName: "self-signed IP:127.0.0.1"),
                CertificateCase(
                    name: "skip_ssl_verification", source: ["skip_ssl_verification": true], trusted: true,
                    certificate: selfSigned, certificateName: "self-signed IP:127.0.0.1"),
            ])
        func aTestCACertificateIsTrustedOnlyWhenConfigured(_ c: CertificateCase) throws {
            let setup = try HTTPSetup("https-tls", authenticated: false, host: c.host, certificate: c.certificate)
            var source = c.source
            if source["git_config"] == "CA" { source = setup.trustCA }
            let (result, elapsed) = try timed { try setup.harness.check(version: nil, source: source) }
            if c.trusted {
                // check, out (acquire) and in, each a connection of its own.
                #expect(result.status == 0, "\(result)")
                #expect(try result.versions() == [try setup.repository.commitID()])
                let acquired = try setup.harness.outWorks(["acquire": true], lock: "env-1", source: source)
                let destination = setup.harness.sourceDirectory.appendingPathComponent("lock", isDirectory: true)
                let got = try setup.harness.get(
                    version: acquired.version.ref, into: destination, source: source, timeout: .seconds(30))
                try succeeded(got, lock: "env-1")
            } else {
                failed(
                    result,
                    "the TLS certificate of 127.0.0.1 is not trusted; set skip_ssl_verification, or git_config "
                        + "http.sslCAInfo to the certificate authority's file")
                #expect(elapsed < failFast)
                let out = try setup.harness.out(["acquire": true], source: source)
                #expect(out.status == 1 && out.stdout.isEmpty, "\(out)")
                #expect(try setup.repository.history().count == 1)
            }
        }

        @Test(.enabled(if: httpAvailable))
        func plainHTTPWorks() throws {
            let setup = try HTTPSetup("http-plain", tls: false, authenticated: false, host: "127.0.0.1")
            #expect(setup.harness.uri.hasPrefix("http://127.0.0.1:"))
            try setup.harness.checkWorks(source: [:])
            try setup.harness.outWorks(["acquire": true], lock: "env-1", source: [:])
            try setup.harness.stepDirectory("release", lock: "env-1")
            try setup.harness.outWorks(["release": "release"], lock: "env-1", source: [:])
            #expect(try setup.repository.locks(in: "envs") == PoolLocks(claimed: ["env-2"], unclaimed: ["env-1"]))
        }

        @Test(.enabled(if: httpsAvailable && proxyAvailable))
        func httpProxyCarriesHTTPSThroughTheProxy() throws {
            let setup = try HTTPSetup("https-proxy")
            let proxy = try ConnectProxy(scratch: setup.scratch)
            var source = setup.credentials
            source["git_config"] = [
                ["name": "http.sslCAInfo", "value": .string(setup.server.caCertificatePath ?? "")],
                ["name": "http.proxy", "value": .string("http://127.0.0.1:\(proxy.port)")],
            ]
            try setup.harness.checkWorks(source: source)
            try setup.harness.outWorks(["acquire": true], lock: "env-1", source: source)
            #expect(proxy.log.contains("CONNECT localhost:\(setup.server.port)"), "\(proxy.log)")

            // A proxy that is down is named as the proxy.
            proxy.stop()
            let down = try setup.harness.check(version: nil, source: source, timeout: .seconds(60))
            #expect(down.status == 1, "\(down)")
            #expect(
                down.stderr.contains("failed to connect to proxy 127.0.0.1:\(proxy.port): Connection refused"),
                "\(down)")
        }

        /// The server serves only requests from 127.0.0.2, the address the proxy connects from, so a step that works
        /// went through the proxy; a direct one gets 403.
        @Test(.enabled(if: httpAvailable && proxyAvailable), arguments: [false, true])
        func httpProxyCarriesPlainHTTP(withCredentials: Bool) throws {
            let setup = try HTTPSetup(
                "http-proxy", tls: false, authenticated: false, host: "127.0.0.1", onlyFrom: "127.0.0.2")
            let (user, password) = ("proxy-user", "proxy.pass-42")
            let proxy = try ConnectProxy(
                scratch: setup.scratch, user: withCredentials ? user : nil, password: withCredentials ? password : nil,
                outgoingAddress: "127.0.0.2")
            let userinfo = withCredentials ? "\(user):\(password)@" : ""
            let source: [String: JSONValue] = [
                "git_config": [["name": "http.proxy", "value": .string("http://\(userinfo)127.0.0.1:\(proxy.port)")]]
            ]
            let direct = try setup.harness.check(version: nil, source: [:])
            #expect(direct.status == 1 && direct.stderr.contains("403"), "\(direct)")

            try setup.harness.exerciseEveryOperation(source: source)
            let log = proxy.log
            let origin = "http://127.0.0.1:\(setup.server.port)/git/"
            #expect(log.contains("GET \(origin)"), "\(log)")
            #expect(log.contains("POST \(origin)"), "\(log)")
            // lighttpd's access log starts each line with the client's address: the proxy's. lighttpd writes that log
            // in batches, so it may trail the requests by a moment.
            let deadline = Date().addingTimeInterval(5)
            while !setup.server.log.contains("\n127.0.0.2 "), Date() < deadline { usleep(50_000) }
            #expect(setup.server.log.contains("\n127.0.0.2 "), "\(setup.server.log)")

            var results: [ExecutableResult] = [direct]
            if withCredentials {
                // Without credentials, or with wrong ones, the proxy refuses at once.
                let withoutCredentials: [String: JSONValue] = [
                    "git_config": [["name": "http.proxy", "value": .string("http://127.0.0.1:\(proxy.port)")]]
                ]
                let (missing, elapsed) = try timed { try setup.harness.check(version: nil, source: withoutCredentials) }
                #expect(missing.status == 1, "\(missing)")
                failed(
                    missing,
                    "authentication failed for \(setup.plainURI): proxy 127.0.0.1:\(proxy.port) requires "
                        + "authentication: give the user and password in git_config http.proxy "
                        + "(http://user:password@host:port)")
                #expect(elapsed < failFast)
                let wrong: [String: JSONValue] = [
                    "git_config": [
                        ["name": "http.proxy", "value": .string("http://\(user):wrong.pass@127.0.0.1:\(proxy.port)")]
                    ]
                ]
                let (refused, refusedElapsed) = try timed { try setup.harness.check(version: nil, source: wrong) }
                // tinyproxy answers wrong credentials with 401 (its own WWW-Authenticate), which libgit2 takes for the
                // server's challenge: lockpool fails at once, though the message names the server.
                #expect(refused.status == 1, "\(refused)")
                #expect(refusedElapsed < failFast)
                results += [missing, refused]
            }

            proxy.stop()
            let (down, elapsed) = try timed {
                try setup.harness.out(["acquire": true, "timeout": "3s"], source: source)
            }
            #expect(down.status == 1, "\(down)")
            #expect(
                down.stderr.contains("failed to connect to proxy 127.0.0.1:\(proxy.port): Connection refused"),
                "\(down)")
            #expect(elapsed < .seconds(30))
            results.append(down)
            for result in results {
                #expect(!result.stderr.contains(password) && !result.stdoutText.contains(password), "\(result)")
                #expect(!result.stderr.contains("wrong.pass"), "\(result)")
            }
        }
    }
}

// MARK: - https_tunnel

extension TransportTests {
    @Suite(.serialized)
    struct Tunnel {
        @Test(.enabled(if: sshAvailable && proxyAvailable))
        func sshGoesThroughAnOpenProxy() throws {
            let setup = try SSHSetup("tunnel-open")
            let key = try setup.authorizedKey()
            let proxy = try ConnectProxy(scratch: setup.scratch)
            var source = keySource(key)
            source["https_tunnel"] = ["proxy_host": "127.0.0.1", "proxy_port": .integer(proxy.port)]
            let via = "Via 127.0.0.1:\(proxy.port) -> 127.0.0.1:\(setup.server.port)"

            let check = try setup.harness.check(version: nil, source: source)
            #expect(check.status == 0, "\(check)")
            #expect(check.stderrLines.contains(via), "\(check)")
            let acquire = try setup.harness.out(["acquire": true], source: source)
            try succeeded(acquire, lock: "env-1")
            #expect(acquire.stderrLines.contains(via), "\(acquire)")
            #expect(proxy.log.contains("CONNECT 127.0.0.1:\(setup.server.port)"), "\(proxy.log)")

            // The port as a string works too.
            source["https_tunnel"] = ["proxy_host": "127.0.0.1", "proxy_port": .string(String(proxy.port))]
            let again = try setup.harness.check(version: nil, source: source)
            #expect(again.status == 0 && again.stderrLines.contains(via), "\(again)")
        }

        @Test(.enabled(if: sshAvailable && proxyAvailable))
        func aProxyWithAuthenticationNeedsTheRightCredentials() throws {
            let setup = try SSHSetup("tunnel-auth")
            let key = try setup.authorizedKey()
            let proxy = try ConnectProxy(scratch: setup.scratch, user: "tunnel-user", password: "tunnel.pass-1")
            let tunnel: [String: JSONValue] = ["proxy_host": "127.0.0.1", "proxy_port": .integer(proxy.port)]
            let refusal =
                "https_tunnel proxy 127.0.0.1:\(proxy.port) refused the tunnel: HTTP return code: "
                + "407 Proxy Authentication Required"

            var source = keySource(key)
            source["https_tunnel"] = .object(
                tunnel.merging(["proxy_user": "tunnel-user", "proxy_password": "tunnel.pass-1"]) { $1 })
            let acquire = try setup.harness.out(["acquire": true], source: source)
            try succeeded(acquire, lock: "env-1")
            #expect(acquire.stderrLines.contains("Via 127.0.0.1:\(proxy.port) -> 127.0.0.1:\(setup.server.port)"))

            source["https_tunnel"] = .object(tunnel)
            let (missing, elapsed) = try timed { try setup.harness.check(version: nil, source: source) }
            failed(missing, refusal)
            #expect(elapsed < failFast)

            source["https_tunnel"] = .object(
                tunnel.merging(["proxy_user": "tunnel-user", "proxy_password": "wrong.pass"]) { $1 })
            let (wrong, wrongElapsed) = try timed { try setup.harness.out(["claim": "env-1"], source: source) }
            // tinyproxy answers wrong credentials with 401; lockpool quotes whatever status line the proxy sends.
            failed(
                wrong,
                "https_tunnel proxy 127.0.0.1:\(proxy.port) refused the tunnel: HTTP return code: 401 Unauthorized")
            #expect(wrongElapsed < failFast)
            #expect(!wrong.stderr.contains("wrong.pass") && !wrong.stderr.contains("tunnel.pass-1"))
            #expect(try setup.repository.history().count == 2)
        }

        @Test(.enabled(if: gitAvailable && proxyAvailable))
        func gitDaemonGoesThroughTheTunnel() throws {
            let scratch = try Scratch(label: "tunnel-git")
            let repository = try LockRepository.create(in: scratch, pools: ["envs": seedLocks])
            let daemon = try GitDaemon(scratch: scratch)
            let proxy = try ConnectProxy(scratch: scratch)
            let harness = try ResourceHarness(
                scratch: scratch, repository: repository, pool: "envs", uri: daemon.url(for: repository))
            let source: [String: JSONValue] = [
                "https_tunnel": ["proxy_host": "127.0.0.1", "proxy_port": .integer(proxy.port)]
            ]
            let via = "Via 127.0.0.1:\(proxy.port) -> 127.0.0.1:\(daemon.port)"
            let check = try harness.check(version: nil, source: source)
            #expect(check.status == 0 && check.stderrLines.contains(via), "\(check)")
            let acquire = try harness.out(["acquire": true], source: source)
            try succeeded(acquire, lock: "env-1")
            #expect(acquire.stderrLines.contains(via), "\(acquire)")
            #expect(try repository.locks(in: "envs") == PoolLocks(claimed: ["env-1", "env-2"], unclaimed: []))
            #expect(proxy.log.contains("CONNECT 127.0.0.1:\(daemon.port)"), "\(proxy.log)")
        }

        /// On a libgit2 other than the release whose private stream layout lockpool copies (1.8), lockpool's stream
        /// is not used: git:// works through libgit2's own stream, and `https_tunnel` fails at once with a clear
        /// error before anything reaches the proxy (docs/decisions/0007-connect-tunnel-stream.md). The other release
        /// is simulated by an `LD_PRELOAD` library whose `git_libgit2_version` reports 1.9.0. An executable that links
        /// libgit2 statically (the default, docs/decisions/0013-cold-process.md) always runs the release it was built
        /// with: the preloaded version never reaches it, and the tunnel works.
        @Test(.enabled(if: gitAvailable && proxyAvailable && ExternalTool.areAvailable("cc")))
        func anotherLibgit2ReleaseRefusesTheTunnelOrNeverReachesAStaticBuild() throws {
            let scratch = try Scratch(label: "tunnel-version")
            let repository = try LockRepository.create(in: scratch, pools: ["envs": seedLocks])
            let daemon = try GitDaemon(scratch: scratch)
            let proxy = try ConnectProxy(scratch: scratch)
            let shim = try scratch.directory("libgit2-version")
            let code = shim.appendingPathComponent("version.c")
            let reports190 =
                "int git_libgit2_version(int *major, int *minor, int *rev) {\n"
                + "    *major = 1; *minor = 9; *rev = 0; return 0;\n}\n"
            try Data(reports190.utf8).write(to: code)
            let library = shim.appendingPathComponent("libversion.so")
            try ExternalTool.run("cc", ["-shared", "-fPIC", "-o", library.path, code.path])
            var harness = try ResourceHarness(
                scratch: scratch, repository: repository, pool: "envs", uri: daemon.url(for: repository))
            harness.environment["LD_PRELOAD"] = library.path
            harness.environment["LD_DEBUG"] = "files"

            let direct = try harness.check(version: nil)
            #expect(direct.status == 0 && direct.stdoutText.contains("\"ref\""), "\(direct)")
            harness.environment["LD_DEBUG"] = nil
            let source: [String: JSONValue] = [
                "https_tunnel": ["proxy_host": "127.0.0.1", "proxy_port": .integer(proxy.port)]
            ]
            guard direct.stderr.contains("file=libgit2") else {
                let tunnelled = try harness.out(["acquire": true], source: source)
                try succeeded(tunnelled, lock: "env-1")
                #expect(proxy.log.contains("CONNECT 127.0.0.1:\(daemon.port)"), "\(proxy.log)")
                return
            }
            let refused = try harness.out(["acquire": true], source: source)
            #expect(refused.status == 1)
            #expect(
                refused.lastStderrLine
                    == "error: could not set up https_tunnel: lockpool's tunnel copies a private stream layout of "
                    + "libgit2 1.8, and this process runs libgit2 1.9.0", "\(refused)")
            #expect(!proxy.log.contains("CONNECT 127.0.0.1:\(daemon.port)"), "\(proxy.log)")
            #expect(try repository.locks(in: "envs") == PoolLocks(claimed: ["env-2"], unclaimed: ["env-1"]))
        }

        @Test(.enabled(if: httpAvailable && proxyAvailable))
        func anHTTPSRemoteWarnsThatTheTunnelDoesNotApply() throws {
            let setup = try HTTPSetup("tunnel-https", authenticated: false)
            let proxy = try ConnectProxy(scratch: setup.scratch)
            var source = setup.trustCA
            source["https_tunnel"] = ["proxy_host": "127.0.0.1", "proxy_port": .integer(proxy.port)]
            let warning =
                "warning: https_tunnel has no effect for http(s) and local remotes; use git_config http.proxy instead"
            let check = try setup.harness.check(version: nil, source: source)
            #expect(check.status == 0, "\(check)")
            #expect(check.stderrLines.contains(warning), "\(check)")
            #expect(!check.stderr.contains("Via "))
            let acquire = try setup.harness.out(["acquire": true], source: source)
            try succeeded(acquire, lock: "env-1")
            #expect(acquire.stderrLines.contains(warning), "\(acquire)")
            #expect(!proxy.log.contains("Request ("), "\(proxy.log)")
        }
    }
}

// MARK: - git_config

extension TransportTests {
    @Suite(.serialized)
    struct GitConfig {
        @Test(.enabled(if: gitAvailable))
        func userNameAndEmailAreTheCommitIdentity() throws {
            let scratch = try Scratch(label: "git-config-user")
            let repository = try LockRepository.create(in: scratch, pools: ["envs": seedLocks])
            let harness = try ResourceHarness(scratch: scratch, repository: repository, pool: "envs")
            let source: [String: JSONValue] = [
                "git_config": [
                    ["name": "user.name", "value": "Deploy Bot"],
                    ["name": "user.email", "value": "deploy-bot@ci.example.com"],
                ]
            ]
            try harness.outWorks(["acquire": true], lock: "env-1", source: source)
            let tip = try repository.commit()
            #expect(tip.authorName == "Deploy Bot" && tip.authorEmail == "deploy-bot@ci.example.com")
            #expect(tip.committerName == "Deploy Bot" && tip.committerEmail == "deploy-bot@ci.example.com")
        }

        @Test(.enabled(if: gitAvailable))
        func anUnknownKeyWarnsAndChangesNothing() throws {
            let scratch = try Scratch(label: "git-config-unknown")
            let repository = try LockRepository.create(in: scratch, pools: ["envs": seedLocks])
            let harness = try ResourceHarness(scratch: scratch, repository: repository, pool: "envs")
            let source: [String: JSONValue] = [
                "git_config": [["name": "credential.helper", "value": "store --file /nonexistent"]]
            ]
            let warning = "warning: git_config key 'credential.helper' has no effect in lockpool"
            let result = try harness.out(["acquire": true], source: source)
            try succeeded(result, lock: "env-1")
            #expect(result.stderrLines.contains(warning), "\(result)")
            let check = try harness.check(version: nil, source: source)
            #expect(check.status == 0 && check.stderrLines.contains(warning), "\(check)")
        }

        @Test(.enabled(if: gitAvailable))
        func insteadOfRewritesTheURIToTheRightRepository() throws {
            let scratch = try Scratch(label: "git-config-insteadof")
            let repository = try LockRepository.create(in: scratch, pools: ["envs": seedLocks])
            // A decoy with the same pool: without rewriting, the step would work on it.
            let decoy = try LockRepository.create(in: scratch, name: "decoy.git", pools: ["envs": seedLocks])
            let harness = try ResourceHarness(
                scratch: scratch, repository: repository, pool: "envs", uri: "git@git.example.invalid:ops/locks.git")
            let source: [String: JSONValue] = [
                "git_config": [
                    ["name": .string("url.\(decoy.fileURL).insteadOf"), "value": "git@git.example.invalid:"],
                    [
                        "name": .string("url.\(repository.fileURL).insteadOf"),
                        "value": "git@git.example.invalid:ops/locks.git",
                    ],
                ]
            ]
            let decoyTip = try decoy.commitID()
            let acquired = try harness.outWorks(["acquire": true], lock: "env-1", source: source)
            #expect(try repository.commitID() == acquired.version.ref)
            #expect(try decoy.commitID() == decoyTip)
            let versions = try harness.checkWorks(source: source)
            #expect(versions.last == acquired.version.ref)
        }

        @Test(.enabled(if: sshAvailable))
        func insteadOfCanTurnAnSCPLikeURIIntoTheSSHServer() throws {
            let setup = try SSHSetup("git-config-insteadof-ssh")
            let key = try setup.authorizedKey()
            let harness = try withHome(
                ResourceHarness(
                    scratch: setup.scratch, repository: setup.repository, pool: "envs",
                    uri: "git@github.com:ops/locks.git"))
            var source = keySource(key)
            source["git_config"] = [
                [
                    "name": .string("url.\(setup.server.url(for: setup.repository)).insteadOf"),
                    "value": "git@github.com:ops/locks.git",
                ]
            ]
            try harness.checkWorks(source: source)
            try harness.outWorks(["acquire": true], lock: "env-1", source: source)
            #expect(setup.server.log.contains("Accepted publickey for \(setup.server.user)"))
        }
    }
}
