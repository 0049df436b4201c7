import ArgumentParser
import Foundation
import LockPool
import Testing

@testable import LockPoolCLI

/// `lockpool stats`: options, validation and the table rendering, without a repository.
@Suite struct StatsParsingTests {
    @Test func statsIsASubcommandAfterHistory() {
        let names = LockPoolCommand.configuration.subcommands.map { $0._commandName }
        #expect(names.firstIndex(of: "stats") == names.firstIndex(of: "history").map { $0 + 1 })
    }

    @Test func defaults() throws {
        let stats = try #require(try LockPoolCommand.parseAsRoot(["stats"]) as? StatsCommand)
        #expect(stats.pools.isEmpty)
        #expect(stats.since == nil && stats.until == nil)
        #expect(stats.top == 5)
        #expect(!stats.json && stats.format == nil)
        #expect(stats.output == .table)
    }

    @Test func everyOption() throws {
        let command = try LockPoolCommand.parseAsRoot([
            "stats", "envs", "ops/eu", "--since", "2026-05-02T10:00:00Z", "--until", "2026-05-03", "--top", "3",
            "--format", "prometheus", "--repo", "/tmp/r.git", "--branch", "locks",
        ])
        let stats = try #require(command as? StatsCommand)
        #expect(stats.pools == ["envs", "ops/eu"])
        #expect(stats.since?.date == (try Date("2026-05-02T10:00:00Z", strategy: .iso8601)))
        #expect(stats.until?.date == (try Date("2026-05-03T00:00:00Z", strategy: .iso8601)))
        #expect(stats.top == 3)
        #expect(stats.output == .prometheus)
        #expect(stats.options.repo == "/tmp/r.git" && stats.options.branch == "locks")
    }

    @Test(arguments: [
        (["--json"], StatsFormat.json), (["--format", "json"], .json), (["--json", "--format", "json"], .json),
        (["--format", "table"], .table), (["--format", "prometheus"], .prometheus),
    ])
    func formats(_ arguments: [String], _ expected: StatsFormat) throws {
        let stats = try #require(try LockPoolCommand.parseAsRoot(["stats"] + arguments) as? StatsCommand)
        #expect(stats.output == expected)
    }

    @Test func agesCountBackFromNow() throws {
        let before = Date()
        let stats = try #require(try LockPoolCommand.parseAsRoot(["stats", "--since", "7d"]) as? StatsCommand)
        let since = try #require(stats.since?.date)
        #expect(abs(since.timeIntervalSince(before) + 7 * 86400) < 60)
    }

    @Test func helpStatesTheDefinitionsAndExitStatuses() {
        let help = LockPoolCommand.helpMessage(for: StatsCommand.self, columns: 1000)
        for text in ["--since", "--until", "--top", "--format", "prometheus", "nearest", "64 usage error"] {
            #expect(help.contains(text), "\(text) missing from:\n\(help)")
        }
    }

    // MARK: Rendering

    private static let start = Date(timeIntervalSince1970: 1_777_716_000)  // 2026-05-02T10:00:00Z

    @Test func tableOfAPool() {
        let stats = PoolStatistics(
            pool: "envs", since: Self.start, until: Self.start.addingTimeInterval(10800), claimedTime: .seconds(5400),
            lockTime: .seconds(10800),
            holds: PoolStatistics.Holds(
                ended: PoolStatistics.Percentiles(
                    count: 3, p50: .seconds(3600), p90: .seconds(7200), max: .seconds(7200)),
                open: 1, oldestOpen: .seconds(1200)),
            waits: PoolStatistics.Percentiles(count: 2, p50: .milliseconds(1500), p90: .seconds(40), max: .seconds(40)),
            operations: PoolStatistics.Operations(
                total: 11, claims: 4, releases: 2, adds: 3, removes: 1, updates: 1, perDay: 88),
            locks: [
                PoolStatistics.Lock(
                    lock: "a", state: .absent, claimedTime: .seconds(5400), lockTime: .seconds(7200), claims: 2,
                    holds: PoolStatistics.Holds(
                        ended: PoolStatistics.Percentiles([.seconds(3600), .seconds(1800)]), open: 0, oldestOpen: nil)
                ),
                PoolStatistics.Lock(
                    lock: "c", state: .claimed, claimedTime: .zero, lockTime: .seconds(3600), claims: 1,
                    holds: PoolStatistics.Holds(ended: nil, open: 1, oldestOpen: .seconds(1200))),
            ],
            topHolders: [PoolStatistics.TopHolder(name: "main/deploy/apply", claims: 2, holdTime: .seconds(10800))],
            holderCount: 1)
        let plain = Terminal(stderrIsTerminal: false, stdoutIsTerminal: false, allowsColor: false)
        #expect(
            StatsCommand.render(stats, terminal: plain) == """
                envs: 2026-05-02T10:00:00Z to 2026-05-02T13:00:00Z (3h0m)
                utilisation 50.0%: 1h30m claimed of 3h0m lock time
                holds: 3 ended (p50 1h0m0s, p90 2h0m0s, max 2h0m0s); 1 open (oldest 20m0s)
                operations: 11 (88.0 per day): claims 4, releases 2, adds 3, removes 1, updates 1
                waits: 2 of 4 claims recorded (p50 1.5s, p90 40s, max 40s)

                LOCK  STATE    UTILISATION  CLAIMS  HOLD P50  HOLD P90  HOLD MAX  OPEN
                a     absent   75.0%        2       30m0s     1h0m0s    1h0m0s    -
                c     claimed  0.0%         1       -         -         -         20m0s

                TOP HOLDER         CLAIMS  HOLD TIME
                main/deploy/apply  2       3h0m0s
                """)
    }

    @Test func tableOfAnEmptyWindow() {
        let stats = PoolStatistics(
            pool: "idle", since: Self.start, until: Self.start, claimedTime: .zero, lockTime: .zero,
            holds: PoolStatistics.Holds(ended: nil, open: 0, oldestOpen: nil), waits: nil,
            operations: PoolStatistics.Operations(
                total: 0, claims: 0, releases: 0, adds: 0, removes: 0, updates: 0, perDay: 0),
            locks: [], topHolders: [], holderCount: 0)
        let plain = Terminal(stderrIsTerminal: false, stdoutIsTerminal: false, allowsColor: false)
        #expect(
            StatsCommand.render(stats, terminal: plain) == """
                idle: 2026-05-02T10:00:00Z to 2026-05-02T10:00:00Z (0s)
                utilisation -: no lock existed in the window
                holds: none ended; none open
                operations: 0 (no daily rate: the window is under a minute): claims 0, releases 0, adds 0, removes 0, updates 0
                waits: none recorded (0 of 0 claims)

                top holders: no claims in the window
                """)
    }
}
