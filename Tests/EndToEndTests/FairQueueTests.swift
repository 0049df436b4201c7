import Foundation
import TestSupport
import Testing

/// `source.fair` end to end: waiters queue tickets under `<pool>/waiting/` and are served oldest first; a waiter that
/// dies is skipped once its ticket expires.
@Suite(.enabled(if: Executables.areAvailable))
struct FairQueueEndToEndTests {
    private static let request: JSONValue = ["acquire": true, "timeout": "240s"]
    /// Polls every second: tickets live 10 s, refreshed every 3.3 s, so a loaded machine never expires a live one.
    private static let fair: [String: JSONValue] = ["fair": true, "retry_delay": "1s"]

    /// The tickets queued in `pool` at the tip.
    private func tickets(_ harness: ResourceHarness) throws -> [String] {
        try harness.repository.fileNames(in: "envs/waiting")
    }

    /// Starts a fair waiter with its own cache and waits until its ticket is in the repository.
    private func startWaiter(_ harness: ResourceHarness, index: Int, queued: Int) async throws -> RunningExecutable {
        let tmp = try harness.scratch.directory("waiter-\(index)/tmp")
        let waiter = try harness.executables.start(
            .out, arguments: [harness.sourceDirectory.path],
            request: ["source": harness.source(Self.fair), "params": Self.request],
            environment: ["TMPDIR": tmp.path])
        let deadline = ContinuousClock.now + .seconds(90)
        while try tickets(harness).count < queued, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        try #require(try tickets(harness).count >= queued, "waiter \(index) never queued: \(waiter.stderrSoFar)")
        return waiter
    }

    /// Releases the only lock with the git CLI (as its holder's release would) and returns which waiter took it.
    private func handOver(_ harness: ResourceHarness, to waiters: [Int: RunningExecutable]) async throws -> Int {
        // The waiters' ticket refreshes can win the push race against this release: try again on a fresh clone.
        for attempt in 1...20 {
            do {
                try harness.repository.moveLock("env-1", in: "envs", toClaimed: false, message: "unclaiming: env-1")
                break
            } catch  where attempt < 20 {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            if let (index, _) = waiters.first(where: { !$0.value.isRunning }) { return index }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("no waiter took the lock within 120 s")
        return -1
    }

    @Test func waitersAreServedInTheOrderTheyArrived() async throws {
        let harness = try makeHarness("fair-order", locks: ["env-1": .claimed("one")])
        let seed = try harness.repository.commitID()
        var waiters: [Int: RunningExecutable] = [:]
        for index in 1...6 { waiters[index] = try await startWaiter(harness, index: index, queued: index) }
        #expect(try tickets(harness) == tickets(harness).sorted())

        // Queueing is not a change of the pool's locks: `check` reports no version for it.
        let check = try harness.check(ref: seed)
        #expect(try check.versions() == [seed], "\(check)")

        var served: [Int] = []
        for _ in 1...6 {
            let index = try await handOver(harness, to: waiters)
            guard let waiter = waiters.removeValue(forKey: index) else { break }
            let result = try await waiter.wait(timeout: .seconds(30))
            try expectSuccess(result, lock: "env-1", pool: "envs")
            served.append(index)
        }
        #expect(served == [1, 2, 3, 4, 5, 6])
        #expect(try tickets(harness).isEmpty)
        let report = try harness.repository.replay()
        #expect(report.issues.isEmpty, "\(report)")
    }

    @Test func aKilledWaiterIsSkippedOnceItsTicketExpires() async throws {
        let harness = try makeHarness("fair-kill", locks: ["env-1": .claimed("one")])
        let first = try await startWaiter(harness, index: 1, queued: 1)
        let doomed = try await startWaiter(harness, index: 2, queued: 2)
        let third = try await startWaiter(harness, index: 3, queued: 3)
        let doomedTicket = try tickets(harness)[1]
        doomed.send(SIGKILL)
        _ = try? await doomed.wait(timeout: .seconds(30))

        #expect(try await handOver(harness, to: [1: first, 3: third]) == 1)
        try expectSuccess(try await first.wait(timeout: .seconds(30)), lock: "env-1", pool: "envs")

        // The dead waiter's ticket is still ahead of the third; it expires 10 s after its last refresh.
        let released = ContinuousClock.now
        #expect(try await handOver(harness, to: [3: third]) == 3)
        let waited = ContinuousClock.now - released
        try expectSuccess(try await third.wait(timeout: .seconds(30)), lock: "env-1", pool: "envs")
        #expect(waited < .seconds(60), "the dead ticket blocked the queue for \(waited)")
        // Swept by the third waiter's claim.
        #expect(try !tickets(harness).contains(doomedTicket))
        #expect(try tickets(harness).isEmpty)
    }

    @Test func aWaiterThatTimesOutLeavesTheQueue() throws {
        let harness = try makeHarness("fair-timeout", locks: ["env-1": .claimed("one")])
        let result = try harness.out(["acquire": true, "timeout": "2s"], source: Self.fair)
        expectFailure(result, "timed out after 2s", exact: false)
        #expect(try tickets(harness).isEmpty)
        let subjects = try harness.repository.history().map(\.subject)
        #expect(subjects.contains { $0.hasPrefix("queueing: ") }, "\(subjects)")
        #expect(subjects.contains { $0.hasPrefix("leaving the queue: ") }, "\(subjects)")
        #expect(try harness.repository.locks(in: "envs").claimed == ["env-1"])
    }
}
