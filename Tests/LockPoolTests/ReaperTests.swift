import Foundation
import Git
import LockPool
import Testing

/// `Reaper.decide`: the verdict and the evidence trailers for each combination of claim (age, lease) and build
/// liveness. A running build's lock is never reaped; a finished build's always is; a lease or the stale age decide
/// only when liveness is unknown; an unavailable CI system keeps the lock.

private let now = Date(timeIntervalSince1970: 1_777_723_200)  // 2026-05-02T12:00:00Z
private let claim = ObjectID(hex: "0123456789abcdef0123456789abcdef01234567")!
private let hour: TimeInterval = 3600

struct ReapCase: Sendable, CustomTestStringConvertible {
    let name: String
    var state: LockState = .claimed
    /// How long ago the claim was made.
    var age: TimeInterval = 10 * 24 * hour
    /// The lease expiry relative to now (negative: passed); no lease when `nil`.
    var lease: TimeInterval?
    var staleAfter: Duration = .seconds(3600)
    let liveness: BuildLiveness
    /// The reason in words and, for a reap, the evidence trailers; `nil` evidence means the lock is kept.
    let reason: String
    var evidence: [TrailerField]?
    var testDescription: String { name }

    var status: LockStatus {
        LockStatus(
            pool: "envs", lock: "env-1", state: state,
            holder: Holder(description: "main/deploy/apply build 42", build: BuildInfo(id: "1042")),
            since: now.addingTimeInterval(-age), commit: claim, leaseExpires: lease.map { now.addingTimeInterval($0) })
    }
}

private func evidence(_ reason: String, age: String, _ more: (String, String)...) -> [TrailerField] {
    [
        TrailerField("Reap-Reason", reason), TrailerField("Reap-Claim-Commit", claim.hex),
        TrailerField("Reap-Claim-Age", age),
    ]
        + more.map { TrailerField($0.0, $0.1) }
}

private let notFound = BuildLiveness.unknown(reason: "the build is not known to Concourse (HTTP 404)")

@Test(arguments: [
    // Running builds are kept whatever their age and lease.
    ReapCase(
        name: "started, old, lease passed → kept", lease: -hour, liveness: .running(status: "started"),
        reason: "build is started"),
    ReapCase(
        name: "pending, old, no lease → kept", liveness: .running(status: "pending"), reason: "build is pending"),
    // Finished builds are reaped whatever their age and lease.
    ReapCase(
        name: "succeeded, young → reaped", age: 300, liveness: .finished(status: "succeeded"),
        reason: "build succeeded",
        evidence: evidence("build-finished", age: "5m0s", ("Reap-Build-Status", "succeeded"))),
    ReapCase(
        name: "failed, lease still valid → reaped", age: 90, lease: hour, liveness: .finished(status: "failed"),
        reason: "build failed", evidence: evidence("build-finished", age: "1m30s", ("Reap-Build-Status", "failed"))),
    ReapCase(
        name: "errored → reaped", age: 2 * hour, liveness: .finished(status: "errored"), reason: "build errored",
        evidence: evidence("build-finished", age: "2h0m0s", ("Reap-Build-Status", "errored"))),
    ReapCase(
        name: "aborted → reaped", age: 1, liveness: .finished(status: "aborted"), reason: "build aborted",
        evidence: evidence("build-finished", age: "1s", ("Reap-Build-Status", "aborted"))),
    // An unavailable CI system keeps the lock: the build may be running.
    ReapCase(
        name: "unavailable, old, lease passed → kept", lease: -hour,
        liveness: .unavailable(reason: "GET http://ci/api/v1/builds/1042 answered HTTP 500"),
        reason: "liveness unknown: GET http://ci/api/v1/builds/1042 answered HTTP 500"),
    // Unknown liveness: the lease decides when there is one…
    ReapCase(
        name: "unknown, lease passed, young → reaped", age: 120, lease: -2 * hour, liveness: notFound,
        reason: "lease expired 2h0m ago",
        evidence: evidence(
            "lease-expired", age: "2m0s", ("Reap-Lease-Expired", "2026-05-02T10:00:00Z"),
            ("Reap-Build-Status", "unknown"))),
    ReapCase(
        name: "unknown, lease passing right now → reaped", age: 60, lease: 0, liveness: notFound,
        reason: "lease expired 0s ago",
        evidence: evidence(
            "lease-expired", age: "1m0s", ("Reap-Lease-Expired", "2026-05-02T12:00:00Z"),
            ("Reap-Build-Status", "unknown"))),
    ReapCase(
        name: "unknown, lease valid, old → kept", lease: 60, liveness: notFound,
        reason: "lease valid until 2026-05-02T12:01:00Z (the build is not known to Concourse (HTTP 404))"),
    // …and otherwise the age.
    ReapCase(
        name: "unknown, older than stale age → reaped", age: 2 * hour,
        liveness: .unknown(reason: "no --concourse-url to ask"),
        reason: "claimed 2h0m ago and no --concourse-url to ask",
        evidence: evidence(
            "stale", age: "2h0m0s", ("Reap-Build-Status", "unknown"), ("Reap-Stale-After", "1h0m0s"))),
    ReapCase(
        name: "unknown, days old → reaped, age in words and as a Go duration", age: 10 * 24 * hour + 90,
        liveness: .unknown(reason: "the claim names no build"),
        reason: "claimed 10d0h ago and the claim names no build",
        evidence: evidence(
            "stale", age: "240h1m30s", ("Reap-Build-Status", "unknown"), ("Reap-Stale-After", "1h0m0s"))),
    ReapCase(
        name: "unknown, exactly the stale age → reaped", age: hour,
        liveness: .unknown(reason: "the claim names no build"),
        reason: "claimed 1h0m ago and the claim names no build",
        evidence: evidence("stale", age: "1h0m0s", ("Reap-Build-Status", "unknown"), ("Reap-Stale-After", "1h0m0s"))),
    ReapCase(
        name: "unknown, younger than stale age → kept", age: 59 * 60, liveness: notFound,
        reason: "claimed 59m ago, younger than the stale age (the build is not known to Concourse (HTTP 404))"),
    ReapCase(
        name: "unknown, stale age with a fraction is not rounded down", age: 1.2, staleAfter: .milliseconds(1500),
        liveness: notFound,
        reason: "claimed 1s ago, younger than the stale age (the build is not known to Concourse (HTTP 404))"),
    ReapCase(
        name: "unknown, claim dated in the future (clock skew) → kept", age: -600, liveness: notFound,
        reason: "claimed 0s ago, younger than the stale age (the build is not known to Concourse (HTTP 404))"),
    // Only claimed locks are reaped.
    ReapCase(
        name: "unclaimed → kept", state: .unclaimed, liveness: .finished(status: "succeeded"), reason: "not claimed"),
    ReapCase(name: "absent → kept", state: .absent, liveness: notFound, reason: "not claimed"),
])
func reaperDecides(_ c: ReapCase) {
    let decision = Reaper(staleAfter: c.staleAfter, now: now).decide(c.status, liveness: c.liveness)
    #expect(decision.status == c.status)
    #expect(decision.reason == c.reason)
    #expect(decision.reaps == (c.evidence != nil))
    if let expected = c.evidence {
        #expect(decision.verdict == .reap(reason: c.reason, evidence: expected))
    } else {
        #expect(decision.verdict == .keep(reason: c.reason))
    }
}

@Test func aClaimWithoutItsClaimCommitIsKept() {
    let status = LockStatus(pool: "envs", lock: "env-1", state: .claimed)
    let decision = Reaper(staleAfter: .seconds(1), now: now).decide(status, liveness: .finished(status: "failed"))
    #expect(decision.verdict == .keep(reason: "claim commit not found in the history"))
}

@Test func theEvidenceIsOneTrailerPerKeyInAFixedOrder() {
    let reaper = Reaper(staleAfter: .seconds(60), now: now)
    let liveness: [BuildLiveness] = [.finished(status: "failed"), notFound]
    for lease: TimeInterval? in [nil, -1] {
        for each in liveness {
            let status = ReapCase(name: "", lease: lease, liveness: each, reason: "").status
            guard case .reap(_, let evidence) = reaper.decide(status, liveness: each).verdict else {
                Issue.record("kept: \(each)")
                continue
            }
            let keys = evidence.map(\.key)
            #expect(Set(keys).count == keys.count)
            #expect(Array(keys.prefix(3)) == ["Reap-Reason", "Reap-Claim-Commit", "Reap-Claim-Age"])
            #expect(keys.contains("Reap-Build-Status"))
            #expect(evidence.allSatisfy { !$0.value.contains("\n") && !$0.value.isEmpty })
        }
    }
}
