import Foundation
import TestSupport
import Testing

/// `lockpool reap` end to end (docs/resource.md#the-lockpool-command): the built binary against real lock repositories
/// whose claims are made by the real `out` (or, for old dates, by the git CLI in the resource's commit format), asking
/// a Concourse API stand-in on 127.0.0.1. A running build's lock is never reaped; a finished build's is, with evidence
/// in trailers; a lease or the stale age decide only when liveness is unknown; a refused token changes nothing; fencing
/// protects the new holder from the old one.

/// The token the stand-in accepts; a planted secret that must never be printed.
private let concourseToken = "reap-token-7c1e9b2f"

/// A Concourse build that claims locks.
struct ReapBuild: Sendable {
    var team = "main"
    var pipeline = "deploy"
    var job = "apply"
    let name: String
    /// `BUILD_ID`; without it the reaper asks by team, pipeline, job and name.
    var id: String?

    /// The `BUILD_*` variables Concourse gives `out`.
    var environment: [String: String] {
        var environment = [
            "BUILD_TEAM_NAME": team, "BUILD_PIPELINE_NAME": pipeline, "BUILD_JOB_NAME": job, "BUILD_NAME": name,
            "ATC_EXTERNAL_URL": "https://ci.example.com",
        ]
        if let id { environment["BUILD_ID"] = id }
        return environment
    }

    /// The stand-in's table key for this build.
    var key: String {
        id.map { ConcourseStandIn.key(id: $0) }
            ?? ConcourseStandIn.key(team: team, pipeline: pipeline, job: job, name: name)
    }

    /// How `lockpool` names the holder.
    var holder: String { "\(team)/\(pipeline)/\(job) build \(name)" }

    /// A claim commit message exactly as the resource writes it (docs/commits.md#message-layout), with an optional
    /// `Lease-Expires`.
    func claimMessage(lock: String, pool: String = "envs", leaseExpires: String? = nil) -> String {
        var trailers = [
            "Lock-Schema: 1", "Lock-Operation: claim", "Lock-Pool: \(pool)", "Lock-Name: \(lock)",
            "Lock-State: claimed",
        ]
        if let leaseExpires { trailers.append("Lease-Expires: \(leaseExpires)") }
        trailers += ["Build-Team: \(team)", "Build-Pipeline: \(pipeline)", "Build-Job: \(job)", "Build-Name: \(name)"]
        if let id { trailers.append("Build-Id: \(id)") }
        let nonce = (UUID().uuidString + UUID().uuidString).lowercased().filter(\.isHexDigit).prefix(32)
        trailers += ["Lock-Tool: lockpool 0.1.0 (resource)", "Lock-Nonce: \(nonce)"]
        return "\(holder) claiming: \(lock)\n\n" + trailers.joined(separator: "\n")
    }
}

/// One `lockpool reap --json` entry.
struct ReapEntry: Decodable, Sendable {
    let pool: String
    let lock: String
    let holder: String?
    let since: String?
    let claim: String?
    let action: String
    let reason: String
    let evidence: [String: String]
    let commit: String?
}

/// A lock repository, the resource executables working on it, and a Concourse stand-in.
struct ReapFixture {
    let harness: ResourceHarness
    let concourse: ConcourseStandIn

    var repository: LockRepository { harness.repository }

    /// Creates pool `envs` (and `otherPools`) with the unclaimed `locks`, and a stand-in knowing `builds`.
    init(
        _ label: String, locks: [String], otherPools: [String: [String]] = [:],
        builds: [String: ConcourseStandIn.BuildStatus] = [:], failing: Set<String> = []
    ) throws {
        func seeds(_ names: [String]) -> [String: LockSeed] {
            Dictionary(uniqueKeysWithValues: names.map { ($0, LockSeed.unclaimed("host: \($0)\n")) })
        }
        harness = try makeHarness(label, locks: seeds(locks), otherPools: otherPools.mapValues(seeds))
        concourse = try ConcourseStandIn(
            scratch: harness.scratch, token: concourseToken, builds: builds, failing: failing)
    }

    /// Claims `lock` through the real `out` as `build` would, optionally with a `lease`; returns the claim commit.
    @discardableResult
    func claim(
        _ lock: String, by build: ReapBuild, lease: String? = nil, pool: String = "envs",
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> String {
        var params: [String: JSONValue] = ["claim": .string(lock)]
        if let lease { params["lease"] = .string(lease) }
        let result = try harness.out(.object(params), source: ["pool": .string(pool)], environment: build.environment)
        try #require(result.status == 0, "\(result)", sourceLocation: sourceLocation)
        return try result.response().version.ref
    }

    /// Claims `lock` with the git CLI in one pushed commit with `message`, committed (and authored) at `date`
    /// (ISO 8601), so that claim ages are exact.
    @discardableResult
    func claimByHand(_ lock: String, pool: String = "envs", message: String, at date: String) throws -> String {
        let work = try harness.scratch.uniqueDirectory("hand")
        defer { try? FileManager.default.removeItem(at: work) }
        let git = repository.git.inDirectory(work)
        try git.run(["clone", "--quiet", "--branch", repository.branch, repository.path, work.path])
        try git.run(["mv", "\(pool)/unclaimed/\(lock)", "\(pool)/claimed/\(lock)"])
        try git.run(
            ["commit", "--quiet", "-m", message],
            extraEnvironment: ["GIT_COMMITTER_DATE": date, "GIT_AUTHOR_DATE": date])
        try git.run(["push", "--quiet", "origin", "HEAD:refs/heads/\(repository.branch)"])
        return try git.output("rev-parse", "HEAD")
    }

    /// Runs `lockpool reap POOLS… --repo … --branch … ARGUMENTS…`, with `--concourse-url` when `api` and the token in
    /// `LOCKPOOL_CONCOURSE_TOKEN` when given.
    func reap(
        _ arguments: [String], pools: [String] = ["envs"], api: Bool = true, token: String? = concourseToken,
        environment: [String: String] = [:]
    ) throws -> ExecutableResult {
        var argv = ["reap"] + pools + ["--repo", repository.fileURL, "--branch", repository.branch] + arguments
        if api { argv += ["--concourse-url", concourse.url] }
        var environment = environment
        if let token { environment["LOCKPOOL_CONCOURSE_TOKEN"] = token }
        return try harness.executables.lockpool(argv, environment: environment)
    }
}

/// stdout lines without the final empty one.
private func lines(_ result: ExecutableResult) -> [String] {
    result.stdoutText.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
}

/// `reap --json` output, decoded.
private func entries(_ result: ExecutableResult, sourceLocation: SourceLocation = #_sourceLocation) throws
    -> [String: ReapEntry]
{
    let decoded = try result.decode([ReapEntry].self)
    return Dictionary(decoded.map { ("\($0.pool)/\($0.lock)", $0) }, uniquingKeysWith: { first, _ in first })
}

private let build42 = ReapBuild(name: "42", id: "1042")
private let build43 = ReapBuild(name: "43", id: "1043")
/// A date long past, as a committer date and in `since`.
private let longAgo = "2020-01-01T00:00:00Z"

@Suite(.enabled(if: ConcourseStandIn.isAvailable && Executables.areAvailable))
struct ReapTests {
    // MARK: build status

    @Test(arguments: ConcourseStandIn.BuildStatus.allCases)
    func theBuildStatusDecides(status: ConcourseStandIn.BuildStatus) throws {
        let fixture = try ReapFixture("reap-\(status)", locks: ["env-1"], builds: [build42.key: status])
        let claim = try fixture.claim("env-1", by: build42, lease: "1h")
        // --stale-after 1ms: every claim is older than the stale age, which must not matter when the build is known.
        let result = try fixture.reap(["--stale-after", "1ms"])
        #expect(result.status == 0, "\(result)")
        #expect(
            fixture.concourse.requests == [
                .init(method: "GET", path: "/api/v1/builds/1042", query: "", authorized: true, status: 200)
            ])
        let output = lines(result)
        #expect(output.count == 2, "\(result)")
        if status.isRunning {
            #expect(try fixture.repository.commitID() == claim)
            #expect(
                output.first?.hasPrefix(
                    "kept envs/env-1: build is \(status) (held by main/deploy/apply build 42 since ") == true)
            #expect(output.last == "0 reaped, 1 kept or skipped")
            return
        }
        let release = try fixture.repository.commit()
        #expect(release.parents == [claim])
        #expect(try fixture.repository.locks(in: "envs") == PoolLocks(claimed: [], unclaimed: ["env-1"]))
        #expect(try fixture.repository.file("envs/unclaimed/env-1") == Data("host: env-1\n".utf8))
        #expect(release.subject == "unclaiming: env-1")
        #expect(release.trailer("Lock-Operation") == "release")
        #expect(release.trailer("Lock-State") == "unclaimed")
        #expect(release.trailer("Lock-Claim") == claim)
        #expect(release.trailer("Reap-Reason") == "build-finished")
        #expect(release.trailer("Reap-Build-Status") == status.rawValue)
        #expect(release.trailer("Reap-Claim-Commit") == claim)
        #expect(release.trailer("Reap-Claim-Age")?.hasSuffix("s") == true)
        #expect(release.trailer("Lock-Tool")?.hasSuffix(" (cli)") == true)
        #expect(release.trailers.map(\.key).last == "Lock-Nonce")
        let line = try #require(output.first)
        #expect(line.hasPrefix("reaped envs/env-1: build \(status) (held by main/deploy/apply build 42 since "))
        #expect(line.hasSuffix(") in \(release.shortID)"))
        #expect(output.last == "1 reaped, 0 kept or skipped")
    }

    @Test func aBuildNamedWithoutAnIdIsAskedForByTeamPipelineJobAndName() throws {
        let build = ReapBuild(job: "apply tests", name: "7.1")
        let fixture = try ReapFixture("reap-by-job", locks: ["env-1"], builds: [build.key: .failed])
        let claim = try fixture.claim("env-1", by: build)
        let result = try fixture.reap(["--stale-after", "1h"])
        #expect(result.status == 0, "\(result)")
        #expect(
            fixture.concourse.requests.map(\.description) == [
                "GET /api/v1/teams/main/pipelines/deploy/jobs/apply%20tests/builds/7.1 → 200"
            ])
        let release = try fixture.repository.commit()
        #expect(release.trailer("Reap-Build-Status") == "failed")
        #expect(release.trailer("Lock-Claim") == claim)
    }

    // MARK: leases and age, with exact dates

    /// Without --stale-after only leases (and finished builds) decide: `reap --dry-run` on leases alone.
    @Test func withoutAStaleAgeOnlyLeasesDecide() throws {
        let gone = ReapBuild(name: "3", id: "103")  // unknown to Concourse: 404
        let fixture = try ReapFixture("reap-leases-only", locks: ["env-1", "env-2", "env-3"], builds: [:])
        try fixture.claimByHand(
            "env-1", message: gone.claimMessage(lock: "env-1", leaseExpires: "2020-01-01T01:00:00Z"), at: longAgo)
        try fixture.claimByHand(
            "env-2", message: gone.claimMessage(lock: "env-2", leaseExpires: "2099-01-01T00:00:00Z"), at: longAgo)
        try fixture.claimByHand("env-3", message: "claiming: env-3", at: longAgo)  // no lease, no build
        let before = try fixture.repository.commitID()

        let dry = try fixture.reap(["--dry-run", "--json"])
        #expect(dry.status == 0, "\(dry)")
        let report = try entries(dry)
        #expect(report["envs/env-1"]?.action == "would-reap")
        #expect(report["envs/env-1"]?.evidence["Reap-Reason"] == "lease-expired")
        #expect(report["envs/env-2"]?.action == "kept")
        #expect(report["envs/env-3"]?.action == "kept")
        #expect(report["envs/env-3"]?.reason.contains("without a lease, and no stale age given") == true)
        #expect(try fixture.repository.commitID() == before)

        let reaped = try fixture.reap(["--json"])
        #expect(reaped.status == 0, "\(reaped)")
        #expect(
            try fixture.repository.locks(in: "envs") == PoolLocks(claimed: ["env-2", "env-3"], unclaimed: ["env-1"]))
    }

    @Test func liveBuildsAreKeptWhateverTheLeaseAndAgeAndOthersByLeaseOrAge() throws {
        let started = ReapBuild(name: "1", id: "101")
        let pending = ReapBuild(name: "2", id: "102")
        let gone = ReapBuild(name: "3", id: "103")  // unknown to Concourse: 404
        let goneLeased = ReapBuild(name: "4", id: "104")
        let fixture = try ReapFixture(
            "reap-dated", locks: ["env-1", "env-2", "env-3", "env-4", "env-5", "env-6"],
            builds: [started.key: .started, pending.key: .pending])
        let passed = "2020-01-01T01:00:00Z"
        try fixture.claimByHand(
            "env-1", message: started.claimMessage(lock: "env-1", leaseExpires: passed), at: longAgo)
        try fixture.claimByHand(
            "env-2", message: pending.claimMessage(lock: "env-2", leaseExpires: passed), at: longAgo)
        let expired = try fixture.claimByHand(
            "env-3", message: gone.claimMessage(lock: "env-3", leaseExpires: passed), at: longAgo)
        try fixture.claimByHand(
            "env-4", message: goneLeased.claimMessage(lock: "env-4", leaseExpires: "2099-01-01T00:00:00Z"), at: longAgo)
        let stale = try fixture.claimByHand("env-5", message: "claiming: env-5", at: longAgo)  // by hand: no build
        let young = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-60))
        try fixture.claimByHand("env-6", message: "claiming: env-6", at: young)
        let before = try fixture.repository.commitID()

        let result = try fixture.reap(["--stale-after", "1h", "--json"])
        #expect(result.status == 0, "\(result)")
        let report = try entries(result)
        #expect(report.count == 6)
        #expect(report["envs/env-1"]?.action == "kept")
        #expect(report["envs/env-1"]?.reason == "build is started")
        #expect(report["envs/env-2"]?.action == "kept")
        #expect(report["envs/env-2"]?.reason == "build is pending")
        #expect(report["envs/env-3"]?.action == "reaped")
        #expect(report["envs/env-3"]?.evidence["Reap-Reason"] == "lease-expired")
        #expect(report["envs/env-3"]?.evidence["Reap-Lease-Expired"] == passed)
        #expect(report["envs/env-3"]?.evidence["Reap-Build-Status"] == "unknown")
        #expect(report["envs/env-4"]?.action == "kept")
        #expect(
            report["envs/env-4"]?.reason
                == "lease valid until 2099-01-01T00:00:00Z (the build is not known to Concourse (HTTP 404))")
        #expect(report["envs/env-5"]?.action == "reaped")
        #expect(report["envs/env-5"]?.holder == "Lockpool Test <test@lockpool.invalid>")
        #expect(report["envs/env-5"]?.since == longAgo)
        #expect(report["envs/env-5"]?.evidence["Reap-Reason"] == "stale")
        #expect(report["envs/env-5"]?.evidence["Reap-Stale-After"] == "1h0m0s")
        #expect(report["envs/env-6"]?.action == "kept")
        #expect(report["envs/env-6"]?.reason.hasSuffix("younger than the stale age (the claim names no build)") == true)
        #expect(
            try fixture.repository.locks(in: "envs")
                == PoolLocks(
                    claimed: ["env-1", "env-2", "env-4", "env-6"], unclaimed: ["env-3", "env-5"]))
        // Only builds were asked about; hand-made claims name none.
        #expect(
            Set(fixture.concourse.requests.map(\.path))
                == Set(["101", "102", "103", "104"].map { "/api/v1/builds/\($0)" }))

        // Two release commits on top, each recording its evidence.
        let history = try fixture.repository.history()
        #expect(history[2].id == before)
        let releases = Dictionary(uniqueKeysWithValues: history[0...1].map { ($0.trailer("Lock-Name") ?? "", $0) })
        #expect(releases["env-3"]?.trailer("Lock-Claim") == expired)
        #expect(releases["env-3"]?.trailer("Reap-Claim-Commit") == expired)
        #expect(releases["env-3"]?.trailer("Reap-Reason") == "lease-expired")
        #expect(releases["env-5"]?.trailer("Lock-Claim") == stale)
        #expect(releases["env-5"]?.trailer("Reap-Reason") == "stale")
        #expect(releases["env-5"]?.trailer("Reap-Build-Status") == "unknown")
        #expect(report["envs/env-3"]?.commit == releases["env-3"]?.id)
    }

    @Test func textOutputNamesHolderAndSince() throws {
        let fixture = try ReapFixture("reap-text", locks: ["env-1", "env-2"], builds: [build42.key: .started])
        try fixture.claimByHand("env-1", message: build42.claimMessage(lock: "env-1"), at: longAgo)
        try fixture.claimByHand("env-2", message: "claiming: env-2", at: longAgo)
        let result = try fixture.reap(["--stale-after", "24h"])
        #expect(result.status == 0, "\(result)")
        let output = lines(result)
        #expect(output.count == 3, "\(result)")
        #expect(output[0] == "kept envs/env-1: build is started (held by main/deploy/apply build 42 since \(longAgo))")
        let tip = try fixture.repository.commit()
        #expect(output[1].hasPrefix("reaped envs/env-2: claimed "))
        let holder = "Lockpool Test <test@lockpool.invalid>"
        #expect(
            output[1].hasSuffix(
                " ago and the claim names no build (held by \(holder) since \(longAgo)) in \(tip.shortID)"))
        #expect(output[2] == "1 reaped, 1 kept or skipped")
    }

    // MARK: 404 and no API: the stale age

    @Test(arguments: [("1ms", true), ("1h", false)])
    func aBuildUnknownToConcourseFallsBackToTheStaleAge(staleAfter: String, reaps: Bool) throws {
        let fixture = try ReapFixture("reap-404", locks: ["env-1"])
        let claim = try fixture.claim("env-1", by: build42)
        let result = try fixture.reap(["--stale-after", staleAfter, "--json"])
        #expect(result.status == 0, "\(result)")
        #expect(fixture.concourse.requests.map(\.description) == ["GET /api/v1/builds/1042 → 404"])
        let entry = try #require(try entries(result)["envs/env-1"])
        #expect(entry.action == (reaps ? "reaped" : "kept"))
        #expect(entry.holder == "main/deploy/apply build 42")
        #expect(entry.claim == claim)
        if reaps {
            #expect(entry.reason.hasSuffix(" ago and the build is not known to Concourse (HTTP 404)"))
            let release = try fixture.repository.commit()
            #expect(release.trailer("Reap-Reason") == "stale")
            #expect(release.trailer("Reap-Build-Status") == "unknown")
            #expect(release.trailer("Reap-Stale-After") == staleAfter)
            #expect(release.trailer("Lock-Claim") == claim)
        } else {
            #expect(
                entry.reason.hasSuffix("younger than the stale age (the build is not known to Concourse (HTTP 404))"))
            #expect(try fixture.repository.commitID() == claim)
        }
    }

    @Test func withoutAConcourseURLOnlyTheStaleAgeDecides() throws {
        // The stand-in knows the build as started, but it is not asked: without an API nobody knows it runs.
        let fixture = try ReapFixture("reap-no-api", locks: ["env-1", "env-2"], builds: [build42.key: .started])
        try fixture.claimByHand("env-1", message: build42.claimMessage(lock: "env-1"), at: longAgo)
        let young = try fixture.claim("env-2", by: build43)
        let result = try fixture.reap(["--stale-after", "1h", "--json"], api: false, token: nil)
        #expect(result.status == 0, "\(result)")
        #expect(fixture.concourse.requests.isEmpty)
        let report = try entries(result)
        #expect(report["envs/env-1"]?.action == "reaped")
        #expect(report["envs/env-1"]?.reason.hasSuffix(" ago and no --concourse-url to ask") == true)
        #expect(report["envs/env-2"]?.action == "kept")
        #expect(report["envs/env-2"]?.claim == young)
        #expect(try fixture.repository.locks(in: "envs") == PoolLocks(claimed: ["env-2"], unclaimed: ["env-1"]))
    }

    @Test func aRealLeaseThatPassedIsReapedWhenLivenessIsUnknown() throws {
        let fixture = try ReapFixture("reap-lease", locks: ["env-1", "env-2"])
        let shortLease = try fixture.claim("env-1", by: build42, lease: "1s")
        try fixture.claim("env-2", by: build43, lease: "1h")
        #expect(try fixture.repository.commit(shortLease).trailer("Lease-Expires") != nil)
        Thread.sleep(forTimeInterval: 2.2)  // Lease-Expires has one-second resolution
        // --stale-after 1ms: the valid lease keeps env-2 although its claim is older than the stale age.
        let result = try fixture.reap(["--stale-after", "1ms", "--json"])
        #expect(result.status == 0, "\(result)")
        let report = try entries(result)
        #expect(report["envs/env-1"]?.action == "reaped")
        #expect(report["envs/env-1"]?.evidence["Reap-Reason"] == "lease-expired")
        #expect(report["envs/env-2"]?.action == "kept")
        #expect(report["envs/env-2"]?.reason.hasPrefix("lease valid until ") == true)
        #expect(try fixture.repository.commit().trailer("Reap-Reason") == "lease-expired")
    }

    // MARK: a refused token, a failing server

    enum TokenPassing: String, CaseIterable, Sendable { case environment, flag, file, missing }

    @Test(arguments: TokenPassing.allCases)
    func aRefusedTokenChangesNothingAndNamesTheToken(passing: TokenPassing) throws {
        let badToken = "bad-token-5d8e0a7b41"
        // Pool "alpha" (reaped first) has only a stale hand-made claim, which needs no API: it must be kept too.
        let fixture = try ReapFixture(
            "reap-401", locks: ["env-1"], otherPools: ["alpha": ["a-1"]], builds: [build42.key: .succeeded])
        try fixture.claimByHand("a-1", pool: "alpha", message: "claiming: a-1", at: longAgo)
        try fixture.claim("env-1", by: build42)
        let before = try fixture.repository.commitID()
        var arguments = ["--stale-after", "1h"]
        var token: String?
        switch passing {
        case .environment: token = badToken
        case .flag: arguments += ["--concourse-token", badToken]
        case .file:
            let file = try fixture.harness.scratch.write(Data((badToken + "\n").utf8), to: "token")
            arguments += ["--concourse-token-file", file.path]
        case .missing: break
        }
        let result = try fixture.reap(arguments, pools: ["alpha", "envs"], token: token)
        #expect(result.status == 1, "\(result)")
        #expect(result.stdout.isEmpty, "\(result)")
        #expect(
            result.lastStderrLine
                == "Error: the Concourse API at \(fixture.concourse.url) refused the request (HTTP 401); check "
                + "--concourse-token, --concourse-token-file or LOCKPOOL_CONCOURSE_TOKEN (a bearer token with access "
                + "to the team)")
        #expect(!result.stderr.contains(badToken) && !result.stdoutText.contains(badToken))
        #expect(try fixture.repository.commitID() == before)
        #expect(fixture.concourse.requests.map(\.description) == ["GET /api/v1/builds/1042 → 401"])
        #expect(fixture.concourse.requests.allSatisfy { !$0.authorized })
    }

    @Test func aServerErrorKeepsThatLockAndExitsOne() throws {
        let fixture = try ReapFixture(
            "reap-500", locks: ["env-1", "env-2"], builds: [build42.key: .succeeded, build43.key: .succeeded],
            failing: [build42.key])
        let kept = try fixture.claim("env-1", by: build42)
        try fixture.claim("env-2", by: build43)
        let result = try fixture.reap(["--stale-after", "1ms", "--json"])
        #expect(result.status == 1, "\(result)")
        #expect(
            result.lastStderrLine == "Error: could not ask Concourse about 1 build; their locks were kept")
        let report = try entries(result)
        #expect(report["envs/env-1"]?.action == "kept")
        #expect(
            report["envs/env-1"]?.reason
                == "liveness unknown: GET \(fixture.concourse.url)/api/v1/builds/1042 answered HTTP 500")
        #expect(report["envs/env-2"]?.action == "reaped")
        #expect(try fixture.repository.locks(in: "envs") == PoolLocks(claimed: ["env-1"], unclaimed: ["env-2"]))
        #expect(try fixture.repository.history(paths: ["envs/claimed/env-1"]).first?.id == kept)
        #expect(!result.stderr.contains(concourseToken) && !result.stdoutText.contains(concourseToken))
    }

    @Test func anUnreachableServerKeepsTheLockAndExitsOne() throws {
        let fixture = try ReapFixture("reap-down", locks: ["env-1"], builds: [build42.key: .succeeded])
        let claim = try fixture.claim("env-1", by: build42)
        fixture.concourse.stop()
        let result = try fixture.reap(["--stale-after", "1ms", "--json"])
        #expect(result.status == 1, "\(result)")
        #expect(result.lastStderrLine == "Error: could not ask Concourse about 1 build; their locks were kept")
        #expect(try entries(result)["envs/env-1"]?.action == "kept")
        #expect(try fixture.repository.commitID() == claim)
    }

    // MARK: dry run and JSON

    @Test func dryRunPrintsWhatItWouldDoAndChangesNothing() throws {
        let fixture = try ReapFixture(
            "reap-dry", locks: ["env-1", "env-2"], builds: [build42.key: .aborted, build43.key: .started])
        let claim = try fixture.claim("env-1", by: build42)
        try fixture.claim("env-2", by: build43)
        let before = try fixture.repository.commitID()
        let result = try fixture.reap(["--stale-after", "1h", "--dry-run"])
        #expect(result.status == 0, "\(result)")
        let output = lines(result)
        #expect(output.count == 3, "\(result)")
        #expect(output[0].hasPrefix("would-reap envs/env-1: build aborted (held by main/deploy/apply build 42 since "))
        #expect(output[0].hasSuffix(")"))
        #expect(output[1].hasPrefix("kept envs/env-2: build is started (held by main/deploy/apply build 43 since "))
        #expect(output[2] == "1 would be reaped, 1 kept or skipped")
        #expect(try fixture.repository.commitID() == before)

        let json = try fixture.reap(["--stale-after", "1h", "--dry-run", "--json"])
        #expect(json.status == 0, "\(json)")
        let entry = try #require(try entries(json)["envs/env-1"])
        #expect(entry.action == "would-reap")
        #expect(entry.commit == nil)
        #expect(entry.evidence["Reap-Reason"] == "build-finished")
        #expect(entry.evidence["Reap-Build-Status"] == "aborted")
        #expect(entry.evidence["Reap-Claim-Commit"] == claim)
        #expect(try fixture.repository.commitID() == before)
    }

    @Test func jsonOutputIsOneDocumentWithEveryField() throws {
        let fixture = try ReapFixture("reap-json", locks: ["env-1", "env-2"], builds: [build42.key: .errored])
        let claim = try fixture.claim("env-1", by: build42)
        let result = try fixture.reap(["--stale-after", "1h", "--json"])
        #expect(result.status == 0, "\(result)")
        let raw = try #require(try result.json() as? [[String: Any]])
        #expect(raw.count == 1)
        #expect(
            Set(raw.first?.keys.map { $0 } ?? [])
                == ["action", "claim", "commit", "evidence", "holder", "lock", "pool", "reason", "since"])
        let entry = try #require(try result.decode([ReapEntry].self).first)
        let tip = try fixture.repository.commit()
        #expect(entry.pool == "envs" && entry.lock == "env-1")
        #expect(entry.holder == "main/deploy/apply build 42")
        let committed = try #require(
            ISO8601DateFormatter().date(from: try fixture.repository.commit(claim).committerDate))
        #expect(entry.since == ISO8601DateFormatter().string(from: committed))
        #expect(entry.claim == claim)
        #expect(entry.action == "reaped")
        #expect(entry.reason == "build errored")
        #expect(entry.commit == tip.id)
        #expect(
            Set(entry.evidence.keys) == ["Reap-Reason", "Reap-Claim-Commit", "Reap-Claim-Age", "Reap-Build-Status"])
        for (key, value) in entry.evidence { #expect(tip.trailer(key) == value) }
    }

    @Test func anEmptyPoolReportsNothing() throws {
        let fixture = try ReapFixture("reap-empty", locks: ["env-1"])
        let text = try fixture.reap(["--stale-after", "1h"])
        #expect(text.status == 0, "\(text)")
        #expect(lines(text) == ["0 reaped, 0 kept or skipped"])
        let json = try fixture.reap(["--stale-after", "1h", "--json"])
        #expect(try json.decode([ReapEntry].self).isEmpty)
        #expect(fixture.concourse.requests.isEmpty)
    }

    // MARK: fencing (docs/concurrency.md#fencing)

    @Test func theReapedHolderCannotReleaseTheNewClaim() throws {
        let fixture = try ReapFixture("reap-fence", locks: ["env-1"], builds: [build42.key: .succeeded])
        let harness = fixture.harness
        // Build 42 acquires env-1 and gets it with `in`, which writes claim_ref.
        var old = harness
        old.environment = build42.environment
        let acquired = try old.out(["acquire": true])
        let oldClaim = try acquired.response().version.ref
        let step = harness.scratch.url("build/env-lock")
        let get = try old.get(version: oldClaim, into: step)
        try #require(get.status == 0, "\(get)")
        #expect(readFile(step, "claim_ref") == oldClaim + "\n")

        // Concourse says build 42 finished: the reaper releases env-1 and build 43 claims it.
        let reaped = try fixture.reap(["--stale-after", "1h"])
        #expect(reaped.status == 0, "\(reaped)")
        #expect(try fixture.repository.commit().trailer("Lock-Claim") == oldClaim)
        try fixture.concourse.setBuilds([build42.key: .succeeded, build43.key: .started])
        let newClaim = try fixture.claim("env-1", by: build43)

        // Build 42's release from its step directory holding claim_ref changes nothing.
        let release = try old.out(["release": "env-lock"])
        expectFailure(
            release,
            "lock 'env-1' in pool 'envs' was claimed again by main/deploy/apply build 43 in \(newClaim.prefix(7)) "
                + "after this job's claim \(oldClaim.prefix(7)); not releasing it")
        #expect(try fixture.repository.commitID() == newClaim)
        #expect(try fixture.repository.locks(in: "envs") == PoolLocks(claimed: ["env-1"], unclaimed: []))

        // And the reaper keeps the new holder while its build runs.
        let again = try fixture.reap(["--stale-after", "1ms"])
        #expect(again.status == 0, "\(again)")
        #expect(
            lines(again).first?.hasPrefix("kept envs/env-1: build is started (held by main/deploy/apply build 43")
                == true)
        #expect(try fixture.repository.commitID() == newClaim)
        #expect(try fixture.repository.replay().isConsistent)
    }
}
