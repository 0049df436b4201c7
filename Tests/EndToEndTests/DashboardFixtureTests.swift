import Foundation
import TestSupport
import Testing

/// `DashboardFixture` read back by the built `lockpool`: what `status --json` and `history --json` find in the
/// fixture repository is what its `Summary` says, so browser tests and screenshots can rely on the summary.
@Suite struct DashboardFixtureTests {
    /// `status --json`, the fields compared here.
    struct Status: Decodable {
        struct Lock: Decodable {
            let pool, lock, state: String
            let holder: String?
            let since: String?
            let commit: String?
            let leaseExpires: String?
            let leaseExpired: Bool?
            let buildUrl: String?
        }
        struct Pool: Decodable {
            let pool: String
            let claimed, unclaimed: Int
            let locks: [Lock]
        }
        let branch, tip: String
        let pools: [Pool]
    }

    /// One event of `history --json`.
    struct Event: Decodable {
        let pool, lock, action, format, holder, commit: String
    }

    @Test func statusAndHistoryFindWhatTheSummarySays() async throws {
        let scratch = try Scratch(label: "dashboard-fixture")
        let now = Date()
        let summary = try await DashboardFixture.build(at: scratch.url("locks.git").path, now: now)
        let executables = try Executables(scratch: scratch)
        let environment = ["HOME": try scratch.directory("home").path]
        func lockpool(_ arguments: [String]) throws -> ExecutableResult {
            let result = try executables.lockpool(
                arguments + ["--repo", summary.path], environment: environment, timeout: .seconds(60))
            #expect(result.status == 0, "\(result)")
            return result
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase

        // The shape the brief asks for.
        #expect(summary.branch == "main" && summary.commitCount > 300)
        #expect(
            summary.claimedLocks.map(\.description) == [
                "environments/perf", "environments/staging", "k8s-clusters/cluster-a", "k8s-clusters/cluster-c",
                "releases/ci-1",
            ])
        #expect(summary.longestHeld?.lock == DashboardFixture.LockID("releases", "ci-1"))
        #expect(summary.claimCounts.values.allSatisfy { $0 >= 10 }, "\(summary.claimCounts)")
        #expect(summary.eventFormats["pix4d", default: 0] > 20, "\(summary.eventFormats)")
        #expect(summary.tickets.count == 2 && Set(summary.tickets.map(\.holder)).count == 2)
        #expect(summary.tickets.map(\.wants) == ["any 1", "lock staging"])
        #expect(summary.tickets.allSatisfy { $0.expires > now.addingTimeInterval(600) })
        let staging = try #require(summary.holdings[DashboardFixture.LockID("environments", "staging")])
        let perf = try #require(summary.holdings[DashboardFixture.LockID("environments", "perf")])
        #expect(staging.leaseExpires == summary.now.addingTimeInterval(7200) && !staging.leaseHasExpired(at: now))
        #expect(perf.leaseExpires == summary.now.addingTimeInterval(-3600) && perf.leaseHasExpired(at: now))

        // status --json: every lock, its state, holder, build URL, claim commit, since and lease.
        let statusResult = try lockpool(["status", "--json"])
        let status = try decoder.decode(Status.self, from: statusResult.stdout)
        #expect(status.branch == summary.branch && status.tip == summary.tip)
        #expect(Dictionary(uniqueKeysWithValues: status.pools.map { ($0.pool, $0.locks.map(\.lock)) }) == summary.pools)
        let checkedAt = Date()
        for lock in status.pools.flatMap(\.locks) {
            let id = DashboardFixture.LockID(lock.pool, lock.lock)
            guard let claim = summary.holdings[id] else {
                #expect(lock.state == "unclaimed" && lock.holder == nil && lock.leaseExpires == nil, "\(id)")
                continue
            }
            #expect(lock.state == "claimed", "\(id)")
            #expect(lock.holder == claim.holder, "\(id)")
            #expect(lock.buildUrl == claim.buildURL, "\(id)")
            #expect(lock.commit == claim.commit, "\(id)")
            #expect(lock.since.flatMap { try? Date($0, strategy: .iso8601) } == claim.claimedAt, "\(id)")
            #expect(lock.leaseExpires.flatMap { try? Date($0, strategy: .iso8601) } == claim.leaseExpires, "\(id)")
            #expect(lock.leaseExpired == claim.leaseExpires.map { _ in claim.leaseHasExpired(at: checkedAt) }, "\(id)")
        }

        // history --json: as many claims and releases per lock as the summary counts, in both formats.
        let historyResult = try lockpool(["history", "--json"])
        let events = try decoder.decode([Event].self, from: historyResult.stdout)
        var claims: [DashboardFixture.LockID: Int] = [:]
        var releases: [DashboardFixture.LockID: Int] = [:]
        for lock in summary.locks { (claims[lock], releases[lock]) = (0, 0) }
        var formats: [String: Int] = [:]
        for event in events {
            let id = DashboardFixture.LockID(event.pool, event.lock)
            if event.action == "claim" { claims[id, default: 0] += 1 }
            if event.action == "release" { releases[id, default: 0] += 1 }
            formats[event.format, default: 0] += 1
        }
        #expect(claims == summary.claimCounts)
        #expect(releases == summary.releaseCounts)
        #expect(formats == summary.eventFormats)
        #expect(events.filter { $0.action == "add" }.count == summary.locks.count)
        let claimEvents = Dictionary(
            events.filter { $0.action == "claim" }.map { ($0.commit, $0.holder) }, uniquingKeysWith: { $1 })
        #expect(summary.claims.allSatisfy { claimEvents[$0.commit] == $0.holder })

        // The tickets are in the tree as docs/commits.md#fair-queue-tickets has them.
        let git = try GitCLI(scratch: scratch).inDirectory(URL(fileURLWithPath: summary.path))
        #expect(
            try git.output("ls-tree", "--name-only", "main", "environments/waiting/")
                == summary.tickets.map { "environments/waiting/\($0.name)" }.joined(separator: "\n"))
        for ticket in summary.tickets {
            let content = try git.output("cat-file", "blob", "main:environments/waiting/\(ticket.name)")
            #expect(content.hasSuffix("\nwants: \(ticket.wants)\nholder: \(ticket.holder)"), "\(content)")
        }

        // The secrets are in the lock files, and nothing shows them without being asked to.
        let content = try lockpool(["status", "--json", "--content"]).stdoutText
        #expect(summary.locks.allSatisfy { content.contains(DashboardFixture.secretToken(of: $0.lock)) })
        for result in [statusResult, historyResult, try lockpool(["status"])] {
            #expect(!result.stdoutText.contains("FIXTURE-SECRET") && !result.stderr.contains("FIXTURE-SECRET"))
        }
    }
}
