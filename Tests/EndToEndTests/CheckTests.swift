import Foundation
import TestSupport
import Testing

/// `check` end to end (docs/resource.md#executables-and-their-input-and-output, #the-check-step): version ranges, pools
/// of their own, cache keyed by URI and branch.

/// A repository whose pool `envs` changes in some commits and pool `dbs` in others; returns commit ids by role.
struct CheckHistory {
    let harness: ResourceHarness
    let seed: String
    let claim1: String  // envs
    let other: String  // dbs only
    let release1: String  // envs
    let readme: String  // outside any pool

    init(_ label: String, branch: String = "master") throws {
        harness = try makeHarness(
            label, branch: branch, locks: ["env-1": .unclaimed()], otherPools: ["dbs": ["db-1": .unclaimed()]])
        let repository = harness.repository
        seed = try repository.commitID()
        claim1 = try repository.moveLock("env-1", in: "envs", toClaimed: true)
        other = try repository.moveLock("db-1", in: "dbs", toClaimed: true)
        release1 = try repository.moveLock("env-1", in: "envs", toClaimed: false)
        readme = try repository.writeFile("README", content: "changed\n")
    }
}

func expectVersions(
    _ result: ExecutableResult, _ expected: [String], sourceLocation: SourceLocation = #_sourceLocation
) throws {
    #expect(result.status == 0, "\(result)", sourceLocation: sourceLocation)
    #expect(result.stdoutText.hasSuffix("]\n"), "\(result)", sourceLocation: sourceLocation)
    #expect(try result.versions() == expected, "\(result)", sourceLocation: sourceLocation)
}

@Suite struct CheckTests {
    @Test(arguments: branches)
    func withoutVersionReturnsTheNewestCommitTouchingThePool(branch: String) throws {
        let history = try CheckHistory("check-none", branch: branch)
        try expectVersions(try history.harness.check(version: nil), [history.release1])
        try expectVersions(try history.harness.check(version: .null), [history.release1])
    }

    @Test(arguments: branches)
    func withVersionReturnsEveryTouchingCommitFromItInclusive(branch: String) throws {
        let history = try CheckHistory("check-range", branch: branch)
        try expectVersions(try history.harness.check(ref: history.claim1), [history.claim1, history.release1])
        try expectVersions(
            try history.harness.check(ref: history.seed), [history.seed, history.claim1, history.release1])
        try expectVersions(try history.harness.check(ref: history.release1), [history.release1])
    }

    @Test func versionNotTouchingThePoolIsNotIncluded() throws {
        let history = try CheckHistory("check-exclusive")
        try expectVersions(try history.harness.check(ref: history.other), [history.release1])
        try expectVersions(try history.harness.check(ref: history.readme), [])
    }

    @Test func otherPoolsSeeTheirOwnCommits() throws {
        let history = try CheckHistory("check-other-pool")
        try expectVersions(try history.harness.check(version: nil, source: ["pool": "dbs"]), [history.other])
        try expectVersions(
            try history.harness.check(version: ["ref": .string(history.seed)], source: ["pool": "dbs"]),
            [history.seed, history.other])
    }

    @Test(arguments: ["", "0123456789abcdef0123456789abcdef01234567", "not-a-ref"])
    func unknownOrEmptyRefReturnsTheNewestTouchingCommit(ref: String) throws {
        let history = try CheckHistory("check-unknown")
        try expectVersions(try history.harness.check(ref: ref), [history.release1])
    }

    @Test func untouchedPoolReturnsNothing() throws {
        let history = try CheckHistory("check-untouched")
        try expectVersions(try history.harness.check(version: nil, source: ["pool": "never"]), [])
    }

    @Test func newCommitsAppearOnTheNextCheck() throws {
        let history = try CheckHistory("check-incremental")
        try expectVersions(try history.harness.check(version: nil), [history.release1])
        let claim2 = try history.harness.repository.moveLock("env-1", in: "envs", toClaimed: true)
        try expectVersions(try history.harness.check(ref: history.release1), [history.release1, claim2])
    }

    @Test func rewrittenBranchIsFollowed() throws {
        let history = try CheckHistory("check-rewrite")
        try expectVersions(try history.harness.check(version: nil), [history.release1])
        // Force-push the branch back to the claim; the release becomes an orphan.
        let repository = history.harness.repository
        try repository.git.run(["update-ref", "refs/heads/\(repository.branch)", history.claim1])
        try expectVersions(try history.harness.check(version: nil), [history.claim1])
        try expectVersions(try history.harness.check(ref: history.release1), [history.claim1])
    }

    @Test func cacheIsKeyedByURIAndBranch() throws {
        // Two repositories checked with one shared TMPDIR (one cache directory) on purpose.
        let first = try CheckHistory("check-cache-a")
        let scratch = first.harness.scratch
        let secondRepository = try LockRepository.create(
            in: scratch, name: "second.git", pools: ["envs": ["env-1": .claimed()]])
        let secondTip = try secondRepository.commitID()
        var second = try ResourceHarness(
            scratch: scratch, repository: secondRepository, pool: "envs", executables: first.harness.executables)
        second.environment = first.harness.environment
        try expectVersions(try first.harness.check(version: nil), [first.release1])
        try expectVersions(try second.check(version: nil), [secondTip])
        try expectVersions(try first.harness.check(version: nil), [first.release1])
        let cache = first.harness.executables.temporaryDirectory.appendingPathComponent("lockpool-cache")
        #expect(FileManager.default.fileExists(atPath: cache.path))
    }

    @Test func missingBranchFails() throws {
        let history = try CheckHistory("check-no-branch")
        let result = try history.harness.check(version: nil, source: ["branch": "nope"])
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.lastStderrLine?.hasPrefix("error: branch 'nope' not found in ") == true)
    }

    @Test func validationNamesMissingKeys() throws {
        let scratch = try Scratch(label: "check-validation")
        let result = try Executables(scratch: scratch).run(.check, request: ["source": ["uri": "file:///x"]])
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("invalid payload (missing branch)"))
        #expect(result.stderr.contains("invalid payload (missing pool)"))
        #expect(!result.stderr.contains("invalid payload (missing acquire"))
    }
}

@Suite(.serialized) struct CheckOverGitDaemonTests {
    @Test(arguments: branches)
    func checkOverGitProtocol(branch: String) throws {
        let local = try CheckHistory("check-daemon", branch: branch)
        let daemon = try GitDaemon(scratch: local.harness.scratch)
        defer { daemon.stop() }
        let harness = try ResourceHarness(
            scratch: local.harness.scratch, repository: local.harness.repository, pool: "envs",
            uri: daemon.url(for: local.harness.repository))
        try expectVersions(try harness.check(version: nil), [local.release1])
        try expectVersions(try harness.check(ref: local.claim1), [local.claim1, local.release1])
    }
}
