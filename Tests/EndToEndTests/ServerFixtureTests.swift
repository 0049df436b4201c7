import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One key `SSHKeys.generate` makes, and the PEM header it must have.
struct KeyCase: Sendable, CustomTestStringConvertible {
    let type: SSHKeyType
    let format: SSHKeyFormat
    let passphrase: String?
    let header: String

    init(_ type: SSHKeyType, _ format: SSHKeyFormat, passphrase: String? = nil, header: String) {
        self.type = type
        self.format = format
        self.passphrase = passphrase
        self.header = header
    }

    var testDescription: String {
        "\(type.rawValue) \(format.rawValue)\(passphrase == nil ? "" : " encrypted") → BEGIN \(header)"
    }

    var publicKeyPrefix: String {
        switch type {
        case .rsa: "ssh-rsa "
        case .ecdsa: "ecdsa-sha2-nistp256 "
        case .ed25519: "ssh-ed25519 "
        }
    }
}

/// Checks the server fixtures of the transport tests (sshd, lighttpd with git-http-backend, tinyproxy) with the
/// `git`, `ssh` and `ssh-keygen` command-line tools, without the lockpool executables. Each test is skipped when
/// the server's binaries are missing; the suite runs serially since each server takes a port and processes.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct ServerFixtureTests {
    static let sshAvailable = SSHServer.isAvailable
    static let httpsAvailable = HTTPSGitServer.isAvailable(tls: true)
    static let httpAvailable = HTTPSGitServer.isAvailable(tls: false)
    static let proxyAvailable = ConnectProxy.isAvailable && SSHServer.isAvailable

    // MARK: SSH keys and known_hosts

    @Test(
        .enabled(if: SSHKeys.areAvailable),
        arguments: [
            KeyCase(.ed25519, .openSSH, header: "OPENSSH PRIVATE KEY"),
            KeyCase(.ed25519, .openSSH, passphrase: "key-pass", header: "OPENSSH PRIVATE KEY"),
            KeyCase(.rsa, .openSSH, header: "OPENSSH PRIVATE KEY"),
            KeyCase(.rsa, .pem, header: "RSA PRIVATE KEY"),
            KeyCase(.rsa, .pem, passphrase: "key-pass", header: "RSA PRIVATE KEY"),
            KeyCase(.rsa, .pkcs8, header: "PRIVATE KEY"),
            KeyCase(.rsa, .pkcs8, passphrase: "key-pass", header: "ENCRYPTED PRIVATE KEY"),
            KeyCase(.ecdsa, .pem, header: "EC PRIVATE KEY"),
            KeyCase(.ecdsa, .openSSH, header: "OPENSSH PRIVATE KEY"),
        ])
    func sshKeysComeInEveryFormat(_ c: KeyCase) throws {
        let scratch = try Scratch(label: "ssh-keys")
        let key = try SSHKeys.generate(c.type, format: c.format, passphrase: c.passphrase, scratch: scratch)
        #expect(key.privateKey.hasPrefix("-----BEGIN \(c.header)-----\n"))
        #expect(key.privateKey.hasSuffix("-----END \(c.header)-----\n"))
        #expect(key.privateKey.contains("Proc-Type: 4,ENCRYPTED") == (c.format == .pem && c.passphrase != nil))
        #expect(key.publicKey.hasPrefix(c.publicKeyPrefix))
        #expect(key.publicKey.hasSuffix(" lockpool-test"))
        #expect(key.publicKeyBlob.split(separator: " ").count == 2)
        #expect(key.algorithm + " " == c.publicKeyPrefix)
        #expect(try String(contentsOf: key.privateKeyURL, encoding: .utf8) == key.privateKey)
        #expect(!key.description.contains(key.privateKey) && !key.description.contains("key-pass"))

        // ssh-keygen derives the same public key from the private key, given the passphrase.
        let derived = try ExternalTool.run("ssh-keygen", ["-y", "-P", c.passphrase ?? "", "-f", key.privateKeyPath])
        #expect(SSHKeys.keyBlob(derived.stdout) == key.publicKeyBlob)
        if c.passphrase != nil {
            let wrong = try ExternalTool.result("ssh-keygen", ["-y", "-P", "wrong", "-f", key.privateKeyPath])
            #expect(wrong.status != 0, "\(wrong)")
        }
    }

    @Test(.enabled(if: SSHKeys.areAvailable))
    func knownHostsLinesArePlainOrHashed() throws {
        let scratch = try Scratch(label: "known-hosts")
        let key = try SSHKeys.generate(.ed25519, comment: "host key", scratch: scratch)
        let line = SSHKeys.knownHostsLine(host: "127.0.0.1", port: 2222, publicKey: key.publicKey)
        #expect(line == "[127.0.0.1]:2222 \(key.publicKeyBlob)")
        #expect(line.hasPrefix("[127.0.0.1]:2222 ssh-ed25519 AAAA"))
        #expect(
            SSHKeys.knownHostsLine(host: "git.example.com", port: 22, publicKey: key.publicKey)
                == "git.example.com \(key.publicKeyBlob)")

        let hashed = try SSHKeys.hashedKnownHosts(line, in: scratch.url)
        #expect(hashed.hasPrefix("|1|"))
        #expect(hashed.hasSuffix(" \(key.publicKeyBlob)\n"))
        #expect(!hashed.contains("127.0.0.1"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).allSatisfy { !$0.hasPrefix("known") })

        // OpenSSH finds the hashed entry under its `[host]:port` name, and only there.
        let file = try scratch.write(hashed, to: "known_hosts")
        let found = try ExternalTool.result("ssh-keygen", ["-F", "[127.0.0.1]:2222", "-f", file.path])
        #expect(found.status == 0, "\(found)")
        #expect(found.stdout.contains(key.publicKeyBlob))
        let missing = try ExternalTool.result("ssh-keygen", ["-F", "[127.0.0.1]:2223", "-f", file.path])
        #expect(missing.status != 0)
    }

    // MARK: sshd

    @Test(.enabled(if: sshAvailable))
    func sshServerServesCloneAndPush() throws {
        let scratch = try Scratch(label: "sshd")
        let repository = try LockRepository.create(in: scratch, pools: ["envs": ["env-1": .unclaimed()]])
        let client = try SSHKeys.generate(.ed25519, scratch: scratch)
        let server = try SSHServer(scratch: scratch)
        try server.authorize(client)
        #expect(server.pid > 0 && kill(server.pid, 0) == 0)
        #expect(server.hostPublicKeys.count == 2)
        #expect(server.hostPublicKeys.first?.hasPrefix("ssh-ed25519 AAAA") == true)
        #expect(server.hostPublicKeys.last?.hasPrefix("ssh-rsa AAAA") == true)
        let url = server.url(for: repository)
        #expect(url == "ssh://\(server.user)@127.0.0.1:\(server.port)\(repository.path)")

        // Strict host key checking against the server's hashed known_hosts.
        let knownHosts = try scratch.write(try server.knownHosts(hashed: true), to: "known_hosts")
        let ssh = ["GIT_SSH_COMMAND": SSHServer.sshCommand(identity: client.privateKeyURL, knownHostsFile: knownHosts)]
        let git = try GitCLI(scratch: scratch)
        let clone = scratch.url("ssh-clone")
        try git.run(["clone", "--quiet", url, clone.path], extraEnvironment: ssh, timeout: .seconds(10))
        #expect(FileManager.default.fileExists(atPath: clone.appendingPathComponent("envs/unclaimed/env-1").path))
        try git.run(["commit", "--quiet", "--allow-empty", "-m", "pushed over ssh"], in: clone)
        try git.run(
            ["push", "--quiet", "origin", "HEAD:master"], in: clone, extraEnvironment: ssh, timeout: .seconds(10))
        #expect(try repository.commitID() == git.output("rev-parse", "HEAD", in: clone))
        #expect(server.log.contains("Accepted publickey for \(server.user) from 127.0.0.1"))
        server.stop()
        #expect(!GitDaemon.acceptsConnection(port: server.port))
    }

    @Test(.enabled(if: sshAvailable))
    func sshServerRefusesUnknownKeysAndShowsItsHostKey() throws {
        let scratch = try Scratch(label: "sshd-refuse")
        let repository = try LockRepository.create(in: scratch, pools: ["envs": [:]])
        let known = try SSHKeys.generate(.rsa, format: .pem, scratch: scratch)
        let stranger = try SSHKeys.generate(.ed25519, scratch: scratch)
        let server = try SSHServer(scratch: scratch, authorizedKeys: [known.publicKey])
        let git = try GitCLI(scratch: scratch)
        let url = server.url(for: repository)

        // A PEM RSA key listed at start works (rsa-sha2 signatures; ssh-rsa/SHA-1 is off in OpenSSH 9).
        let accepted = try git.result(
            ["ls-remote", url],
            extraEnvironment: ["GIT_SSH_COMMAND": SSHServer.sshCommand(identity: known.privateKeyURL)],
            timeout: .seconds(10))
        #expect(accepted.status == 0, "\(accepted.stderr)\n\(server.log)")
        #expect(accepted.output.contains("refs/heads/master"))

        let refused = try git.result(
            ["ls-remote", url],
            extraEnvironment: ["GIT_SSH_COMMAND": SSHServer.sshCommand(identity: stranger.privateKeyURL)],
            timeout: .seconds(10))
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("Permission denied (publickey)"), "\(refused.stderr)")

        // A known_hosts entry with another key for [127.0.0.1]:PORT fails strict checking.
        let impostor = try SSHKeys.generate(.ed25519, comment: "impostor", scratch: scratch)
        let wrongHosts = try scratch.write(
            SSHKeys.knownHostsLine(host: "127.0.0.1", port: server.port, publicKey: impostor.publicKey) + "\n",
            to: "wrong_known_hosts")
        let mismatch = try git.result(
            ["ls-remote", url],
            extraEnvironment: [
                "GIT_SSH_COMMAND": SSHServer.sshCommand(identity: known.privateKeyURL, knownHostsFile: wrongHosts)
            ], timeout: .seconds(10))
        #expect(mismatch.status != 0)
        #expect(mismatch.stderr.contains("Host key verification failed"), "\(mismatch.stderr)")
    }

    // MARK: lighttpd + git-http-backend

    @Test(.enabled(if: httpsAvailable))
    func httpsServerServesCloneAndPushWithBasicAuth() throws {
        let scratch = try Scratch(label: "https")
        let repository = try LockRepository.create(in: scratch, pools: ["envs": ["env-1": .claimed("x")]])
        let password = "p@ss:w/rd %1"
        let server = try HTTPSGitServer(scratch: scratch, user: "alice", password: password)
        let caInfo = try #require(server.caCertificatePath)
        #expect(server.url(for: "origin") == "https://127.0.0.1:\(server.port)/git/origin.git")
        #expect(server.url(for: repository) == server.url(for: "origin.git"))
        #expect(
            server.url(for: "origin", user: "alice", password: password)
                == "https://alice:p%40ss%3Aw%2Frd%20%251@127.0.0.1:\(server.port)/git/origin.git")
        let certificate = try String(contentsOfFile: caInfo, encoding: .utf8)
        #expect(certificate.hasPrefix("-----BEGIN CERTIFICATE-----"))

        let git = try GitCLI(scratch: scratch)
        let trusted = ["-c", "http.sslCAInfo=\(caInfo)"]
        let clone = scratch.url("https-clone")
        try git.run(
            trusted + ["clone", "--quiet", server.url(for: repository, user: "alice", password: password), clone.path],
            timeout: .seconds(10))
        #expect(FileManager.default.fileExists(atPath: clone.appendingPathComponent("envs/claimed/env-1").path))
        try git.run(["commit", "--quiet", "--allow-empty", "-m", "pushed over https"], in: clone)
        try git.run(trusted + ["push", "--quiet", "origin", "HEAD:master"], in: clone, timeout: .seconds(10))
        #expect(try repository.commitID() == git.output("rev-parse", "HEAD", in: clone))

        let wrong = try git.result(
            trusted + ["ls-remote", server.url(for: repository, user: "alice", password: "wrong")],
            timeout: .seconds(10))
        #expect(wrong.status != 0)
        #expect(
            wrong.stderr.contains("Authentication failed for 'https://127.0.0.1:\(server.port)/git/origin.git/'"),
            "\(wrong.stderr)")
        let anonymous = try git.result(trusted + ["ls-remote", server.url(for: repository)], timeout: .seconds(10))
        #expect(anonymous.status != 0)
        let untrusted = try git.result(
            ["ls-remote", server.url(for: repository, user: "alice", password: password)], timeout: .seconds(10))
        #expect(untrusted.status != 0)
        #expect(untrusted.stderr.contains("certificate"), "\(untrusted.stderr)")

        #expect(server.log.contains("password doesn't match"), "\(server.log)")
        #expect(server.log.contains("POST /git/origin.git/git-receive-pack"), "\(server.log)")
        server.stop()
        #expect(!GitDaemon.acceptsConnection(port: server.port))
    }

    @Test(.enabled(if: httpAvailable))
    func plainHTTPServerServesWithoutAuthentication() throws {
        let scratch = try Scratch(label: "http")
        let repository = try LockRepository.create(in: scratch, name: "pools/locks.git", pools: ["envs": [:]])
        let server = try HTTPSGitServer(scratch: scratch, tls: false)
        #expect(server.caCertificatePath == nil)
        #expect(server.url(for: repository) == "http://127.0.0.1:\(server.port)/git/pools/locks.git")

        let git = try GitCLI(scratch: scratch)
        let clone = scratch.url("http-clone")
        try git.run(["clone", "--quiet", server.url(for: repository), clone.path], timeout: .seconds(10))
        try git.run(["commit", "--quiet", "--allow-empty", "-m", "pushed over http"], in: clone)
        try git.run(["push", "--quiet", "origin", "HEAD:master"], in: clone, timeout: .seconds(10))
        #expect(try repository.commitID() == git.output("rev-parse", "HEAD", in: clone))
        let missing = try git.result(["ls-remote", server.url(for: "nope")], timeout: .seconds(10))
        #expect(missing.status != 0)
    }

    // MARK: tinyproxy

    @Test(.enabled(if: proxyAvailable))
    func connectProxyTunnelsOnlyWithCredentials() throws {
        let scratch = try Scratch(label: "proxy-auth")
        let sshd = try SSHServer(scratch: scratch)
        let proxy = try ConnectProxy(scratch: scratch, user: "tunnel-user", password: "tunnel.pass-1")

        let anonymous = try proxy.probe(port: sshd.port)
        #expect(anonymous.statusCode == 407)
        #expect(anonymous.statusLine.hasSuffix(" 407 Proxy Authentication Required"), "\(anonymous)")
        #expect(anonymous.firstLine.isEmpty)
        // tinyproxy 1.11 answers wrong credentials with 401, not 407 (which it keeps for missing ones).
        let wrong = try proxy.probe(port: sshd.port, user: "tunnel-user", password: "wrong")
        #expect(wrong.statusLine.hasSuffix(" 401 Unauthorized"), "\(wrong)")

        let tunnel = try proxy.probe(port: sshd.port, user: "tunnel-user", password: "tunnel.pass-1")
        #expect(tunnel.statusCode == 200, "\(tunnel)\n\(proxy.log)")
        #expect(tunnel.statusLine.hasSuffix(" 200 Connection established"))
        #expect(tunnel.firstLine.hasPrefix("SSH-2.0-OpenSSH"), "\(tunnel)")
        #expect(proxy.log.contains("CONNECT 127.0.0.1:\(sshd.port)"), "\(proxy.log)")
        proxy.stop()
        #expect(!GitDaemon.acceptsConnection(port: proxy.port))
    }

    @Test(.enabled(if: proxyAvailable))
    func connectProxyWithoutAuthenticationTunnelsToAnyPort() throws {
        let scratch = try Scratch(label: "proxy-open")
        let sshd = try SSHServer(scratch: scratch)
        let proxy = try ConnectProxy(scratch: scratch)
        let tunnel = try proxy.probe(port: sshd.port)
        #expect(tunnel.statusCode == 200, "\(tunnel)\n\(proxy.log)")
        #expect(tunnel.firstLine.hasPrefix("SSH-2.0-"))
        #expect(!tunnel.headers.contains { $0.lowercased().hasPrefix("via:") })

        let error = #expect(throws: LoopbackServerError.self) {
            _ = try ConnectProxy(scratch: scratch, user: "user", password: "has space")
        }
        #expect(error?.description.contains("BasicAuth") == true)
    }
}
