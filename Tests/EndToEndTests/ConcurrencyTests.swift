import Foundation
import TestSupport
import Testing

/// Several `out` processes, each with its own cache (`TMPDIR`), working one pool over `git daemon`
/// (docs/concurrency.md#one-attempt, #lost-races).
@Suite(.serialized, .enabled(if: concurrencyTestsCanRun))
struct ConcurrencyTests {
    static let pool = "p"

    /// A request for pool `p` on `master` of `uri`.
    static func request(uri: String, params: JSONValue, retryDelay: String = "100ms") -> JSONValue {
        [
            "source": [
                "uri": .string(uri), "branch": "master", "pool": .string(pool), "retry_delay": .string(retryDelay),
            ],
            "params": params,
        ]
    }

    /// One simulated Concourse worker: its own cache directory and build source directory.
    struct Worker: Sendable {
        let tmp: URL
        let source: URL

        init(_ name: String, in scratch: Scratch) throws {
            tmp = try scratch.directory("\(name)/tmp")
            source = try scratch.directory("\(name)/source")
        }

        var environment: [String: String] { ["TMPDIR": tmp.path] }
    }

    @Test func loserOfARaceWaitsQuietlyAndGetsTheLockAfterRelease() async throws {
        let scratch = try Scratch(label: "lost-race")
        let repository = try LockRepository.create(in: scratch, pools: [Self.pool: ["env-1": .unclaimed("one")]])
        let seed = try repository.commitID()
        let daemon = try GitDaemon(scratch: scratch)
        let uri = daemon.url(for: repository)
        let executables = try Executables(scratch: scratch)
        let workers = try [Worker("worker-a", in: scratch), Worker("worker-b", in: scratch)]
        let acquire = Self.request(uri: uri, params: ["acquire": true, "timeout": "150s"])

        let handles = try workers.map {
            try executables.start(.out, arguments: [$0.source.path], request: acquire, environment: $0.environment)
        }
        // Generous bounds: on 2 cores the parallel end-to-end suites can starve this task for many seconds.
        let deadline = ContinuousClock.now + .seconds(120)
        while handles.allSatisfy(\.isRunning), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        let winnerIndex = try #require(handles.firstIndex { !$0.isRunning }, "neither out finished within 120 s")
        let loserIndex = 1 - winnerIndex
        let winner = try await handles[winnerIndex].wait(timeout: .seconds(30))
        try #require(winner.status == 0, "\(winner)")
        let won = try winner.decode(ResourceResponse.self)
        #expect(won.lockName == "env-1")
        #expect(won.poolName == Self.pool)
        #expect(winner.lastStderrLine == "acquired!")

        // Exactly one won: the other one waits for the only lock.
        let loserHandle = handles[loserIndex]
        #expect(try await loserHandle.waitForStderr(containing: "waiting for lock", timeout: .seconds(60)))
        try await Task.sleep(for: .milliseconds(500))
        #expect(loserHandle.isRunning, "the loser must still be waiting: \(loserHandle.stderrSoFar)")
        #expect(try repository.history().count == 2)

        // The winner releases from its side (its own cache), as the winning build's next put would.
        let winnerSide = workers[winnerIndex]
        try scratch.writeStepDirectory(
            "lock", in: winnerSide.source, name: "env-1\n", claimRef: won.version.ref + "\n")
        let release = try await executables.start(
            .out, arguments: [winnerSide.source.path],
            request: Self.request(uri: uri, params: ["release": "lock"]), environment: winnerSide.environment
        ).wait(timeout: .seconds(150))
        try #require(release.status == 0, "\(release)")
        let released = try release.decode(ResourceResponse.self)

        let loser = try await loserHandle.wait(timeout: .seconds(150))
        try #require(loser.status == 0, "\(loser)")
        let lost = try loser.decode(ResourceResponse.self)
        #expect(lost.lockName == "env-1")
        #expect(loser.stderrLines.first == "acquiring lock on: \(Self.pool)")
        #expect(loser.stderrLines.contains("waiting for lock"))
        #expect(loser.lastStderrLine == "acquired!")
        // Lost races, waiting and polls are not errors: scripts grep for `err` (docs/concurrency.md#lost-races).
        #expect(!loser.stderr.lowercased().contains("err"), "\(loser.stderr)")
        #expect(!winner.stderr.lowercased().contains("err"), "\(winner.stderr)")

        // In order: the winner's claim, its release, the loser's claim.
        #expect(try repository.history().map(\.id) == [lost.version.ref, released.version.ref, won.version.ref, seed])
        let report = try repository.replay()
        #expect(report.isConsistent, "\(report)")
        #expect(report.claimCounts["\(Self.pool)/env-1"] == 2)
        #expect(report.finalState[Self.pool] == PoolLocks(claimed: ["env-1"], unclaimed: []))
        let raced = loser.stderrLines.prefix { $0 != "waiting for lock" }.contains { $0.contains(".") }
        print("lost race: the loser \(raced ? "lost a push race" : "saw the claim on its first fetch") before waiting")
    }

    /// A failed `out` of one worker: which cycle and step, and what the process printed.
    struct Failure: Sendable, CustomStringConvertible {
        let worker: Int, cycle: Int, step: String
        let result: ExecutableResult
        var description: String { "worker \(worker) cycle \(cycle) \(step): \(result)" }
    }

    static let workerCount = 8
    static let cyclesPerWorker = 10

    @Test func workersCycleThroughTwoLocksWithoutDoubleClaims() async throws {
        let scratch = try Scratch(label: "concurrency")
        let locks = ["env-1", "env-2"]
        let repository = try LockRepository.create(
            in: scratch, pools: [Self.pool: ["env-1": .unclaimed("one"), "env-2": .unclaimed("two")]])
        let daemon = try GitDaemon(scratch: scratch)
        let uri = daemon.url(for: repository)
        let executables = try Executables(scratch: scratch)
        let acquire = Self.request(uri: uri, params: ["acquire": true, "timeout": "60s"])
        let release = Self.request(uri: uri, params: ["release": "step"])

        let clock = ContinuousClock()
        let started = clock.now
        let (failures, waits) = try await withThrowingTaskGroup(of: ([Failure], Int).self) { group in
            for index in 0..<Self.workerCount {
                let worker = try Worker("worker-\(index)", in: scratch)
                group.addTask {
                    var failures: [Failure] = []
                    var waits = 0
                    for cycle in 0..<Self.cyclesPerWorker {
                        let acquired = try await executables.start(
                            .out, arguments: [worker.source.path], request: acquire, environment: worker.environment
                        ).wait(timeout: .seconds(75))
                        if acquired.stderrLines.contains("waiting for lock") { waits += 1 }
                        guard acquired.status == 0, let name = try? acquired.decode(ResourceResponse.self).lockName
                        else {
                            failures.append(Failure(worker: index, cycle: cycle, step: "acquire", result: acquired))
                            break
                        }
                        try scratch.writeStepDirectory("step", in: worker.source, name: name + "\n")
                        let released = try await executables.start(
                            .out, arguments: [worker.source.path], request: release, environment: worker.environment
                        ).wait(timeout: .seconds(75))
                        guard released.status == 0 else {
                            failures.append(Failure(worker: index, cycle: cycle, step: "release", result: released))
                            break
                        }
                    }
                    return (failures, waits)
                }
            }
            var failures: [Failure] = []
            var waits = 0
            for try await (workerFailures, workerWaits) in group {
                failures += workerFailures
                waits += workerWaits
            }
            return (failures, waits)
        }
        let elapsed = clock.now - started
        let operations = Self.workerCount * Self.cyclesPerWorker * 2
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(
            "concurrency: \(operations) out operations by \(Self.workerCount) workers on \(locks.count) locks in "
                + String(format: "%.1f s, %.1f ops/s; %d acquires waited", seconds, Double(operations) / seconds, waits)
        )

        // Every out exited 0.
        #expect(failures.isEmpty, "\(failures.map(\.description).joined(separator: "\n"))")

        let report = try repository.replay()
        #expect(report.doubleClaims.isEmpty, "\(report)")
        #expect(report.isConsistent, "\(report)")
        #expect(report.commits.count == operations + 1, "\(report)")
        #expect(report.finalState[Self.pool] == PoolLocks(claimed: [], unclaimed: locks))
        #expect(report.finalState.count == 1)
        #expect(report.claimCounts.values.reduce(0, +) == operations / 2)
        #expect(report.releaseCounts.values.reduce(0, +) == operations / 2)
        #expect(Set(report.claimCounts.keys).isSubset(of: Set(locks.map { "\(Self.pool)/\($0)" })))
    }
}

/// Whether `git` (for the fixtures and `git daemon`) is on `PATH`.
private let concurrencyTestsCanRun: Bool = {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    return path.split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/git") }
}()
