import Foundation
import TestSupport
import Testing

/// Planted secrets in the `lockpool` CLI (docs/transports.md#secrets): every subcommand runs with distinctive secrets
/// in the environment, a `--source` file, a password file, a key file and a Concourse token file, on its success path
/// and on failure paths (wrong password, key, passphrase or proxy password, TLS failure, unreachable remote, a push
/// refused by a hook that echoes a secret, failing Pushgateways, a refused Concourse token, invalid settings, secrets
/// on argv), always at debug log level. Afterwards no secret may appear in stdout, stderr, any object or commit of the
/// lock repository, the caches, the `in` destination, HOME or TMPDIR, and no file lockpool created may be writable by
/// others (the cache's lock files are private).
@Suite(.serialized, .timeLimit(.minutes(3)))
struct PlantedSecretCLITests {
    static let httpsAvailable =
        HTTPSGitServer.isAvailable(tls: true) && ConcourseStandIn.isAvailable && HTTPResponder.isAvailable
        && ExternalTool.areAvailable("git", "prometheus-pushgateway")
    static let sshAvailable = SSHServer.isAvailable && ConnectProxy.isAvailable && ExternalTool.areAvailable("git")

    /// The subcommands `LockPoolCommand` lists; each must be run below.
    static let subcommands: Set<String> = [
        "init", "status", "show", "acquire", "claim", "release", "add", "remove", "update", "wait", "history", "stats",
        "reap", "verify", "run-step",
    ]

    /// Runs `lockpool` and records its output in `scan`.
    struct CLI {
        let executables: Executables
        var environment: [String: String]
        var scan = SecretScan()
        var ran: Set<String> = []

        /// Runs `arguments` with the base environment plus `extra`; `succeeds` nil accepts any status.
        @discardableResult
        mutating func run(
            _ label: String, _ arguments: [String], extra: [String: String] = [:], stdin: Data = Data(),
            succeeds: Bool? = true, sourceLocation: SourceLocation = #_sourceLocation
        ) throws -> ExecutableResult {
            let result = try executables.lockpool(
                arguments, stdin: stdin, environment: environment.merging(extra) { $1 }, timeout: .seconds(60))
            scan.record(label, result)
            ran.insert(arguments[0])
            if let succeeds {
                #expect((result.status == 0) == succeeds, "\(label): \(result)", sourceLocation: sourceLocation)
            }
            return result
        }
    }

    /// Writes `text` to a 0600 file of `scratch` outside HOME and TMPDIR.
    static func secretFile(_ scratch: Scratch, _ name: String, _ text: String) throws -> String {
        let url = try scratch.write(text, to: "secrets/\(name)")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: url.path)
        return url.path
    }

    @Test(.enabled(if: httpsAvailable)) func everySubcommandOverHTTPS() throws {
        let scratch = try Scratch(label: "planted-cli-https")
        let home = try scratch.directory("home")
        let repository = try LockRepository.create(
            in: scratch, pools: ["envs": ["env-1": .unclaimed("one\n"), "env-2": .unclaimed("two\n")]])
        let executables = try Executables(scratch: scratch)

        let password = "cliPLANTED-http-3e1f"
        let headerToken = "hdrPLANTED-8a2c"
        let gatewayPassword = "gwPLANTED-5b7d"
        let concourseToken = "ccPLANTED-tok-91aa"
        let https = try HTTPSGitServer(scratch: scratch, user: "ci-bot", password: password)
        // Debian 12's libgit2 verifies TLS with mbedTLS 2.28, which matches DNS names only, not IP addresses.
        let uri = https.url(for: repository).replacingOccurrences(of: "127.0.0.1", with: "localhost")
        let gateway = try PushgatewayServer(directory: try scratch.directory("pushgateway"))
        let gatewayURL = gateway.url.replacingOccurrences(of: "http://", with: "http://metrics:\(gatewayPassword)@")
        let concourse = try ConcourseStandIn(scratch: scratch, token: concourseToken, builds: ["4242": .succeeded])
        let gitConfig: JSONValue = [
            ["name": "http.sslCAInfo", "value": .string(https.caCertificatePath ?? "")],
            ["name": "http.extraHeader", "value": .string("X-Token: Bearer \(headerToken)")],
        ]
        let source: [String: JSONValue] = [
            "uri": .string(uri), "branch": .string(repository.branch), "username": "ci-bot", "git_config": gitConfig,
            "prometheus_push_gateway": .string(gatewayURL),
        ]
        let passwordFile = try Self.secretFile(scratch, "password", password + "\n")
        let tokenFile = try Self.secretFile(scratch, "token", concourseToken + "\n")
        let sourceFile = try Self.secretFile(
            scratch, "source.json", String(decoding: JSONValue.object(source).data, as: UTF8.self))
        var cli = CLI(
            executables: executables,
            environment: [
                "HOME": home.path, "LOCKPOOL_LOG_LEVEL": "debug", "LOCKPOOL_SOURCE": sourceFile,
                "LOCKPOOL_TIMEOUT": "8s", "LOCKPOOL_RETRY_DELAY": "200ms",
            ])
        cli.scan.plant("password", password)
        cli.scan.plant("http.extraHeader token", headerToken)
        cli.scan.plant("Pushgateway password", gatewayPassword)
        cli.scan.plant("Concourse token", concourseToken)
        let auth = ["--password-file", passwordFile]

        // Success paths.
        try cli.run("init", ["init", "dbs", "--lock", "db-1"] + auth)
        try cli.run("status", ["status", "--json"] + auth)
        try cli.run("show", ["show", "envs", "env-1", "--json"] + auth)
        let acquired = try cli.run("acquire", ["acquire", "envs"] + auth)
        let lock = acquired.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        try cli.run("release", ["release", "envs", lock, "--json"] + auth)
        let lockFile = try scratch.write("host: nine\n", to: "lock-content")
        try cli.run("add", ["add", "envs", "env-9", "--file", lockFile.path] + auth)
        try cli.run("update", ["update", "envs", "env-9"] + auth, stdin: Data("host: nine, again\n".utf8))
        try cli.run("claim", ["claim", "envs", "env-9", "-v"] + auth)
        try cli.run("remove", ["remove", "envs", "env-9"] + auth)
        try cli.run("wait", ["wait", "envs", "env-1"] + auth)
        try cli.run("history", ["history", "--json"] + auth)
        try cli.run("stats", ["stats", "--json"] + auth)
        try cli.run("verify", ["verify"] + auth)

        // run-step: the request carries every secret; out claims env-2 as build 4242 for the reaper below.
        var requestSource = source
        requestSource["password"] = .string(password)
        requestSource["pool"] = "envs"
        let stepSource = try scratch.directory("step-source")
        let build = [
            "BUILD_ID": "4242", "BUILD_TEAM_NAME": "main", "BUILD_PIPELINE_NAME": "deploy", "BUILD_JOB_NAME": "test",
            "BUILD_NAME": "7", "ATC_EXTERNAL_URL": "https://ci.example.com",
        ]
        let put: JSONValue = ["source": .object(requestSource), "params": ["claim": "env-2"]]
        let claimed = try cli.run("run-step out", ["run-step", "out", stepSource.path], extra: build, stdin: put.data)
        let claimRef = try claimed.response().version.ref
        try cli.run(
            "run-step check", ["run-step", "check"], stdin: JSONValue.object(["source": .object(requestSource)]).data)
        let destination = try scratch.directory("get/lock")
        let get: JSONValue = ["source": .object(requestSource), "version": ["ref": .string(claimRef)]]
        try cli.run("run-step in", ["run-step", "in", destination.path], stdin: get.data)

        // reap: a refused token, an unreachable Concourse whose URL carries userinfo, then the real reap.
        let urlPassword = "ciurlPLANTED-77d0"
        cli.scan.plant("Concourse URL password", urlPassword)
        cli.scan.plant("wrong Concourse token", "wrongccPLANTED-tok")
        let reap = ["reap", "envs", "--stale-after", "1h"] + auth
        let refusedToken = try cli.run(
            "reap (refused token)", reap + ["--concourse-url", concourse.url],
            extra: ["LOCKPOOL_CONCOURSE_TOKEN": "wrongccPLANTED-tok"], succeeds: false)
        #expect(refusedToken.stderr.contains("refused the request"), "\(refusedToken)")
        let closedPort = try GitDaemon.freePort()
        let unreachable = try cli.run(
            "reap (unreachable Concourse)",
            reap + [
                "--concourse-url", "http://ci:\(urlPassword)@127.0.0.1:\(closedPort)", "--concourse-token-file",
                tokenFile,
            ],
            succeeds: false)
        #expect(unreachable.stdoutText.contains("127.0.0.1:\(closedPort)"), "\(unreachable)")
        let reaped = try cli.run(
            "reap", reap + ["--concourse-url", concourse.url, "--concourse-token-file", tokenFile, "--json"])
        #expect(reaped.stdoutText.contains("\"reaped\""), "\(reaped)")

        // Failing Pushgateways, with userinfo: a 500 whose body echoes the password, and a refused connection.
        let failingPassword = "gw500PLANTED-1c3e"
        cli.scan.plant("failing Pushgateway password", failingPassword)
        let failing = try HTTPResponder(scratch: scratch, status: 500, body: "denied metrics:\(failingPassword)\n")
        let failingURL = failing.url.replacingOccurrences(of: "http://", with: "http://metrics:\(failingPassword)@")
        let warned = try cli.run(
            "acquire (Pushgateway 500)", ["acquire", "envs"] + auth, extra: ["LOCKPOOL_PUSHGATEWAY": failingURL])
        #expect(warned.stderr.contains("warning"), "\(warned)")
        try cli.run(
            "release (Pushgateway refused)",
            ["release", "envs", warned.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)] + auth,
            extra: ["LOCKPOOL_PUSHGATEWAY": "http://metrics:\(failingPassword)@127.0.0.1:\(closedPort)"])

        // Failure paths of the git transport.
        let wrongPassword = "wrongPLANTED-http-cli"
        cli.scan.plant("wrong password", wrongPassword)
        try cli.run("status (wrong password)", ["status"], extra: ["LOCKPOOL_PASSWORD": wrongPassword], succeeds: false)
        try cli.run(
            "run-step check (wrong password)", ["run-step", "check"],
            stdin: JSONValue.object([
                "source": .object(requestSource.merging(["password": .string(wrongPassword)]) { $1 })
            ]).data,
            succeeds: false)
        var noCA = source
        noCA["git_config"] = [["name": "http.extraHeader", "value": .string("X-Token: Bearer \(headerToken)")]]
        let noCAFile = try Self.secretFile(
            scratch, "source-no-ca.json", String(decoding: JSONValue.object(noCA).data, as: UTF8.self))
        let tls = try cli.run(
            "status (TLS failure)", ["status"] + auth, extra: ["LOCKPOOL_SOURCE": noCAFile], succeeds: false)
        #expect(tls.stderr.lowercased().contains("certificate"), "\(tls)")
        try cli.run(
            "acquire (unreachable remote)",
            ["acquire", "envs", "--repo", "https://localhost:\(closedPort)/git/origin.git", "--timeout", "3s"] + auth,
            succeeds: false)
        // A pre-receive hook refuses every push and prints the password on the side channel.
        let hook = repository.url.appendingPathComponent("hooks/pre-receive")
        try "#!/bin/sh\necho \"denied: password \(password) and token \(headerToken)\" >&2\nexit 1\n".write(
            to: hook, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: hook.path)
        let refusedPush = try cli.run("claim (push refused)", ["claim", "envs", "env-1"] + auth, succeeds: false)
        try FileManager.default.removeItem(at: hook)
        #expect(refusedPush.stderr.contains("****") || refusedPush.stderr.contains("denied"), "\(refusedPush)")

        // Invalid settings and secrets on argv: usage errors that must not echo what they refuse.
        let argvPassword = "argvPLANTED-9d9d"
        cli.scan.plant("password on argv", argvPassword)
        try cli.run(
            "status (password in --repo)",
            ["status", "--repo", "https://ci-bot:\(argvPassword)@localhost/git/origin.git"], succeeds: false)
        try cli.run(
            "status (extraHeader on argv)", ["status", "--git-config", "http.extraHeader=X-Token: \(argvPassword)"],
            succeeds: false)
        try cli.run(
            "status (pushgateway credentials on argv)",
            ["status", "--pushgateway", "http://metrics:\(argvPassword)@127.0.0.1:9091"], succeeds: false)
        var invalid = source
        invalid["password"] = .string(password)
        invalid["retry_delay"] = "forever"
        invalid["prometheus_push_gateway"] = .string("ftp://metrics:\(gatewayPassword)@127.0.0.1")
        let invalidFile = try Self.secretFile(
            scratch, "invalid.json", String(decoding: JSONValue.object(invalid).data, as: UTF8.self))
        try cli.run("status (invalid settings)", ["status"], extra: ["LOCKPOOL_SOURCE": invalidFile], succeeds: false)

        #expect(cli.ran == Self.subcommands, "subcommands not run: \(Self.subcommands.subtracting(cli.ran))")

        // Where a secret could end up.
        try cli.scan.addRepository(repository)
        cli.scan.add("Pushgateway metrics", (try? gateway.scrape().map(\.description).joined(separator: "\n")) ?? "")
        for directory in [home, executables.temporaryDirectory, destination, stepSource] {
            cli.scan.addFiles(below: directory)
            cli.scan.addGitDirectories(below: directory)
        }
        for leak in cli.scan.leaks() { Issue.record("\(leak)") }
        #expect(cli.scan.haystacks.count > 60, "the search looked at too little: \(cli.scan.haystacks.map(\.place))")
        for directory in [home, executables.temporaryDirectory, destination] {
            let unsafe = SecretScan.unsafePermissions(below: directory)
            #expect(unsafe.isEmpty, "files writable by others or private files readable by others: \(unsafe)")
        }
    }

    @Test(.enabled(if: sshAvailable)) func sshKeyAndTunnelOverCLI() throws {
        let scratch = try Scratch(label: "planted-cli-ssh")
        let home = try scratch.directory("home")
        let repository = try LockRepository.create(
            in: scratch, pools: ["envs": ["env-1": .unclaimed("one\n"), "env-2": .unclaimed("two\n")]])
        let executables = try Executables(scratch: scratch)
        let passphrase = "sshPLANTED-pass-2b4c"
        let sshd = try SSHServer(scratch: scratch)
        let key = try SSHKeys.generate(.ed25519, passphrase: passphrase, scratch: scratch)
        try sshd.authorize(key)
        let stranger = try SSHKeys.generate(.ed25519, passphrase: nil, scratch: scratch)
        let proxyPassword = "tunnelPLANTED-6e0f"
        let proxy = try ConnectProxy(scratch: scratch, user: "tunneluser", password: proxyPassword)
        let keyFile = try Self.secretFile(scratch, "id_ed25519", key.privateKey)
        var cli = CLI(
            executables: executables,
            environment: [
                "HOME": home.path, "LOCKPOOL_LOG_LEVEL": "debug", "LOCKPOOL_REPO": sshd.url(for: repository),
                "LOCKPOOL_BRANCH": repository.branch, "LOCKPOOL_PRIVATE_KEY_FILE": keyFile,
                "LOCKPOOL_PRIVATE_KEY_PASSPHRASE": passphrase, "LOCKPOOL_HTTPS_TUNNEL": "127.0.0.1:\(proxy.port)",
                "LOCKPOOL_HTTPS_TUNNEL_USER": "tunneluser", "LOCKPOOL_HTTPS_TUNNEL_PASSWORD": proxyPassword,
                "LOCKPOOL_TIMEOUT": "8s",
            ])
        cli.scan.plant("private_key_passphrase", passphrase)
        cli.scan.plant("proxy_password", proxyPassword)
        for (what, privateKey) in [("private_key", key.privateKey), ("unauthorized private_key", stranger.privateKey)] {
            cli.scan.plant(what, privateKey)
            for line in privateKey.split(separator: "\n") where !line.hasPrefix("-----") && line.count > 20 {
                cli.scan.plant("\(what) body line", String(line))
            }
        }

        let status = try cli.run("status over ssh", ["status", "--json"])
        #expect(status.stderr.contains("Via 127.0.0.1:\(proxy.port)"), "\(status)")
        let acquired = try cli.run("acquire over ssh", ["acquire", "envs"])
        try cli.run(
            "release over ssh",
            ["release", "envs", acquired.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)])

        let wrongProxy = "wrongtunnelPLANTED-31"
        let wrongPassphrase = "wrongsshPLANTED-pass"
        cli.scan.plant("wrong proxy password", wrongProxy)
        cli.scan.plant("wrong passphrase", wrongPassphrase)
        let refusedTunnel = try cli.run(
            "status (proxy auth failure)", ["status"], extra: ["LOCKPOOL_HTTPS_TUNNEL_PASSWORD": wrongProxy],
            succeeds: false)
        #expect(refusedTunnel.stderr.contains("refused the tunnel"), "\(refusedTunnel)")
        try cli.run(
            "acquire (wrong passphrase)", ["acquire", "envs"],
            extra: ["LOCKPOOL_PRIVATE_KEY_PASSPHRASE": wrongPassphrase], succeeds: false)
        // The key itself in the environment, refused by the server.
        try cli.run(
            "status (unauthorized key in env)", ["status"],
            extra: ["LOCKPOOL_PRIVATE_KEY_FILE": "", "LOCKPOOL_PRIVATE_KEY": stranger.privateKey], succeeds: false)
        // The encrypted key without its passphrase, and an unparsable key.
        try cli.run(
            "status (no passphrase)", ["status"], extra: ["LOCKPOOL_PRIVATE_KEY_PASSPHRASE": ""], succeeds: false)
        let garbled = String(key.privateKey.dropLast(40))
        try cli.run(
            "status (truncated key)", ["status"],
            extra: ["LOCKPOOL_PRIVATE_KEY_FILE": "", "LOCKPOOL_PRIVATE_KEY": garbled], succeeds: false)
        // A BEGIN line without its dashes: the key type must not be read up to the body.
        let undashed = key.privateKey.replacingOccurrences(
            of: "-----BEGIN OPENSSH PRIVATE KEY-----", with: "-----BEGIN OPENSSH PRIVATE KEY")
        try cli.run(
            "status (BEGIN line without dashes)", ["status"],
            extra: ["LOCKPOOL_PRIVATE_KEY_FILE": "", "LOCKPOOL_PRIVATE_KEY": undashed], succeeds: false)
        // Unreachable: the proxy is asked for a port nobody listens on.
        let closedPort = try GitDaemon.freePort()
        try cli.run(
            "status (unreachable remote)", ["status"],
            extra: ["LOCKPOOL_REPO": "ssh://git@127.0.0.1:\(closedPort)/srv/locks.git"], succeeds: false)
        // The resource step with every secret in the request and a wrong proxy password.
        let request: JSONValue = [
            "source": [
                "uri": .string(sshd.url(for: repository)), "branch": .string(repository.branch), "pool": "envs",
                "private_key": .string(key.privateKey), "private_key_passphrase": .string(passphrase),
                "https_tunnel": [
                    "proxy_host": "127.0.0.1", "proxy_port": .integer(proxy.port), "proxy_user": "tunneluser",
                    "proxy_password": .string(wrongProxy),
                ],
            ]
        ]
        try cli.run("run-step check (proxy auth failure)", ["run-step", "check"], stdin: request.data, succeeds: false)

        try cli.scan.addRepository(repository)
        for directory in [home, executables.temporaryDirectory] {
            cli.scan.addFiles(below: directory)
            cli.scan.addGitDirectories(below: directory)
        }
        for leak in cli.scan.leaks() { Issue.record("\(leak)") }
        for directory in [home, executables.temporaryDirectory] {
            let unsafe = SecretScan.unsafePermissions(below: directory)
            #expect(unsafe.isEmpty, "files writable by others or private files readable by others: \(unsafe)")
        }
    }
}
