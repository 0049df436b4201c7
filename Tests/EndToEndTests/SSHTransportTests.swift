import Foundation
import TestSupport
import Testing

/// The OpenSSH transport end to end (docs/decisions/0010-openssh-transport.md, docs/transports.md#ssh): the built
/// `check`, `in` and `out` against a stock sshd (Debian's default settings: SHA-1 RSA signatures refused), directly and
/// through the CONNECT proxy, with every key form a user may hold.
@Suite(.serialized, .timeLimit(.minutes(4)), .enabled(if: SSHServer.isAvailable && ConnectProxy.isAvailable))
struct SSHTransportTests {
    /// Every key form of the issue: RSA as PKCS#1 PEM, PKCS#8 PEM and OpenSSH format, with and without a passphrase;
    /// Ed25519; ECDSA.
    static let keyForms: [(SSHKeyType, SSHKeyFormat, String?)] = [
        (.rsa, .pem, nil), (.rsa, .pem, "pem pass"), (.rsa, .pkcs8, nil), (.rsa, .pkcs8, "pkcs8 pass"),
        (.rsa, .openSSH, nil), (.rsa, .openSSH, "openssh pass"), (.ed25519, .openSSH, nil), (.ecdsa, .pem, nil),
    ]

    struct Setup {
        let scratch: Scratch
        let repository: LockRepository
        let server: SSHServer
        var harness: ResourceHarness

        init(
            _ label: String,
            locks: [String: LockSeed] = ["env-1": .unclaimed("one\n"), "env-2": .claimed("two\n")]
        ) throws {
            scratch = try Scratch(label: label)
            repository = try LockRepository.create(in: scratch, pools: ["envs": locks])
            server = try SSHServer(scratch: scratch)
            harness = try ResourceHarness(
                scratch: scratch, repository: repository, pool: "envs", uri: server.url(for: repository))
            harness.environment["HOME"] = try scratch.directory("home").path
        }

        func key(_ type: SSHKeyType, _ format: SSHKeyFormat, _ passphrase: String?) throws -> [String: JSONValue] {
            let key = try SSHKeys.generate(type, format: format, passphrase: passphrase, scratch: scratch)
            try server.authorize(key)
            var source: [String: JSONValue] = ["private_key": .string(key.privateKey)]
            if let passphrase { source["private_key_passphrase"] = .string(passphrase) }
            return source
        }

        /// sshd's successful logins so far.
        var logins: Int { server.log.components(separatedBy: "Accepted publickey for ").count - 1 }
    }

    /// check, acquire, in at the claim, release: every form, each through the CONNECT proxy.
    @Test(arguments: 0..<keyForms.count)
    func everyKeyFormWorksThroughTheTunnel(_ index: Int) throws {
        let (type, format, passphrase) = Self.keyForms[index]
        let setup = try Setup("ssh-form-\(index)")
        let proxy = try ConnectProxy(scratch: setup.scratch)
        var source = try setup.key(type, format, passphrase)
        source["https_tunnel"] = ["proxy_host": "127.0.0.1", "proxy_port": .integer(proxy.port)]
        let harness = setup.harness

        let check = try harness.check(version: nil, source: source, timeout: .seconds(30))
        #expect(check.status == 0, "\(type) \(format): \(check)")
        let acquired = try harness.out(["acquire": true], source: source)
        try #require(acquired.status == 0, "\(type) \(format): \(acquired)")
        let version = try acquired.response().version.ref
        let got = try harness.get(
            version: version, into: harness.sourceDirectory.appendingPathComponent("lock"), source: source)
        #expect(got.status == 0, "\(got)")
        let released = try harness.out(["release": "lock"], source: source)
        #expect(released.status == 0, "\(released)")
        #expect(try setup.repository.locks(in: "envs") == PoolLocks(claimed: ["env-2"], unclaimed: ["env-1"]))
        #expect(proxy.log.contains("CONNECT 127.0.0.1:\(setup.server.port)"), "\(proxy.log)")
        // Every login went through the proxy's loopback relay, with a SHA-2 signature for RSA.
        #expect(!setup.server.log.contains("not in PubkeyAcceptedAlgorithms"), "\(setup.server.log)")
        #expect(setup.logins == 4, "\(setup.server.log)")
    }

    /// The fetch and the push of an acquire are two channels of one connection, and no ssh process outlives the step.
    @Test func anAcquireUsesOneConnectionAndLeavesNoProcess() throws {
        let setup = try Setup("ssh-one-connection")
        let source = try setup.key(.ed25519, .openSSH, nil)
        let before = setup.logins
        let acquired = try setup.harness.out(["acquire": true], source: source)
        try #require(acquired.status == 0, "\(acquired)")
        #expect(setup.logins == before + 1, "\(setup.server.log)")
        // The master (a background fork of `ssh -M`) gets SIGTERM as `out` exits; give it a moment to go.
        let directory = setup.harness.executables.temporaryDirectory
        try #require(directory.path.utf8.count <= 64, "the control socket would be made in /tmp: \(directory.path)")
        let deadline = Date().addingTimeInterval(3)
        while !Self.sshProcesses(below: directory).isEmpty, Date() < deadline { usleep(20_000) }
        #expect(Self.sshProcesses(below: directory).isEmpty)
        // The private directory (control socket, askpass) is gone too.
        let left = try FileManager.default.contentsOfDirectory(
            atPath: setup.harness.executables.temporaryDirectory.path)
        #expect(!left.contains { $0.hasPrefix("lockpool-ssh-") }, "\(left)")
    }

    /// A control socket's path holds at most 107 bytes: a long `TMPDIR` (Concourse's are short, a person's may not be)
    /// gives way to /tmp instead of failing with ssh's `too long for Unix domain socket`.
    @Test func aLongTemporaryDirectoryStillConnects() throws {
        var setup = try Setup("ssh-long-tmpdir")
        let source = try setup.key(.ed25519, .openSSH, nil)
        // 79 bytes: short enough for the first rule lockpool had (< 80), too long for the socket.
        let base = setup.harness.executables.temporaryDirectory
        try #require(base.path.utf8.count < 70)
        let long = base.appendingPathComponent(String(repeating: "t", count: 79 - base.path.utf8.count - 1))
        try FileManager.default.createDirectory(at: long, withIntermediateDirectories: true)
        setup.harness.environment["TMPDIR"] = long.path
        let before = setup.logins
        let acquired = try setup.harness.out(["acquire": true], source: source)
        #expect(acquired.status == 0 && !acquired.stderr.contains("too long"), "\(acquired)")
        #expect(setup.logins == before + 1, "\(setup.server.log)")
    }

    /// A cold cache fetches the tip and its parent over ssh too (libgit2 1.8.4's repeated shallow request is repaired
    /// on lockpool's ssh stream), and `in` at an older version deepens it.
    @Test func aColdCacheFetchesShallowOverSSH() throws {
        var setup = try Setup(
            "ssh-shallow", locks: ["env-1": .unclaimed("one\n"), "env-2": .unclaimed("two\n")])
        let source = try setup.key(.ed25519, .openSSH, nil)
        let first = try setup.harness.out(["claim": "env-1"], source: source)
        try #require(first.status == 0, "\(first)")
        let claim = try first.response().version.ref
        for index in 1...40 { _ = try setup.repository.writeFile("notes.txt", content: "note \(index)\n") }

        // A cold cache: a new TMPDIR.
        setup.harness = try ResourceHarness(
            scratch: setup.scratch, repository: setup.repository, pool: "envs", uri: setup.harness.uri,
            executables: Executables(temporaryDirectory: setup.scratch.directory("cold-tmp")))
        setup.harness.environment["HOME"] = try setup.scratch.directory("home").path
        let acquired = try setup.harness.out(["claim": "env-2"], source: source)
        #expect(acquired.status == 0, "\(acquired)")
        let shallow = Self.files(named: "shallow", below: setup.harness.executables.temporaryDirectory)
        #expect(shallow.count == 1, "the cold cache is shallow: \(shallow)")
        let roots = shallow.first.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? ""
        #expect(roots.split(separator: "\n").count == 1, "\(roots)")

        // `in` at the claim, 41 commits below the tip, deepens the same kind of cache and finds it.
        let got = try setup.harness.get(
            version: claim, into: setup.harness.sourceDirectory.appendingPathComponent("old"), source: source)
        #expect(got.status == 0, "\(got)")
    }

    /// The paths of the files called `name` below `directory`.
    static func files(named name: String, below directory: URL) -> [String] {
        let walker = FileManager.default.enumerator(atPath: directory.path)
        var found: [String] = []
        while let path = walker?.nextObject() as? String {
            if (path as NSString).lastPathComponent == name { found.append(directory.path + "/" + path) }
        }
        return found
    }

    /// `git_config` `core.sshCommand` runs instead of `ssh`, with lockpool's options, as git runs it.
    @Test func coreSSHCommandRunsInsteadOfSSH() throws {
        let setup = try Setup("ssh-command")
        var source = try setup.key(.ed25519, .openSSH, nil)
        let log = setup.scratch.url("ssh-command.log")
        let wrapper = setup.scratch.url("my-ssh")
        try "#!/bin/sh\necho \"called with $#\" >> '\(log.path)'\nexec ssh \"$@\"\n".write(
            to: wrapper, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: wrapper.path)
        source["git_config"] = [["name": "core.sshCommand", "value": .string(wrapper.path)]]
        let result = try setup.harness.check(version: nil, source: source, timeout: .seconds(30))
        #expect(result.status == 0, "\(result)")
        #expect(!result.stderr.contains("has no effect"), "\(result)")
        let calls = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        #expect(calls.contains("called with"), "\(calls)")
    }

    /// A name that does not resolve, an unknown scheme and a URL without a host fail within 2 s, with specific words.
    @Test func permanentURLProblemsFailAtOnce() throws {
        let setup = try Setup("ssh-permanent")
        let cases: [(String, String)] = [
            (
                "ssh://git@nonexistent.invalid/locks.git",
                "unknown host: failed to resolve address for nonexistent.invalid: "
            ),
            ("git@nonexistent.invalid:locks.git", "unknown host: failed to resolve address for nonexistent.invalid: "),
            ("ftp://host/locks.git", "unsupported repository URL: ftp://host/locks.git"),
            ("http:///locks.git", "unsupported repository URL: http:///locks.git"),
        ]
        for (uri, message) in cases {
            let harness = try ResourceHarness(
                scratch: setup.scratch, repository: setup.repository, pool: "envs", uri: uri)
            let started = ContinuousClock.now
            let result = try harness.out(["acquire": true], source: [:])
            #expect(ContinuousClock.now - started < .seconds(2), "\(uri)")
            #expect(result.status == 1, "\(result)")
            #expect(result.lastStderrLine?.hasPrefix("error: \(message)") == true, "\(uri): \(result)")
            #expect(!result.stderr.contains("retrying"), "\(result)")
        }
    }

    /// The pids of `ssh` processes whose command line names a control socket below `directory`.
    static func sshProcesses(below directory: URL) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { entry in
            guard Int(entry) != nil,
                let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline")
            else { return false }
            let line = String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\0", with: " ")
            return line.hasPrefix("ssh ") && line.contains(directory.path)
        }
    }
}
