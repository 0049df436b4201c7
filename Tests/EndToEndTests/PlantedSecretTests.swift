import Foundation
import TestSupport
import Testing

/// Planted secrets (docs/transports.md#secrets): distinctive secret values are used by successful and failing steps
/// over ssh, https and the CONNECT tunnel; afterwards none of them may appear in stdout, stderr, any object of the lock
/// repository, the `in` destination, HOME or TMPDIR.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct PlantedSecretTests {
    static let serversAvailable =
        SSHServer.isAvailable && HTTPSGitServer.isAvailable(tls: true) && ConnectProxy.isAvailable
        && ExternalTool.areAvailable("git")

    /// Every secret value planted, and what it is (for the failure message only).
    struct Planted {
        var values: [(what: String, value: String)] = []
        mutating func add(_ what: String, _ value: String) { values.append((what, value)) }
    }

    @Test(.enabled(if: serversAvailable)) func secretsNeverLeak() throws {
        let scratch = try Scratch(label: "planted-secrets")
        let home = try scratch.directory("home")
        let seed: [String: LockSeed] = ["env-1": .unclaimed("one\n"), "env-2": .unclaimed("two\n")]
        let repository = try LockRepository.create(in: scratch, pools: ["envs": seed])
        var planted = Planted()
        var outputs: [String] = []
        func record(_ result: ExecutableResult) {
            outputs.append(result.stdoutText)
            outputs.append(result.stderr)
        }

        // ssh with an encrypted key, through a CONNECT proxy that wants credentials.
        let passphrase = "pass-PLANTED-7f3a91"
        let sshd = try SSHServer(scratch: scratch)
        let key = try SSHKeys.generate(.ed25519, passphrase: passphrase, scratch: scratch)
        try sshd.authorize(key)
        planted.add("private_key_passphrase", passphrase)
        planted.add("private_key", key.privateKey)
        for line in key.privateKey.split(separator: "\n") where !line.hasPrefix("-----") && line.count > 20 {
            planted.add("private_key body line", String(line))
        }
        let proxyPassword = "proxyPLANTED-c41d"
        let proxy = try ConnectProxy(scratch: scratch, user: "tunneluser", password: proxyPassword)
        planted.add("proxy_password", proxyPassword)
        var ssh = try ResourceHarness(
            scratch: scratch, repository: repository, pool: "envs", uri: sshd.url(for: repository))
        ssh.environment["HOME"] = home.path
        ssh.environment["LOCKPOOL_LOG_LEVEL"] = "debug"
        let tunnel: JSONValue = [
            "proxy_host": "127.0.0.1", "proxy_port": .integer(proxy.port), "proxy_user": "tunneluser",
            "proxy_password": .string(proxyPassword),
        ]
        let sshSource: [String: JSONValue] = [
            "private_key": .string(key.privateKey), "private_key_passphrase": .string(passphrase),
            "https_tunnel": tunnel,
        ]
        let acquired = try ssh.out(["acquire": true, "timeout": "20s"], source: sshSource)
        record(acquired)
        #expect(acquired.status == 0, "\(acquired)")
        let destination = try scratch.directory("build/lock")
        let got = try ssh.get(version: try acquired.response().version.ref, into: destination, source: sshSource)
        record(got)
        #expect(got.status == 0, "\(got)")
        let released = try ssh.out(["release": "lock", "timeout": "20s"], source: sshSource)
        record(released)
        #expect(released.status == 0, "\(released)")
        // Failing on purpose: wrong passphrase, wrong proxy password.
        var wrong = sshSource
        wrong["private_key_passphrase"] = "wrong-PLANTED-passphrase"
        planted.add("wrong passphrase", "wrong-PLANTED-passphrase")
        let badPassphrase = try ssh.check(version: nil, source: wrong)
        record(badPassphrase)
        #expect(badPassphrase.status == 1)
        var badTunnel = sshSource
        badTunnel["https_tunnel"] = [
            "proxy_host": "127.0.0.1", "proxy_port": .integer(proxy.port), "proxy_user": "tunneluser",
            "proxy_password": "wrongPLANTEDproxy",
        ]
        planted.add("wrong proxy password", "wrongPLANTEDproxy")
        let refusedTunnel = try ssh.check(version: nil, source: badTunnel)
        record(refusedTunnel)
        #expect(refusedTunnel.status == 1)
        // A missing pool with every secret in the request.
        let missingPool = try ssh.out(["acquire": true], source: sshSource.merging(["pool": "nope"]) { $1 })
        record(missingPool)
        #expect(missingPool.status == 1)

        // https with a password, a password in the URI, and an extra header.
        let password = "httpPLANTED-91bd"
        let headerValue = "Bearer tokenPLANTED-55e2"
        planted.add("password", password)
        planted.add("http.extraHeader value", headerValue)
        let https = try HTTPSGitServer(scratch: scratch, user: "ci-bot", password: password)
        // Debian 12's libgit2 verifies TLS with mbedTLS 2.28, which matches DNS names only, not IP addresses.
        let webURI = https.url(for: repository).replacingOccurrences(of: "127.0.0.1", with: "localhost")
        var web = try ResourceHarness(scratch: scratch, repository: repository, pool: "envs", uri: webURI)
        web.environment["HOME"] = home.path
        web.environment["LOCKPOOL_LOG_LEVEL"] = "debug"
        let webSource: [String: JSONValue] = [
            "username": "ci-bot", "password": .string(password),
            "git_config": [
                ["name": "http.sslCAInfo", "value": .string(https.caCertificatePath ?? "")],
                ["name": "http.extraHeader", "value": .string("X-Token: \(headerValue)")],
            ],
        ]
        let webAcquired = try web.out(["acquire": true, "timeout": "20s"], source: webSource)
        record(webAcquired)
        #expect(webAcquired.status == 0, "\(webAcquired)")
        let uriPassword = "uriPLANTED-0c7e"
        planted.add("password in the URI", uriPassword)
        var inURI = webSource
        inURI["uri"] = .string(
            https.url(for: repository, user: "ci-bot", password: uriPassword)
                .replacingOccurrences(of: "127.0.0.1", with: "localhost"))
        inURI["username"] = nil
        inURI["password"] = nil
        let refusedURI = try web.check(version: nil, source: inURI)
        record(refusedURI)
        #expect(refusedURI.status == 1)
        var wrongPassword = webSource
        wrongPassword["password"] = "wrongPLANTED-http"
        planted.add("wrong password", "wrongPLANTED-http")
        let refused = try web.out(["acquire": true], source: wrongPassword)
        record(refused)
        #expect(refused.status == 1)
        // A request whose secret sits in a wrongly typed key.
        let typed = try web.check(version: nil, source: ["password": ["typedPLANTED-secret"]])
        planted.add("secret in a wrongly typed key", "typedPLANTED-secret")
        record(typed)
        #expect(typed.status == 1)

        // Where a secret could end up.
        var haystacks: [(place: String, text: String)] = outputs.enumerated().map {
            ("step output \($0.offset)", $0.element)
        }
        let objects = try repository.git.result(
            ["cat-file", "--batch-all-objects", "--batch"], in: repository.url, timeout: .seconds(30))
        haystacks.append(("lock repository objects", String(decoding: objects.stdout, as: UTF8.self)))
        let log = try repository.git.result(["log", "--all", "-p", "--format=%H%n%B"], in: repository.url)
        haystacks.append(("lock repository log", String(decoding: log.stdout, as: UTF8.self)))
        for directory in [destination, home, ssh.executables.temporaryDirectory, web.executables.temporaryDirectory] {
            haystacks += SecretScan.filesBelow(directory)
        }
        for (what, value) in planted.values {
            for (place, text) in haystacks where text.contains(value) {
                Issue.record("the \(what) appears in \(place)")
            }
        }
        #expect(haystacks.count > 10, "the search looked at too little: \(haystacks.map(\.place))")
    }

    /// Failure paths of the resource steps over https, at debug log level: a Pushgateway with userinfo answering 500
    /// with a body echoing its password, and one refusing connections; a push refused by a pre-receive hook that
    /// prints the secrets; a TLS failure; an unreachable remote whose URI carries a password.
    @Test(.enabled(if: serversAvailable && HTTPResponder.isAvailable)) func resourceFailuresNeverLeak() throws {
        let scratch = try Scratch(label: "planted-secrets-failures")
        let home = try scratch.directory("home")
        let repository = try LockRepository.create(
            in: scratch, pools: ["envs": ["env-1": .unclaimed("one\n"), "env-2": .unclaimed("two\n")]])
        var scan = SecretScan()
        let password = "failPLANTED-http-42aa"
        let headerToken = "failPLANTED-hdr-1d7e"
        let gatewayPassword = "failPLANTED-gw-93c1"
        scan.plant("password", password)
        scan.plant("http.extraHeader token", headerToken)
        scan.plant("Pushgateway password", gatewayPassword)
        let https = try HTTPSGitServer(scratch: scratch, user: "ci-bot", password: password)
        let webURI = https.url(for: repository).replacingOccurrences(of: "127.0.0.1", with: "localhost")
        var web = try ResourceHarness(scratch: scratch, repository: repository, pool: "envs", uri: webURI)
        web.environment["HOME"] = home.path
        web.environment["LOCKPOOL_LOG_LEVEL"] = "debug"
        let failing = try HTTPResponder(scratch: scratch, status: 500, body: "denied metrics:\(gatewayPassword)\n")
        let source: [String: JSONValue] = [
            "username": "ci-bot", "password": .string(password),
            "git_config": [
                ["name": "http.sslCAInfo", "value": .string(https.caCertificatePath ?? "")],
                ["name": "http.extraHeader", "value": .string("X-Token: Bearer \(headerToken)")],
            ],
            "prometheus_push_gateway": .string(
                failing.url.replacingOccurrences(of: "http://", with: "http://metrics:\(gatewayPassword)@")),
        ]
        let acquired = try web.out(["acquire": true, "timeout": "20s"], source: source)
        scan.record("out with a failing Pushgateway", acquired)
        #expect(acquired.status == 0, "\(acquired)")
        #expect(acquired.stderr.contains("warning"), "\(acquired)")
        let closedPort = try GitDaemon.freePort()
        var refusedGateway = source
        refusedGateway["prometheus_push_gateway"] = .string("metrics:\(gatewayPassword)@127.0.0.1:\(closedPort)")
        try web.stepDirectory("lock", lock: try acquired.response().lockName)
        let released = try web.out(["release": "lock", "timeout": "20s"], source: refusedGateway)
        scan.record("out with a refused Pushgateway", released)
        #expect(released.status == 0, "\(released)")

        let hook = repository.url.appendingPathComponent("hooks/pre-receive")
        try "#!/bin/sh\necho \"denied: password \(password) and token \(headerToken)\" >&2\nexit 1\n".write(
            to: hook, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: hook.path)
        let refusedPush = try web.out(["acquire": true, "timeout": "10s"], source: source)
        try FileManager.default.removeItem(at: hook)
        scan.record("out refused by a hook", refusedPush)
        #expect(refusedPush.status == 1, "\(refusedPush)")

        var noCA = source
        noCA["git_config"] = [["name": "http.extraHeader", "value": .string("X-Token: Bearer \(headerToken)")]]
        let tls = try web.check(version: nil, source: noCA)
        scan.record("check with an untrusted certificate", tls)
        #expect(tls.status == 1, "\(tls)")

        let uriPassword = "failPLANTED-uri-5f0b"
        scan.plant("password in an unreachable URI", uriPassword)
        var unreachable = source
        unreachable["uri"] = .string("https://ci-bot:\(uriPassword)@localhost:\(closedPort)/git/origin.git")
        unreachable["password"] = nil
        let unreachableCheck = try web.check(version: nil, source: unreachable)
        scan.record("check of an unreachable remote", unreachableCheck)
        #expect(unreachableCheck.status == 1, "\(unreachableCheck)")

        try scan.addRepository(repository)
        for directory in [home, web.executables.temporaryDirectory] {
            scan.addFiles(below: directory)
            scan.addGitDirectories(below: directory)
            let unsafe = SecretScan.unsafePermissions(below: directory)
            #expect(unsafe.isEmpty, "files writable by others or private files readable by others: \(unsafe)")
        }
        for leak in scan.leaks() { Issue.record("\(leak)") }
    }
}
