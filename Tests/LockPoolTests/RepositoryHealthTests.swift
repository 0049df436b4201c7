import Foundation
import Git
import TestSupport
import Testing

@testable import LockPool

/// A finding reduced to what a test pins: `<severity> <kind> <pool>/<lock or -> c<commit index or -> <message>`,
/// with the commit's short id in the message replaced by `c<index>`.
private func summary(_ problems: [HealthProblem], _ history: HandBuiltHistory) -> [String] {
    problems.map { problem in
        let index = problem.commit.map { "c\(history.index($0) ?? -1)" } ?? "-"
        var message = problem.message
        if let commit = problem.commit, message.hasPrefix(commit.short + " ") {
            message = index + message.dropFirst(commit.short.count)
        }
        return "\(problem.severity.rawValue) \(problem.kind.rawValue) \(problem.pool)/\(problem.lock ?? "-") \(message)"
    }
}

private let apply9 = BuildInfo(team: "main", pipeline: "deploy", job: "apply", name: "9")

private func rendered(_ operation: LockOperation, _ pool: String, _ lock: String, claim: String? = nil) -> String {
    CommitMessage(
        operation: operation, pool: pool, lock: lock, claimCommit: claim, build: apply9,
        tool: "lockpool 0.0.0-test (cli)"
    ).rendered()
}

@Suite struct RepositoryHealthTests {
    @Test func sinceReplaysOnlyTheNewerCommitsFromTheStateBeforeThem() throws {
        let history = try HandBuiltHistory(label: "health-since", pools: ["envs": ["a": .unclaimed("A")]])
        // A double claim by hand, then a clean release and claim after the bound.
        try history.commit("claiming: a") { try history.move("a", in: "envs", toClaimed: true) }
        try history.commit("team/pipe/job build 9 claiming: a") { try history.write("envs/claimed/a", "A2") }
        try history.commit("unclaiming: a") { try history.move("a", in: "envs", toClaimed: false) }
        let bound = history.time.addingTimeInterval(1)
        try history.commit("claiming: a", at: bound.addingTimeInterval(59)) {
            try history.move("a", in: "envs", toClaimed: true)
        }
        try history.commit("unclaiming: a") { try history.move("a", in: "envs", toClaimed: false) }
        let (repository, tip) = try history.open()
        let health = RepositoryHealth(repository: repository)

        let whole = try health.check(tip: tip)
        #expect(whole.commitsReplayed == history.commits.count)
        #expect(summary(whole.problems, history).contains { $0.hasPrefix("error double-claim envs/a c2 ") })
        let recent = try health.check(tip: tip, since: bound)
        #expect(recent.commitsReplayed == 2)
        #expect(recent.problems == [], "\(summary(recent.problems, history))")
        // A bound before the first commit replays everything.
        #expect(try health.check(tip: tip, since: HandBuiltHistory.start.addingTimeInterval(-1)).commitsReplayed == 6)
    }

    @Test func aHealthyRepositoryHasNoProblems() throws {
        let history = try HandBuiltHistory(
            label: "health-ok",
            pools: ["envs": ["a": .unclaimed("A"), "b": .unclaimed("B")], "ops/eu": ["x": .claimed("X")]])
        try history.commit("claiming: a") { try history.move("a", in: "envs", toClaimed: true) }
        try history.commit("main/deploy/apply build 1 unclaiming: a") {
            try history.move("a", in: "envs", toClaimed: false)
        }
        try history.commit(rendered(.claim, "envs", "b")) { try history.move("b", in: "envs", toClaimed: true) }
        try history.commit(rendered(.remove, "envs", "b", claim: history.tip.hex)) {
            try history.delete("envs/claimed/b")
        }
        try history.commit("updating: a") { try history.write("envs/unclaimed/a", "A2") }
        try history.commit("adding claimed: c") { try history.write("envs/claimed/c", "C") }
        try history.commit("Freshening up the pool with 1 changes") {
            try history.move("x", in: "ops/eu", toClaimed: false)
        }
        try history.commit("README") { try history.write("README", "changed\n") }
        try history.commit("add pool db") { try history.addPoolFiles("db") }
        let (repository, tip) = try history.open()

        let report = try RepositoryHealth(repository: repository).check(tip: tip)
        #expect(report.problems == [])
        #expect(report.isHealthy)
        #expect(report.tip == tip)
        #expect(report.pools == ["db", "envs", "ops/eu"])
        #expect(report.commitsReplayed == history.commits.count)

        let one = try RepositoryHealth(repository: repository).check(tip: tip, pools: ["ops/eu"])
        #expect(one.pools == ["ops/eu"] && one.problems.isEmpty)
    }

    struct TipCase: Sendable, CustomTestStringConvertible {
        let name: String
        /// What the commit after the seed changes, on a pool `envs` seeded with `a` unclaimed and `b` claimed.
        let change: @Sendable (HandBuiltHistory) throws -> Void
        var pools: [String] = []
        let expected: [String]
        let isHealthy: Bool
        var testDescription: String { name }
    }

    @Test(arguments: [
        TipCase(
            name: "lock in both states at the tip",
            change: { try $0.write("envs/claimed/a", "A") },
            expected: [
                "error both-states envs/a lock 'a' is both claimed and unclaimed in pool 'envs'",
                "error duplicated envs/a c1 puts lock 'a' in pool 'envs' in both claimed and unclaimed",
            ],
            isHealthy: false),
        TipCase(
            name: "missing unclaimed/ directory",
            change: { history in
                try history.write("half/claimed/.gitkeep", "")
                try history.write("half/claimed/c", "C")
            },
            expected: ["error missing-directory half/- pool 'half' has no unclaimed/ directory"], isHealthy: false),
        TipCase(
            name: "missing claimed/ directory of a requested pool", change: { try $0.write("half/unclaimed/c", "C") },
            pools: ["half"],
            expected: [
                "error missing-directory half/- pool 'half' has no claimed/ directory",
                "warning missing-gitkeep half/- half/unclaimed/.gitkeep is missing",
            ],
            isHealthy: false),
        TipCase(
            name: "a requested pool that does not exist", change: { try $0.write("README", "x") }, pools: ["nope"],
            expected: [
                "error missing-directory nope/- pool 'nope' has no claimed/ directory",
                "error missing-directory nope/- pool 'nope' has no unclaimed/ directory",
            ],
            isHealthy: false),
        TipCase(
            name: "missing .gitkeep", change: { try $0.delete("envs/unclaimed/.gitkeep") },
            expected: ["warning missing-gitkeep envs/- envs/unclaimed/.gitkeep is missing"], isHealthy: true),
        TipCase(
            name: "stray entries",
            change: { history in
                try history.write("envs/unclaimed/sub/inner", "i")
                try history.write("envs/unclaimed/.hidden", "h")
                try history.write("envs/unclaimed/bad\tname", "t")
                try FileManager.default.createSymbolicLink(
                    atPath: history.work.appendingPathComponent("envs/claimed/link").path,
                    withDestinationPath: "../unclaimed/a")
            },
            expected: [
                #"warning stray-entry envs/- envs/claimed/"link" is a symbolic link; it is not a lock"#,
                #"warning stray-entry envs/- envs/unclaimed/".hidden" is a file whose name is not a lock name; it is not a lock"#,
                #"warning stray-entry envs/- envs/unclaimed/"bad\tname" is a file whose name is not a lock name; it is not a lock"#,
                #"warning stray-entry envs/- envs/unclaimed/"sub" is a directory; it is not a lock"#,
            ],
            isHealthy: true),
        TipCase(
            name: "only the requested pool is checked",
            change: { history in
                try history.write("half/claimed/c", "C")
                try history.write("envs/unclaimed/.hidden", "h")
            },
            pools: ["envs"],
            expected: [
                #"warning stray-entry envs/- envs/unclaimed/".hidden" is a file whose name is not a lock name; it is not a lock"#
            ],
            isHealthy: true),
    ])
    func tipInvariants(_ c: TipCase) throws {
        let history = try HandBuiltHistory(
            label: "health-tip", pools: ["envs": ["a": .unclaimed("A"), "b": .claimed("B")]])
        try history.commit("by hand") { try c.change(history) }
        let (repository, tip) = try history.open()
        let report = try RepositoryHealth(repository: repository).check(tip: tip, pools: c.pools)
        #expect(summary(report.problems, history) == c.expected)
        #expect(report.isHealthy == c.isHealthy)
        #expect(report.problems.allSatisfy { "\($0)" == "\($0.severity.rawValue): \($0.message)" })
    }

    struct ReplayCase: Sendable, CustomTestStringConvertible {
        let name: String
        /// The message of the commit after `main/deploy/apply build 8 claiming: a` (c1).
        let message: String
        /// What that commit changes; `a` is claimed, `b` unclaimed, `c` claimed.
        let change: @Sendable (HandBuiltHistory) throws -> Void
        let expected: [String]
        var testDescription: String { name }
    }

    @Test(arguments: [
        ReplayCase(
            name: "claim of a claimed lock whose content changed", message: "main/deploy/apply build 9 claiming: a",
            change: { try $0.write("envs/claimed/a", "A, again") },
            expected: ["error double-claim envs/a c2 claims lock 'a' in pool 'envs', which was already claimed"]),
        ReplayCase(
            name: "schema-1 claim of a claimed lock", message: rendered(.claim, "envs", "a"),
            change: { try $0.write("envs/claimed/a", "A, again") },
            expected: ["error double-claim envs/a c2 claims lock 'a' in pool 'envs', which was already claimed"]),
        ReplayCase(
            name: "bare claiming subject beside another change", message: "claiming: a",
            change: { try $0.move("b", in: "envs", toClaimed: true) },
            expected: ["error double-claim envs/a c2 claims lock 'a' in pool 'envs', which was already claimed"]),
        ReplayCase(
            name: "metadata of a claimed lock edited by hand", message: "note on a",
            change: { try $0.write("envs/claimed/a", "A, noted") }, expected: []),
        ReplayCase(
            name: "schema-1 claim naming another pool", message: rendered(.claim, "other", "a"),
            change: { try $0.write("envs/claimed/a", "A, again") }, expected: []),
        ReplayCase(
            name: "a copy made by hand", message: "copy b",
            change: { try $0.write("envs/claimed/b", "B") },
            expected: [
                "error both-states envs/b lock 'b' is both claimed and unclaimed in pool 'envs'",
                "error duplicated envs/b c2 puts lock 'b' in pool 'envs' in both claimed and unclaimed",
            ]),
        ReplayCase(
            name: "lost lock: deleted without a remove", message: "clean up",
            change: { try $0.delete("envs/unclaimed/b") },
            expected: ["warning lost-lock envs/b c2 deletes lock 'b' in pool 'envs' without a remove"]),
        ReplayCase(
            name: "a removal by an unrelated subject", message: "removing: c",
            change: { try $0.delete("envs/unclaimed/b") },
            expected: ["warning lost-lock envs/b c2 deletes lock 'b' in pool 'envs' without a remove"]),
        ReplayCase(
            name: "removing: L", message: "removing: c", change: { try $0.delete("envs/claimed/c") }, expected: []),
        ReplayCase(
            name: "T/P/J build N removing: L", message: "main/deploy/apply build 9 removing: c",
            change: { try $0.delete("envs/claimed/c") }, expected: []),
        ReplayCase(
            name: "schema-1 remove", message: rendered(.remove, "envs", "c", claim: "0123456"),
            change: { try $0.delete("envs/claimed/c") }, expected: []),
        ReplayCase(
            name: "a whole pool deleted", message: "drop envs", change: { try $0.delete("envs") },
            expected: [
                "error missing-directory envs/- pool 'envs' has no claimed/ directory",
                "error missing-directory envs/- pool 'envs' has no unclaimed/ directory",
                "warning lost-lock envs/a c2 deletes lock 'a' in pool 'envs' without a remove",
                "warning lost-lock envs/b c2 deletes lock 'b' in pool 'envs' without a remove",
                "warning lost-lock envs/c c2 deletes lock 'c' in pool 'envs' without a remove",
            ]),
    ])
    func historyReplay(_ c: ReplayCase) throws {
        let history = try HandBuiltHistory(
            label: "health-replay",
            pools: ["envs": ["a": .unclaimed("A"), "b": .unclaimed("B"), "c": .claimed("C")]])
        try history.commit("main/deploy/apply build 8 claiming: a") {
            try history.move("a", in: "envs", toClaimed: true)
        }
        try history.commit(c.message) { try c.change(history) }
        try history.commit("README") { try history.write("README", "later\n") }
        let (repository, tip) = try history.open()
        let report = try RepositoryHealth(repository: repository).check(tip: tip, pools: ["envs"])
        #expect(summary(report.problems, history) == c.expected)
        #expect(report.isHealthy == !c.expected.contains { $0.hasPrefix("error") })
        #expect(report.commitsReplayed == 4)
    }

    @Test func historyFindingsComeInOrderAfterTipFindings() throws {
        let history = try HandBuiltHistory(
            label: "health-order",
            pools: ["envs": ["a": .unclaimed("A"), "b": .unclaimed("B")], "ops/eu": ["x": .unclaimed("X")]])
        try history.commit("claiming: a") { try history.move("a", in: "envs", toClaimed: true) }
        try history.commit("claiming: a") { try history.write("envs/claimed/a", "A2") }
        try history.commit("oops") { try history.delete("ops/eu/unclaimed/x") }
        try history.commit("copy b") { try history.write("envs/claimed/b", "B") }
        try history.commit("fix b") { try history.delete("envs/claimed/b") }
        try history.commit("claiming: a") {
            try history.write("envs/claimed/a", "A3")
            try history.write("envs/claimed/.hidden", "")
        }
        let (repository, tip) = try history.open()
        let report = try RepositoryHealth(repository: repository).check(tip: tip)
        #expect(
            summary(report.problems, history) == [
                #"warning stray-entry envs/- envs/claimed/".hidden" is a file whose name is not a lock name; it is not a lock"#,
                "error double-claim envs/a c2 claims lock 'a' in pool 'envs', which was already claimed",
                "error duplicated envs/b c4 puts lock 'b' in pool 'envs' in both claimed and unclaimed",
                "error double-claim envs/a c6 claims lock 'a' in pool 'envs', which was already claimed",
                "warning lost-lock ops/eu/x c3 deletes lock 'x' in pool 'ops/eu' without a remove",
            ])
        #expect(!report.isHealthy)
        #expect(report.problems.allSatisfy { $0.commit.map { history.index($0) != nil } ?? true })
    }
}
