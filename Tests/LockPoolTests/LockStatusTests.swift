import Foundation
import Git
import TestSupport
import Testing

@testable import LockPool

private let apply = BuildInfo(team: "main", pipeline: "deploy", job: "apply", name: "42")
private let alice = (name: "Alice Doe", email: "alice@example.com")
private let bob = (name: "Bob", email: "bob@example.com")

@Suite struct LockStatusTests {
    @Test func aLockIsHeldWhenItsFileIsUnderClaimedAloneOrBesideAnUnclaimedOne() {
        #expect(LockState.claimed.isHeld && LockState.both.isHeld)
        #expect(!LockState.unclaimed.isHeld && !LockState.absent.isHeld)
    }

    /// ```
    /// c0  seed: envs {a, b, d, e unclaimed; c claimed}, ops/eu {x unclaimed}
    /// c1  main/deploy/apply build 1 claiming: a
    /// c2  one-off build 5 unclaiming: a
    /// c3  updating: d
    /// c4  lockpool acquire of a, lease 1h (trailers)
    /// c5  grab b                     by Alice, by hand
    /// c6  note on a                  by Bob: claimed/a edited, not re-claimed
    /// c7  copy e                     by Bob: e now in both states
    /// c8  README
    /// c9  claiming: x                ops/eu
    /// ```
    private func fixture() throws -> (HandBuiltHistory, Repository, ObjectID) {
        let history = try HandBuiltHistory(
            label: "status",
            pools: [
                "envs": [
                    "a": .unclaimed("A"), "b": .unclaimed("B"), "c": .claimed("C"), "d": .unclaimed("D"),
                    "e": .unclaimed("E"),
                ],
                "ops/eu": ["x": .unclaimed("X")],
            ])
        try history.commit("main/deploy/apply build 1 claiming: a") {
            try history.move("a", in: "envs", toClaimed: true)
        }
        try history.commit("one-off build 5 unclaiming: a") { try history.move("a", in: "envs", toClaimed: false) }
        try history.commit("updating: d") { try history.write("envs/unclaimed/d", "D2") }
        let acquired = history.time.addingTimeInterval(60)
        let message = CommitMessage(
            operation: .acquire, pool: "envs", lock: "a", leaseExpires: acquired.addingTimeInterval(3600),
            build: apply, tool: "lockpool 0.0.0-test (resource)")
        try history.commit(message.rendered(), at: acquired) { try history.move("a", in: "envs", toClaimed: true) }
        try history.commit("grab b", committer: alice) { try history.move("b", in: "envs", toClaimed: true) }
        try history.commit("note on a", committer: bob) { try history.write("envs/claimed/a", "A, noted") }
        try history.commit("copy e", committer: bob) { try history.write("envs/claimed/e", "E") }
        try history.commit("README") { try history.write("README", "changed\n") }
        try history.commit("claiming: x") { try history.move("x", in: "ops/eu", toClaimed: true) }
        let (repository, tip) = try history.open()
        return (history, repository, tip)
    }

    @Test func holdersAfterSeveralClaimsAndReleases() throws {
        let (history, repository, tip) = try fixture()
        let (c, t) = (history.commits, history.times)
        let snapshot = try PoolSnapshot(repository: repository, commit: tip, pool: "envs")
        let statuses = try LockStatus.read(repository: repository, snapshot: snapshot)
        let expected = [
            LockStatus(
                pool: "envs", lock: "a", state: .claimed,
                holder: Holder(description: "main/deploy/apply build 42", build: apply), since: t[4], commit: c[4],
                leaseExpires: t[4].addingTimeInterval(3600)),
            LockStatus(
                pool: "envs", lock: "b", state: .claimed, holder: Holder(description: "Alice Doe <alice@example.com>"),
                since: t[5], commit: c[5]),
            LockStatus(
                pool: "envs", lock: "c", state: .claimed, holder: Holder(description: HandBuiltHistory.cliHolder),
                since: t[0], commit: c[0]),
            LockStatus(pool: "envs", lock: "d", state: .unclaimed, since: t[3], commit: c[3]),
            LockStatus(
                pool: "envs", lock: "e", state: .both, holder: Holder(description: "Bob <bob@example.com>"),
                since: t[7], commit: c[7]),
        ]
        #expect(statuses == expected)

        let a = statuses[0]
        #expect(!a.leaseHasExpired(at: t[4].addingTimeInterval(3599)))
        #expect(a.leaseHasExpired(at: t[4].addingTimeInterval(3600)))
        #expect(!statuses[1].leaseHasExpired(at: .distantFuture))

        let eu = try LockStatus.read(
            repository: repository, snapshot: try PoolSnapshot(repository: repository, commit: tip, pool: "ops/eu"))
        #expect(
            eu == [
                LockStatus(
                    pool: "ops/eu", lock: "x", state: .claimed,
                    holder: Holder(description: HandBuiltHistory.cliHolder), since: t[9], commit: c[9])
            ])
    }

    @Test func requestedLocksIncludingAnAbsentOne() throws {
        let (history, repository, tip) = try fixture()
        let (c, t) = (history.commits, history.times)
        let snapshot = try PoolSnapshot(repository: repository, commit: tip, pool: "envs")
        let statuses = try LockStatus.read(repository: repository, snapshot: snapshot, locks: ["zzz", "d", "Z"])
        #expect(
            statuses == [
                LockStatus(pool: "envs", lock: "Z", state: .absent),
                LockStatus(pool: "envs", lock: "d", state: .unclaimed, since: t[3], commit: c[3]),
                LockStatus(pool: "envs", lock: "zzz", state: .absent),
            ])
        #expect(try LockStatus.read(repository: repository, snapshot: snapshot, locks: []) == [])
        #expect(
            try LockStatus.read(repository: repository, snapshot: snapshot, locks: ["x"]) == [
                LockStatus(pool: "envs", lock: "x", state: .absent)
            ])
    }

    struct EarlierCase: Sendable, CustomTestStringConvertible {
        let at: Int
        /// lock → `state holder-or-nil c<commit>`.
        let expected: [String]
        var testDescription: String { "at c\(at)" }
    }

    @Test(arguments: [
        EarlierCase(
            at: 0,
            expected: [
                "a unclaimed - c0", "b unclaimed - c0", "c claimed \(HandBuiltHistory.cliHolder) c0",
                "d unclaimed - c0",
                "e unclaimed - c0",
            ]),
        EarlierCase(
            at: 1,
            expected: [
                "a claimed main/deploy/apply build 1 c1", "b unclaimed - c0",
                "c claimed \(HandBuiltHistory.cliHolder) c0", "d unclaimed - c0", "e unclaimed - c0",
            ]),
        EarlierCase(
            at: 3,
            expected: [
                "a unclaimed - c2", "b unclaimed - c0", "c claimed \(HandBuiltHistory.cliHolder) c0",
                "d unclaimed - c3",
                "e unclaimed - c0",
            ]),
        EarlierCase(
            at: 6,
            expected: [
                "a claimed main/deploy/apply build 42 c4", "b claimed Alice Doe <alice@example.com> c5",
                "c claimed \(HandBuiltHistory.cliHolder) c0", "d unclaimed - c3", "e unclaimed - c0",
            ]),
    ])
    func statusAtAnEarlierCommit(_ e: EarlierCase) throws {
        let (history, repository, _) = try fixture()
        let snapshot = try PoolSnapshot(repository: repository, commit: history.commits[e.at], pool: "envs")
        let statuses = try LockStatus.read(repository: repository, snapshot: snapshot)
        #expect(
            statuses.map {
                "\($0.lock) \($0.state.rawValue) \($0.holder?.description ?? "-") c\(history.index($0.commit) ?? -1)"
            } == e.expected)
        #expect(statuses.allSatisfy { $0.since == $0.commit.flatMap { history.index($0) }.map { history.times[$0] } })
    }

    /// A generated history of claims, releases, edits, adds, removals, copies into both states, mode changes and
    /// unrelated commits in two pools, written in every message format.
    private func generatedHistory() throws -> (HandBuiltHistory, Repository) {
        let pools = ["envs", "ops/eu"]
        var claimed: [String: Set<String>] = ["envs": ["l0", "l1"], "ops/eu": ["m0"]]
        var unclaimed: [String: Set<String>] = ["envs": ["l2", "l3", "l4", "l5"], "ops/eu": ["m1", "m2"]]
        var seeds: [String: [String: LockSeed]] = [:]
        for pool in pools {
            for lock in claimed[pool]! { seeds[pool, default: [:]][lock] = .claimed(lock) }
            for lock in unclaimed[pool]! { seeds[pool, default: [:]][lock] = .unclaimed(lock) }
        }
        let history = try HandBuiltHistory(label: "status-many", pools: seeds)
        var random = SeededRandom(seed: 20_260_502)
        var added = 0
        func claimMessage(_ pool: String, _ lock: String, _ n: Int) -> String {
            switch n % 5 {
            case 0: "main/deploy/apply build \(n) claiming: \(lock)"
            case 1: "claiming: \(lock)\nBuild URL: https://ci.example.com/builds/\(n)\n"
            case 2:
                CommitMessage(
                    operation: .claim, pool: pool, lock: lock,
                    leaseExpires: history.time.addingTimeInterval(Double(60 + n * 60)),
                    build: BuildInfo(id: "\(n)"), tool: "lockpool 0.0.0-test (cli)"
                ).rendered()
            case 3: "deploy/apply #\(n) claiming: \(lock)"
            default: "take \(lock) by hand"
            }
        }
        for n in 1...70 {
            let pool = pools[Int(random.next() % 3) == 0 ? 1 : 0]
            let free = unclaimed[pool]!.subtracting(claimed[pool]!).sorted()
            let held = claimed[pool]!.subtracting(unclaimed[pool]!).sorted()
            let both = claimed[pool]!.intersection(unclaimed[pool]!).sorted()
            let committer = n % 4 == 0 ? alice : bob
            let roll = random.next() % 10
            if roll < 2, let lock = free.randomElement(using: &random) {
                try history.commit(claimMessage(pool, lock, n), committer: committer) {
                    try history.move(lock, in: pool, toClaimed: true)
                }
                unclaimed[pool]!.remove(lock)
                claimed[pool]!.insert(lock)
            } else if roll < 4, let lock = held.randomElement(using: &random) {
                try history.commit("one-off build \(n) unclaiming: \(lock)", committer: committer) {
                    try history.move(lock, in: pool, toClaimed: false)
                }
                claimed[pool]!.remove(lock)
                unclaimed[pool]!.insert(lock)
            } else if roll == 4, let lock = free.randomElement(using: &random) {
                try history.commit("updating: \(lock)", committer: committer) {
                    try history.write("\(pool)/unclaimed/\(lock)", "\(lock) \(n)")
                }
            } else if roll == 5, let lock = held.randomElement(using: &random) {
                try history.commit("note on \(lock)", committer: committer) {
                    try history.write("\(pool)/claimed/\(lock)", "\(lock) \(n)")
                }
            } else if roll == 6 {
                added += 1
                let lock = "new-\(added)"
                let toClaimed = random.next() % 2 == 0
                let state = toClaimed ? "claimed" : "unclaimed"
                try history.commit("adding \(state): \(lock)", committer: committer) {
                    try history.write("\(pool)/\(state)/\(lock)", lock)
                }
                if toClaimed { claimed[pool]!.insert(lock) } else { unclaimed[pool]!.insert(lock) }
            } else if roll == 7, let lock = held.randomElement(using: &random) {
                try history.commit("removing: \(lock)", committer: committer) {
                    try history.delete("\(pool)/claimed/\(lock)")
                }
                claimed[pool]!.remove(lock)
            } else if roll == 8, let lock = both.first {
                try history.commit("fix \(lock)", committer: committer) {
                    try history.delete("\(pool)/claimed/\(lock)")
                }
                claimed[pool]!.remove(lock)
            } else if roll == 8, let lock = free.randomElement(using: &random) {
                try history.commit("copy \(lock)", committer: committer) {
                    try history.write("\(pool)/claimed/\(lock)", "copy")
                }
                claimed[pool]!.insert(lock)
            } else if roll == 9, let lock = free.randomElement(using: &random) {
                try history.commit("chmod \(lock)", committer: committer) {
                    let path = history.work.appendingPathComponent("\(pool)/unclaimed/\(lock)").path
                    let mode = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? 0
                    try FileManager.default.setAttributes(
                        [.posixPermissions: mode & 0o100 == 0 ? 0o755 : 0o644], ofItemAtPath: path)
                }
            } else {
                try history.commit("README \(n)") { try history.write("README", "\(n)\n") }
            }
        }
        let (repository, _) = try history.open()
        return (history, repository)
    }

    @Test func oneWalkAgreesWithClaimCommitAndLastChangeOnAManyCommitHistory() throws {
        let (history, repository) = try generatedHistory()
        var checked: [LockState: Int] = [:]
        for commit in history.commits {
            for pool in ["envs", "ops/eu"] {
                let snapshot = try PoolSnapshot(repository: repository, commit: commit, pool: pool)
                let poolHistory = PoolHistory(repository: repository, pool: pool)
                let statuses = try LockStatus.read(repository: repository, snapshot: snapshot)
                #expect(Set(statuses.map(\.lock)) == Set(snapshot.claimed.keys).union(snapshot.unclaimed.keys))
                for status in statuses {
                    checked[status.state, default: 0] += 1
                    switch status.state {
                    case .claimed, .both:
                        let claim = try #require(try poolHistory.claimCommit(of: status.lock, at: commit))
                        #expect(status.commit == claim.id, "\(pool)/\(status.lock) at \(commit.short)")
                        #expect(status.since == claim.committer.time)
                        #expect(status.holder == PoolHistory.holder(of: claim))
                        #expect(status.leaseExpires == Holder.leaseExpiry(in: claim.message))
                    case .unclaimed:
                        let change = try #require(try poolHistory.lastChange(of: status.lock, at: commit))
                        #expect(status.commit == change, "\(pool)/\(status.lock) at \(commit.short)")
                        #expect(status.since == (try repository.commit(change).committer.time))
                        #expect(status.holder == nil && status.leaseExpires == nil)
                    case .absent:
                        Issue.record("a lock of the snapshot is absent: \(status.lock)")
                    }
                }
            }
        }
        // The generated history exercises every state that status reports.
        #expect(checked[.claimed, default: 0] > 100)
        #expect(checked[.unclaimed, default: 0] > 100)
        #expect(checked[.both, default: 0] > 0)
    }
}
