import Foundation
import Git
import Testing

@testable import LockPool

/// A waiter reads leases again only when the tip or the locks changed, or a lease it read has come due.
@Suite struct LeaseWatchTests {
    let tip = ObjectID(hex: String(repeating: "a", count: 40))!
    let other = ObjectID(hex: String(repeating: "b", count: 40))!
    let now = Date(timeIntervalSince1970: 1_777_716_600)

    @Test func aSecondReadIsSkippedUntilSomethingChangesOrComesDue() {
        let watch = LeaseWatch()
        #expect(!watch.nothingPasses(tip: tip, locks: ["a"], now: now), "nothing read yet")
        watch.record(tip: tip, locks: ["a", "b"], expiries: [now.addingTimeInterval(60), now.addingTimeInterval(30)])
        #expect(watch.nothingPasses(tip: tip, locks: ["a", "b"], now: now))
        #expect(!watch.nothingPasses(tip: other, locks: ["a", "b"], now: now), "the tip moved")
        #expect(!watch.nothingPasses(tip: tip, locks: ["a"], now: now), "other locks")
        #expect(!watch.nothingPasses(tip: tip, locks: ["a", "b"], now: now.addingTimeInterval(30)), "the first is due")
        watch.record(tip: tip, locks: ["a"], expiries: [])
        #expect(watch.nothingPasses(tip: tip, locks: ["a"], now: now.addingTimeInterval(86400)), "no lease at all")
    }
}
