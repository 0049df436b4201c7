import Foundation
import Git
import Logging
import Synchronization
import TestSupport
import Testing

@testable import LockPool

/// A clock that moves only when told to, or when something sleeps on it: a sleep returns at once, with the clock
/// advanced to its deadline, and is recorded. Tests of waiting never wait.
final class ManualClock: Clock, Sendable {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private let state = Mutex((now: Instant(offset: .zero), sleeps: [Duration]()))
    var now: Instant { state.withLock { $0.now } }
    var minimumResolution: Duration { .nanoseconds(1) }
    /// Every sleep so far, in order.
    var sleeps: [Duration] { state.withLock { $0.sleeps } }

    func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        state.withLock { state in
            state.sleeps.append(state.now.duration(to: deadline))
            if state.now < deadline { state.now = deadline }
        }
    }

    func advance(by duration: Duration) { state.withLock { $0.now = $0.now.advanced(by: duration) } }
}

private let silent = Logger(label: "lockpool.tests") { _ in SwiftLogNoOpLogHandler() }
private let policy = RetryPolicy.standard(retryDelay: .seconds(10), timeout: nil)
private let damage = GitError(code: .generic, errorClass: .odb, function: "git_odb_read", message: "object not found")

@Suite struct RetryPolicyTests {
    @Test func backoffsGrowDoubleAndStopAtTheirCaps() {
        let transient = policy.transientBackoff
        #expect((1...4).map { transient.delay(afterConsecutive: $0, random: 1) } == [1, 2, 4, 8].map { .seconds($0) })
        let lost = policy.lostRaceBackoff
        #expect(
            (1...10).map { lost.delay(afterConsecutive: $0, random: 1) }
                == [50, 100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000].map { .milliseconds($0) })
        #expect(policy.pollInterval.delay(afterConsecutive: 7, random: 1) == .seconds(10))
        #expect(lost.delay(afterConsecutive: 1, random: 0.5) == .milliseconds(25))
        // Far past any cap: no overflow, the cap holds.
        #expect(lost.delay(afterConsecutive: 10_000, random: 1) == .seconds(10))
    }

    @Test func everyDelayStaysInsideItsJitter() throws {
        let clock = ManualClock()
        var schedule = RetrySchedule(policy: policy, clock: clock, activity: "test")
        for consecutive in 1...4 {
            guard case .sleep(let delay) = try schedule.next(after: .transient(cause: "refused")) else {
                Issue.record("a transient failure must sleep")
                return
            }
            let base = Duration.seconds(1 << (consecutive - 1))
            #expect(delay >= base * 0.8 && delay <= base * 1.2, "\(consecutive): \(delay)")
        }
        for _ in 0..<50 {
            guard case .sleep(let delay) = try schedule.next(after: .waiting(reason: nil)) else { return }
            #expect(delay >= .seconds(9) && delay <= .seconds(11), "\(delay)")
        }
        for consecutive in 1...3 {
            guard case .sleep(let delay) = try schedule.next(after: .lostRace(branch: "main")) else { return }
            let base = Duration.milliseconds(50 << (consecutive - 1))
            #expect(delay >= base * 0.5 && delay <= base, "\(consecutive): \(delay)")
        }
    }

    @Test func theFifthTransientFailureInARowEndsTheOperation() throws {
        var schedule = RetrySchedule(policy: policy, clock: ManualClock(), activity: "test")
        for _ in 1...4 { _ = try schedule.next(after: .transient(cause: "connection refused")) }
        #expect(schedule.transientFailures == 4)
        let error = try #require(throws: LockPoolError.self) {
            try schedule.next(after: .transient(cause: "connection refused"))
        }
        #expect(error.description.contains("connection refused"), "\(error)")
    }

    @Test func aSuccessfulFetchResetsTheTransientCount() throws {
        var schedule = RetrySchedule(policy: policy, clock: ManualClock(), activity: "test")
        for _ in 1...3 { _ = try schedule.next(after: .transient(cause: "reset")) }
        schedule.fetched()
        for _ in 1...4 { _ = try schedule.next(after: .transient(cause: "reset")) }
        #expect(schedule.transientFailures == 4)
    }

    @Test func theCacheIsRebuiltOnceThenDamageFails() throws {
        var schedule = RetrySchedule(policy: policy, clock: ManualClock(), activity: "read the lock repository")
        #expect(try schedule.next(after: .damagedCache(damage)) == .rebuildCache)
        let error = try #require(throws: LockPoolError.self) { try schedule.next(after: .damagedCache(damage)) }
        #expect(error.description.hasPrefix("could not read the lock repository: "), "\(error)")
    }

    @Test func theFirstAttemptRunsEvenWithAZeroBound() throws {
        let clock = ManualClock()
        let schedule = RetrySchedule(
            policy: .standard(retryDelay: .seconds(1), timeout: .zero), clock: clock, activity: "test")
        clock.advance(by: .seconds(5))
        try schedule.checkDeadline()
    }

    @Test func theDeadlineCutsSleepsAndEndsTheOperationWithTheLastReason() throws {
        let clock = ManualClock()
        var schedule = RetrySchedule(
            policy: .standard(retryDelay: .seconds(10), timeout: .seconds(3)), clock: clock, activity: "test")
        let first = try schedule.next(after: .waiting(reason: "no unclaimed lock in pool 'envs'"))
        #expect(first == .sleep(.seconds(3)))
        try schedule.checkDeadline()
        clock.advance(by: .seconds(2))
        #expect(try schedule.next(after: .lostRace(branch: "main")) <= .sleep(.seconds(1)))
        clock.advance(by: .seconds(1))
        #expect(try schedule.next(after: .waiting(reason: nil)) == .sleep(.zero))
        let error = try #require(throws: LockPoolError.self) { try schedule.checkDeadline() }
        // The last setback with a reason names it: a wait without a fresh reason keeps the lost race's.
        #expect(error.description == "timed out after 3s: lost every push race on branch 'main'")
    }

    @Test func lostRacesAreCountedAndAWaitStartsTheirBackoffAgain() throws {
        let clock = ManualClock()
        var schedule = RetrySchedule(policy: policy, clock: clock, activity: "test")
        for _ in 1...3 { _ = try schedule.next(after: .lostRace(branch: "main")) }
        #expect(schedule.consecutiveLostRaces == 3 && schedule.lostRaces == 3)
        _ = try schedule.next(after: .waiting(reason: nil))
        #expect(schedule.consecutiveLostRaces == 0 && schedule.lostRaces == 3)
        clock.advance(by: .seconds(42))
        #expect(schedule.waited == .seconds(42))
    }
}

extension NextAttempt: Comparable {
    public static func < (lhs: NextAttempt, rhs: NextAttempt) -> Bool {
        switch (lhs, rhs) {
        case (.sleep(let a), .sleep(let b)): a < b
        case (.rebuildCache, .sleep): true
        default: false
        }
    }
}

// MARK: - Interruption at each push phase

struct Refused: Error {}

@Suite struct PushInFlightTests {
    private let push = PushInFlight(
        commit: ObjectID(hex: String(repeating: "a", count: 40))!,
        parent: ObjectID(hex: String(repeating: "b", count: 40))!,
        locks: ["a"])

    @Test func withoutASignalThePushReportsItsOutcome() throws {
        let interruption = Interruption()
        #expect(try push.send(interruption: interruption) { _ in .won } == .won(interrupted: false))
        #expect(try push.send(interruption: interruption) { _ in .lost } == .lost)
        #expect(try push.send(interruption: interruption) { _ in .transient("reset") } == .unknown(cause: "reset"))
        #expect(throws: Refused.self) { try push.send(interruption: interruption) { _ in throw Refused() } }
        #expect(try push.send(interruption: nil) { _ in .won } == .won(interrupted: false))
    }

    @Test func aSignalBeforeThePushEndsTheProcessAtOnce() {
        #expect(Interruption().signalReceived() == .exitNow)
    }

    @Test func aSignalDuringAWinningPushIsDeferredAndReported() throws {
        let interruption = Interruption()
        let outcome = try push.send(interruption: interruption) { _ in
            #expect(interruption.signalReceived() == .deferred)
            return .won
        }
        #expect(outcome == .won(interrupted: true))
        // Finishing (undoing the claim): later signals stay deferred.
        #expect(interruption.signalReceived() == .deferred)
    }

    @Test(arguments: [PushOutcome.lost, .transient("reset")])
    func aSignalDuringAPushThatDidNotWinInterrupts(_ outcome: PushOutcome) throws {
        let interruption = Interruption()
        let error = try #require(throws: LockPoolError.self) {
            try push.send(interruption: interruption) { _ in
                _ = interruption.signalReceived()
                return outcome
            }
        }
        #expect(error.description == LockPoolError.interrupted.description)
        #expect(interruption.signalReceived() == .exitNow)
    }

    @Test func aSignalDuringAFailedPushInterruptsInsteadOfTheFailure() throws {
        let interruption = Interruption()
        #expect(throws: LockPoolError.self) {
            try push.send(interruption: interruption) { _ in
                _ = interruption.signalReceived()
                throw Refused()
            }
        }
    }

    @Test func aWonPushWithoutASignalLeavesSignalsDeferredWhileFinishing() throws {
        let interruption = Interruption()
        _ = try push.send(interruption: interruption) { _ in .won }
        #expect(interruption.signalReceived() == .deferred)
    }
}

// MARK: - The loop with an injected clock

@Suite struct RetryLoopTests {
    @Test func networkFailuresAreRetriedFourTimesWithBackoffWithoutRealSleeping() async throws {
        let scratch = try Scratch(label: "retry-loop")
        // A port nobody listens on: connection refused, a transient failure.
        let port = try GitDaemon.freePort()
        let client = LockPoolClient(
            configuration: PoolConfiguration(
                remoteURL: "git://127.0.0.1:\(port)/locks.git", branch: "main", pool: "envs",
                cacheRoot: scratch.url("cache").path, tool: "test"))
        let clock = ManualClock()
        let events = Mutex<[PoolEvent]>([])
        let started = ContinuousClock.now
        await #expect(throws: LockPoolError.self) {
            try await client.perform(
                .acquire(lease: nil), clock: clock, events: { event in events.withLock { $0.append(event) } },
                logger: silent)
        }
        #expect(ContinuousClock.now - started < .seconds(10))
        let retries = events.withLock { $0 }.compactMap { event -> Int? in
            if case .networkRetry(let attempt, let of, _) = event, of == 5 { attempt } else { nil }
        }
        #expect(retries == [2, 3, 4, 5])
        let slept = clock.sleeps
        #expect(slept.count == 4)
        for (index, delay) in slept.enumerated() {
            let base = Duration.seconds(1 << index)
            #expect(delay >= base * 0.8 && delay <= base * 1.2, "\(index): \(delay)")
        }
    }

    @Test func theWallClockStampsTheCommit() async throws {
        let scratch = try Scratch(label: "wall-clock")
        let origin = try LockRepository.create(in: scratch, pools: ["envs": ["a": .unclaimed()]])
        let client = LockPoolClient(
            configuration: PoolConfiguration(
                remoteURL: origin.path, branch: origin.branch, pool: "envs", cacheRoot: scratch.url("cache").path,
                tool: "test"))
        let then = Date(timeIntervalSince1970: 1_800_000_000.75)
        _ = try await client.perform(
            .claim(lock: "a", lease: .seconds(60)), clock: ManualClock(), wallClock: .fixed(then), events: { _ in },
            logger: silent)
        let commit = try origin.commit()
        #expect(commit.trailer("Lease-Expires") == "2027-01-15T08:01:00Z", "\(commit.message)")
        // Whole seconds, as git records them.
        #expect(commit.committerDate == "2027-01-15T08:00:00Z" || commit.committerDate.hasPrefix("2027-01-15T08:00:00"))
    }
}
