import Foundation
import TestSupport
import Testing

/// A claim whose lease has passed is taken over by a waiting acquire or claim (docs/decisions/0011-lease-takeover.md):
/// the reap and the new claim land together, the old holder's fenced release fails naming the takeover, claims
/// without a lease are never taken over, and the history replays without a double claim.
@Suite(.timeLimit(.minutes(3)))
struct LeaseTakeoverTests {
    @Test func aWaitingAcquireTakesOverAPassedLease() async throws {
        let cli = try CLIHarness("lease-takeover", locks: ["env-1": .unclaimed("domain: ci-1\n")])
        let holder = cli.scratch.url("holder")
        let claimed = try cli.run(["claim", "envs", "env-1", "--lease", "2s", "--output", holder.path])
        try #require(claimed.status == 0, "\(claimed)")
        let claim = try cli.repository.commitID()
        let leaseEnds = try #require(try cli.repository.commit().trailer("Lease-Expires"))
        let expiry = try #require(ISO8601DateFormatter().date(from: leaseEnds))

        let waiter = try cli.start(["acquire", "envs", "--retry-delay", "1s", "--timeout", "30s", "--json"])
        let result = try await waiter.wait(timeout: .seconds(40))
        #expect(result.status == 0, "\(result)")
        #expect(
            result.stderr.contains(
                "lock 'env-1' in pool 'envs': the lease of CI Pool Resource <ci-pool@localhost> passed at \(leaseEnds); taking it over"
            ),
            "\(result)")

        // Two commits on top of the claim: the reap of the passed lease, then the new claim.
        let history = try cli.repository.history()
        let (newClaim, reap) = (history[0], history[1])
        #expect(history[2].id == claim)
        #expect(reap.subject == "unclaiming: env-1")
        #expect(reap.trailer("Reap-Reason") == "lease-expired")
        #expect(reap.trailer("Reap-Lease-Expired") == leaseEnds)
        #expect(reap.trailer("Reap-Claim-Commit") == claim)
        #expect(reap.trailer("Lock-Claim") == claim)
        #expect(newClaim.subject == "claiming: env-1")
        // Taken over at the waiter's first poll after the expiry: within retry_delay (1 s ± 10 %), plus a second for
        // whole-second times. Judged by the commit's own time (the waiter's clock when it decided): this test's
        // clock may lag behind on a loaded machine.
        let decided = try #require(ISO8601DateFormatter().date(from: newClaim.committerDate))
        #expect(decided.timeIntervalSince(expiry) <= 3, "took over \(decided.timeIntervalSince(expiry)) s late")
        #expect(newClaim.trailer("Lock-Operation") == "acquire")
        #expect(try cli.repository.locks(in: "envs") == PoolLocks(claimed: ["env-1"], unclaimed: []))

        // The old holder's fenced release fails and names the takeover; nothing changes.
        let stale = try cli.run(["release", "envs", "--from", holder.path])
        #expect(stale.status == 1, "\(stale)")
        #expect(
            stale.lastStderrLine
                == "Error: lock 'env-1' in pool 'envs' was claimed again by CI Pool Resource <ci-pool@localhost> in "
                + "\(newClaim.shortID) after this job's claim \(claim.prefix(7)), which took it over when this claim's "
                + "lease had passed; not releasing it", "\(stale)")
        #expect(try cli.repository.commitID() == newClaim.id)

        // The replay finds no double claim; history shows the reap and the claim.
        let verify = try cli.run(["verify"])
        #expect(verify.status == 0, "\(verify)")
        let events = try cli.run(["history", "envs", "--json"])
        #expect(events.stdoutText.contains("\"reap_reason\" : \"lease-expired\""), "\(events)")
    }

    /// Claims without a lease (lockpool's, upstream's, Pix4D's) are never taken over, nor is a valid lease.
    @Test func claimsWithoutAPassedLeaseAreNeverTakenOver() async throws {
        let cli = try CLIHarness("lease-none", locks: ["env-1": .unclaimed(), "env-2": .unclaimed()])
        try #require(try cli.run(["claim", "envs", "env-1"]).status == 0)
        try #require(try cli.run(["claim", "envs", "env-2", "--lease", "1h"]).status == 0)
        let before = try cli.repository.commitID()
        let acquiring = try cli.start(["acquire", "envs", "--retry-delay", "1s", "--timeout", "3s"])
        let claiming = try cli.start(["claim", "envs", "env-1", "--retry-delay", "1s", "--timeout", "3s"])
        let acquire = try await acquiring.wait(timeout: .seconds(60))
        #expect(acquire.status == 75, "\(acquire)")
        let claim = try await claiming.wait(timeout: .seconds(60))
        #expect(claim.status == 75, "\(claim)")
        #expect(try cli.repository.commitID() == before)
    }

    /// The resource's `out` takes over too, at once when the lease passed long ago (a claim in the upstream form
    /// with lockpool's Lease-Expires trailer), and names the lock taken.
    @Test func theResourceTakesOverAtOnce() throws {
        let harness = try makeHarness("lease-resource", locks: ["env-1": .unclaimed()])
        let claim = try harness.repository.moveLock(
            "env-1", in: "envs", toClaimed: true,
            message: "claiming: env-1\n\nLease-Expires: 2020-01-01T00:00:00Z")
        let result = try harness.out(["claim": "env-1"])
        let response = try expectSuccess(result, lock: "env-1", pool: "envs")
        let history = try harness.repository.history()
        #expect(history[0].id == response.version.ref)
        #expect(history[1].trailer("Reap-Claim-Commit") == claim)
        #expect(history[1].trailer("Reap-Lease-Expired") == "2020-01-01T00:00:00Z")
    }

    /// Over git daemon the reap and the claim travel in one push too, and the old claim's fence breaks.
    @Test func aTakeoverOverGitDaemonIsOnePush() throws {
        let scratch = try Scratch(label: "lease-daemon")
        let repository = try LockRepository.create(in: scratch, pools: ["envs": ["env-1": .unclaimed()]])
        let claim = try repository.moveLock(
            "env-1", in: "envs", toClaimed: true, message: "claiming: env-1\n\nLease-Expires: 2020-01-01T00:00:00Z")
        let daemon = try GitDaemon(scratch: scratch)
        let harness = try ResourceHarness(
            scratch: scratch, repository: repository, pool: "envs", uri: daemon.url(for: repository))
        let response = try expectSuccess(try harness.out(["acquire": true]), lock: "env-1", pool: "envs")
        let history = try repository.history()
        #expect(history[0].id == response.version.ref && history[1].trailer("Reap-Claim-Commit") == claim)
        #expect(history[2].id == claim)
        _ = try harness.stepDirectory("old", lock: "env-1", claimRef: claim)
        let stale = try harness.out(["release": "old"])
        #expect(stale.status == 1 && stale.stderr.contains("which took it over when this claim's lease had passed"))
    }

    /// A renewed lease is not taken over; a renewal after the lease passed, or after a takeover, fails.
    @Test func renewalKeepsTheClaimAndIsFenced() async throws {
        let cli = try CLIHarness("lease-renew", locks: ["env-1": .unclaimed(), "env-2": .unclaimed()])
        let holder = cli.scratch.url("holder")
        try #require(try cli.run(["claim", "envs", "env-1", "--lease", "2s", "--output", holder.path]).status == 0)
        let claim = try cli.repository.commitID()
        let renewed = try cli.run(["renew", "envs", "--from", holder.path, "--lease", "1h", "--json"])
        #expect(renewed.status == 0, "\(renewed)")
        let renewal = try cli.repository.commit()
        #expect(renewal.parents == [claim] && renewal.subject == "renewing: env-1")
        #expect(renewal.trailer("Lock-Operation") == "renew" && renewal.trailer("Lock-Claim") == claim)
        let expiry = try #require(renewal.trailer("Lease-Expires").flatMap { ISO8601DateFormatter().date(from: $0) })
        #expect(abs(expiry.timeIntervalSinceNow - 3600) < 10)
        #expect(try cli.repository.locks(in: "envs") == PoolLocks(claimed: ["env-1"], unclaimed: ["env-2"]))

        // Past the first lease: the renewed one holds, so a waiting claim times out and changes nothing.
        try await Task.sleep(for: .milliseconds(2500))
        let waiter = try await cli.start(["claim", "envs", "env-1", "--retry-delay", "1s", "--timeout", "3s"]).wait()
        #expect(waiter.status == 75, "\(waiter)")
        let status = try cli.run(["status", "envs", "--json"])
        #expect(status.stdoutText.contains(renewal.trailer("Lease-Expires")!), "\(status)")
        #expect(try cli.repository.commitID() == renewal.id)

        // A claim whose lease passed cannot be renewed; once taken over, the renewal names the takeover.
        let other = cli.scratch.url("other")
        try #require(try cli.run(["claim", "envs", "env-2", "--lease", "1s", "--output", other.path]).status == 0)
        try await Task.sleep(for: .seconds(2))
        let late = try cli.run(["renew", "envs", "--from", other.path, "--lease", "1h"])
        #expect(
            late.status == 1 && late.stderr.contains("the lease of lock 'env-2' in pool 'envs' passed at"), "\(late)")
        try #require(try cli.run(["claim", "envs", "env-2"]).status == 0)
        let afterTakeover = try cli.run(["renew", "envs", "--from", other.path, "--lease", "1h"])
        #expect(
            afterTakeover.status == 1
                && afterTakeover.stderr.contains("which took it over when this claim's lease had passed"),
            "\(afterTakeover)")

        // The CLI's usage: LOCK with --claim, or --from; and a lease.
        let usage = try cli.run(["renew", "envs", "env-1", "--lease", "1h"])
        #expect(
            usage.status == 64 && usage.stderr.contains("renew needs LOCK --claim COMMIT, or --from DIR"), "\(usage)")
        let noLease = try cli.run(["renew", "envs", "env-1", "--claim", claim])
        #expect(noLease.status == 64 && noLease.stderr.contains("renew needs --lease D"), "\(noLease)")
    }

    /// The put param `renew: DIR` with `lease`, fenced by DIR/claim_ref as `in` wrote it.
    @Test func theResourceRenews() throws {
        let harness = try makeHarness("lease-renew-resource", locks: ["env-1": .unclaimed()])
        let acquired = try expectSuccess(
            try harness.out(["acquire": true, "lease": "1m"]), lock: "env-1", pool: "envs")
        _ = try harness.stepDirectory("env-lock", lock: "env-1", claimRef: acquired.version.ref)
        let renewed = try harness.out(["renew": "env-lock", "lease": "2h"])
        let response = try expectSuccess(renewed, lock: "env-1", pool: "envs")
        let renewal = try harness.repository.commit()
        #expect(response.version.ref == renewal.id && renewal.trailer("Lock-Claim") == acquired.version.ref)
        #expect(renewed.stderr.contains("renewed!"), "\(renewed)")
        // The get after the put writes the claim the renewal renewed, so a later release stays fenced.
        let destination = harness.scratch.url("after-renew")
        let got = try harness.get(version: renewal.id, into: destination)
        #expect(got.status == 0, "\(got)")
        #expect(
            try String(contentsOf: destination.appendingPathComponent("claim_ref"), encoding: .utf8)
                == acquired.version.ref + "\n")
        let noLease = try harness.out(["renew": "env-lock"])
        expectFailure(noLease, "params.renew needs params.lease: the new lease, counted from now", exact: false)
    }
}
