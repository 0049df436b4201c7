import ArgumentParser
import ConcourseResource
import Foundation
import LockPool
import Synchronization
import Testing

@testable import LockPoolCLI

/// Argument parsing and validation of `lockpool`, through `parseAsRoot` (no process, no repository).
@Suite struct ParsingTests {
    @Test func versionNamesTheToolAndLibgit2() {
        let version = LockPoolCommand.configuration.version
        #expect(version.hasPrefix("lockpool \(LockPoolVersion.current) (libgit2 "))
    }

    @Test func helpListsEveryExitStatus() {
        let help = LockPoolCommand.helpMessage()
        for status in ["0 success", "1 failure", "64 usage error", "65", "75"] {
            #expect(help.contains(status), "\(status) missing from:\n\(help)")
        }
    }

    @Test(arguments: [
        "init", "status", "acquire", "claim", "release", "add", "remove", "update", "wait", "history", "stats",
        "reap", "verify", "run-step", "report", "serve",
    ])
    func everySubcommandIsListed(_ name: String) {
        let names = LockPoolCommand.configuration.subcommands.map { $0._commandName }
        #expect(names.contains(name))
    }

    @Test func acquireParsesSharedOptions() throws {
        let command = try LockPoolCommand.parseAsRoot([
            "acquire", "envs", "--repo", "/tmp/r.git", "--branch", "locks", "--retry-delay", "250ms", "--timeout",
            "1m30s", "--lease", "2h", "--json",
        ])
        let acquire = try #require(command as? AcquireCommand)
        #expect(acquire.pool == "envs")
        #expect(acquire.json)
        #expect(acquire.options.repo == "/tmp/r.git")
        #expect(acquire.options.branch == "locks")
        #expect(acquire.options.retryDelay?.duration == .milliseconds(250))
        #expect(acquire.options.timeout?.duration == .seconds(90))
        #expect(acquire.options.lease?.duration == .seconds(7200))
    }

    struct UsageCase: Sendable, CustomTestStringConvertible {
        let arguments: [String]
        let message: String
        var testDescription: String { arguments.joined(separator: " ") }
    }

    @Test(arguments: [
        UsageCase(arguments: ["acquire", "../x"], message: "invalid pool name \"../x\""),
        UsageCase(arguments: ["claim", "envs", ".hidden"], message: "invalid lock name \".hidden\""),
        UsageCase(arguments: ["claim", "envs", "a/b"], message: "invalid lock name \"a/b\""),
        UsageCase(arguments: ["release", "envs", "env-1", "--lease", "1h"], message: "--lease applies only to"),
        UsageCase(arguments: ["acquire", "envs", "--timeout", "soon"], message: "--timeout"),
        UsageCase(arguments: ["acquire", "envs", "--retry-delay", "-1s"], message: "--retry-delay"),
        UsageCase(arguments: ["release", "envs", "env-1", "--claim", "abc"], message: "--claim"),
        UsageCase(arguments: ["reap", "envs", "--stale-after", "0"], message: "--stale-after must be a positive"),
        UsageCase(arguments: ["run-step", "in"], message: "in needs a directory"),
        UsageCase(arguments: ["run-step", "deploy", "dir"], message: "deploy"),
        UsageCase(arguments: ["init"], message: "Missing expected argument"),
        UsageCase(arguments: ["status", "--git-config", "novalue"], message: "--git-config expects name=value"),
        UsageCase(arguments: ["status", "--https-tunnel", "proxy"], message: "--https-tunnel expects host:port"),
        UsageCase(arguments: ["history", "--limit", "0"], message: "--limit must be at least 1"),
        UsageCase(arguments: ["history", "--since", "yesterday-ish"], message: "--since"),
        UsageCase(arguments: ["stats", "--top", "0"], message: "--top must be at least 1"),
        UsageCase(arguments: ["stats", "--top=-2"], message: "--top must be at least 1"),
        UsageCase(arguments: ["stats", "--top", "many"], message: "--top"),
        UsageCase(arguments: ["stats", "--since", "last tuesday"], message: "--since"),
        UsageCase(arguments: ["stats", "--until", "-1d"], message: "--until"),
        UsageCase(
            arguments: ["stats", "--since", "2026-05-03", "--until", "2026-05-02"],
            message: "--since must not be after --until"),
        UsageCase(arguments: ["stats", "--since", "2999-01-01"], message: "--since must not be in the future"),
        UsageCase(
            arguments: ["stats", "--json", "--format", "table"], message: "--json conflicts with --format table"),
        UsageCase(
            arguments: ["stats", "--json", "--format", "prometheus"],
            message: "--json conflicts with --format prometheus"),
        UsageCase(arguments: ["stats", "--format", "xml"], message: "--format"),
        UsageCase(arguments: ["stats", "../x"], message: "invalid pool name \"../x\""),
        UsageCase(
            arguments: ["acquire", "envs", "--pushgateway", "http://u:pw@gw:9091"],
            message: "--pushgateway must not carry credentials"),
    ])
    func badArgumentsAreUsageErrors(_ c: UsageCase) {
        do {
            _ = try LockPoolCommand.parseAsRoot(c.arguments)
            Issue.record("parsed: \(c.arguments)")
        } catch {
            #expect(LockPoolCommand.exitCode(for: error).rawValue == 64)
            let message = LockPoolCommand.message(for: error)
            #expect(message.contains(c.message), "\(message)")
        }
    }

    @Test func completionScriptsNameTheSubcommands() {
        for shell in [CompletionShell.bash, .zsh, .fish] {
            let script = LockPoolCommand.completionScript(for: shell)
            #expect(script.contains("acquire") && script.contains("reap") && script.contains("run-step"), "\(shell)")
        }
    }
}

/// Durations and times as the CLI reads them.
@Suite struct ArgumentValueTests {
    @Test(arguments: [
        ("10s", Duration.seconds(10)), ("1m30s", .seconds(90)), ("250ms", .milliseconds(250)), ("1.5h", .seconds(5400)),
        ("2", .seconds(2)), ("0.5", .milliseconds(500)), ("0", .zero),
    ])
    func durations(_ text: String, _ expected: Duration) {
        #expect(DurationArgument(argument: text)?.duration == expected)
    }

    @Test(arguments: ["", "abc", "-1s", "10", "1d"].filter { $0 != "10" })
    func badDurations(_ text: String) {
        #expect(DurationArgument(argument: text) == nil)
    }

    @Test func times() throws {
        let now = try Date("2026-05-10T12:00:00Z", strategy: .iso8601)
        #expect(
            TimeArgument("2026-05-02T10:00:00Z", now: now)?.date
                == (try Date("2026-05-02T10:00:00Z", strategy: .iso8601)))
        #expect(TimeArgument("2026-05-02", now: now)?.date == (try Date("2026-05-02T00:00:00Z", strategy: .iso8601)))
        #expect(TimeArgument("36h", now: now)?.date == now.addingTimeInterval(-36 * 3600))
        #expect(TimeArgument("7d", now: now)?.date == now.addingTimeInterval(-7 * 86400))
        #expect(TimeArgument("2w", now: now)?.date == now.addingTimeInterval(-14 * 86400))
        #expect(TimeArgument("soon", now: now) == nil)
        #expect(TimeArgument("-1d", now: now) == nil)
    }
}

/// Settings from flags, `LOCKPOOL_*` variables and `--source FILE`, validated as the resource validates a source.
@Suite struct ConnectionSettingsTests {
    func options(_ arguments: [String]) throws -> ConnectionOptions {
        try ConnectionOptions.parse(arguments)
    }

    func temporaryFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lockpool-cli-\(UUID()).json").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func flagsBeatEnvironmentWhichBeatsTheSourceFile() throws {
        let file = try temporaryFile(
            #"{"source":{"uri":"/from/file.git","branch":"file-branch","retry_delay":"3s","username":"u"}}"#)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let environment = ["LOCKPOOL_BRANCH": "env-branch", "LOCKPOOL_REPO": "/from/env.git"]

        let fromFile = try options(["--source", file]).resolvedSource(pool: "envs", environment: [:]).0
        #expect(fromFile.uri == "/from/file.git" && fromFile.branch == "file-branch")
        #expect(fromFile.retryDelay == .seconds(3))
        #expect(fromFile.pool == "envs")

        let fromEnvironment = try options(["--source", file]).resolvedSource(pool: "envs", environment: environment).0
        #expect(fromEnvironment.uri == "/from/env.git" && fromEnvironment.branch == "env-branch")

        let fromFlags = try options(["--source", file, "--repo", "/flag.git", "--retry-delay", "1s"])
            .resolvedSource(pool: "envs", environment: environment).0
        #expect(fromFlags.uri == "/flag.git" && fromFlags.branch == "env-branch" && fromFlags.retryDelay == .seconds(1))
    }

    @Test func sourceFileMayBeTheSourceObjectItself() throws {
        let file = try temporaryFile(#"{"uri":"/plain.git","branch":"b","pool":"ignored"}"#)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let source = try options([]).resolvedSource(pool: "envs", environment: ["LOCKPOOL_SOURCE": file]).0
        #expect(source.uri == "/plain.git" && source.branch == "b" && source.pool == "envs")
    }

    /// A `--source` file is read by the resource's JSON parser: numbers keep their text, and what the resource refuses
    /// (a duplicate key, a file that is not one JSON object) is refused here too, with a usage error.
    @Test func sourceFileIsReadAsTheResourceReadsIt() throws {
        let exact = try temporaryFile(#"{"uri":"/r.git","retry_delay":0.1,"git_config":[{"name":"a.b","value":"1"}]}"#)
        defer { try? FileManager.default.removeItem(atPath: exact) }
        let source = try options(["--source", exact, "--git-config", "c.d=2"])
            .resolvedSource(pool: "envs", environment: [:]).0
        #expect(source.retryDelay == .milliseconds(100))
        #expect(source.gitConfig.map(\.name) == ["a.b", "c.d"] && source.gitConfig.map(\.value) == ["1", "2"])

        for (text, message) in [
            (#"{"uri":"/r.git","branch":"a","branch":"b"}"#, "duplicate key 'source.branch'"),
            (#"["/r.git"]"#, "expected a JSON object"), (#"{"uri":"#, "expected a JSON object"),
            ("", "expected a JSON object"),
        ] {
            let file = try temporaryFile(text)
            defer { try? FileManager.default.removeItem(atPath: file) }
            #expect {
                try options(["--source", file]).resolvedSource(pool: "envs", environment: [:])
            } throws: { error in
                guard case CLIError.usage(let text, _) = error else { return false }
                return text.contains(message)
            }
        }
    }

    /// Without a branch, the remote's HEAD decides, looked up when the configuration is made (`CLIBranchTests`).
    @Test func branchDefaultsToTheRemoteHead() throws {
        let source = try options(["--repo", "/r.git"]).resolvedSource(pool: "envs", environment: [:]).0
        #expect(source.branch == ConnectionOptions.remoteHeadBranch)
        #expect(source.retryDelay == .seconds(10))
    }

    @Test func credentialsComeFromFilesAndEnvironment() throws {
        let password = try temporaryFile("s3cret\n")
        defer { try? FileManager.default.removeItem(atPath: password) }
        let source = try options([
            "--repo", "https://git.example.com/locks.git", "--username", "ci", "--password-file",
            password,
        ]).resolvedSource(pool: "envs", environment: [:]).0
        #expect(source.username == "ci" && source.password == "s3cret")
        #expect(source.secrets.contains("s3cret"))

        let fromEnvironment = try options(["--repo", "https://git.example.com/locks.git"]).resolvedSource(
            pool: "envs", environment: ["LOCKPOOL_USERNAME": "ci", "LOCKPOOL_PASSWORD": "hunter2"]
        ).0
        #expect(fromEnvironment.password == "hunter2")
    }

    @Test func gitConfigAndTunnelFlags() throws {
        let source = try options([
            "--repo", "ssh://git@example.com/locks.git", "--git-config", "user.name=Alice", "--git-config",
            "http.sslVerify=false", "--https-tunnel", "proxy.example.com:3128", "--skip-ssl-verification",
        ]).resolvedSource(
            pool: "envs", environment: ["LOCKPOOL_HTTPS_TUNNEL_USER": "me", "LOCKPOOL_HTTPS_TUNNEL_PASSWORD": "pw"]
        ).0
        #expect(source.gitConfigValue("user.name") == "Alice")
        #expect(source.gitConfigValue("http.sslVerify") == "false")
        #expect(
            source.httpsTunnel
                == HTTPSTunnel(
                    proxyHost: "proxy.example.com", proxyPort: 3128, proxyUser: "me",
                    proxyPassword: "pw"))
        #expect(source.skipSSLVerification)
    }

    @Test func missingRepositoryIsAUsageError() throws {
        do {
            _ = try options([]).resolvedSource(pool: "envs", environment: [:])
            Issue.record("resolved without a repository")
        } catch let error as CLIError {
            #expect(ExitStatus.of(error) == 64)
            #expect(error.description == "no lock repository given: use --repo URI, LOCKPOOL_REPO or --source FILE")
        }
    }

    @Test func invalidSourceValuesAreNamed() throws {
        let file = try temporaryFile(#"{"uri":"/r.git","branch":"b","retry_delay":"soon","skip_ssl_verification":3}"#)
        defer { try? FileManager.default.removeItem(atPath: file) }
        do {
            _ = try options(["--source", file]).resolvedSource(pool: "envs", environment: [:])
            Issue.record("resolved an invalid source")
        } catch let error as CLIError {
            #expect(error.description.contains("invalid setting (source.retry_delay: \"soon\" is not a duration"))
            #expect(error.description.contains("source.skip_ssl_verification"))
        }
    }

    @Test func missingFilesAreNamed() throws {
        do {
            _ = try options(["--source", "/nonexistent/source.json"]).resolvedSource(pool: "envs", environment: [:])
            Issue.record("resolved a missing file")
        } catch let error as CLIError {
            #expect(error.description == "--source /nonexistent/source.json: the file does not exist")
            #expect(ExitStatus.of(error) == 1)
        }
    }

    @Test func badDurationInEnvironmentIsAUsageError() throws {
        do {
            _ = try options([]).timeout(["LOCKPOOL_TIMEOUT": "later"])
            Issue.record("accepted a bad timeout")
        } catch let error as CLIError {
            #expect(ExitStatus.of(error) == 64)
            #expect(error.description.contains("LOCKPOOL_TIMEOUT"))
        }
        #expect(try options([]).timeout(["LOCKPOOL_TIMEOUT": "5m"]) == .seconds(300))
        #expect(try options(["--timeout", "1s"]).timeout(["LOCKPOOL_TIMEOUT": "5m"]) == .seconds(1))
    }

    @Test func timeoutExitStatusIs75() {
        #expect(ExitStatus.of(LockPoolError.timedOut(after: .seconds(1), reason: "r")) == 75)
        #expect(ExitStatus.of(LockPoolError.lockMissing(lock: "a", pool: "b")) == 1)
        #expect(ExitStatus.of(CLIError.unhealthy("x")) == 65)
    }
}

/// The text renderers: tables and the live status line.
@Suite struct RenderingTests {
    @Test func tablePadsColumnsAndTrimsTrailingSpace() {
        var table = Table("POOL", "LOCK", "STATE")
        table.add("envs", "env-1", "claimed")
        table.add("ops/eu", "e", "unclaimed")
        #expect(
            table.render() == """
                POOL    LOCK   STATE
                envs    env-1  claimed
                ops/eu  e      unclaimed
                """)
    }

    final class Sink: Sendable {
        let text = Mutex("")
        func write(_ part: String) { text.withLock { $0 += part } }
        var value: String { text.withLock { $0 } }
    }

    @Test func liveLineShowsHoldersPollsAndLostRaces() throws {
        let sink = Sink()
        let now = try Date("2026-05-02T10:30:00Z", strategy: .iso8601)
        let line = LiveStatusLine(
            terminal: Terminal(stderrIsTerminal: true, stdoutIsTerminal: false, allowsColor: false),
            write: sink.write, width: { 200 }, now: { now })
        line.handle(.started(.acquire, lock: nil, pool: "envs", claimed: false))
        line.handle(.waitingStarted(.acquire))
        let holder = LockStatus(
            pool: "envs", lock: "env-1", state: .claimed,
            holder: Holder(description: "main/deploy/apply build 42"), since: now.addingTimeInterval(-720),
            leaseExpires: now.addingTimeInterval(-180))
        line.handle(.holders([holder], total: 3, waitingForClaim: false))
        line.handle(.poll)
        line.handle(.lostRace)
        line.finish()
        let output = sink.value
        #expect(output.contains("claiming a lock in pool 'envs'\n"))
        #expect(
            output.contains(
                "waiting 0s: env-1 claimed by main/deploy/apply build 42 for 12m, lease expired 3m ago (lockpool reap "
                    + "frees it) · and 2 more"
                    + " · 1 poll · 1 lost race"), "\(output)")
        #expect(output.hasSuffix("\r\u{1B}[2K"))
        #expect(!output.contains("\u{1B}[3"), "no colour without a colour terminal")
    }

    @Test func liveLineIsCutToTheTerminalWidth() {
        let sink = Sink()
        let line = LiveStatusLine(
            terminal: Terminal(stderrIsTerminal: true, stdoutIsTerminal: false, allowsColor: false),
            write: sink.write, width: { 40 })
        line.handle(.waitingStarted(.claim))
        line.handle(
            .holders(
                [LockStatus(pool: "p", lock: String(repeating: "x", count: 80), state: .claimed)], total: 1,
                waitingForClaim: false))
        line.finish()
        let drawn = sink.value.components(separatedBy: "\r\u{1B}[2K").filter { !$0.isEmpty }
        #expect(!drawn.isEmpty)
        for part in drawn { #expect(part.count <= 39, "\(part)") }
        #expect(drawn.last?.hasSuffix("…") == true)
    }

    @Test func colourFollowsTheTerminalAndNoColor() {
        let colour = Terminal.current(environment: [:])
        #expect(colour.allowsColor)
        #expect(!Terminal.current(environment: ["NO_COLOR": "1"]).allowsColor)
        #expect(!Terminal.current(environment: ["TERM": "dumb"]).allowsColor)
        let on = Terminal(stderrIsTerminal: true, stdoutIsTerminal: true, allowsColor: true)
        #expect(on.styled("x", .red) == "\u{1B}[31mx\u{1B}[0m")
        let off = Terminal(stderrIsTerminal: false, stdoutIsTerminal: false, allowsColor: true)
        #expect(off.styled("x", .red) == "x")
    }

    @Test func plainProgressPrintsLinesWithoutDots() {
        let sink = Sink()
        let plain = PlainProgress(write: sink.write)
        plain.handle(.started(.acquire, lock: nil, pool: "envs", claimed: false))
        plain.handle(.waitingStarted(.acquire))
        plain.handle(.poll)
        plain.handle(.lostRace)
        plain.handle(.waitingStatus("waiting 30s: env-1 claimed by x since 2026-05-02T10:00:00Z"))
        plain.handle(.succeeded(.acquire))
        #expect(
            sink.value == """
                acquiring lock on: envs
                waiting for lock
                waiting 30s: env-1 claimed by x since 2026-05-02T10:00:00Z
                acquired!

                """)
    }
}

/// Which Concourse API path names a holder's build.
@Suite struct ConcourseAPIPathTests {
    let api = ConcourseAPI(baseURL: "https://ci.example.com/", token: nil)

    @Test func buildIDWins() {
        #expect(api.baseURL == "https://ci.example.com")
        #expect(
            api.path(of: BuildInfo(team: "main", pipeline: "p", job: "j", name: "4", id: "1042"))
                == "/api/v1/builds/1042")
    }

    @Test func jobBuildPathIsPercentEncoded() {
        #expect(
            api.path(of: BuildInfo(team: "main", pipeline: "deploy x", job: "a/b", name: "7.1"))
                == "/api/v1/teams/main/pipelines/deploy%20x/jobs/a%2Fb/builds/7.1")
    }

    @Test func jsonInstanceVarsGoInTheQuery() {
        let path = api.path(
            of: BuildInfo(team: "main", pipeline: "p", job: "j", name: "4", instanceVars: #"{"branch":"main"}"#))
        #expect(path == "/api/v1/teams/main/pipelines/p/jobs/j/builds/4?vars=%7B%22branch%22%3A%22main%22%7D")
    }

    @Test func instanceVarsFromASubjectCannotBeAsked() {
        // Asking without them would name another instance of the pipeline.
        #expect(
            api.path(of: BuildInfo(team: "main", pipeline: "p", job: "j", name: "4", instanceVars: "b:main")) == nil)
        #expect(api.path(of: BuildInfo(pipeline: "p", job: "j", name: "4")) == nil)
        #expect(api.path(of: BuildInfo(url: "https://ci/builds/5")) == nil)
    }
}
