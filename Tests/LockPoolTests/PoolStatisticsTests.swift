import Foundation
import Git
import TestSupport
import Testing

@testable import LockPool

/// 2026-05-02 at `hour`:`minute` UTC; `HandBuiltHistory.start` is 10:00.
private func at(_ hour: Int, _ minute: Int = 0) -> Date {
    HandBuiltHistory.start.addingTimeInterval(Double((hour - 10) * 3600 + minute * 60))
}

private func minutes(_ count: Int64) -> Duration { .seconds(count * 60) }

private let tool = "lockpool 0.0.0-test (cli)"
private let deploy2 = BuildInfo(team: "main", pipeline: "deploy", job: "apply", name: "2")
private let unit7 = BuildInfo(team: "main", pipeline: "test", job: "unit", name: "7")
private let handHolder = "\(GitCLI.authorName) <\(GitCLI.authorEmail)>"

private func message(
    _ operation: LockOperation, _ lock: String, build: BuildInfo = .none, waited: Duration? = nil
) -> String {
    CommitMessage(operation: operation, pool: "envs", lock: lock, waited: waited, build: build, tool: tool)
        .rendered()
}

/// The scripted history every test reads: pool `envs` (locks `a`, `b`), pool `idle` (lock `z`, never touched) and
/// pool `empty` (no locks), all seeded at 10:00, then:
///
/// ```
/// 10:00  claim a     Pix4D subject, main/deploy/apply build 1, no Lock-Waited
/// 10:30  acquire b   lockpool trailers, main/deploy/apply build 2, Lock-Waited 1.5s
/// 11:00  release a   Pix4D subject
/// 11:15  add c       lockpool, from the CLI
/// 11:30  claim a     lockpool trailers, main/test/unit build 7, Lock-Waited 40s
/// 12:00  remove a    lockpool
/// 12:30  release b   lockpool
/// 12:40  claim c     by hand ("taking c by hand"): the committer holds it
/// 12:50  update b    lockpool
/// 13:30  release c   lockpool
/// ```
private func scriptedHistory(_ label: String) throws -> HandBuiltHistory {
    let history = try HandBuiltHistory(
        label: label,
        pools: ["envs": ["a": .unclaimed("a"), "b": .unclaimed("b")], "idle": ["z": .unclaimed()], "empty": [:]])
    try history.commit("main/deploy/apply build 1 claiming: a", at: at(10)) {
        try history.move("a", in: "envs", toClaimed: true)
    }
    try history.commit(message(.acquire, "b", build: deploy2, waited: .milliseconds(1500)), at: at(10, 30)) {
        try history.move("b", in: "envs", toClaimed: true)
    }
    try history.commit("main/deploy/apply build 1 unclaiming: a", at: at(11)) {
        try history.move("a", in: "envs", toClaimed: false)
    }
    try history.commit(message(.add, "c"), committer: ("Alice Doe", "alice@example.com"), at: at(11, 15)) {
        try history.write("envs/unclaimed/c", "c")
    }
    try history.commit(message(.claim, "a", build: unit7, waited: .seconds(40)), at: at(11, 30)) {
        try history.move("a", in: "envs", toClaimed: true)
    }
    try history.commit(message(.remove, "a", build: unit7), at: at(12)) { try history.delete("envs/claimed/a") }
    try history.commit(message(.release, "b", build: deploy2), at: at(12, 30)) {
        try history.move("b", in: "envs", toClaimed: false)
    }
    try history.commit("taking c by hand", at: at(12, 40)) { try history.move("c", in: "envs", toClaimed: true) }
    try history.commit(message(.update, "b"), at: at(12, 50)) { try history.write("envs/unclaimed/b", "b, changed") }
    try history.commit(message(.release, "c"), at: at(13, 30)) { try history.move("c", in: "envs", toClaimed: false) }
    return history
}

private func read(
    _ label: String, pools: [String] = ["envs"], since: Date?, until: Date?, now: Date = at(14), top: Int = 5
) throws -> [PoolStatistics] {
    let history = try scriptedHistory(label)
    let (repository, tip) = try history.open()
    return try withExtendedLifetime(history) {
        try PoolStatistics.read(
            repository: repository, tip: tip, pools: pools, since: since, until: until, now: now, top: top)
    }
}

private func holds(_ ended: [Int64], open: Int64? = nil) -> PoolStatistics.Holds {
    PoolStatistics.Holds(
        ended: PoolStatistics.Percentiles(ended.map(minutes)), open: open == nil ? 0 : 1, oldestOpen: open.map(minutes))
}

private func lock(
    _ name: String, _ state: LockState, claimed: Int64, existing: Int64, claims: Int, holds: PoolStatistics.Holds
) -> PoolStatistics.Lock {
    PoolStatistics.Lock(
        lock: name, state: state, claimedTime: minutes(claimed), lockTime: minutes(existing), claims: claims,
        holds: holds)
}

@Suite struct PoolStatisticsTests {
    // MARK: Definitions

    struct PercentileCase: Sendable, CustomTestStringConvertible {
        let values: [Int64]
        let p50: Int64, p90: Int64, max: Int64
        var testDescription: String { "\(values) → p50 \(p50), p90 \(p90), max \(max)" }
    }

    @Test(arguments: [
        PercentileCase(values: [7], p50: 7, p90: 7, max: 7),
        PercentileCase(values: [60, 30], p50: 30, p90: 60, max: 60),
        PercentileCase(values: [120, 30, 60], p50: 60, p90: 120, max: 120),
        PercentileCase(values: Array(1...10), p50: 5, p90: 9, max: 10),
        PercentileCase(values: Array((1...20).reversed()), p50: 10, p90: 18, max: 20),
        PercentileCase(values: Array(1...11), p50: 6, p90: 10, max: 11),
    ])
    func percentilesAreNearestRank(_ c: PercentileCase) throws {
        let summary = try #require(PoolStatistics.Percentiles(c.values.map { Duration.seconds($0) }))
        #expect(
            summary
                == PoolStatistics.Percentiles(
                    count: c.values.count, p50: .seconds(c.p50), p90: .seconds(c.p90), max: .seconds(c.max)))
    }

    @Test func percentilesOfNothingAreNil() {
        #expect(PoolStatistics.Percentiles([]) == nil)
    }

    @Test(arguments: [
        (
            Holder(
                description: "main/deploy/apply build 1",
                build: BuildInfo(team: "main", pipeline: "deploy", job: "apply", name: "1")), "main/deploy/apply"
        ),
        (
            Holder(
                description: "x",
                build: BuildInfo(
                    team: "main", pipeline: "deploy", job: "apply", name: "2", instanceVars: #"{"b":"x/y"}"#)),
            "main/deploy/apply"
        ),
        (
            Holder(
                description: "my-pipeline/deploy build 17",
                build: BuildInfo(pipeline: "my-pipeline", job: "deploy", name: "17")), "my-pipeline/deploy"
        ),
        (Holder(description: "one-off build 77", build: BuildInfo(id: "77")), "one-off build 77"),
        (Holder(description: "Alice Doe <alice@example.com>"), "Alice Doe <alice@example.com>"),
    ])
    func holdersGroupByJob(_ holder: Holder, _ group: String) {
        #expect(PoolStatistics.group(of: holder) == group)
    }

    // MARK: The scripted history

    @Test func wholeHistoryWindow() throws {
        let stats = try #require(try read("stats-whole", since: at(10), until: at(13)).first)
        #expect(stats.pool == "envs")
        #expect(stats.since == at(10) && stats.until == at(13))
        #expect(stats.window == .seconds(10800))
        #expect(
            stats.locks == [
                lock("a", .absent, claimed: 90, existing: 120, claims: 2, holds: holds([60, 30])),
                lock("b", .unclaimed, claimed: 120, existing: 180, claims: 1, holds: holds([120])),
                lock("c", .claimed, claimed: 20, existing: 105, claims: 1, holds: holds([], open: 20)),
            ])
        #expect(stats.locks.map(\.utilisation) == [0.75, 7200.0 / 10800.0, 1200.0 / 6300.0])
        #expect(
            stats.locks[0].holds.ended
                == PoolStatistics.Percentiles(count: 2, p50: minutes(30), p90: minutes(60), max: minutes(60)))
        #expect(stats.claimedTime == minutes(230) && stats.lockTime == minutes(405))
        #expect(stats.utilisation == 13800.0 / 24300.0)
        #expect(
            stats.holds
                == PoolStatistics.Holds(
                    ended: PoolStatistics.Percentiles(count: 3, p50: minutes(60), p90: minutes(120), max: minutes(120)),
                    open: 1, oldestOpen: minutes(20)))
        #expect(
            stats.waits
                == PoolStatistics.Percentiles(count: 2, p50: .milliseconds(1500), p90: .seconds(40), max: .seconds(40)))
        #expect(
            stats.operations
                == PoolStatistics.Operations(
                    total: 11, claims: 4, releases: 2, adds: 3, removes: 1, updates: 1, perDay: 88))
        #expect(
            stats.topHolders == [
                PoolStatistics.TopHolder(name: "main/deploy/apply", claims: 2, holdTime: minutes(180)),
                PoolStatistics.TopHolder(name: "main/test/unit", claims: 1, holdTime: minutes(30)),
                PoolStatistics.TopHolder(name: handHolder, claims: 1, holdTime: minutes(20)),
            ])
        #expect(stats.holderCount == 3)
    }

    @Test func sinceDefaultsToThePoolsFirstEventAndTopLimitsTheHolders() throws {
        let all = try read("stats-default-since", pools: ["envs", "idle", "empty"], since: nil, until: at(13), top: 2)
        #expect(all.map(\.pool) == ["envs", "idle", "empty"])
        let envs = all[0]
        #expect(envs.since == at(10) && envs.until == at(13))
        #expect(envs.operations.total == 11 && envs.utilisation == 13800.0 / 24300.0)
        #expect(envs.topHolders.map(\.name) == ["main/deploy/apply", "main/test/unit"])
        #expect(envs.holderCount == 3)
        // idle: its lock was added by the seed commit, then never touched.
        let idle = all[1]
        #expect(idle.since == at(10) && idle.window == .seconds(10800))
        #expect(idle.locks == [lock("z", .unclaimed, claimed: 0, existing: 180, claims: 0, holds: holds([]))])
        #expect(idle.utilisation == 0)
        #expect(
            idle.operations
                == PoolStatistics.Operations(
                    total: 1, claims: 0, releases: 0, adds: 1, removes: 0, updates: 0, perDay: 8))
        // empty: no lock ever, so no event: an empty window ending at --until.
        let empty = all[2]
        #expect(empty.since == at(13) && empty.until == at(13) && empty.window == .zero)
        #expect(empty.locks.isEmpty && empty.utilisation == nil && empty.waits == nil)
        #expect(empty.operations.total == 0 && empty.operations.perDay == 0)
        #expect(empty.holds == PoolStatistics.Holds(ended: nil, open: 0, oldestOpen: nil))
        #expect(empty.topHolders.isEmpty)
    }

    @Test func untilDefaultsToNow() throws {
        let stats = try #require(try read("stats-until-now", since: at(10), until: nil, now: at(14)).first)
        #expect(stats.until == at(14) && stats.window == .seconds(14400))
        #expect(stats.holds.open == 0 && stats.holds.oldestOpen == nil)
        // c: claimed 12:40, released 13:30.
        #expect(stats.locks[2] == lock("c", .unclaimed, claimed: 50, existing: 165, claims: 1, holds: holds([50])))
        #expect(stats.operations.total == 12 && stats.operations.perDay == 72)
    }

    @Test func windowCuttingThroughHolds() throws {
        // At 10:45 a (since 10:00) and b (since 10:30) are claimed; at 12:45 c (since 12:40) is.
        let stats = try #require(try read("stats-cut", since: at(10, 45), until: at(12, 45)).first)
        #expect(stats.window == .seconds(7200))
        #expect(
            stats.locks == [
                // Claimed 10:45–11:00 and 11:30–12:00; the hold ending 11:00 counts its full hour.
                lock("a", .absent, claimed: 45, existing: 75, claims: 1, holds: holds([60, 30])),
                lock("b", .unclaimed, claimed: 105, existing: 120, claims: 0, holds: holds([120])),
                lock("c", .claimed, claimed: 5, existing: 90, claims: 1, holds: holds([], open: 5)),
            ])
        #expect(stats.locks.map(\.utilisation) == [0.6, 0.875, 300.0 / 5400.0])
        #expect(stats.utilisation == 9300.0 / 17100.0)
        #expect(
            stats.holds.ended
                == PoolStatistics.Percentiles(count: 3, p50: minutes(60), p90: minutes(120), max: minutes(120)))
        #expect(stats.holds.open == 1 && stats.holds.oldestOpen == minutes(5))
        #expect(
            stats.waits == PoolStatistics.Percentiles(count: 1, p50: .seconds(40), p90: .seconds(40), max: .seconds(40))
        )
        #expect(
            stats.operations
                == PoolStatistics.Operations(
                    total: 6, claims: 2, releases: 2, adds: 1, removes: 1, updates: 0, perDay: 72))
        // Claims made before the window belong to no holder.
        #expect(
            stats.topHolders == [
                PoolStatistics.TopHolder(name: "main/test/unit", claims: 1, holdTime: minutes(30)),
                PoolStatistics.TopHolder(name: handHolder, claims: 1, holdTime: minutes(5)),
            ])
    }

    @Test func windowBoundsOnCommitTimesIncludeThoseCommits() throws {
        // 11:00 releases a and 12:00 removes it: both are in [11:00, 12:00]; b stays claimed throughout.
        let stats = try #require(try read("stats-bounds", since: at(11), until: at(12)).first)
        #expect(
            stats.locks == [
                lock("a", .absent, claimed: 30, existing: 60, claims: 1, holds: holds([60, 30])),
                lock("b", .claimed, claimed: 60, existing: 60, claims: 0, holds: holds([], open: 90)),
                lock("c", .unclaimed, claimed: 0, existing: 45, claims: 0, holds: holds([])),
            ])
        #expect(stats.locks.map(\.utilisation) == [0.5, 1, 0])
        #expect(stats.utilisation == 5400.0 / 9900.0)
        #expect(
            stats.holds
                == PoolStatistics.Holds(
                    ended: PoolStatistics.Percentiles([minutes(60), minutes(30)]), open: 1, oldestOpen: minutes(90)))
        #expect(
            stats.operations
                == PoolStatistics.Operations(
                    total: 4, claims: 1, releases: 1, adds: 1, removes: 1, updates: 0, perDay: 96))
        #expect(
            stats.topHolders == [PoolStatistics.TopHolder(name: "main/test/unit", claims: 1, holdTime: minutes(30))])
    }

    @Test func windowWithoutEvents() throws {
        let all = try read("stats-quiet", pools: ["envs", "idle"], since: at(13, 40), until: at(14))
        let envs = all[0]
        #expect(
            envs.locks == [
                lock("b", .unclaimed, claimed: 0, existing: 20, claims: 0, holds: holds([])),
                lock("c", .unclaimed, claimed: 0, existing: 20, claims: 0, holds: holds([])),
            ])
        #expect(envs.utilisation == 0 && envs.waits == nil && envs.topHolders.isEmpty && envs.holderCount == 0)
        #expect(envs.holds == PoolStatistics.Holds(ended: nil, open: 0, oldestOpen: nil))
        #expect(
            envs.operations
                == PoolStatistics.Operations(
                    total: 0, claims: 0, releases: 0, adds: 0, removes: 0, updates: 0, perDay: 0))
        // A pool with no event since its seed: its lock comes from the state at the window's start.
        let idle = all[1]
        #expect(idle.locks == [lock("z", .unclaimed, claimed: 0, existing: 20, claims: 0, holds: holds([]))])
        #expect(idle.utilisation == 0 && idle.operations.total == 0)
    }

    @Test func emptyWindow() throws {
        // since == until == 11:00: only the release of a at exactly 11:00 is in it.
        let stats = try #require(try read("stats-empty-window", since: at(11), until: at(11)).first)
        #expect(stats.window == .zero && stats.utilisation == nil)
        #expect(stats.locks.map(\.utilisation) == [nil, nil])
        #expect(
            stats.holds
                == PoolStatistics.Holds(
                    ended: PoolStatistics.Percentiles([minutes(60)]), open: 1, oldestOpen: minutes(30)))
        #expect(stats.operations.total == 1 && stats.operations.perDay == 0)
    }

    @Test func windowBeforeTheFirstCommit() throws {
        let stats = try #require(try read("stats-before", since: at(8), until: at(9)).first)
        #expect(stats.locks.isEmpty && stats.utilisation == nil && stats.operations.total == 0)
        #expect(stats.window == .seconds(3600))
    }

    // MARK: One walk, two windows

    /// The dashboard walks 7 days once and reads the last 24 hours from that walk (`Window.since`): every later
    /// start gives what a walk of its own gives.
    @Test func aLaterPartOfAWalkedWindowReadsAsItsOwnWalk() throws {
        let history = try scriptedHistory("stats-one-walk")
        let (repository, tip) = try history.open()
        try withExtendedLifetime(history) {
            let pools = ["envs", "idle", "empty"]
            let window = try PoolTimeline(repository: repository).window(
                tip: tip, pools: pools, since: at(9, 50), until: at(14))
            for minute in stride(from: 0, through: 250, by: 5) {
                let since = at(9, 50).addingTimeInterval(Double(minute * 60))
                let fromWalk = try PoolStatistics.read(
                    repository: repository, pools: pools, since: since, until: at(14), window: window.since(since))
                let ownWalk = try PoolStatistics.read(
                    repository: repository, tip: tip, pools: pools, since: since, until: at(14))
                #expect(fromWalk == ownWalk, "since \(since)")
            }
        }
    }

    /// Committer times out of order (a clock behind): a walk with `since` stops at the first commit older than it,
    /// and events of commits past that one are not in the window, however new their times.
    @Test func aLaterPartStopsWhereAWalkWouldWithClocksOutOfOrder() throws {
        let history = try HandBuiltHistory(
            label: "stats-skewed", pools: ["envs": ["a": .unclaimed(), "b": .unclaimed()]])
        try history.commit(message(.claim, "a"), at: at(12)) { try history.move("a", in: "envs", toClaimed: true) }
        try history.commit(message(.claim, "b"), at: at(10)) { try history.move("b", in: "envs", toClaimed: true) }
        try history.commit(message(.release, "a"), at: at(13)) { try history.move("a", in: "envs", toClaimed: false) }
        let (repository, tip) = try history.open()
        try withExtendedLifetime(history) {
            let timeline = PoolTimeline(repository: repository)
            let window = try timeline.window(tip: tip, pools: ["envs"], since: at(9), until: at(14))
            #expect(window.events.map(\.lock) == ["a", "b", "a", "b", "a"])  // the seed adds a and b
            let own = try timeline.events(tip: tip, pools: ["envs"], since: at(11), until: at(14))
            #expect(own.map(\.action) == [.release])
            #expect(window.since(at(11)).events == own)
            // The state at 11:00 is read where that walk stopped: the claim of b (committed "at 10:00").
            let b = try repository.commit(try #require(window.newestCommit(before: at(11))))
            #expect(b.committer.time == at(10))
            #expect(window.since(at(9)).events == window.events)
            // A commit newer than `until` is walked past, never read: in the window and in its later part alike.
            let early = try timeline.window(tip: tip, pools: ["envs"], since: at(9), until: at(12, 30))
            #expect(early.events.map(\.action) == [.add, .add, .claim, .claim])
            let ownEarly = try timeline.events(tip: tip, pools: ["envs"], since: at(11), until: at(12, 30))
            #expect(ownEarly.isEmpty && early.since(at(11)).events.isEmpty)
            #expect(early.newestCommit(before: at(11)) == window.newestCommit(before: at(11)))
        }
    }

    // MARK: Events given directly

    @Test func addClaimedBeginsAHoldAndCountsAsClaimAndAdd() throws {
        let commit = try #require(ObjectID(hex: String(repeating: "ab", count: 20)))
        func event(_ lock: String, _ action: HistoryEvent.Action, _ time: Date, waited: Duration? = nil)
            -> HistoryEvent
        {
            HistoryEvent(
                commit: commit, time: time, pool: "envs", lock: lock, action: action, operation: action.rawValue,
                holder: Holder(description: "one-off build 9", build: BuildInfo(id: "9")), format: .lockpool,
                subject: "", waited: waited)
        }
        let stats = PoolStatistics(
            pool: "envs", since: at(10), until: at(12),
            start: [
                LockStatus(pool: "envs", lock: "old", state: .claimed, since: at(9)),
                LockStatus(pool: "other", lock: "x", state: .claimed, since: at(9)),
            ],
            events: [
                event("n", .addClaimed, at(10, 30), waited: .zero), event("n", .duplicate, at(10, 40)),
                event("n", .release, at(11)), event("old", .remove, at(11, 30)),
                HistoryEvent(
                    commit: commit, time: at(11), pool: "other", lock: "x", action: .release, operation: "release",
                    holder: Holder(description: "x"), format: .manual, subject: ""),
            ])
        #expect(
            stats.locks == [
                lock("n", .unclaimed, claimed: 30, existing: 90, claims: 1, holds: holds([30])),
                lock("old", .absent, claimed: 90, existing: 90, claims: 0, holds: holds([150])),
            ])
        #expect(
            stats.operations
                == PoolStatistics.Operations(
                    total: 4, claims: 1, releases: 1, adds: 1, removes: 1, updates: 0, perDay: 48))
        #expect(stats.waits == PoolStatistics.Percentiles([.zero]))
        #expect(
            stats.topHolders == [PoolStatistics.TopHolder(name: "one-off build 9", claims: 1, holdTime: minutes(30))])
    }
}
