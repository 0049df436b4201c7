import Foundation
import TestSupport
import Testing

/// Atomic multi-lock end to end: `acquire` with `count: N` takes N locks in one commit, all or nothing; `in` writes
/// the set; a release from that step directory ends the whole set in one commit.
@Suite(.enabled(if: Executables.areAvailable))
struct MultiLockEndToEndTests {
    /// For every commit after the seed, the number of locks whose claimed state changed: a set operation of 2 moves
    /// exactly 2, never 1.
    private func claimChangesPerCommit(_ repository: LockRepository) throws -> [Int] {
        let commits = Array(try repository.history().reversed())
        var previous = try repository.locks(in: "envs", at: commits[0].id)
        var changes: [Int] = []
        for commit in commits.dropFirst() {
            let current = try repository.locks(in: "envs", at: commit.id)
            changes.append(Set(current.claimed).symmetricDifference(previous.claimed).count)
            previous = current
        }
        return changes
    }

    @Test func concurrentSetAcquiresNeverBothSucceedUntilARelease() async throws {
        let harness = try makeHarness(
            "multi-lock", locks: ["env-1": .unclaimed("one"), "env-2": .unclaimed("two"), "env-3": .unclaimed("three")])
        let request: JSONValue = ["acquire": true, "count": 2, "timeout": "150s"]
        let first = try harness.startOut(request)
        let second = try harness.startOut(request)
        let deadline = ContinuousClock.now + .seconds(120)
        while first.isRunning && second.isRunning, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let (winner, loser) = first.isRunning ? (second, first) : (first, second)
        let won = try await winner.wait(timeout: .seconds(30))
        try #require(won.status == 0, "\(won)")
        let response = try won.response()
        let lockName = try #require(response.lockName)
        let taken = lockName.components(separatedBy: ", ")
        #expect(taken.count == 2 && taken == taken.sorted(), "\(lockName)")
        #expect(won.lastStderrLine == "acquired!")

        // The other one waits: one lock is left, it needs two.
        #expect(try await loser.waitForStderr(containing: "waiting for lock", timeout: .seconds(60)))
        try await Task.sleep(for: .milliseconds(500))
        #expect(loser.isRunning, "\(loser.stderrSoFar)")
        #expect(try harness.repository.locks(in: "envs").claimed == taken)

        // The implicit get: `name` lists the set, `claim_ref` is the claim commit.
        let destination = harness.scratch.url("get")
        let got = try harness.get(version: response.version.ref, into: destination)
        #expect(got.status == 0, "\(got)")
        #expect(try got.response().lockName == lockName)
        #expect(
            try String(contentsOf: destination.appendingPathComponent("name"), encoding: .utf8)
                == taken.map { $0 + "\n" }.joined())
        #expect(
            try String(contentsOf: destination.appendingPathComponent("claim_ref"), encoding: .utf8)
                == response.version.ref + "\n")
        for lock in taken {
            #expect(
                FileManager.default.fileExists(atPath: destination.appendingPathComponent("envs/claimed/\(lock)").path))
        }

        // A release from that directory ends the whole set in one commit; then the waiter gets two locks.
        try FileManager.default.copyItem(at: destination, to: harness.sourceDirectory.appendingPathComponent("held"))
        let released = try harness.out(["release": "held"])
        #expect(released.status == 0, "\(released)")
        #expect(try released.response().lockName == lockName)
        // The release's own commit: the waiter, polling, may already have claimed on top of it.
        let release = try harness.repository.commit(try released.response().version.ref)
        #expect(release.subject == "unclaiming: \(taken.joined(separator: ", "))")
        #expect(release.trailer("Lock-Claim") == response.version.ref)
        let late = try await loser.wait(timeout: .seconds(150))
        #expect(late.status == 0, "\(late)")
        #expect(try late.response().lockName?.components(separatedBy: ", ").count == 2)

        // No partial claim is ever visible: every commit moved exactly two locks.
        #expect(try claimChangesPerCommit(harness.repository) == [2, 2, 2])
        let report = try harness.repository.replay()
        #expect(report.issues.isEmpty, "\(report)")
    }

    @Test func aStaleSetReleaseChangesNothing() throws {
        let harness = try makeHarness("multi-lock-fence", locks: ["a": .unclaimed(), "b": .unclaimed()])
        let taken = try harness.out(["acquire": true, "count": "2"])
        try #require(taken.status == 0, "\(taken)")
        let claim = try taken.response().version.ref
        // Someone releases b and claims it again: the set's claim is over for b.
        try harness.stepDirectory("b-only", lock: "b")
        #expect(try harness.out(["release": "b-only"]).status == 0)
        #expect(try harness.out(["claim": "b"]).status == 0)
        let before = try harness.repository.commitID()
        try harness.stepDirectory("set", lock: "a\nb\n", claimRef: claim)
        let stale = try harness.out(["release": "set"])
        expectFailure(stale, "was claimed again by", exact: false)
        #expect(try harness.repository.commitID() == before)
        #expect(try harness.repository.locks(in: "envs").claimed == ["a", "b"])
    }
}

@Suite(.enabled(if: Executables.areAvailable))
struct CLIMultiLockTests {
    @Test func acquireCountPrintsEveryNameAndReleaseTakesTheSet() throws {
        let cli = try CLIHarness("cli-multi-lock", locks: ["a": .unclaimed(), "b": .unclaimed(), "c": .unclaimed()])
        let acquired = try cli.run(["acquire", "envs", "--count", "3"])
        #expect(acquired.status == 0, "\(acquired)")
        #expect(acquired.stdoutText == "a\nb\nc\n")
        let claim = try cli.repository.commitID()
        #expect(try cli.repository.commit().trailer("Lock-Count") == "3")

        let tooMany = try cli.run(["acquire", "envs", "--count", "2", "--timeout", "300ms", "--retry-delay", "50ms"])
        #expect(tooMany.status == 75, "\(tooMany)")
        #expect(tooMany.stderr.contains("fewer than 2 unclaimed locks in pool 'envs'"), "\(tooMany)")

        let released = try cli.run(["release", "envs", "c", "a", "--claim", claim, "--json"])
        #expect(released.status == 0, "\(released)")
        let report = try released.decodeSnakeCase(OperationJSON.self)
        #expect(report.lock == "a" && report.locks == ["a", "c"])
        #expect(try cli.repository.commit().subject == "unclaiming: a, c")
        #expect(try cli.repository.locks(in: "envs") == PoolLocks(claimed: ["b"], unclaimed: ["a", "c"]))

        let usage = try cli.run(["release", "envs"])
        #expect(usage.status == 64, "\(usage)")
        let badCount = try cli.run(["acquire", "envs", "--count", "0"])
        #expect(badCount.status == 64 && badCount.stderr.contains("--count must be from 1 to 1000"), "\(badCount)")
    }
}
