import Foundation
import TestSupport
import Testing

/// `out` end to end (docs/resource.md#executables-and-their-input-and-output, #effects-of-put-operations,
/// #progress-on-stderr, docs/commits.md#message-layout, docs/concurrency.md#one-attempt,
/// docs/resource.md#differences-from-the-upstream-resource): the built executable, JSON on stdin, a real lock
/// repository.

/// A fresh repository with pool `envs` (or `pool`) seeded from `locks`, and a harness over `file://`.
func makeHarness(
    _ label: String, branch: String = "master", pool: String = "envs", locks: [String: LockSeed],
    otherPools: [String: [String: LockSeed]] = [:]
) throws -> ResourceHarness {
    let scratch = try Scratch(label: label)
    var pools = otherPools
    pools[pool] = locks
    let repository = try LockRepository.create(in: scratch, branch: branch, pools: pools)
    return try ResourceHarness(scratch: scratch, repository: repository, pool: pool)
}

/// Asserts the common success contract: status 0, one compact JSON document and a newline, metadata exactly
/// `lock_name`, `pool_name`.
@discardableResult
func expectSuccess(
    _ result: ExecutableResult, lock: String, pool: String, sourceLocation: SourceLocation = #_sourceLocation
) throws -> ResourceResponse {
    #expect(result.status == 0, "\(result)", sourceLocation: sourceLocation)
    #expect(result.stdoutText.hasSuffix("}\n"), "\(result)", sourceLocation: sourceLocation)
    #expect(result.stdoutText.filter { $0 == "\n" }.count == 1, "\(result)", sourceLocation: sourceLocation)
    let response = try result.response()
    #expect(
        response.metadata == [
            MetadataField(name: "lock_name", value: lock), MetadataField(name: "pool_name", value: pool),
        ], sourceLocation: sourceLocation)
    #expect(response.version.ref.count == 40, sourceLocation: sourceLocation)
    #expect(response.version.ref == response.version.ref.lowercased(), sourceLocation: sourceLocation)
    return response
}

/// Asserts the common failure contract: status 1, nothing on stdout, last stderr line `error: <reason>`.
func expectFailure(
    _ result: ExecutableResult, _ reason: String, exact: Bool = true,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(result.status == 1, "\(result)", sourceLocation: sourceLocation)
    #expect(result.stdout.isEmpty, "\(result)", sourceLocation: sourceLocation)
    let last = result.lastStderrLine ?? ""
    if exact {
        #expect(last == "error: \(reason)", "\(result)", sourceLocation: sourceLocation)
    } else {
        #expect(last.hasPrefix("error: ") && last.contains(reason), "\(result)", sourceLocation: sourceLocation)
    }
}

let branches = ["master", "feature/locks"]
let pix4dEnvironment = [
    "BUILD_TEAM_NAME": "main", "BUILD_PIPELINE_NAME": "deploy", "BUILD_JOB_NAME": "apply", "BUILD_NAME": "42",
    "BUILD_ID": "1042", "ATC_EXTERNAL_URL": "https://ci.example.com/",
]

@Suite struct OutOperationTests {
    // MARK: acquire and claim

    @Test(arguments: branches)
    func acquireClaimsTheOnlyUnclaimedLock(branch: String) throws {
        let harness = try makeHarness(
            "acquire", branch: branch, locks: ["env-1": .unclaimed("meta one\n"), "env-2": .claimed("two")])
        let before = try harness.repository.commitID()
        let result = try harness.out(["acquire": true, "timeout": "20s"])
        let response = try expectSuccess(result, lock: "env-1", pool: "envs")

        let tip = try harness.repository.commit()
        #expect(response.version.ref == tip.id)
        #expect(tip.parents == [before])
        #expect(try harness.repository.locks(in: "envs") == PoolLocks(claimed: ["env-1", "env-2"], unclaimed: []))
        #expect(try harness.repository.file("envs/claimed/env-1") == Data("meta one\n".utf8))
        #expect(tip.subject == "claiming: env-1")
        #expect(tip.authorName == "CI Pool Resource" && tip.authorEmail == "ci-pool@localhost")
        #expect(tip.committerName == "CI Pool Resource" && tip.committerEmail == "ci-pool@localhost")
        #expect(tip.trailer("Lock-Schema") == "1")
        #expect(tip.trailer("Lock-Operation") == "acquire")
        #expect(tip.trailer("Lock-Pool") == "envs")
        #expect(tip.trailer("Lock-Name") == "env-1")
        #expect(tip.trailer("Lock-State") == "claimed")
        #expect(tip.trailer("Lock-Tool")?.hasPrefix("lockpool ") == true)
        #expect(tip.trailer("Lock-Tool")?.hasSuffix(" (resource)") == true)
        let nonce = try #require(tip.trailer("Lock-Nonce"))
        #expect(nonce.count == 32 && nonce.allSatisfy { "0123456789abcdef".contains($0) })
        #expect(!tip.message.contains("Build URL:"))
        #expect(result.stderrLines.contains("acquiring lock on: envs"))
        #expect(result.stderr.contains("acquired!"))
        #expect(try harness.repository.replay().isConsistent)
    }

    @Test func acquireWithBuildVariablesWritesThePix4DSubjectAndTrailers() throws {
        var harness = try makeHarness("pix4d", locks: ["env-1": .unclaimed()])
        harness.environment = pix4dEnvironment
        let result = try harness.out(["acquire": true, "timeout": "20s"])
        try expectSuccess(result, lock: "env-1", pool: "envs")
        let tip = try harness.repository.commit()
        #expect(tip.subject == "main/deploy/apply build 42 claiming: env-1")
        #expect(
            tip.message.contains(
                "\n\nBuild URL: https://ci.example.com/teams/main/pipelines/deploy/jobs/apply/builds/42\n\n"))
        #expect(tip.trailer("Build-Team") == "main")
        #expect(tip.trailer("Build-Pipeline") == "deploy")
        #expect(tip.trailer("Build-Job") == "apply")
        #expect(tip.trailer("Build-Name") == "42")
        #expect(tip.trailer("Build-Id") == "1042")
        #expect(tip.trailer("Build-URL") == "https://ci.example.com/teams/main/pipelines/deploy/jobs/apply/builds/42")

        // Pool Boy's reaper pattern on `git log --pretty=oneline -1 -- POOL/claimed/LOCK`
        // (docs/commits.md#pool-boy-compatibility).
        let oneline = try harness.repository.git.output(
            "log", "--pretty=oneline", "-1", harness.branch, "--", "envs/claimed/env-1")
        let pattern = try Regex(#"[0-9a-f]+\s+(.*)/(.*)/(.*)\s+build\s+(.*)\s+claiming:\s+.*"#)
        let match = try #require(try pattern.prefixMatch(in: oneline))
        #expect(match.output.count == 5)
        #expect(match.output[1].substring == "main" && match.output[2].substring == "deploy")
        #expect(match.output[3].substring == "apply" && match.output[4].substring == "42")
    }

    @Test func oneOffBuildPrefix() throws {
        var harness = try makeHarness("one-off", locks: ["env-1": .unclaimed()])
        harness.environment = ["BUILD_ID": "77"]
        try expectSuccess(try harness.out(["claim": "env-1"]), lock: "env-1", pool: "envs")
        #expect(try harness.repository.commit().subject == "one-off build 77 claiming: env-1")
    }

    @Test(arguments: branches)
    func claimTakesTheNamedLock(branch: String) throws {
        let harness = try makeHarness(
            "claim", branch: branch, locks: ["env-1": .unclaimed(), "env-2": .unclaimed("two")])
        let result = try harness.out(["claim": "env-2", "timeout": "20s"])
        let response = try expectSuccess(result, lock: "env-2", pool: "envs")
        #expect(response.version.ref == (try harness.repository.commitID()))
        #expect(try harness.repository.locks(in: "envs") == PoolLocks(claimed: ["env-2"], unclaimed: ["env-1"]))
        let tip = try harness.repository.commit()
        #expect(tip.subject == "claiming: env-2")
        #expect(tip.trailer("Lock-Operation") == "claim")
        #expect(result.stderrLines.contains("claiming lock on: env-2"))
        #expect(result.stderr.contains("claimed!"))
    }

    @Test func claimOfAnAbsentLockFailsAtOnce() throws {
        let harness = try makeHarness("claim-absent", locks: ["env-1": .unclaimed()])
        let before = try harness.repository.commitID()
        let result = try harness.out(["claim": "nope", "timeout": "20s"], timeout: .seconds(15))
        expectFailure(result, "lock 'nope' does not exist in pool 'envs'")
        #expect(try harness.repository.commitID() == before)
    }

    @Test(
        arguments: [
            ["acquire": true], ["claim": "env-1"], ["release": "step"], ["remove": "step"], ["add": "step"],
            ["add_claimed": "step"], ["update": "step"], ["check": "step"], ["check_unclaimed": "step"],
        ] as [JSONValue])
    func everyOperationFailsAtOnceOnAMissingPool(params: JSONValue) throws {
        let harness = try makeHarness("missing-pool", pool: "envs", locks: ["env-1": .unclaimed()])
        try harness.stepDirectory("step", lock: "env-1", metadata: "m")
        let before = try harness.repository.commitID()
        let result = try harness.out(
            params.setting("timeout", to: "20s"), source: ["pool": "missing"], timeout: .seconds(15))
        expectFailure(
            result, "pool 'missing' does not exist on branch 'master' (expected missing/claimed and missing/unclaimed)")
        #expect(try harness.repository.commitID() == before)
    }

    @Test func acquireTimesOutWhenNoLockIsFree() throws {
        let harness = try makeHarness("acquire-timeout", locks: ["env-1": .claimed()])
        let before = try harness.repository.commitID()
        let result = try harness.out(["acquire": true, "timeout": "1s"], timeout: .seconds(20))
        expectFailure(result, "timed out after 1s: no unclaimed lock in pool 'envs'")
        #expect(result.stderrLines.contains("waiting for lock"))
        #expect(try harness.repository.commitID() == before)
    }

    @Test func claimWaitsWhileTheLockIsClaimedAndTimesOut() throws {
        let harness = try makeHarness("claim-timeout", locks: ["env-1": .claimed()])
        let result = try harness.out(["claim": "env-1", "timeout": "1s"], timeout: .seconds(20))
        expectFailure(result, "timed out after 1s: lock 'env-1' in pool 'envs' is still claimed by", exact: false)
        #expect(result.stderrLines.contains("waiting for lock"))
    }

    // Waiting tests block their thread instead of awaiting, so that the hand-made release happens promptly even
    // when every concurrency thread is busy with other tests; the generous timeouts only matter on a loaded machine.
    @Test func acquireWaitsUntilALockIsReleased() throws {
        let harness = try makeHarness("acquire-wait", locks: ["env-1": .claimed("x")])
        let running = try harness.startOut(["acquire": true, "timeout": "120s"])
        try #require(running.waitUntilStderr(contains: "waiting for lock", timeout: .seconds(60)))
        try harness.repository.moveLock("env-1", in: "envs", toClaimed: false)
        let result = try running.waitUntilExit(timeout: .seconds(150))
        try expectSuccess(result, lock: "env-1", pool: "envs")
        #expect(try harness.repository.locks(in: "envs") == PoolLocks(claimed: ["env-1"], unclaimed: []))
        #expect(result.stderr.contains("acquired!"))
        let replay = try harness.repository.replay()
        #expect(replay.doubleClaims.isEmpty, "\(replay)")
    }

    @Test func sigtermWhileWaitingChangesNothing() throws {
        let harness = try makeHarness("sigterm", locks: ["env-1": .claimed()])
        let before = try harness.repository.commitID()
        let running = try harness.startOut(["acquire": true, "timeout": "120s"])
        try #require(running.waitUntilStderr(contains: "waiting for lock", timeout: .seconds(60)))
        running.terminate()
        let result = try running.waitUntilExit(timeout: .seconds(30))
        expectFailure(result, "interrupted; nothing was changed")
        #expect(try harness.repository.commitID() == before)
    }

    @Test func leaseIsRecordedInTheClaimCommit() throws {
        let harness = try makeHarness("lease", locks: ["env-1": .unclaimed()])
        try expectSuccess(try harness.out(["acquire": true, "lease": "2h"]), lock: "env-1", pool: "envs")
        let expires = try #require(try harness.repository.commit().trailer("Lease-Expires"))
        #expect(try Regex(#"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"#).wholeMatch(in: expires) != nil)
    }

    // MARK: release and remove

    @Test(arguments: branches)
    func releaseMovesTheLockBackKeepingItsContent(branch: String) throws {
        let harness = try makeHarness("release", branch: branch, locks: ["env-1": .unclaimed("original\n")])
        let claim = try harness.repository.moveLock("env-1", in: "envs", toClaimed: true)
        try harness.stepDirectory("env-lock", lock: "env-1\n", metadata: "ignored metadata")
        let result = try harness.out(["release": "env-lock"])
        let response = try expectSuccess(result, lock: "env-1", pool: "envs")
        let tip = try harness.repository.commit()
        #expect(response.version.ref == tip.id)
        #expect(try harness.repository.locks(in: "envs") == PoolLocks(claimed: [], unclaimed: ["env-1"]))
        #expect(try harness.repository.file("envs/unclaimed/env-1") == Data("original\n".utf8))
        #expect(tip.subject == "unclaiming: env-1")
        #expect(tip.trailer("Lock-Operation") == "release")
        #expect(tip.trailer("Lock-State") == "unclaimed")
        #expect(tip.trailer("Lock-Claim") == claim)
        #expect(result.stderrLines.contains("releasing lock: env-1 on pool: envs"))
        #expect(result.stderr.contains("released!"))
    }

    @Test func releaseOfAnUnclaimedLockFails() throws {
        let harness = try makeHarness("release-unclaimed", locks: ["env-1": .unclaimed()])
        try harness.stepDirectory("env-lock", lock: "env-1")
        let before = try harness.repository.commitID()
        let result = try harness.out(["release": "env-lock"])
        expectFailure(result, "lock 'env-1' in pool 'envs' is not claimed", exact: false)
        #expect(result.lastStderrLine?.hasPrefix("error: lock 'env-1' in pool 'envs' is not claimed") == true)
        #expect(try harness.repository.commitID() == before)
    }

    @Test func releaseOfAnAbsentLockFails() throws {
        let harness = try makeHarness("release-absent", locks: ["env-1": .claimed()])
        try harness.stepDirectory("env-lock", lock: "env-9")
        expectFailure(try harness.out(["release": "env-lock"]), "lock 'env-9' does not exist in pool 'envs'")
    }

    @Test func removeDeletesAClaimedLock() throws {
        let harness = try makeHarness("remove", locks: ["env-1": .claimed("x"), "env-2": .unclaimed()])
        try harness.stepDirectory("env-lock", lock: "env-1")
        let result = try harness.out(["remove": "env-lock"])
        try expectSuccess(result, lock: "env-1", pool: "envs")
        #expect(try harness.repository.locks(in: "envs") == PoolLocks(claimed: [], unclaimed: ["env-2"]))
        let tip = try harness.repository.commit()
        #expect(tip.subject == "removing: env-1")
        #expect(tip.trailer("Lock-Operation") == "remove")
        #expect(tip.trailer("Lock-State") == "removed")
        #expect(result.stderrLines.contains("removing lock: env-1 on pool: envs"))
        #expect(result.stderr.contains("removed!"))
        #expect(try harness.repository.replay().isConsistent)
    }

    @Test func removeOfAnUnclaimedLockFails() throws {
        let harness = try makeHarness("remove-unclaimed", locks: ["env-1": .unclaimed()])
        try harness.stepDirectory("env-lock", lock: "env-1")
        let before = try harness.repository.commitID()
        let result = try harness.out(["remove": "env-lock"])
        expectFailure(result, "only claimed locks can be removed; claim it first", exact: false)
        #expect(try harness.repository.commitID() == before)
    }

    @Test func removeOfAnAbsentLockFails() throws {
        let harness = try makeHarness("remove-absent", locks: [:])
        try harness.stepDirectory("env-lock", lock: "ghost")
        expectFailure(try harness.out(["remove": "env-lock"]), "lock 'ghost' does not exist in pool 'envs'")
    }

    // MARK: fencing (docs/concurrency.md#fencing)

    @Test func releaseWithTheCurrentClaimRefSucceeds() throws {
        let harness = try makeHarness("fence-ok", locks: ["env-1": .unclaimed()])
        let acquired = try expectSuccess(try harness.out(["acquire": true]), lock: "env-1", pool: "envs")
        try harness.stepDirectory("env-lock", lock: "env-1", claimRef: acquired.version.ref + "\n")
        try expectSuccess(try harness.out(["release": "env-lock"]), lock: "env-1", pool: "envs")
        #expect(try harness.repository.commit().trailer("Lock-Claim") == acquired.version.ref)
    }

    @Test(arguments: ["release", "remove"])
    func releaseWithAStaleClaimRefChangesNothing(operation: String) throws {
        let harness = try makeHarness("fence-broken", locks: ["env-1": .unclaimed()])
        let acquired = try expectSuccess(try harness.out(["acquire": true]), lock: "env-1", pool: "envs")
        // A reaper releases the lock and someone else claims it again.
        try harness.repository.moveLock("env-1", in: "envs", toClaimed: false, message: "unclaiming: env-1")
        let reclaim = try harness.repository.moveLock(
            "env-1", in: "envs", toClaimed: true, message: "other/pipe/job build 7 claiming: env-1")
        try harness.stepDirectory("env-lock", lock: "env-1", claimRef: acquired.version.ref + "\n")
        let result = try harness.out(JSONValue.object([operation: "env-lock"]))
        expectFailure(result, "was claimed again by", exact: false)
        let last = result.lastStderrLine ?? ""
        #expect(last.hasPrefix("error: lock 'env-1' in pool 'envs' was claimed again by "))
        #expect(last.contains(" in \(reclaim.prefix(7))"))
        #expect(last.contains("after this job's claim \(acquired.version.ref.prefix(7))"))
        if operation == "release" { #expect(last.hasSuffix("; not releasing it")) }
        #expect(try harness.repository.commitID() == reclaim)
    }

    // MARK: add, add_claimed, update

    @Test(arguments: branches)
    func addCreatesAnUnclaimedLockWithTheMetadataBytes(branch: String) throws {
        let harness = try makeHarness("add", branch: branch, locks: [:])
        try harness.stepDirectory("new", lock: "  env-3 \n", metadata: "host: a\r\nport: 1\n")
        let result = try harness.out(["add": "new"])
        let response = try expectSuccess(result, lock: "env-3", pool: "envs")
        #expect(response.version.ref == (try harness.repository.commitID()))
        #expect(try harness.repository.file("envs/unclaimed/env-3") == Data("host: a\r\nport: 1\n".utf8))
        #expect(try harness.repository.mode(of: "envs/unclaimed/env-3") == "100644")
        let tip = try harness.repository.commit()
        #expect(tip.subject == "adding unclaimed: env-3")
        #expect(tip.trailer("Lock-Operation") == "add")
        #expect(result.stderrLines.contains("adding unclaimed lock: env-3 to pool: envs"))
        #expect(result.stderr.contains("added!"))
    }

    @Test func addClaimedCreatesAClaimedLock() throws {
        let harness = try makeHarness("add-claimed", locks: [:])
        try harness.stepDirectory("new", lock: "env-3", metadata: "m")
        let result = try harness.out(["add_claimed": "new"])
        try expectSuccess(result, lock: "env-3", pool: "envs")
        #expect(try harness.repository.locks(in: "envs") == PoolLocks(claimed: ["env-3"], unclaimed: []))
        #expect(try harness.repository.commit().subject == "adding claimed: env-3")
        #expect(try harness.repository.commit().trailer("Lock-Operation") == "add_claimed")
        #expect(result.stderrLines.contains("adding claimed lock: env-3 to pool: envs"))
    }

    @Test(arguments: [("add", false), ("add_claimed", true)])
    func addOfIdenticalLockIsANoOpReturningItsLastChange(operation: String, claimed: Bool) throws {
        let harness = try makeHarness("add-noop", locks: ["env-1": LockSeed(claimed: claimed, content: "same")])
        let lastChange = try harness.repository.commitID()
        try harness.repository.writeFile("README", content: "unrelated change\n")
        let tip = try harness.repository.commitID()
        try harness.stepDirectory("new", lock: "env-1", metadata: "same")
        let result = try harness.out(JSONValue.object([operation: "new"]))
        let response = try expectSuccess(result, lock: "env-1", pool: "envs")
        #expect(response.version.ref == lastChange)
        #expect(try harness.repository.commitID() == tip)
        #expect(result.stderrLines.contains("lock 'env-1' in pool 'envs' already has this content; nothing to commit"))
    }

    @Test func conflictingAddsFail() throws {
        let harness = try makeHarness("add-conflict", locks: ["free": .unclaimed("a"), "held": .claimed("a")])
        let before = try harness.repository.commitID()
        try harness.stepDirectory("free", lock: "free", metadata: "b")
        try harness.stepDirectory("held", lock: "held", metadata: "a")
        try harness.stepDirectory("held-other", lock: "held", metadata: "b")
        expectFailure(
            try harness.out(["add": "free"]),
            "lock 'free' already exists in pool 'envs' as unclaimed with different content; use update to change it")
        expectFailure(try harness.out(["add": "held"]), "lock 'held' already exists in pool 'envs' as claimed")
        expectFailure(
            try harness.out(["add_claimed": "held-other"]), "lock 'held' already exists in pool 'envs' as claimed")
        expectFailure(
            try harness.out(["add_claimed": "free"]), "lock 'free' already exists in pool 'envs' as unclaimed",
            exact: false)
        #expect(try harness.repository.commitID() == before)
    }

    @Test func updateReplacesAnUnclaimedLock() throws {
        let harness = try makeHarness("update", locks: ["env-1": .unclaimed("old")])
        try harness.stepDirectory("upd", lock: "env-1", metadata: "new")
        let result = try harness.out(["update": "upd"])
        try expectSuccess(result, lock: "env-1", pool: "envs")
        #expect(try harness.repository.file("envs/unclaimed/env-1") == Data("new".utf8))
        #expect(try harness.repository.commit().subject == "updating: env-1")
        #expect(try harness.repository.commit().trailer("Lock-Operation") == "update")
        #expect(result.stderrLines.contains("updating lock: env-1 in pool: envs"))
        #expect(result.stderr.contains("updated!"))
    }

    @Test func updateOfAnAbsentLockAddsIt() throws {
        let harness = try makeHarness("update-absent", locks: [:])
        try harness.stepDirectory("upd", lock: "env-1", metadata: "new")
        try expectSuccess(try harness.out(["update": "upd"]), lock: "env-1", pool: "envs")
        #expect(try harness.repository.locks(in: "envs") == PoolLocks(claimed: [], unclaimed: ["env-1"]))
        #expect(try harness.repository.commit().subject == "adding unclaimed: env-1")
    }

    @Test func updateWithIdenticalBytesIsANoOp() throws {
        let harness = try makeHarness("update-noop", locks: ["env-1": .unclaimed("same")])
        let lastChange = try harness.repository.commitID()
        try harness.stepDirectory("upd", lock: "env-1", metadata: "same")
        let result = try harness.out(["update": "upd", "timeout": "20s"])
        let response = try expectSuccess(result, lock: "env-1", pool: "envs")
        #expect(response.version.ref == lastChange)
        #expect(try harness.repository.commitID() == lastChange)
        #expect(result.stderrLines.contains("lock 'env-1' in pool 'envs' already has this content; nothing to commit"))
    }

    @Test func updateWaitsWhileTheLockIsClaimed() throws {
        let harness = try makeHarness("update-wait", locks: ["env-1": .claimed("old")])
        try harness.stepDirectory("upd", lock: "env-1", metadata: "new")
        let result = try harness.out(["update": "upd", "timeout": "1s"], timeout: .seconds(20))
        expectFailure(result, "timed out after 1s: lock 'env-1' in pool 'envs' is still claimed by", exact: false)
    }

    // MARK: check and check_unclaimed

    @Test func checkOfAnUnclaimedLockReturnsItsLastChangeWithoutACommit() throws {
        let harness = try makeHarness("check", locks: ["env-1": .claimed(), "env-2": .unclaimed()])
        let release = try harness.repository.moveLock("env-1", in: "envs", toClaimed: false)
        try harness.repository.moveLock("env-2", in: "envs", toClaimed: true)
        let tip = try harness.repository.commitID()
        try harness.stepDirectory("watch", lock: "env-1")
        let result = try harness.out(["check": "watch", "timeout": "20s"])
        let response = try expectSuccess(result, lock: "env-1", pool: "envs")
        #expect(response.version.ref == release)
        #expect(try harness.repository.commitID() == tip)
        #expect(result.stderrLines.contains("checking lock: env-1 in pool: envs"))
    }

    @Test func checkUnclaimedOfAClaimedLockReturnsItsLastChange() throws {
        let harness = try makeHarness("check-unclaimed", locks: ["env-1": .unclaimed()])
        let claim = try harness.repository.moveLock("env-1", in: "envs", toClaimed: true)
        try harness.repository.writeFile("README", content: "x")
        try harness.stepDirectory("watch", lock: "env-1")
        let result = try harness.out(["check_unclaimed": "watch", "timeout": "20s"])
        #expect(try expectSuccess(result, lock: "env-1", pool: "envs").version.ref == claim)
    }

    @Test(arguments: ["check", "check_unclaimed"])
    func checksOfAnAbsentLockFail(operation: String) throws {
        let harness = try makeHarness("check-absent", locks: [:])
        try harness.stepDirectory("watch", lock: "ghost")
        let result = try harness.out(JSONValue.object([operation: "watch", "timeout": "20s"]), timeout: .seconds(15))
        expectFailure(result, "lock 'ghost' does not exist in pool 'envs'")
    }

    @Test func checkWaitsUntilTheLockIsReleased() throws {
        let harness = try makeHarness("check-wait", locks: ["env-1": .claimed()])
        try harness.stepDirectory("watch", lock: "env-1")
        let running = try harness.startOut(["check": "watch", "timeout": "120s"])
        try #require(
            running.waitUntilStderr(contains: "waiting for lock to become unclaimed", timeout: .seconds(60)))
        let release = try harness.repository.moveLock("env-1", in: "envs", toClaimed: false)
        let result = try running.waitUntilExit(timeout: .seconds(150))
        #expect(try expectSuccess(result, lock: "env-1", pool: "envs").version.ref == release)
        #expect(try harness.repository.commitID() == release)
    }

    // MARK: contract and validation (docs/resource.md#executables-and-their-input-and-output, #validation)

    @Test func missingSourceDirectoryArgumentPrintsUsage() throws {
        let scratch = try Scratch(label: "usage")
        let result = try Executables(scratch: scratch).run(.out, stdin: Data("{}".utf8))
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("usage: out <source>"))
    }

    @Test func validationCollectsTheUpstreamMessagesInOrder() throws {
        let scratch = try Scratch(label: "validation")
        let executables = try Executables(scratch: scratch)
        let result = try executables.run(
            .out, arguments: [try scratch.directory("build").path], request: ["source": [:], "params": [:]])
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        let expected = [
            "invalid payload (missing uri)", "invalid payload (missing branch)", "invalid payload (missing pool)",
            "invalid payload (missing acquire, release, remove, claim, add, add_claimed, update, check, or check_unclaimed)",
        ]
        let lines = result.stderrLines.map { $0.hasPrefix("error: ") ? String($0.dropFirst(7)) : $0 }
        let found = expected.compactMap { line in lines.firstIndex(of: line) }
        #expect(found.count == 4, "\(result)")
        #expect(found == found.sorted())
    }

    @Test func moreThanOneOperationIsAValidationError() throws {
        let harness = try makeHarness("two-ops", locks: ["env-1": .unclaimed()])
        try harness.stepDirectory("step", lock: "env-1")
        let before = try harness.repository.commitID()
        let result = try harness.out(["claim": "env-1", "release": "step"])
        #expect(result.status == 1)
        #expect(
            result.stderr.contains(
                "invalid payload (more than one operation: claim, release; use one put step per operation)"))
        #expect(try harness.repository.commitID() == before)
    }

    @Test func leaseWithReleaseIsAValidationError() throws {
        let harness = try makeHarness("lease-release", locks: ["env-1": .claimed()])
        try harness.stepDirectory("step", lock: "env-1")
        let result = try harness.out(["release": "step", "lease": "1h"])
        #expect(result.status == 1)
        #expect(
            result.stderr.contains(
                "invalid payload (params.lease applies only to acquire, claim, add_claimed and renew)"))
    }

    @Test func invalidPoolNameIsRejectedBeforeAnyGitWork() throws {
        let harness = try makeHarness("bad-pool", locks: [:])
        let result = try harness.out(["acquire": true], source: ["pool": "ops/../x", "uri": "file:///nonexistent"])
        #expect(result.status == 1)
        #expect(result.stderr.contains(#"invalid payload (source.pool "ops/../x": segment ".." is not allowed)"#))
    }

    @Test func stepDirectoryOutsideTheSourceDirectoryIsRejected() throws {
        let harness = try makeHarness("step-escape", locks: ["env-1": .claimed()])
        try harness.scratch.writeStepDirectory("outside", in: harness.scratch.url, name: "env-1")
        let before = try harness.repository.commitID()
        let result = try harness.out(["release": "../outside"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("invalid payload"))
        #expect(try harness.repository.commitID() == before)
    }

    @Test func unreadableNameFileKeepsTheUpstreamText() throws {
        let harness = try makeHarness("no-name", locks: ["env-1": .claimed()])
        try harness.stepDirectory("step", lock: nil)
        let result = try harness.out(["release": "step"])
        expectFailure(result, "could not read the name file of your lock: ", exact: false)
    }

    /// `release: ci-instance-01` (a lock's name) where the step directory belongs: the message says what the param
    /// names and which directories there are.
    @Test func aLockNameWhereAStepDirectoryBelongsGetsAHint() throws {
        let harness = try makeHarness("lock-name-as-directory", locks: ["ci-instance-01": .claimed()])
        try harness.stepDirectory("env-lock", lock: "ci-instance-01")
        let result = try harness.out(["release": "ci-instance-01"])
        expectFailure(result, "could not read the name file of your lock: ", exact: false)
        #expect(
            result.stderr.contains(
                "ci-instance-01/name: no such file or directory (release, remove and update name the directory a get "
                    + "step or a task wrote, such as the resource's name, not a lock; the directories here: env-lock"),
            "\(result)")
    }
}

// MARK: - Concurrency (docs/concurrency.md#one-attempt)

@Suite struct OutConcurrencyTests {
    @Test func concurrentAcquiresNeverClaimALockTwice() async throws {
        let locks = ["env-1", "env-2", "env-3", "env-4"]
        let harness = try makeHarness(
            "race", locks: Dictionary(uniqueKeysWithValues: locks.map { ($0, LockSeed.unclaimed($0)) }))
        // Each process gets its own TMPDIR (own cache), like separate Concourse workers.
        var running: [RunningExecutable] = []
        for index in locks.indices {
            let tmp = try harness.scratch.directory("tmp-\(index)")
            running.append(
                try harness.startOut(
                    ["acquire": true, "timeout": "120s"], environment: ["TMPDIR": tmp.path]))
        }
        var acquired: [String] = []
        for process in running {
            let result = try await process.wait(timeout: .seconds(180))
            let response = try result.response()
            #expect(result.status == 0, "\(result)")
            acquired.append(try #require(response.lockName))
        }
        #expect(acquired.sorted() == locks)
        let replay = try harness.repository.replay()
        #expect(replay.isConsistent, "\(replay)")
        #expect(replay.finalState["envs"] == PoolLocks(claimed: locks, unclaimed: []))
        #expect(replay.commits.count == 1 + locks.count)
    }

    @Test func moreClientsThanLocksSomeTimeOut() async throws {
        let harness = try makeHarness("contention", locks: ["env-1": .unclaimed(), "env-2": .unclaimed()])
        var running: [RunningExecutable] = []
        for index in 0..<4 {
            let tmp = try harness.scratch.directory("tmp-\(index)")
            running.append(
                try harness.startOut(["acquire": true, "timeout": "5s"], environment: ["TMPDIR": tmp.path]))
        }
        var acquired: [String] = []
        for process in running {
            let result = try await process.wait(timeout: .seconds(60))
            if result.status == 0 {
                acquired.append(try #require(try result.response().lockName))
            } else {
                expectFailure(result, "timed out after 5s: no unclaimed lock in pool 'envs'")
            }
        }
        // Normally both locks are taken; on a badly overloaded machine a client may time out before its first try.
        #expect(!acquired.isEmpty && acquired.count <= 2)
        #expect(Set(acquired).count == acquired.count)
        let replay = try harness.repository.replay()
        #expect(replay.isConsistent, "\(replay)")
        #expect(replay.finalState["envs"]?.claimed == acquired.sorted())
    }

    @Test func sharedCacheAcrossProcessesStaysConsistent() async throws {
        let harness = try makeHarness("shared-cache", locks: ["env-1": .unclaimed(), "env-2": .unclaimed()])
        let shared = try harness.scratch.directory("shared-tmp")
        let first = try harness.startOut(["acquire": true, "timeout": "120s"], environment: ["TMPDIR": shared.path])
        let second = try harness.startOut(["acquire": true, "timeout": "120s"], environment: ["TMPDIR": shared.path])
        let names = [
            try await first.wait(timeout: .seconds(180)).response().lockName,
            try await second.wait(timeout: .seconds(180)).response().lockName,
        ]
        #expect(Set(names.compactMap { $0 }) == ["env-1", "env-2"])
        #expect(try harness.repository.replay().isConsistent)
    }
}

// MARK: - Over git daemon (git://)

@Suite(.serialized) struct OutOverGitDaemonTests {
    @Test(arguments: branches)
    func acquireAndReleaseOverGitProtocol(branch: String) throws {
        let scratch = try Scratch(label: "out-daemon")
        let repository = try LockRepository.create(
            in: scratch, branch: branch, pools: ["envs": ["env-1": .unclaimed("one")]])
        let daemon = try GitDaemon(scratch: scratch)
        defer { daemon.stop() }
        let harness = try ResourceHarness(
            scratch: scratch, repository: repository, pool: "envs", uri: daemon.url(for: repository))
        let acquired = try expectSuccess(
            try harness.out(["acquire": true, "timeout": "20s"]), lock: "env-1", pool: "envs")
        #expect(try repository.commitID() == acquired.version.ref)
        #expect(try repository.locks(in: "envs") == PoolLocks(claimed: ["env-1"], unclaimed: []))

        try harness.stepDirectory("env-lock", lock: "env-1", claimRef: acquired.version.ref)
        try expectSuccess(try harness.out(["release": "env-lock"]), lock: "env-1", pool: "envs")
        #expect(try repository.locks(in: "envs") == PoolLocks(claimed: [], unclaimed: ["env-1"]))
        #expect(try repository.replay().isConsistent)
    }

    @Test func concurrentAcquiresOverGitProtocol() async throws {
        let scratch = try Scratch(label: "race-daemon")
        let locks = ["a", "b", "c"]
        let repository = try LockRepository.create(
            in: scratch, pools: ["envs": Dictionary(uniqueKeysWithValues: locks.map { ($0, LockSeed.unclaimed()) })])
        let daemon = try GitDaemon(scratch: scratch)
        defer { daemon.stop() }
        let harness = try ResourceHarness(
            scratch: scratch, repository: repository, pool: "envs", uri: daemon.url(for: repository))
        var running: [RunningExecutable] = []
        for index in locks.indices {
            let tmp = try scratch.directory("tmp-\(index)")
            running.append(
                try harness.startOut(["acquire": true, "timeout": "120s"], environment: ["TMPDIR": tmp.path]))
        }
        var acquired: [String] = []
        for process in running {
            let result = try await process.wait(timeout: .seconds(180))
            #expect(result.status == 0, "\(result)")
            acquired.append(try #require(try result.response().lockName))
        }
        #expect(acquired.sorted() == locks)
        let replay = try repository.replay()
        #expect(replay.isConsistent, "\(replay)")
    }

    @Test func missingRepositoryFailsAtOnce() throws {
        let scratch = try Scratch(label: "no-repo")
        let repository = try LockRepository.create(in: scratch, pools: ["envs": [:]])
        let daemon = try GitDaemon(scratch: scratch)
        defer { daemon.stop() }
        let harness = try ResourceHarness(
            scratch: scratch, repository: repository, pool: "envs", uri: daemon.url(for: "missing.git"))
        let result = try harness.out(["acquire": true, "timeout": "20s"], timeout: .seconds(30))
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.lastStderrLine?.hasPrefix("error: ") == true)
    }
}
