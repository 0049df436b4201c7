import Foundation
import TestSupport
import Testing

/// `in` end to end (docs/resource.md#executables-and-their-input-and-output, #the-get-step): files written,
/// `claim_ref`, the "no longer acquired" rule, subject lock.

func readFile(_ directory: URL, _ name: String) -> String? {
    (try? Data(contentsOf: directory.appendingPathComponent(name))).map { String(decoding: $0, as: UTF8.self) }
}

@Suite struct InTests {
    @Test(arguments: branches)
    func getAtTheClaimCommitWritesNameMetadataAndClaimRef(branch: String) throws {
        let harness = try makeHarness("in-claim", branch: branch, locks: ["env-1": .unclaimed("host: a\nport: 1")])
        let acquired = try expectSuccess(try harness.out(["acquire": true]), lock: "env-1", pool: "envs")
        let destination = harness.scratch.url("get/env-lock")  // created by `in`
        let result = try harness.get(version: acquired.version.ref, into: destination)
        let response = try expectSuccess(result, lock: "env-1", pool: "envs")
        #expect(response.version.ref == acquired.version.ref)
        #expect(readFile(destination, "name") == "env-1\n")
        #expect(readFile(destination, "metadata") == "host: a\nport: 1")
        #expect(readFile(destination, "claim_ref") == acquired.version.ref + "\n")

        // The repository itself, checked out detached at the version, with origin without userinfo.
        let git = try GitCLI(scratch: harness.scratch).inDirectory(destination)
        #expect(try git.output("rev-parse", "HEAD") == acquired.version.ref)
        #expect(FileManager.default.fileExists(atPath: destination.appendingPathComponent("envs/claimed/env-1").path))
        #expect(try git.output("remote", "get-url", "origin") == harness.uri)
    }

    @Test func getReadsALocalRepositoryInPlace() throws {
        let harness = try makeHarness("in-shares", locks: ["env-1": .unclaimed("m"), "env-2": .unclaimed("n")])
        for lock in ["env-1", "env-2", "env-1"] {
            try harness.repository.moveLock(lock, in: "envs", toClaimed: true)
            try harness.repository.moveLock(lock, in: "envs", toClaimed: false)
        }
        let acquired = try expectSuccess(try harness.out(["claim": "env-2"]), lock: "env-2", pool: "envs")
        let destination = harness.scratch.url("get")
        try expectSuccess(
            try harness.get(version: acquired.version.ref, into: destination), lock: "env-2", pool: "envs")

        // A local lock repository is read in place: neither the cache nor the destination copies its history; both
        // list its object directory as an alternate.
        let cacheRoot = harness.executables.temporaryDirectory.appendingPathComponent("lockpool-cache")
        #expect(try packs(below: cacheRoot).isEmpty)
        #expect(try packs(below: destination.appendingPathComponent(".git/objects")).isEmpty)
        let alternates = try String(
            contentsOf: destination.appendingPathComponent(".git/objects/info/alternates"), encoding: .utf8)
        #expect(
            alternates.hasSuffix("/objects\n") && alternates.contains(harness.repository.url.lastPathComponent),
            "\(alternates) \(harness.uri)")

        // A whole repository, which outlives the cache: every object there, the branch's history complete.
        try FileManager.default.removeItem(at: cacheRoot)
        let git = try GitCLI(scratch: harness.scratch).inDirectory(destination)
        try git.run(["fsck", "--full", "--no-dangling"])
        #expect(
            try git.output("rev-list", "--count", "HEAD")
                == (try harness.repository.git.output(
                    "rev-list", "--count", acquired.version.ref)))
        #expect(try git.output("rev-parse", "refs/remotes/origin/master") == acquired.version.ref)
    }

    /// The pack files below `directory` with their inodes.
    private func packs(below directory: URL) throws -> [(name: String, inode: UInt64)] {
        let names = FileManager.default.subpaths(atPath: directory.path) ?? []
        return try names.filter { $0.hasSuffix(".pack") }.map { relative in
            let attributes = try FileManager.default.attributesOfItem(
                atPath: directory.appendingPathComponent(relative).path)
            let inode = (attributes[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0
            return (String(relative.split(separator: "/").last ?? ""), inode)
        }
    }

    @Test func getAfterTheClaimCommitWritesNoClaimRef() throws {
        let harness = try makeHarness("in-no-claim-ref", locks: ["env-1": .unclaimed("m")])
        let acquired = try expectSuccess(try harness.out(["acquire": true]), lock: "env-1", pool: "envs")
        try harness.stepDirectory("env-lock", lock: "env-1")
        let released = try expectSuccess(try harness.out(["release": "env-lock"]), lock: "env-1", pool: "envs")
        #expect(released.version.ref != acquired.version.ref)

        let destination = harness.scratch.url("get")
        let result = try harness.get(version: released.version.ref, into: destination)
        try expectSuccess(result, lock: "env-1", pool: "envs")
        #expect(readFile(destination, "name") == "env-1\n")
        #expect(readFile(destination, "metadata") == "m")
        #expect(readFile(destination, "claim_ref") == nil)
    }

    @Test func getWithoutVersionUsesTheTip() throws {
        let harness = try makeHarness("in-tip", locks: ["env-1": .unclaimed()])
        let claim = try harness.repository.moveLock("env-1", in: "envs", toClaimed: true)
        let destination = harness.scratch.url("get")
        let response = try expectSuccess(try harness.get(version: nil, into: destination), lock: "env-1", pool: "envs")
        #expect(response.version.ref == claim)
        #expect(readFile(destination, "claim_ref") == claim + "\n")
    }

    @Test func staleClaimIsNoLongerAcquired() throws {
        let harness = try makeHarness("in-stale", locks: ["env-1": .unclaimed()])
        let acquired = try expectSuccess(try harness.out(["acquire": true]), lock: "env-1", pool: "envs")
        try harness.repository.moveLock("env-1", in: "envs", toClaimed: false)
        let release = try harness.repository.commitID()
        try harness.repository.moveLock("env-1", in: "envs", toClaimed: true, message: "x/y/z build 1 claiming: env-1")
        let result = try harness.get(version: acquired.version.ref, into: harness.scratch.url("get"))
        // The message names the lock, the claim and the commit that ended it: the first change, not the newest.
        expectFailure(
            result,
            "lock instance is no longer acquired: lock 'env-1' in pool 'envs' was claimed in "
                + "\(acquired.version.ref.prefix(7)), and \(release.prefix(7)) (",
            exact: false)
        #expect(result.stderr.contains("; put again to claim it, or get the newest version"), "\(result)")
    }

    @Test func releasedClaimIsNoLongerAcquired() throws {
        let harness = try makeHarness("in-released", locks: ["env-1": .unclaimed()])
        let acquired = try expectSuccess(try harness.out(["acquire": true]), lock: "env-1", pool: "envs")
        try harness.repository.moveLock("env-1", in: "envs", toClaimed: false, message: "releasing: env-1")
        let release = try harness.repository.commitID()
        let result = try harness.get(version: acquired.version.ref, into: harness.scratch.url("get"))
        expectFailure(
            result,
            "lock instance is no longer acquired: lock 'env-1' in pool 'envs' was claimed in "
                + "\(acquired.version.ref.prefix(7)), and \(release.prefix(7)) (\"releasing: env-1\") changed it since; "
                + "put again to claim it, or get the newest version")
    }

    @Test func laterChangesToOtherLocksDoNotMatter() throws {
        let harness = try makeHarness("in-other", locks: ["env-1": .unclaimed(), "env-2": .unclaimed()])
        let acquired = try expectSuccess(try harness.out(["claim": "env-1"]), lock: "env-1", pool: "envs")
        try harness.repository.moveLock("env-2", in: "envs", toClaimed: true)
        let destination = harness.scratch.url("get")
        try expectSuccess(
            try harness.get(version: acquired.version.ref, into: destination), lock: "env-1", pool: "envs")
        #expect(readFile(destination, "claim_ref") == acquired.version.ref + "\n")
    }

    @Test func gitkeepIsNeverReported() throws {
        let harness = try makeHarness("in-gitkeep", locks: [:])
        let destination = harness.scratch.url("get")
        let tip = try harness.repository.commitID()
        let result = try harness.get(version: tip, into: destination)
        #expect(result.status == 0, "\(result)")
        let response = try result.response()
        #expect(response.metadata == [MetadataField(name: "pool_name", value: "envs")])
        #expect(result.stderrLines.contains("no lock has changed in pool 'envs' at or before \(tip.prefix(7))"))
        #expect(readFile(destination, "name") == nil)
        #expect(!result.stdoutText.contains(".gitkeep"))
    }

    @Test func subjectLockIsTheFirstChangedEntryInPathOrder() throws {
        let harness = try makeHarness("in-order", locks: ["a": .unclaimed("A"), "b": .unclaimed("B")])
        // One hand-made commit changes unclaimed/a and claims b; "envs/claimed/b" sorts before "envs/unclaimed/a".
        let git = harness.repository.git
        let commit = try harness.repository.commit(message: "by hand") { work in
            try Data("A2".utf8).write(to: work.appendingPathComponent("envs/unclaimed/a"))
            try git.inDirectory(work).run(["mv", "envs/unclaimed/b", "envs/claimed/b"])
        }
        let destination = harness.scratch.url("get")
        try expectSuccess(try harness.get(version: commit, into: destination), lock: "b", pool: "envs")
        #expect(readFile(destination, "metadata") == "B")
    }

    @Test func commitsOfOtherPoolsAreSkipped() throws {
        let harness = try makeHarness(
            "in-other-pool", locks: ["env-1": .unclaimed()], otherPools: ["dbs": ["db-1": .unclaimed()]])
        let claim = try harness.repository.moveLock("env-1", in: "envs", toClaimed: true)
        let other = try harness.repository.moveLock("db-1", in: "dbs", toClaimed: true)
        let destination = harness.scratch.url("get")
        let response = try expectSuccess(
            try harness.get(version: other, into: destination), lock: "env-1", pool: "envs")
        #expect(response.version.ref == other)
        #expect(readFile(destination, "claim_ref") == nil)  // the version is not the claim commit
        _ = claim
    }

    @Test func removedLockIsReportedButNoFilesAreWritten() throws {
        let harness = try makeHarness("in-removed", locks: ["env-1": .claimed("m")])
        try harness.stepDirectory("step", lock: "env-1")
        let removed = try expectSuccess(try harness.out(["remove": "step"]), lock: "env-1", pool: "envs")
        let destination = harness.scratch.url("get")
        let result = try harness.get(version: removed.version.ref, into: destination)
        try expectSuccess(result, lock: "env-1", pool: "envs")
        #expect(result.stderrLines.contains("lock does not exist"))
        for file in ["name", "metadata", "claim_ref"] { #expect(readFile(destination, file) == nil) }
    }

    @Test func versionNotOnTheBranchFails() throws {
        let harness = try makeHarness("in-off-branch", locks: ["env-1": .unclaimed()])
        // A commit pushed to another branch only.
        let git = try GitCLI(scratch: harness.scratch)
        let work = harness.scratch.url("side")
        try git.run(["clone", "--quiet", harness.repository.path, work.path])
        try git.run(["mv", "envs/unclaimed/env-1", "envs/claimed/env-1"], in: work)
        try git.run(["commit", "--quiet", "-m", "claiming: env-1"], in: work)
        try git.run(["push", "--quiet", "origin", "HEAD:refs/heads/side"], in: work)
        let side = try git.output("rev-parse", "HEAD", in: work)
        let result = try harness.get(version: side, into: harness.scratch.url("get"))
        expectFailure(result, "version \(side) is not on branch 'master'")
    }

    @Test func poolWithoutHistoryFails() throws {
        let harness = try makeHarness("in-no-pool", locks: [:])
        let tip = try harness.repository.commitID()
        let result = try harness.get(version: tip, into: harness.scratch.url("get"), source: ["pool": "missing"])
        expectFailure(result, "pool 'missing' has no history at version \(tip)")
    }

    @Test func depthIsAccepted() throws {
        let harness = try makeHarness("in-depth", locks: ["env-1": .unclaimed()])
        let claim = try harness.repository.moveLock("env-1", in: "envs", toClaimed: true)
        let destination = harness.scratch.url("get")
        let result = try harness.get(version: claim, into: destination, params: ["depth": 1])
        try expectSuccess(result, lock: "env-1", pool: "envs")
        #expect(readFile(destination, "name") == "env-1\n")
        #expect(!result.stderr.contains("depth"), "\(result)")
    }

    @Test func missingDestinationArgumentPrintsUsage() throws {
        let scratch = try Scratch(label: "in-usage")
        let result = try Executables(scratch: scratch).run(.in, stdin: Data("{}".utf8))
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("usage: in <destination>"))
    }

    @Test func getReadsNoBuildVariables() throws {
        var harness = try makeHarness("in-env", locks: ["env-1": .unclaimed()])
        let claim = try harness.repository.moveLock("env-1", in: "envs", toClaimed: true)
        harness.environment = pix4dEnvironment
        let before = try harness.repository.commitID()
        try expectSuccess(
            try harness.get(version: claim, into: harness.scratch.url("get")), lock: "env-1", pool: "envs")
        #expect(try harness.repository.commitID() == before)
    }
}

@Suite(.serialized) struct InOverGitDaemonTests {
    @Test(arguments: branches)
    func getOverGitProtocol(branch: String) throws {
        let scratch = try Scratch(label: "in-daemon")
        let repository = try LockRepository.create(
            in: scratch, branch: branch, pools: ["envs": ["env-1": .unclaimed("meta")]])
        let claim = try repository.moveLock("env-1", in: "envs", toClaimed: true)
        let daemon = try GitDaemon(scratch: scratch)
        defer { daemon.stop() }
        let harness = try ResourceHarness(
            scratch: scratch, repository: repository, pool: "envs", uri: daemon.url(for: repository))
        let destination = scratch.url("get")
        try expectSuccess(try harness.get(version: claim, into: destination), lock: "env-1", pool: "envs")
        #expect(readFile(destination, "name") == "env-1\n")
        #expect(readFile(destination, "metadata") == "meta")
        #expect(readFile(destination, "claim_ref") == claim + "\n")
    }
}
