import Foundation
import TestSupport
import Testing

/// The same bounds and errors in every subcommand (issue 18): an unknown pool, an interruption.
@Suite(.timeLimit(.minutes(3)))
struct CLIConsistencyTests {
    /// `history`, `stats` and `status` fail alike for a pool that is not on the branch (a typo), and `history` of a
    /// pool since removed still shows its past.
    @Test func anUnknownPoolFailsAlikeEverywhere() throws {
        let cli = try CLIHarness("cli-unknown-pool", locks: ["env-1": .unclaimed()])
        let expected = "Error: pool 'envz' does not exist on branch 'master' (expected envz/claimed and envz/unclaimed)"
        for command in ["history", "stats", "status"] {
            let result = try cli.run([command, "envz"])
            #expect(result.status == 1 && result.lastStderrLine == expected, "\(command): \(result)")
        }

        // A pool with a history, removed since: history shows it; status says it is gone.
        _ = try cli.run(["claim", "envs", "env-1"])
        _ = try cli.repository.commit(message: "drop the envs pool") { work in
            try FileManager.default.removeItem(at: work.appendingPathComponent("envs"))
        }
        _ = try cli.repository.addPool("dbs")
        let history = try cli.run(["history", "envs"])
        #expect(history.status == 0 && history.stdoutText.contains("env-1"), "\(history)")
    }

    /// A window under a minute has no daily rate (one event in a second is not 86,400 a day).
    @Test func aWindowUnderAMinuteHasNoDailyRate() throws {
        let cli = try CLIHarness("cli-stats-short", locks: ["env-1": .unclaimed()])
        let now = Date()
        let format = ISO8601DateFormatter()
        let (since, until) = (format.string(from: now.addingTimeInterval(-30)), format.string(from: now))
        let short = try cli.run(["stats", "envs", "--since", since, "--until", until])
        #expect(
            short.status == 0 && short.stdoutText.contains("no daily rate: the window is under a minute"), "\(short)")
        #expect(!short.stdoutText.contains("per day"), "\(short)")
        let json = try cli.run(["stats", "envs", "--since", since, "--until", until, "--json"])
        #expect(json.status == 0 && json.stdoutText.contains("\"per_day\" : 0"), "\(json)")
    }

    /// `--timeout` bounds every subcommand that talks to the remote: against a closed port each exits 75 once the
    /// bound has passed, not after the whole retry schedule. All run at once, awaited without blocking a thread of the
    /// test pool (the in-process suites share it).
    @Test func timeoutBoundsEverySubcommand() async throws {
        let commands: [[String]] = [
            ["status"], ["show", "envs", "env-1"], ["acquire", "envs"], ["claim", "envs", "env-1"],
            ["release", "envs", "env-1"], ["add", "envs", "env-9"], ["remove", "envs", "env-1"],
            ["update", "envs", "env-1"], ["wait", "envs", "env-1"], ["history"], ["stats"],
            ["reap", "envs", "--stale-after", "1h"], ["verify"], ["init", "envs"],
            ["renew", "envs", "env-1", "--claim", String(repeating: "a", count: 40), "--lease", "1h"],
        ]
        let scratch = try Scratch(label: "cli-timeout")
        let executables = try Executables(scratch: scratch)
        let port = try GitDaemon.freePort()
        let home = try scratch.directory("home").path
        let started = Date()
        let running = try commands.map { arguments in
            try executables.startLockpool(
                arguments + ["--repo", "git://127.0.0.1:\(port)/locks.git", "--branch", "master", "--timeout", "2s"],
                environment: ["HOME": home])
        }
        for (arguments, process) in zip(commands, running) {
            let result = try await process.wait(timeout: .seconds(60))
            #expect(result.status == 75, "\(arguments[0]): \(result)")
            #expect(
                result.lastStderrLine?.hasPrefix("Error: timed out after 2s") == true, "\(arguments[0]): \(result)")
        }
        // 15 processes at once on 2 cores: each needs 2 s plus its start.
        #expect(Date().timeIntervalSince(started) < 20, "took \(Date().timeIntervalSince(started)) s")
    }

    /// A mistyped subcommand gets the closest name; a word far from every name gets the list.
    @Test func aMistypedSubcommandGetsASuggestion() throws {
        let scratch = try Scratch(label: "cli-suggest")
        let executables = try Executables(scratch: scratch)
        let typo = try executables.lockpool(["acqure", "envs"])
        #expect(typo.status == 64, "\(typo)")
        #expect(
            typo.lastStderrLine
                == "Error: unknown subcommand \"acqure\"; did you mean 'acquire'? (lockpool --help lists them)",
            "\(typo)")
        let prefix = try executables.lockpool(["sttus"])
        #expect(prefix.status == 64 && prefix.stderr.contains("did you mean 'status'?"), "\(prefix)")
        let far = try executables.lockpool(["envs"])
        #expect(far.status == 64 && far.stderr.contains("the subcommands are init, status, show, acquire"), "\(far)")
        let option = try executables.lockpool(["acquire", "envs", "--tmeout", "3s"])
        #expect(option.status == 64 && option.stderr.contains("--timeout"), "\(option)")
    }
}
