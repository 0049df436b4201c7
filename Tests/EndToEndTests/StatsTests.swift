import Foundation
import TestSupport
import Testing

/// `lockpool stats` end to end: the built binary on a bare lock repository (a local path) whose history is scripted
/// commit by commit with known committer times.

/// 2026-05-02 at `hour`:`minute` UTC.
private func at(_ hour: Int, _ minute: Int = 0) -> Date {
    Date(timeIntervalSince1970: 1_777_716_000 + Double((hour - 10) * 3600 + minute * 60))
}

/// `date` as an RFC 3339 argument.
private func rfc(_ date: Date) -> String { date.formatted(Date.ISO8601FormatStyle(timeZone: .gmt)) }

/// A lockpool schema-1 message: subject with the Pix4D prefix when a build is named, then the trailers.
private func lockpoolMessage(
    _ verb: String, operation: String, lock: String, state: String, waited: String? = nil,
    build: (team: String, pipeline: String, job: String, name: String)? = nil
) -> String {
    let prefix = build.map { "\($0.team)/\($0.pipeline)/\($0.job) build \($0.name) " } ?? ""
    var trailers = [
        "Lock-Schema: 1", "Lock-Operation: \(operation)", "Lock-Pool: envs", "Lock-Name: \(lock)",
        "Lock-State: \(state)",
    ]
    if let waited { trailers.append("Lock-Waited: \(waited)") }
    if let build {
        trailers += [
            "Build-Team: \(build.team)", "Build-Pipeline: \(build.pipeline)", "Build-Job: \(build.job)",
            "Build-Name: \(build.name)",
        ]
    }
    trailers += [
        "Lock-Tool: lockpool 0.0.0-test (cli)", "Lock-Nonce: \(UUID().uuidString.lowercased().filter(\.isHexDigit))",
    ]
    return "\(prefix)\(verb): \(lock)\n\n" + trailers.joined(separator: "\n") + "\n"
}

/// The scripted lock repository and the `lockpool` binary.
///
/// Pools `envs` (locks `a`, `b`), `idle` (lock `z`, never touched) and `empty` (no locks), seeded at 10:00, then:
/// 10:00 claim a (Pix4D subject, main/deploy/apply build 1); 10:30 acquire b (lockpool, main/deploy/apply build 2,
/// waited 1.5s); 11:00 release a (Pix4D); 11:15 add c (lockpool, by Alice); 11:30 claim a (lockpool,
/// main/test/unit build 7, waited 40s); 12:00 remove a; 12:30 release b; 12:40 claim c by hand; 12:50 update b;
/// 13:30 release c.
private struct StatsHarness {
    let scratch: Scratch
    let origin: URL
    let home: URL
    let executables: Executables

    init(_ label: String) throws {
        scratch = try Scratch(label: label)
        let git = try GitCLI(scratch: scratch)
        origin = scratch.url("origin.git")
        try git.run(["init", "--quiet", "--bare", "--initial-branch=master", origin.path])
        let work = try scratch.directory("work")
        let workGit = git.inDirectory(work)
        try workGit.run(["init", "--quiet", "--initial-branch=master"])
        home = try scratch.directory("home")
        executables = try Executables(scratch: scratch)

        func write(_ path: String, _ content: String) throws {
            let file = work.appendingPathComponent(path)
            try FileManager.default.createDirectory(
                at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(content.utf8).write(to: file)
        }
        func move(_ lock: String, toClaimed: Bool) throws {
            let (from, to) = toClaimed ? ("unclaimed", "claimed") : ("claimed", "unclaimed")
            try workGit.run(["mv", "envs/\(from)/\(lock)", "envs/\(to)/\(lock)"])
        }
        func commit(_ message: String, at time: Date, by committer: (String, String)? = nil) throws {
            let stamp = "@\(Int(time.timeIntervalSince1970)) +0000"
            var environment = ["GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp]
            if let committer {
                environment["GIT_COMMITTER_NAME"] = committer.0
                environment["GIT_COMMITTER_EMAIL"] = committer.1
            }
            try workGit.run(["add", "--all"])
            try workGit.run(
                ["commit", "--quiet", "--cleanup=verbatim", "--file=-"], stdin: Data(message.utf8),
                extraEnvironment: environment)
        }
        let deploy2 = (team: "main", pipeline: "deploy", job: "apply", name: "2")
        let unit7 = (team: "main", pipeline: "test", job: "unit", name: "7")

        for path in [
            "envs/claimed/.gitkeep", "envs/unclaimed/.gitkeep", "idle/claimed/.gitkeep", "idle/unclaimed/.gitkeep",
            "empty/claimed/.gitkeep", "empty/unclaimed/.gitkeep",
        ] {
            try write(path, "")
        }
        try write("envs/unclaimed/a", "a")
        try write("envs/unclaimed/b", "b")
        try write("idle/unclaimed/z", "")
        try commit("seed pools", at: at(10))
        try move("a", toClaimed: true)
        try commit("main/deploy/apply build 1 claiming: a", at: at(10))
        try move("b", toClaimed: true)
        try commit(
            lockpoolMessage(
                "claiming", operation: "acquire", lock: "b", state: "claimed", waited: "1.5s", build: deploy2),
            at: at(10, 30))
        try move("a", toClaimed: false)
        try commit("main/deploy/apply build 1 unclaiming: a", at: at(11))
        try write("envs/unclaimed/c", "c")
        try commit(
            lockpoolMessage("adding unclaimed", operation: "add", lock: "c", state: "unclaimed"), at: at(11, 15),
            by: ("Alice Doe", "alice@example.com"))
        try move("a", toClaimed: true)
        try commit(
            lockpoolMessage("claiming", operation: "claim", lock: "a", state: "claimed", waited: "40s", build: unit7),
            at: at(11, 30))
        try workGit.run(["rm", "--quiet", "envs/claimed/a"])
        try commit(
            lockpoolMessage("removing", operation: "remove", lock: "a", state: "removed", build: unit7), at: at(12))
        try move("b", toClaimed: false)
        try commit(
            lockpoolMessage("unclaiming", operation: "release", lock: "b", state: "unclaimed", build: deploy2),
            at: at(12, 30))
        try move("c", toClaimed: true)
        try commit("taking c by hand", at: at(12, 40))
        try write("envs/unclaimed/b", "b, changed")
        try commit(lockpoolMessage("updating", operation: "update", lock: "b", state: "unclaimed"), at: at(12, 50))
        try move("c", toClaimed: false)
        try commit(
            lockpoolMessage("unclaiming", operation: "release", lock: "c", state: "unclaimed"), at: at(13, 30))
        try workGit.run(["push", "--quiet", origin.path, "HEAD:refs/heads/master"])
    }

    /// Runs `lockpool stats arguments… --repo ORIGIN --branch master`.
    func stats(_ arguments: [String]) throws -> ExecutableResult {
        try executables.lockpool(
            ["stats"] + arguments + ["--repo", origin.path, "--branch", "master"],
            environment: ["HOME": home.path], timeout: .seconds(120))
    }
}

/// `stats --json`.
private struct StatsJSON: Decodable {
    struct Holds: Decodable, Equatable {
        let ended: Int
        let p50Seconds, p90Seconds, maxSeconds: Double?
        let open: Int
        let oldestOpenSeconds: Double?
    }
    struct Waits: Decodable, Equatable {
        let recorded: Int
        let p50Seconds, p90Seconds, maxSeconds: Double
    }
    struct Operations: Decodable, Equatable {
        let total: Int
        let perDay: Double
        let claims, releases, adds, removes, updates: Int
    }
    struct Lock: Decodable, Equatable {
        let lock, state: String
        let utilisation: Double?
        let claimedSeconds, lockSeconds: Double
        let claims: Int
        let holds: Holds
    }
    struct TopHolder: Decodable, Equatable {
        let holder: String
        let claims: Int
        let holdSeconds: Double
    }
    struct Pool: Decodable {
        let pool, since, until: String
        let windowSeconds: Double
        let utilisation: Double?
        let claimedSeconds, lockSeconds: Double
        let holds: Holds
        let waits: Waits?
        let operations: Operations
        let locks: [Lock]
        let topHolders: [TopHolder]
        let holders: Int
    }
    let branch, tip: String
    let pools: [Pool]
}

private let handHolder = "\(GitCLI.authorName) <\(GitCLI.authorEmail)>"

@Suite struct StatsTests {
    @Test func tableShowsTheExactFigures() throws {
        let harness = try StatsHarness("stats-table")
        let result = try harness.stats(["envs", "--since", rfc(at(10)), "--until", rfc(at(13))])
        #expect(result.status == 0, "\(result)")
        #expect(!result.hasEscapes)
        #expect(
            result.stdoutText == """
                envs: 2026-05-02T10:00:00Z to 2026-05-02T13:00:00Z (3h0m)
                utilisation 56.8%: 3h50m claimed of 6h45m lock time
                holds: 3 ended (p50 1h0m0s, p90 2h0m0s, max 2h0m0s); 1 open (oldest 20m0s)
                operations: 11 (88.0 per day): claims 4, releases 2, adds 3, removes 1, updates 1
                waits: 2 of 4 claims recorded (p50 1.5s, p90 40s, max 40s)

                LOCK  STATE      UTILISATION  CLAIMS  HOLD P50  HOLD P90  HOLD MAX  OPEN
                a     absent     75.0%        2       30m0s     1h0m0s    1h0m0s    -
                b     unclaimed  66.7%        1       2h0m0s    2h0m0s    2h0m0s    -
                c     claimed    19.0%        1       -         -         -         20m0s

                TOP HOLDER                             CLAIMS  HOLD TIME
                main/deploy/apply                      2       3h0m0s
                main/test/unit                         1       30m0s
                Lockpool Test <test@lockpool.invalid>  1       20m0s

                """)
    }

    @Test func everyPoolByDefaultFromItsFirstEvent() throws {
        let harness = try StatsHarness("stats-all")
        let result = try harness.stats(["--until", rfc(at(13)), "--top", "1"])
        #expect(result.status == 0, "\(result)")
        let sections = result.stdoutText.components(separatedBy: "\n\n")
        #expect(sections.first?.hasPrefix("empty: 2026-05-02T13:00:00Z to 2026-05-02T13:00:00Z (0s)\n") == true)
        #expect(result.stdoutText.contains("\nenvs: 2026-05-02T10:00:00Z to 2026-05-02T13:00:00Z (3h0m)\n"))
        #expect(result.stdoutText.contains("\nidle: 2026-05-02T10:00:00Z to 2026-05-02T13:00:00Z (3h0m)\n"))
        #expect(
            result.stdoutText.contains("\nTOP HOLDER         CLAIMS  HOLD TIME\nmain/deploy/apply  2       3h0m0s\n"))
        #expect(!result.stdoutText.contains("main/test/unit"))
    }

    @Test func jsonHasTheExactNumbers() throws {
        let harness = try StatsHarness("stats-json")
        let result = try harness.stats(["envs", "idle", "--since", rfc(at(10)), "--until", rfc(at(13)), "--json"])
        #expect(result.status == 0, "\(result)")
        let report = try result.decodeSnakeCase(StatsJSON.self)
        #expect(report.branch == "master" && report.tip.count == 40)
        #expect(report.pools.map(\.pool) == ["envs", "idle"])
        let envs = report.pools[0]
        #expect(envs.since == "2026-05-02T10:00:00Z" && envs.until == "2026-05-02T13:00:00Z")
        #expect(envs.windowSeconds == 10800)
        #expect(envs.utilisation == 13800.0 / 24300.0)
        #expect(envs.claimedSeconds == 13800 && envs.lockSeconds == 24300)
        #expect(
            envs.holds
                == StatsJSON.Holds(
                    ended: 3, p50Seconds: 3600, p90Seconds: 7200, maxSeconds: 7200, open: 1, oldestOpenSeconds: 1200))
        #expect(envs.waits == StatsJSON.Waits(recorded: 2, p50Seconds: 1.5, p90Seconds: 40, maxSeconds: 40))
        #expect(
            envs.operations
                == StatsJSON.Operations(
                    total: 11, perDay: 88, claims: 4, releases: 2, adds: 3, removes: 1, updates: 1))
        #expect(
            envs.locks == [
                StatsJSON.Lock(
                    lock: "a", state: "absent", utilisation: 0.75, claimedSeconds: 5400, lockSeconds: 7200, claims: 2,
                    holds: StatsJSON.Holds(
                        ended: 2, p50Seconds: 1800, p90Seconds: 3600, maxSeconds: 3600, open: 0,
                        oldestOpenSeconds: nil)),
                StatsJSON.Lock(
                    lock: "b", state: "unclaimed", utilisation: 7200.0 / 10800.0, claimedSeconds: 7200,
                    lockSeconds: 10800, claims: 1,
                    holds: StatsJSON.Holds(
                        ended: 1, p50Seconds: 7200, p90Seconds: 7200, maxSeconds: 7200, open: 0,
                        oldestOpenSeconds: nil)),
                StatsJSON.Lock(
                    lock: "c", state: "claimed", utilisation: 1200.0 / 6300.0, claimedSeconds: 1200, lockSeconds: 6300,
                    claims: 1,
                    holds: StatsJSON.Holds(
                        ended: 0, p50Seconds: nil, p90Seconds: nil, maxSeconds: nil, open: 1, oldestOpenSeconds: 1200)),
            ])
        #expect(
            envs.topHolders == [
                StatsJSON.TopHolder(holder: "main/deploy/apply", claims: 2, holdSeconds: 10800),
                StatsJSON.TopHolder(holder: "main/test/unit", claims: 1, holdSeconds: 1800),
                StatsJSON.TopHolder(holder: handHolder, claims: 1, holdSeconds: 1200),
            ])
        #expect(envs.holders == 3)
        let idle = report.pools[1]
        #expect(idle.utilisation == 0 && idle.waits == nil && idle.topHolders.isEmpty)
        #expect(idle.operations.total == 1 && idle.operations.perDay == 8)

        // Absent figures are null, never missing.
        let object = try #require(try result.json() as? [String: Any])
        let pools = try #require(object["pools"] as? [[String: Any]])
        #expect(pools[1]["waits"] is NSNull)
        let holds = try #require(pools[1]["holds"] as? [String: Any])
        #expect(holds["p50_seconds"] is NSNull && holds["oldest_open_seconds"] is NSNull)
    }

    @Test func sinceAndUntilCutThroughHolds() throws {
        let harness = try StatsHarness("stats-cut")
        let result = try harness.stats(["envs", "--since", rfc(at(10, 45)), "--until", rfc(at(12, 45)), "--json"])
        #expect(result.status == 0, "\(result)")
        let envs = try #require(try result.decodeSnakeCase(StatsJSON.self).pools.first)
        #expect(envs.windowSeconds == 7200)
        #expect(envs.utilisation == 9300.0 / 17100.0)
        #expect(envs.locks.map(\.utilisation) == [0.6, 0.875, 300.0 / 5400.0])
        #expect(envs.locks.map(\.claims) == [1, 0, 1])
        // The hold of a that began at 10:00 ends at 11:00 inside the window: its full hour counts.
        #expect(
            envs.holds
                == StatsJSON.Holds(
                    ended: 3, p50Seconds: 3600, p90Seconds: 7200, maxSeconds: 7200, open: 1, oldestOpenSeconds: 300))
        #expect(envs.waits == StatsJSON.Waits(recorded: 1, p50Seconds: 40, p90Seconds: 40, maxSeconds: 40))
        #expect(
            envs.operations
                == StatsJSON.Operations(total: 6, perDay: 72, claims: 2, releases: 2, adds: 1, removes: 1, updates: 0))
        #expect(
            envs.topHolders == [
                StatsJSON.TopHolder(holder: "main/test/unit", claims: 1, holdSeconds: 1800),
                StatsJSON.TopHolder(holder: handHolder, claims: 1, holdSeconds: 300),
            ])

        let quiet = try harness.stats(["envs", "--since", rfc(at(13, 40)), "--until", rfc(at(14))])
        #expect(quiet.status == 0, "\(quiet)")
        #expect(quiet.stdoutText.contains("\nutilisation 0.0%: 0s claimed of 40m lock time\n"))
        #expect(quiet.stdoutText.contains("\nholds: none ended; none open\n"))
        #expect(quiet.stdoutText.contains("\nwaits: none recorded (0 of 0 claims)\n"))
        #expect(quiet.stdoutText.hasSuffix("\ntop holders: no claims in the window\n"))
    }

    @Test func prometheusText() throws {
        let harness = try StatsHarness("stats-prometheus")
        let result = try harness.stats([
            "envs", "--since", rfc(at(10)), "--until", rfc(at(13)), "--format", "prometheus",
        ])
        #expect(result.status == 0, "\(result)")
        let lines = result.stdoutText.components(separatedBy: "\n")
        #expect(lines.last == "" && !lines.dropLast().contains(""))
        for line in [
            "# HELP lockpool_stats_window_seconds Length of the statistics window (--since to --until) in seconds",
            "# TYPE lockpool_stats_window_seconds gauge",
            #"lockpool_stats_window_seconds{pool="envs"} 10800.0"#,
            #"lockpool_stats_utilisation_ratio{pool="envs",lock="a"} 0.75"#,
            #"lockpool_stats_hold_seconds{pool="envs",quantile="0.5"} 3600.0"#,
            #"lockpool_stats_hold_seconds{pool="envs",quantile="0.9"} 7200.0"#,
            #"lockpool_stats_hold_seconds{pool="envs",quantile="1"} 7200.0"#,
            #"lockpool_stats_open_holds{pool="envs"} 1.0"#,
            #"lockpool_stats_oldest_open_hold_seconds{pool="envs"} 1200.0"#,
            #"lockpool_stats_wait_seconds{pool="envs",quantile="0.5"} 1.5"#,
            #"lockpool_stats_wait_seconds{pool="envs",quantile="1"} 40.0"#,
            #"lockpool_stats_operations_per_day{pool="envs"} 88.0"#,
            #"lockpool_stats_operations{pool="envs",kind="claim"} 4.0"#,
            #"lockpool_stats_claims{pool="envs",holder="main/deploy/apply"} 2.0"#,
            #"lockpool_stats_claims{pool="envs",holder="Lockpool Test <test@lockpool.invalid>"} 1.0"#,
            #"lockpool_stats_holder_hold_seconds{pool="envs",holder="main/test/unit"} 1800.0"#,
        ] {
            #expect(lines.contains(line), "\(line) missing from:\n\(result.stdoutText)")
        }
        let families = lines.filter { $0.hasPrefix("# TYPE ") }
        #expect(families.count == lines.filter { $0.hasPrefix("# HELP ") }.count)
        #expect(families.allSatisfy { $0.hasPrefix("# TYPE lockpool_stats_") && $0.hasSuffix(" gauge") })
    }

    @Test func unknownPoolFailsAndBadTopIsAUsageError() throws {
        let harness = try StatsHarness("stats-errors")
        expectCLIFailure(
            try harness.stats(["envs", "nope"]),
            "pool 'nope' does not exist on branch 'master' (expected nope/claimed and nope/unclaimed)")
        expectUsageError(try harness.stats(["--top", "0"]), "--top must be at least 1")
        expectUsageError(try harness.stats(["--top", "lots"]), "--top")
        expectUsageError(
            try harness.stats(["--since", rfc(at(13)), "--until", rfc(at(12))]), "--since must not be after --until")
    }
}
