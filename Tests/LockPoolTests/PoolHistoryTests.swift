import Foundation
import Git
import TestSupport
import Testing

@testable import LockPool

/// A lock repository with a known first-parent history, fetched into a bare cache and read with `PoolHistory`.
///
/// ```
/// c0  seed: envs {a, b unclaimed}, other {x unclaimed}
/// c1  claim envs/a
/// c2  claim other/x            (other pool only)
/// c3  README                   (no pool)
/// c4  release envs/a
/// c5  modify envs/unclaimed/b
/// c6  claim envs/a again
/// c7  claim b; add unclaimed Z, c, é, .hidden, sub/inner
/// ```
private struct HistoryFixture {
    let scratch: Scratch
    let origin: LockRepository
    let repository: Repository
    let c: [ObjectID]

    init() throws {
        scratch = try Scratch(label: "history")
        origin = try LockRepository.create(
            in: scratch,
            pools: ["envs": ["a": .unclaimed("A"), "b": .unclaimed("B")], "other": ["x": .unclaimed()]])
        // One work clone for the whole history, pushed once: cheaper than a clone per commit.
        let work = try scratch.uniqueDirectory("history-work")
        let git = origin.git.inDirectory(work)
        try git.run(["clone", "--quiet", origin.path, "."])
        func commit(_ message: String, _ change: () throws -> Void) throws -> String {
            try change()
            try git.run(["add", "--all"])
            try git.run(["commit", "--quiet", "-m", message])
            return try git.output("rev-parse", "HEAD")
        }
        func move(_ from: String, _ to: String) throws { try git.run(["mv", from, to]) }
        func write(_ path: String, _ content: String) throws {
            try Data(content.utf8).write(to: work.appendingPathComponent(path))
        }
        var ids = [try origin.commitID()]
        ids.append(
            try commit("main/deploy/apply build 42 claiming: a") { try move("envs/unclaimed/a", "envs/claimed/a") })
        ids.append(try commit("claiming: x") { try move("other/unclaimed/x", "other/claimed/x") })
        ids.append(try commit("README") { try write("README", "changed\n") })
        ids.append(try commit("one-off build 77 unclaiming: a") { try move("envs/claimed/a", "envs/unclaimed/a") })
        ids.append(try commit("updating: b") { try write("envs/unclaimed/b", "B2") })
        ids.append(
            try commit("main/deploy/apply build 43 claiming: a") { try move("envs/unclaimed/a", "envs/claimed/a") })
        ids.append(
            try commit("mixed") {
                try move("envs/unclaimed/b", "envs/claimed/b")
                for name in ["Z", "c", "é", ".hidden"] { try write("envs/unclaimed/\(name)", name) }
                try FileManager.default.createDirectory(
                    at: work.appendingPathComponent("envs/unclaimed/sub"), withIntermediateDirectories: true)
                try write("envs/unclaimed/sub/inner", "i")
            })
        try git.run(["push", "--quiet", "origin", "HEAD:refs/heads/master"])
        repository = try Repository.create(at: scratch.url("cache").path, bare: true)
        _ = try repository.fetch(
            branch: "master", from: origin.path, into: "refs/heads/master", options: RemoteOptions())
        c = try ids.map { try #require(ObjectID(hex: $0)) }
    }

    func history(_ pool: String = "envs") -> PoolHistory { PoolHistory(repository: repository, pool: pool) }
    var tip: ObjectID { c[7] }

    func index(_ id: ObjectID?) -> Int? { id.flatMap { c.firstIndex(of: $0) } }
}

@Suite struct PoolHistoryTests {
    struct LastChangeCase: Sendable, CustomTestStringConvertible {
        let lock: String, at: Int, expected: Int?
        var testDescription: String { "last change of \(lock) at c\(at) → \(expected.map { "c\($0)" } ?? "none")" }
    }

    @Test(arguments: [
        LastChangeCase(lock: "a", at: 7, expected: 6), LastChangeCase(lock: "a", at: 5, expected: 4),
        LastChangeCase(lock: "a", at: 3, expected: 1), LastChangeCase(lock: "a", at: 0, expected: 0),
        LastChangeCase(lock: "b", at: 7, expected: 7), LastChangeCase(lock: "b", at: 6, expected: 5),
        LastChangeCase(lock: "b", at: 4, expected: 0), LastChangeCase(lock: "c", at: 7, expected: 7),
        LastChangeCase(lock: "c", at: 6, expected: nil), LastChangeCase(lock: "zz", at: 7, expected: nil),
    ])
    func lastChange(_ c: LastChangeCase) throws {
        let fixture = try HistoryFixture()
        #expect(fixture.index(try fixture.history().lastChange(of: c.lock, at: fixture.c[c.at])) == c.expected)
    }

    @Test func lastChangeIgnoresOtherPoolsWithTheSameLockName() throws {
        let fixture = try HistoryFixture()
        // other/x changed in c2; envs has no x.
        #expect(try fixture.history("other").lastChange(of: "x", at: fixture.tip) == fixture.c[2])
        #expect(try fixture.history().lastChange(of: "x", at: fixture.tip) == nil)
    }

    @Test func claimAndReleaseCommits() throws {
        let fixture = try HistoryFixture()
        let history = fixture.history()
        #expect(fixture.index(try history.claimCommit(of: "a", at: fixture.tip)?.id) == 6)
        #expect(fixture.index(try history.claimCommit(of: "a", at: fixture.c[3])?.id) == 1)
        #expect(fixture.index(try history.claimCommit(of: "b", at: fixture.tip)?.id) == 7)
        #expect(try history.claimCommit(of: "b", at: fixture.c[6]) == nil)
        #expect(fixture.index(try history.releaseCommit(of: "a", at: fixture.tip)?.id) == 4)
        #expect(try history.releaseCommit(of: "a", at: fixture.c[3]) == nil)
        #expect(try history.releaseCommit(of: "a", at: fixture.tip, limit: 2) == nil)

        let claim = try #require(try history.claimCommit(of: "a", at: fixture.tip))
        #expect(PoolHistory.holder(of: claim).description == "main/deploy/apply build 43")
        let release = try #require(try history.releaseCommit(of: "a", at: fixture.tip))
        #expect(PoolHistory.holder(of: release).description == "one-off build 77")
        let seed = try fixture.repository.commit(fixture.c[0])
        #expect(PoolHistory.holder(of: seed).description == "\(GitCLI.authorName) <\(GitCLI.authorEmail)>")
    }

    @Test func changedLocksInPathByteOrderWithoutNonLocks() throws {
        let fixture = try HistoryFixture()
        let history = fixture.history()
        let mixed = try fixture.repository.commit(fixture.c[7])
        #expect(try history.changedLocks(in: mixed) == ["b", "Z", "b", "c", "é"])
        #expect(try history.changedLocks(in: fixture.repository.commit(fixture.c[1])) == ["a", "a"])
        #expect(try history.changedLocks(in: fixture.repository.commit(fixture.c[5])) == ["b"])
        #expect(try history.changedLocks(in: fixture.repository.commit(fixture.c[2])).isEmpty)
        #expect(try history.changedLocks(in: fixture.repository.commit(fixture.c[3])).isEmpty)
        #expect(try history.changedLocks(in: fixture.repository.commit(fixture.c[0])) == ["a", "b"])
    }

    @Test func commitsTouchingPoolIgnoreOtherPoolsAndFiles() throws {
        let fixture = try HistoryFixture()
        let history = fixture.history()
        let all = try history.commitsTouchingPool(from: fixture.tip).map { fixture.index($0.id)! }
        #expect(all == [7, 6, 5, 4, 1, 0])
        #expect(
            try history.commitsTouchingPool(from: fixture.tip, downTo: fixture.c[4]).map { fixture.index($0.id)! }
                == [7, 6, 5, 4])
        // A stop that does not touch the pool still ends the walk.
        #expect(
            try history.commitsTouchingPool(from: fixture.tip, downTo: fixture.c[3]).map { fixture.index($0.id)! }
                == [7, 6, 5, 4])
        #expect(try history.commitsTouchingPool(from: fixture.tip, limit: 2).map { fixture.index($0.id)! } == [7, 6])
        #expect(
            try fixture.history("other").commitsTouchingPool(from: fixture.tip).map { fixture.index($0.id)! }
                == [2, 0])
        #expect(try fixture.history("nope").commitsTouchingPool(from: fixture.tip).isEmpty)
        #expect(try history.touchesPool(fixture.repository.commit(fixture.c[3])) == false)
        #expect(try history.touchesPool(fixture.repository.commit(fixture.c[0])) == true)
    }

    struct ClaimChangedCase: Sendable, CustomTestStringConvertible {
        let lock: String, after: Int, expected: Bool
        var testDescription: String { "claimed/\(lock) changed after c\(after): \(expected)" }
    }

    @Test(arguments: [
        ClaimChangedCase(lock: "a", after: 1, expected: true), ClaimChangedCase(lock: "a", after: 4, expected: true),
        ClaimChangedCase(lock: "a", after: 6, expected: false), ClaimChangedCase(lock: "b", after: 5, expected: true),
        ClaimChangedCase(lock: "b", after: 7, expected: false), ClaimChangedCase(lock: "x", after: 0, expected: false),
    ])
    func claimChanged(_ c: ClaimChangedCase) throws {
        let fixture = try HistoryFixture()
        #expect(
            (try fixture.history().firstClaimChange(of: c.lock, after: fixture.c[c.after], tip: fixture.tip) != nil)
                == c.expected)
    }

    @Test func isOnBranch() throws {
        let fixture = try HistoryFixture()
        let history = fixture.history()
        #expect(try history.isOnBranch(fixture.c[0], tip: fixture.tip))
        #expect(try history.isOnBranch(fixture.tip, tip: fixture.tip))
        #expect(try !history.isOnBranch(fixture.tip, tip: fixture.c[3]))
        #expect(try !history.isOnBranch(ObjectID(hex: String(repeating: "0", count: 39) + "1")!, tip: fixture.tip))
    }

    @Test func snapshotCountsOnlyLocks() throws {
        let fixture = try HistoryFixture()
        let snapshot = try PoolSnapshot(repository: fixture.repository, commit: fixture.tip, pool: "envs")
        #expect(snapshot.exists)
        #expect(snapshot.freeLocks == ["Z", "c", "é"])
        #expect(snapshot.heldLocks == ["a", "b"])
        #expect(snapshot.doubleLocks.isEmpty)
        #expect(snapshot.state(of: ".hidden") == .absent)
        #expect(snapshot.state(of: "sub") == .absent)
        #expect(try !PoolSnapshot(repository: fixture.repository, commit: fixture.tip, pool: "nope").exists)
    }
}
