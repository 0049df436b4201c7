import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A lock repository made with the real `lockpool` CLI, and that CLI: the dashboard's facts must be the CLI's.
///
/// Pool `envs`: `staging` claimed with a 1 h lease, `perf` claimed with a lease that passes at once, `qa` free, and
/// `<img src=x onerror=alert(1)>` free (a name with markup). Pool `clusters`: `a` claimed, `b` free. Every lock file
/// holds `token: PLANTED-<lock>`.
struct DashboardHarness {
    let scratch: Scratch
    let executables: Executables
    let repository: String
    let environment: [String: String]
    /// When `perf`'s one-second lease was taken: documents compared after it passed agree on `lease_expired`.
    private(set) var perfClaimed = ContinuousClock.now
    static let markupLock = "<img src=x onerror=alert(1)>"

    init(_ label: String, repository url: String? = nil, bare: URL? = nil) throws {
        scratch = try Scratch(label: label)
        executables = try Executables(scratch: scratch)
        let path = bare ?? scratch.url("locks.git")
        repository = url ?? path.path
        environment = [
            "HOME": try scratch.directory("home").path, "GIT_COMMITTER_NAME": "Dash Board",
            "GIT_COMMITTER_EMAIL": "dash@example.com",
        ]
        try cli(["init", "envs", "clusters"])
        for (pool, lock) in [
            ("envs", "staging"), ("envs", "perf"), ("envs", "qa"), ("envs", Self.markupLock), ("clusters", "a"),
            ("clusters", "b"),
        ] {
            let file = try scratch.write("token: PLANTED-\(lock)\n", to: "content-\(pool)-\(lock.count)")
            try cli(["add", pool, lock, "--file", file.path])
        }
        try cli(["claim", "envs", "staging", "--lease", "1h"])
        try cli(["claim", "envs", "perf", "--lease", "1s"])
        perfClaimed = .now
        try cli(["claim", "clusters", "a"])
    }

    /// Runs `lockpool arguments… --repo REPOSITORY`, which must succeed.
    @discardableResult
    func cli(_ arguments: [String]) throws -> ExecutableResult {
        let result = try executables.lockpool(
            arguments + ["--repo", repository], environment: environment, timeout: .seconds(60))
        guard result.status == 0 else { throw HarnessFailure(description: "lockpool \(arguments): \(result)") }
        return result
    }

    /// `lockpool serve --repo REPOSITORY arguments…`, serving.
    func serve(_ arguments: [String] = []) async throws -> ServedDashboard {
        try await Task.sleep(until: perfClaimed + .milliseconds(1500))
        return try await ServedDashboard(
            executables: executables, arguments: ["--repo", repository, "--refresh", "300ms"] + arguments,
            environment: environment)
    }
}

struct HarnessFailure: Error, CustomStringConvertible {
    let description: String
}

/// `value` as canonical JSON text (sorted keys), for comparing documents.
private func canonical(_ value: Any) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]), as: UTF8.self)
}

@Suite(.serialized) struct DashboardServerTests {
    @Test func apiAnswersWhatTheCLIAnswers() async throws {
        let harness = try DashboardHarness("dashboard-api")
        let server = try await harness.serve()
        defer { _ = try? server.stop() }

        let status = try server.json("/api/v1/status")
        let cliStatus = try harness.cli(["status", "--json"]).json()
        #expect(try canonical(status) == canonical(cliStatus))

        let history = try server.json("/api/v1/history")
        #expect(try canonical(history) == canonical(try harness.cli(["history", "--json"]).json()))
        let limited = try server.json("/api/v1/history?pool=envs&lock=staging&limit=1")
        let cliLimited = try harness.cli(["history", "envs", "--lock", "staging", "--limit", "1", "--json"]).json()
        #expect(try canonical(limited) == canonical(cliLimited))

        // Stats over the server's 7-day window: the CLI given the same window says the same.
        let stats = try #require(try server.json("/api/v1/stats") as? [String: Any])
        let pools = try #require(stats["pools"] as? [[String: Any]])
        let since = try #require(pools.first?["since"] as? String)
        let until = try #require(pools.first?["until"] as? String)
        let cliStats = try harness.cli(["stats", "--json", "--since", since, "--until", until]).json()
        #expect(try canonical(stats) == canonical(cliStats))
        let day = try #require(try server.json("/api/v1/stats?window=24h") as? [String: Any])
        #expect((day["pools"] as? [[String: Any]])?.first?["window_seconds"] as? Double == 86400)

        // Metadata never shows without --show-metadata.
        for path in ["/", "/pool?name=envs", "/lock?pool=envs&name=staging", "/api/v1/status", "/api/v1/history"] {
            #expect(!(try server.get(path).body.contains("PLANTED")), "\(path) shows a lock's content")
        }
        let result = try server.stop()
        #expect(result.status == 0, "\(result)")
    }

    @Test func metadataAndMetricsWhenAskedFor() async throws {
        let harness = try DashboardHarness("dashboard-metadata")
        let server = try await harness.serve(["--show-metadata"])
        defer { _ = try? server.stop() }
        #expect(try server.get("/pool?name=envs").body.contains("token: PLANTED-staging"))
        let status = try server.json("/api/v1/status")
        #expect(
            try canonical(status) == canonical(try harness.cli(["status", "--json", "--content"]).json()))
        let (code, headers, metrics) = try server.get("/metrics")
        #expect(code == 200)
        #expect(headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        #expect(metrics.contains("lockpool_stats_window_seconds{pool=\"envs\"} 604800"))
        #expect(metrics.contains("lockpool_stats_open_holds{pool=\"envs\"} 2"))
    }

    @Test func pagesEscapeNamesAndRefuseWhatIsNotThere() async throws {
        let harness = try DashboardHarness("dashboard-escape")
        let server = try await harness.serve()
        defer { _ = try? server.stop() }
        let (code, headers, page) = try server.get("/pool?name=envs")
        #expect(code == 200)
        #expect(headers["content-security-policy"]?.contains("script-src 'sha256-") == true)
        #expect(page.contains("&lt;img src=x onerror=alert(1)&gt;"))
        #expect(!page.contains("<img src=x"))
        let missing = try server.get("/pool?name=%3Cscript%3E")
        #expect(missing.status == 404)
        #expect(missing.body.contains("&lt;script&gt;") && !missing.body.contains("<script>"))
        #expect(try server.get("/lock?pool=envs&name=nope").status == 404)
        let elsewhere = try server.get("/admin/<x>")
        #expect(elsewhere.status == 404 && elsewhere.body.contains("Not found"), "\(elsewhere)")
        #expect(!elsewhere.body.contains("<x>"))
        let head = try server.get("/pool?name=envs", method: "HEAD")
        #expect(head.status == 200 && head.body.isEmpty, "\(head)")
        let bad = try server.get("/api/v1/history?limit=0")
        #expect(bad.status == 400)
        #expect(bad.body.contains("limit must be a number"))
        #expect(try server.get("/api/v1/stats?window=1y").status == 400)
        let reversed = try server.get("/api/v1/history?since=2026-05-02&until=2026-05-01")
        #expect(reversed.status == 400 && reversed.body.contains("since must not be after until"))
        let badLock = try server.get("/api/v1/history?lock=..%2Fx")
        #expect(badLock.status == 400 && badLock.body.contains("invalid lock name"), "\(badLock.body)")
    }

    @Test func aClaimShowsUpAtTheNextRefresh() async throws {
        let harness = try DashboardHarness("dashboard-refresh")
        let server = try await harness.serve()
        defer { _ = try? server.stop() }
        try harness.cli(["claim", "envs", "qa"])
        _ = try await server.waitFor("/api/v1/status") {
            $0.contains("\"lock\" : \"qa\",\n") && Self.isClaimed("qa", $0)
        }
        let page = try server.get("/pool?name=envs").body
        #expect(page.contains("data-lock=\"qa\" data-state=\"claimed\""))
    }

    static func isClaimed(_ lock: String, _ status: String) -> Bool {
        guard let json = try? JSONSerialization.jsonObject(with: Data(status.utf8)) as? [String: Any],
            let pools = json["pools"] as? [[String: Any]]
        else { return false }
        return pools.flatMap { ($0["locks"] as? [[String: Any]]) ?? [] }.contains {
            $0["lock"] as? String == lock && $0["state"] as? String == "claimed"
        }
    }

    @Test func aRemoteThatGoesAwayLeavesTheLastStateWithAWarning() async throws {
        let scratch = try Scratch(label: "dashboard-remote")
        let git = try GitCLI(scratch: scratch)
        let served = try scratch.directory("served")
        let daemon = try GitDaemon(serving: served, git: git)
        let bare = served.appendingPathComponent("locks.git")
        try git.run(["init", "--quiet", "--bare", "--initial-branch=main", bare.path])
        try git.run(["config", "--file", bare.appendingPathComponent("config").path, "daemon.receivepack", "true"])
        let harness = try DashboardHarness(
            "dashboard-remote-harness", repository: "git://127.0.0.1:\(daemon.port)/locks.git", bare: bare)
        let server = try await harness.serve()
        defer { _ = try? server.stop() }
        let port = daemon.port
        daemon.stop()

        // A refresh caught mid-request when the daemon stops reads "could not read refs"; every later one
        // finds nothing listening, and the warning names that latest cause.
        let stale = try await server.waitFor("/api/v1/freshness") { !$0.contains("\"failure\" : null") }
        #expect(stale.contains("\"failure\" : \"network error: "), "\(stale)")
        let refused = try await server.waitFor("/api/v1/freshness") { $0.contains("Connection refused") }
        #expect(refused.contains("\"failing_since\" : \""), "\(refused)")
        let page = try server.get("/pool?name=envs")
        #expect(page.status == 200)
        #expect(page.body.contains("role=\"alert\""))
        #expect(page.body.contains("data-lock=\"staging\" data-state=\"claimed\""))
        #expect(try server.get("/api/v1/status").status == 200)

        let again = try GitDaemon(serving: served, git: git, port: port)
        defer { again.stop() }
        _ = try await server.waitFor("/api/v1/freshness") { $0.contains("\"failure\" : null") }
        #expect(!(try server.get("/").body.contains("role=\"alert\"")))
    }

    @Test func listeningBeyondLoopbackWarnsUnlessAllowed() async throws {
        let harness = try DashboardHarness("dashboard-listen")
        for (extra, warns) in [([String](), true), (["--allow-remote"], false)] {
            let process = try harness.executables.startLockpool(
                ["serve", "--repo", harness.repository, "--listen", "0.0.0.0:0"] + extra,
                environment: harness.environment)
            _ = try await process.waitForStderr(containing: "serving http://", timeout: .seconds(30))
            process.terminate()
            let result = try process.waitUntilExit(timeout: .seconds(10))
            #expect(result.stderr.contains("serving http://0.0.0.0:"), "\(result)")
            #expect(result.stderr.contains("warning: listening on 0.0.0.0:0") == warns, "\(result)")
        }
    }

    @Test func badSettingsFailAtOnceWithoutSecrets() throws {
        let harness = try DashboardHarness("dashboard-bad")
        let listen = try harness.executables.lockpool(
            ["serve", "--repo", harness.repository, "--listen", "nowhere"], environment: harness.environment)
        #expect(listen.status == 64)
        #expect(listen.stderr.contains("--listen expects host:port"))
        let port = try GitDaemon.freePort()
        let secret = "SECRET-PASSWORD-\(port)"
        var environment = harness.environment
        environment["LOCKPOOL_REPO"] = "http://user:\(secret)@127.0.0.1:\(port)/locks.git"
        let unreachable = try harness.executables.lockpool(
            ["serve", "--timeout", "2s"], environment: environment, timeout: .seconds(60))
        #expect(unreachable.status == 1, "\(unreachable)")
        #expect(unreachable.stderr.contains("Connection refused"), "\(unreachable)")
        #expect(!unreachable.stderr.contains(secret) && !unreachable.stdoutText.contains(secret))
    }

    @Test func reportIsOneSelfContainedFile() throws {
        let harness = try DashboardHarness("dashboard-report")
        let file = harness.scratch.url("report.html")
        let result = try harness.cli(["report", "--html", file.path])
        #expect(result.stderr.contains("wrote \(file.path): 2 pools"))
        let html = try String(contentsOf: file, encoding: .utf8)
        #expect(!html.contains("<script") && !html.contains("<link") && !html.contains("src=\""))
        #expect(!html.contains("PLANTED"))
        #expect(html.contains("data-lock=\"staging\" data-state=\"claimed\""))
        #expect(html.contains("&lt;img src=x onerror=alert(1)&gt;"))
        let attributes = try FileManager.default.attributesOfItem(atPath: file.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o644)

        let secretFile = harness.scratch.url("with-metadata.html")
        try harness.cli(["report", "--html", secretFile.path, "--show-metadata"])
        #expect(try String(contentsOf: secretFile, encoding: .utf8).contains("token: PLANTED-staging"))
        let secretAttributes = try FileManager.default.attributesOfItem(atPath: secretFile.path)
        #expect((secretAttributes[.posixPermissions] as? Int) == 0o600)
    }
}

/// Secrets planted in the connection settings of `serve` and `report` (an HTTPS remote with a password and an
/// `http.extraHeader` token, in a `--source` file) reach no page, API answer, report, stderr or file.
@Suite struct DashboardSecretTests {
    @Test(.enabled(if: HTTPSGitServer.isAvailable(tls: true))) func serveAndReportKeepSecretsOff() async throws {
        let scratch = try Scratch(label: "dashboard-secrets")
        let home = try scratch.directory("home")
        let repository = try LockRepository.create(
            in: scratch, pools: ["envs": ["env-1": .unclaimed("token: PLANTED-content\n"), "env-2": .claimed("x\n")]])
        let executables = try Executables(scratch: scratch)
        let password = "dashPLANTED-pw-41c9"
        let headerToken = "dashPLANTED-hdr-77e2"
        let https = try HTTPSGitServer(scratch: scratch, user: "ci-bot", password: password)
        defer { https.stop() }
        let source: JSONValue = [
            "uri": .string(https.url(for: repository)), "branch": .string(repository.branch), "username": "ci-bot",
            "password": .string(password),
            "git_config": [
                ["name": "http.sslCAInfo", "value": .string(https.caCertificatePath ?? "")],
                ["name": "http.extraHeader", "value": .string("X-Token: Bearer \(headerToken)")],
            ],
        ]
        let sourceFile = try scratch.write(String(decoding: source.data, as: UTF8.self), to: "secrets/source.json")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: sourceFile.path)
        let environment = ["HOME": home.path, "LOCKPOOL_SOURCE": sourceFile.path, "LOCKPOOL_LOG_LEVEL": "debug"]
        var scan = SecretScan()
        scan.plant("password", password)
        scan.plant("http.extraHeader token", headerToken)
        scan.plant("lock content", "PLANTED-content")

        let server = try await ServedDashboard(
            executables: executables, arguments: ["--refresh", "300ms"], environment: environment)
        for path in [
            "/", "/pool?name=envs", "/lock?pool=envs&name=env-1", "/api/v1/status", "/api/v1/history",
            "/api/v1/stats", "/api/v1/freshness", "/metrics", "/pool?name=nope",
        ] {
            let (status, _, body) = try server.get(path)
            #expect(status == 200 || path.hasSuffix("nope"), "\(path): \(status)")
            scan.add("GET \(path)", body)
        }
        #expect(try server.get("/pool?name=envs").body.contains("data-lock=\"env-2\" data-state=\"claimed\""))
        https.stop()
        _ = try await server.waitFor("/api/v1/freshness") { !$0.contains("\"failure\" : null") }
        scan.add("page while the remote is down", try server.get("/").body)
        scan.add("freshness while the remote is down", try server.get("/api/v1/freshness").body)
        scan.record("serve", try server.stop())

        let report = scratch.url("report.html")
        let https2 = try HTTPSGitServer(scratch: scratch, user: "ci-bot", password: password)
        defer { https2.stop() }
        var second = source
        if case .object(var members) = source {
            members["uri"] = .string(https2.url(for: repository))
            members["git_config"] = [
                ["name": "http.sslCAInfo", "value": .string(https2.caCertificatePath ?? "")],
                ["name": "http.extraHeader", "value": .string("X-Token: Bearer \(headerToken)")],
            ]
            second = .object(members)
        }
        try String(decoding: second.data, as: UTF8.self).write(to: sourceFile, atomically: true, encoding: .utf8)
        let written = try executables.lockpool(["report", "--html", report.path], environment: environment)
        #expect(written.status == 0, "\(written)")
        scan.record("report", written)
        scan.add("report file", try String(contentsOf: report, encoding: .utf8))
        #expect(try String(contentsOf: report, encoding: .utf8).contains("data-lock=\"env-2\""))
        scan.addFiles(below: home)
        scan.addFiles(below: executables.temporaryDirectory)
        for leak in scan.leaks() { Issue.record("\(leak)") }
    }
}
