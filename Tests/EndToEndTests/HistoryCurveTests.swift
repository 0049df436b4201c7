import Foundation
import TestSupport
import Testing

/// The benchmark's history curve (`benchmarks/bench.py --only history`, issue 16) at a small size, as a test of
/// correctness only: on a lock repository whose seed is followed by 2,000 claims and releases (written with
/// `git fast-import`), a cold `check`, `out` acquire, `in`, `out` release from the get step's directory, `in` at the
/// tip and `check` from the claim give the same outcomes as on a repository holding only the seed. Every run gets a
/// new, empty `TMPDIR` (an empty cache, as in a Concourse container). Timings are for `make bench`, not asserted here.
@Suite(.serialized) struct HistoryCurveTests {
    static let moves = 2000

    /// The pool of both repositories: one unclaimed lock, so that every acquire takes the same one.
    static let seeds: [String: LockSeed] = [
        "env-1": .unclaimed("host: 10.0.0.1\n"), "env-2": .claimed("host: 10.0.0.2\n"),
        "env-3": .claimed("host: 10.0.0.3\n"),
    ]

    @Test(arguments: ["file", "git daemon"])
    func coldOperationsGiveTheSameOutcomesOnALongHistory(transport: String) throws {
        let scratch = try Scratch(label: "history-curve")
        let flat = try LockRepository.create(in: scratch, name: "flat.git", pools: ["envs": Self.seeds])
        let deep = try LockRepository.create(in: scratch, name: "deep.git", pools: ["envs": Self.seeds])
        try Self.appendClaimsAndReleases(Self.moves, to: deep, pool: "envs", locks: Self.seeds.keys.sorted())
        #expect(try deep.git.output("rev-list", "--count", deep.branch) == "\(Self.moves + 1)")
        #expect(try deep.locks(in: "envs") == flat.locks(in: "envs"))

        let daemon = try transport == "git daemon" ? GitDaemon(scratch: scratch) : nil
        defer { daemon?.stop() }
        func harness(_ repository: LockRepository) throws -> ResourceHarness {
            try ResourceHarness(
                scratch: scratch, repository: repository, pool: "envs", uri: daemon?.url(for: repository))
        }
        let short = try ColdSequence(harness: try harness(flat)).run()
        let long = try ColdSequence(harness: try harness(deep)).run()

        // What the contract says (docs/resource.md), on the short history…
        #expect(short.checkAtStart == ["start"])
        #expect(short.acquired == "env-1" && short.acquireIsTip && short.acquireParent == "start")
        #expect(short.locksAfterAcquire == PoolLocks(claimed: ["env-1", "env-2", "env-3"], unclaimed: []))
        #expect(short.getAfterAcquire == GetOutcome(name: "env-1\n", metadata: "host: 10.0.0.1\n", claimRef: "acquire"))
        #expect(short.released == "env-1" && short.releaseIsTip && short.releaseParent == "acquire")
        #expect(short.releaseRestoresTheTree)
        #expect(short.getAtTip == GetOutcome(name: "env-1\n", metadata: "host: 10.0.0.1\n", claimRef: nil))
        #expect(short.checkFromAcquire == ["acquire", "release"])
        #expect(short.checkAtEnd == ["release"])
        // …and the long history gives exactly the same.
        #expect(long == short)
    }

    /// The benchmark's own history section at 1 and 2,000 commits, once over each transport: it checks every
    /// operation's outcome (versions, lock states, `in`'s files, `check`'s answer) and exits 1 on a mismatch.
    @Test(.enabled(if: ExternalTool.areAvailable("python3")))
    func theBenchmarksHistorySectionFindsTheExpectedOutcomes() throws {
        let scratch = try Scratch(label: "bench-history")
        let executables = try Executables(scratch: scratch)
        let result = try BenchmarkScript.run(
            ["--only", "history", "--history-sizes", "1,2000", "--history-runs", "1", "--history-plot-dir", ""],
            executables: executables, scratch: scratch)
        #expect(result.status == 0, "\(result)")
        #expect(!result.stdout.contains("FAILED"), "\(result.stdout)")
        for transport in ["the local bare repository", "git daemon on 127.0.0.1"] {
            #expect(result.stdout.contains("6. History curve, \(transport)"), "\(result.stdout)")
        }
        // A median row, a p90 row and a sizes row at 2,000 commits for each transport.
        let rows = result.stdout.split(separator: "\n").filter { $0.hasPrefix("      2000 ") }
        #expect(rows.count == 6, "\(result.stdout)")
    }

    /// Appends `count` commits to `repository`'s branch with `git fast-import`, as lockpool writes them: each moves
    /// one lock between `claimed/` and `unclaimed/`, in pairs, so that the pool ends as it began.
    static func appendClaimsAndReleases(
        _ count: Int, to repository: LockRepository, pool: String, locks: [String]
    ) throws {
        let tip = try repository.commitID()
        var claimed = Set(try repository.locks(in: pool).claimed)
        var stream = ""
        for index in 0..<count {
            let lock = locks[(index / 2) % locks.count]
            let claiming = !claimed.contains(lock)
            if claiming { claimed.insert(lock) } else { claimed.remove(lock) }
            let (verb, operation, state) =
                claiming ? ("claiming", "acquire", "claimed") : ("unclaiming", "release", "unclaimed")
            let message = """
                main/deploy/apply build \(index + 1) \(verb): \(lock)

                Lock-Schema: 1
                Lock-Operation: \(operation)
                Lock-Pool: \(pool)
                Lock-Name: \(lock)
                Lock-State: \(state)
                Build-Team: main
                Build-Pipeline: deploy
                Build-Job: apply
                Build-Name: \(index + 1)
                Lock-Tool: lockpool (history curve test)

                """
            let from = claiming ? "unclaimed" : "claimed"
            stream += "commit refs/heads/\(repository.branch)\n"
            stream += "committer CI Pool Resource <ci-pool@localhost> \(1_700_000_000 + 60 * index) +0000\n"
            stream += "data \(message.utf8.count)\n\(message)\n"
            if index == 0 { stream += "from \(tip)\n" }
            stream += "R \(pool)/\(from)/\(lock) \(pool)/\(state)/\(lock)\n\n"
        }
        stream += "done\n"
        try repository.git.run(
            ["fast-import", "--quiet", "--done"], stdin: Data(stream.utf8), timeout: .seconds(120))
    }
}

extension HistoryCurveTests {
    /// What `in` wrote: `name`, `metadata`, and `claim_ref` as a label of `ColdSequence` (`nil` when absent).
    struct GetOutcome: Equatable {
        var name: String?
        var metadata: String?
        var claimRef: String?
    }

    /// The outcomes of one cold sequence, with commit ids replaced by their role (`start`, `acquire`, `release`), so
    /// that two repositories with different histories compare equal when the operations behaved the same.
    struct ColdOutcome: Equatable {
        var checkAtStart: [String]
        var acquired: String?
        var acquireIsTip: Bool
        var acquireParent: String
        var locksAfterAcquire: PoolLocks
        var getAfterAcquire: GetOutcome
        var released: String?
        var releaseIsTip: Bool
        var releaseParent: String
        var releaseRestoresTheTree: Bool
        var getAtTip: GetOutcome
        var checkFromAcquire: [String]
        var checkAtEnd: [String]
    }

    /// An operation exited with a non-zero status.
    struct OperationFailed: Error, CustomStringConvertible {
        let operation: String
        let result: ExecutableResult
        var description: String { "\(operation) failed: \(result)" }
    }

    /// check, out acquire, in, out release, in at the tip and check from the claim, each in a new `TMPDIR`.
    struct ColdSequence {
        let harness: ResourceHarness

        /// The harness with a new, empty `TMPDIR`: the next run starts with an empty cache.
        func cold() throws -> ResourceHarness {
            var harness = harness
            harness.environment = ["TMPDIR": try harness.scratch.uniqueDirectory("cold-tmp").path]
            return harness
        }

        func succeeded(_ operation: String, _ result: ExecutableResult) throws -> ExecutableResult {
            guard result.status == 0 else { throw OperationFailed(operation: operation, result: result) }
            return result
        }

        func run() throws -> ColdOutcome {
            let repository = harness.repository
            let start = try repository.commitID()
            let startTree = try repository.git.output("rev-parse", "\(start)^{tree}")
            let checkAtStart = try succeeded("check", try cold().check(version: nil)).versions()

            let acquire = try succeeded("out acquire", try cold().out(["acquire": true])).response()
            let claim = acquire.version.ref
            let acquireIsTip = try repository.commitID() == claim
            let acquireParent = try repository.commitID("\(claim)^")
            let locksAfterAcquire = try repository.locks(in: harness.pool)

            // The get after the put, into the step directory the release then names (as Concourse does).
            let step = harness.sourceDirectory.appendingPathComponent("lock-\(UUID().uuidString.prefix(8))")
            _ = try succeeded("in", try cold().get(version: claim, into: step)).response()
            let getAfterAcquire = Self.get(step)

            let release = try succeeded("out release", try cold().out(["release": .string(step.lastPathComponent)]))
                .response()
            let releaseID = release.version.ref
            let releaseIsTip = try repository.commitID() == releaseID
            let releaseParent = try repository.commitID("\(releaseID)^")
            let releaseTree = try repository.git.output("rev-parse", "\(releaseID)^{tree}")

            let destination = harness.scratch.url("get-at-tip-\(UUID().uuidString.prefix(8))")
            _ = try succeeded("in at the tip", try cold().get(version: releaseID, into: destination)).response()
            let checkFromAcquire = try succeeded("check from the claim", try cold().check(ref: claim)).versions()
            let checkAtEnd = try succeeded("check", try cold().check(version: nil)).versions()

            let names = [start: "start", claim: "acquire", releaseID: "release"]
            func role(_ id: String?) -> String? { id.map { names[$0] ?? $0 } }
            func roles(_ ids: [String]) -> [String] { ids.map { names[$0] ?? $0 } }
            var getAfter = getAfterAcquire
            getAfter.claimRef = role(getAfter.claimRef)
            var getAtTip = Self.get(destination)
            getAtTip.claimRef = role(getAtTip.claimRef)
            return ColdOutcome(
                checkAtStart: roles(checkAtStart), acquired: acquire.lockName, acquireIsTip: acquireIsTip,
                acquireParent: role(acquireParent) ?? "", locksAfterAcquire: locksAfterAcquire,
                getAfterAcquire: getAfter, released: release.lockName, releaseIsTip: releaseIsTip,
                releaseParent: role(releaseParent) ?? "", releaseRestoresTheTree: releaseTree == startTree,
                getAtTip: getAtTip, checkFromAcquire: roles(checkFromAcquire), checkAtEnd: roles(checkAtEnd))
        }

        /// `name`, `metadata` and `claim_ref` (without its newline) of a get step's directory.
        static func get(_ directory: URL) -> GetOutcome {
            func read(_ name: String) -> String? {
                (try? Data(contentsOf: directory.appendingPathComponent(name))).map {
                    String(decoding: $0, as: UTF8.self)
                }
            }
            return GetOutcome(
                name: read("name"), metadata: read("metadata"),
                claimRef: read("claim_ref").map { $0.trimmingCharacters(in: .newlines) })
        }
    }
}
