import Foundation
import Testing

@testable import LockPool

/// The plain waiting line (docs/concurrency.md#waiting): when the lease it waits on ends, or that it has passed and
/// what frees the lock.
@Suite struct WaitingStatusTests {
    let now = Date(timeIntervalSince1970: 1_777_716_600)  // 2026-05-02T10:10:00Z

    func status(_ lock: String, lease: TimeInterval?) -> LockStatus {
        LockStatus(
            pool: "envs", lock: lock, state: .claimed, holder: Holder(description: "main/deploy/apply build 42"),
            since: now.addingTimeInterval(-600), leaseExpires: lease.map { now.addingTimeInterval($0) })
    }

    @Test func theLineSaysWhenTheLeaseEndsOrThatItPassed() {
        let line = WaitingStatus.line(
            elapsed: .seconds(5),
            statuses: [status("env-1", lease: 1800), status("env-2", lease: -120), status("env-3", lease: nil)],
            total: 3, waitingForClaim: false, pool: "envs", now: now)
        #expect(
            line
                == "waiting 5s: env-1 claimed by main/deploy/apply build 42 since 2026-05-02T10:00:00Z, lease ends "
                + "2026-05-02T10:40:00Z; env-2 claimed by main/deploy/apply build 42 since 2026-05-02T10:00:00Z, lease "
                + "expired 2m ago (lockpool reap envs frees it); env-3 claimed by main/deploy/apply build 42 since "
                + "2026-05-02T10:00:00Z", "\(line)")
    }
}
