import Foundation
import Git
import TestSupport
import Testing

@testable import LockPool

private let tool = "lockpool 0.0.0-test (cli)"

/// Atomic multi-lock (`acquireSet`, `releaseSet`): N locks in one commit, all or nothing.
@Suite struct MultiLockTests {
    private let build = BuildInfo(team: "main", pipeline: "deploy", job: "apply", name: "42")

    @Test func acquireSetClaimsTheLocksInOneCommit() async throws {
        let fixture = try PoolFixture(
            label: "set-acquire", locks: ["a": .unclaimed("A"), "b": .unclaimed("B"), "c": .unclaimed("C")])
        let before = try fixture.origin.commitID()
        let result = try await fixture.perform(.acquireSet(count: 2, lease: .seconds(3600)), build: build)
        #expect(result.locks.count == 2)
        #expect(result.lock == result.locks[0])
        #expect(result.locks == result.locks.sorted())
        #expect(result.committed && result.availableCount == 1 && result.claimedCount == 2)

        let tip = try fixture.origin.commit()
        #expect(tip.parents == [before])
        #expect(tip.subject == "main/deploy/apply build 42 claiming: \(result.locks.joined(separator: ", "))")
        #expect(tip.trailer("Lock-Operation") == "acquire")
        #expect(tip.trailer("Lock-Name") == result.locks[0])
        #expect(tip.trailer("Lock-Count") == "2")
        #expect(tip.trailer("Lock-Names") == "[\"\(result.locks[0])\",\"\(result.locks[1])\"]")
        #expect(tip.trailer("Lease-Expires") != nil && tip.trailer("Lock-Waited") == "0s")
        let locks = try fixture.origin.locks(in: "envs")
        #expect(locks.claimed == result.locks)
        #expect(locks.unclaimed.count == 1)
        // The content moved with each lock.
        for lock in result.locks {
            #expect(try fixture.origin.file("envs/claimed/\(lock)") == Data(lock.uppercased().utf8))
        }
        // History reads it as one claim of each, by lockpool.
        let repository = try Repository.open(at: fixture.origin.path)
        let events = try PoolTimeline(repository: repository).events(
            tip: try #require(ObjectID(hex: tip.id)), pools: ["envs"])
        let claims = events.filter { $0.commit.hex == tip.id }
        #expect(claims.map(\.lock) == result.locks)
        #expect(claims.allSatisfy { $0.action == .claim && $0.format == .lockpool && $0.operation == "acquire" })
    }

    @Test func acquireSetWaitsWhileTooFewAreFree() async throws {
        let fixture = try PoolFixture(label: "set-wait", locks: ["a": .unclaimed(), "b": .claimed()])
        let before = try fixture.origin.commitID()
        let error = try await fixture.failure(
            .acquireSet(count: 2, lease: nil), retryDelay: .milliseconds(50), timeout: .milliseconds(400))
        guard case .timedOut(_, let reason) = error else {
            Issue.record("expected a timeout, got \(error)")
            return
        }
        #expect(reason == "fewer than 2 unclaimed locks in pool 'envs'")
        #expect(try fixture.origin.commitID() == before)
    }

    @Test func releaseSetEndsTheWholeClaimInOneCommit() async throws {
        let fixture = try PoolFixture(
            label: "set-release", locks: ["a": .unclaimed(), "b": .unclaimed(), "c": .unclaimed()])
        let taken = try await fixture.perform(.acquireSet(count: 3, lease: nil), build: build)
        let claim = taken.version
        let released = try await fixture.perform(
            .releaseSet(locks: ["c", "a", "b", "a"], fence: claim, remove: false), build: build)
        #expect(released.locks == ["a", "b", "c"])
        let tip = try fixture.origin.commit()
        #expect(tip.parents == [claim.hex])
        #expect(tip.subject == "main/deploy/apply build 42 unclaiming: a, b, c")
        #expect(tip.trailer("Lock-Claim") == claim.hex)
        #expect(tip.trailer("Lock-Count") == "3")
        #expect(try fixture.origin.locks(in: "envs") == PoolLocks(claimed: [], unclaimed: ["a", "b", "c"]))
    }

    @Test func releaseSetChangesNothingWhenOneLockIsNotItsClaim() async throws {
        let fixture = try PoolFixture(
            label: "set-fence", locks: ["a": .unclaimed(), "b": .unclaimed(), "c": .unclaimed()])
        let taken = try await fixture.perform(.acquireSet(count: 2, lease: nil), build: build)
        // One lock of the set is released and claimed again by someone else.
        let stolen = taken.locks[1]
        try await fixture.perform(.release(lock: stolen, fence: nil), cache: "other")
        try await fixture.perform(.claim(lock: stolen, lease: nil), cache: "other")
        let before = try fixture.origin.commitID()
        let error = try await fixture.failure(.releaseSet(locks: taken.locks, fence: taken.version, remove: false))
        guard case .fenceBroken(let lock, _, _, _, let fence, _) = error else {
            Issue.record("expected a broken fence, got \(error)")
            return
        }
        #expect(lock == stolen && fence == taken.version)
        #expect(try fixture.origin.commitID() == before)
        #expect(try fixture.origin.locks(in: "envs").claimed.sorted() == taken.locks.sorted())
    }

    @Test func removeSetOfAnUnclaimedLockChangesNothing() async throws {
        let fixture = try PoolFixture(label: "set-remove", locks: ["a": .claimed(), "b": .unclaimed()])
        let before = try fixture.origin.commitID()
        let error = try await fixture.failure(.releaseSet(locks: ["a", "b"], fence: nil, remove: true))
        #expect(
            error.description
                == "lock 'b' in pool 'envs' is not claimed: only claimed locks can be removed; claim it first")
        #expect(try fixture.origin.commitID() == before)
        let removed = try await fixture.perform(.releaseSet(locks: ["a"], fence: nil, remove: true))
        #expect(removed.locks == ["a"])
        #expect(try fixture.origin.commit().subject == "removing: a")
        #expect(try fixture.origin.locks(in: "envs") == PoolLocks(claimed: [], unclaimed: ["b"]))
    }

    @Test func aSetClaimSurvivesAnUnknownPushOutcome() throws {
        // The locks of a pushed commit are read back from its trailers.
        let message = CommitMessage(
            operation: .acquire, pool: "envs", lock: "a", tool: tool, nonce: String(repeating: "0", count: 32),
            lockSet: ["a", "b c", "ü"])
        #expect(CommitMessage.lockNames(in: message.rendered()) == ["a", "b c", "ü"])
        #expect(message.subject == "claiming: a, b c, ü")
        let single = CommitMessage(operation: .claim, pool: "envs", lock: "x", tool: tool, lockSet: ["x"])
        #expect(CommitMessage.lockNames(in: single.rendered()) == ["x"])
        #expect(!single.rendered().contains("Lock-Count"))
        #expect(CommitMessage.lockNames(in: "subject\n\nLock-Names: not json\n") == [])
    }
}
