import Foundation
import Git
import Testing

@testable import LockPool

/// A waiter reads leases again only when a lease may have come into play: the tip or the locks changed and the new
/// commits may carry one, or a lease it read has come due.
@Suite struct LeaseWatchTests {
    let now = Date(timeIntervalSince1970: 1_777_716_600)

    /// A repository with a root commit, a child without a lease and a child with one.
    func history() throws -> (Repository, root: ObjectID, plain: ObjectID, leased: ObjectID) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lease-watch-\(UUID())").path
        let repository = try Repository.create(at: directory, bare: true)
        let tree = try repository.createTree([])
        let signature = Signature(name: "t", email: "t@example.invalid", time: now)
        func commit(_ message: String, _ parents: [ObjectID]) throws -> ObjectID {
            try repository.createCommit(
                tree: tree, parents: parents, message: message, author: signature, committer: signature)
        }
        let root = try commit("claiming: a\n", [])
        let plain = try commit("claiming: b\n", [root])
        let leased = try commit("claiming: c\n\nLease-Expires: 2026-05-02T10:40:00Z\n", [root])
        return (repository, root, plain, leased)
    }

    @Test func aSecondReadIsSkippedUntilSomethingChangesOrComesDue() throws {
        let (repository, tip, other, _) = try history()
        let watch = LeaseWatch()
        #expect(!watch.nothingPasses(tip: tip, locks: ["a"], now: now, repository: repository), "nothing read yet")
        watch.record(tip: tip, locks: ["a", "b"], expiries: [now.addingTimeInterval(60), now.addingTimeInterval(30)])
        #expect(watch.nothingPasses(tip: tip, locks: ["a", "b"], now: now, repository: repository))
        #expect(!watch.nothingPasses(tip: other, locks: ["a", "b"], now: now, repository: repository), "the tip moved")
        #expect(!watch.nothingPasses(tip: tip, locks: ["a"], now: now, repository: repository), "other locks")
        #expect(
            !watch.nothingPasses(tip: tip, locks: ["a", "b"], now: now.addingTimeInterval(30), repository: repository),
            "the first is due")
        watch.record(tip: tip, locks: ["a"], expiries: [])
        #expect(
            watch.nothingPasses(tip: tip, locks: ["a"], now: now.addingTimeInterval(86400), repository: repository),
            "no lease at all")
    }

    /// Without any lease at the last read, a moved tip needs no new read unless its new commits carry a lease.
    @Test func newCommitsWithoutALeaseNeedNoRead() throws {
        let (repository, root, plain, leased) = try history()
        let watch = LeaseWatch()
        watch.record(tip: root, locks: ["a"], expiries: [])
        #expect(watch.nothingPasses(tip: plain, locks: ["a", "b"], now: now, repository: repository))
        #expect(!watch.nothingPasses(tip: leased, locks: ["a", "c"], now: now, repository: repository))
    }
}
