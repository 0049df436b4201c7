import Git

/// How every operation retries, as data: which setbacks it retries, how long it waits before the next attempt, and
/// when it gives up (docs/concurrency.md#retry-bounds-at-a-glance).
///
/// One policy serves the pool operations (`LockPoolClient.perform`) and the readers (`withFreshTip`). A
/// ``RetrySchedule`` applies it to one operation.
public struct RetryPolicy: Sendable, Equatable {
    /// A wait that grows with each consecutive setback of one kind: `initial`, multiplied by `factor` after each
    /// one, at most `cap`, then scaled by a random factor drawn from `jitter` (so that clients that failed together do
    /// not retry together).
    public struct Backoff: Sendable, Equatable {
        public var initial: Duration
        public var factor: Int
        public var cap: Duration?
        public var jitter: ClosedRange<Double>

        public init(initial: Duration, factor: Int = 1, cap: Duration? = nil, jitter: ClosedRange<Double>) {
            self.initial = initial
            self.factor = factor
            self.cap = cap
            self.jitter = jitter
        }

        /// The wait before the next attempt after `consecutive` setbacks in a row (1 for the first), scaled by
        /// `random`, a factor drawn from `jitter`.
        public func delay(afterConsecutive consecutive: Int, random: Double) -> Duration {
            var base = initial
            // Doubling past 2^20 overflows nothing useful: every cap and bound is reached long before.
            for _ in 1..<max(1, min(consecutive, 21)) { base = base * factor }
            if let cap { base = min(base, cap) }
            return base * random
        }
    }

    /// Consecutive transient failures (network, server errors) that fail the operation; a successful fetch resets
    /// the count. The upstream resource's limit is 5.
    public var transientAttempts: Int
    /// The wait after a transient failure: 1 s, doubling, ±20 %.
    public var transientBackoff: Backoff
    /// The wait after a lost push race: 50 ms, doubling up to the poll interval, 50–100 % of that.
    public var lostRaceBackoff: Backoff
    /// The wait between polls while waiting for a lock: the poll interval ±10 %.
    public var pollInterval: Backoff
    /// Rebuilds of a damaged cache in one operation; the damage met after that is an error.
    public var cacheRebuilds: Int
    /// Deeper fetches in one operation after its walks met a shallow cache's boundary: 4 take a cache from
    /// `LockRepositoryCache.coldDepth` to the whole history (docs/concurrency.md#a-shallow-cache).
    public var cacheDeepenings = 4
    /// The bound on the whole operation (waiting, lost races, transient retries); nil for none.
    public var timeout: Duration?

    public init(
        transientAttempts: Int, transientBackoff: Backoff, lostRaceBackoff: Backoff, pollInterval: Backoff,
        cacheRebuilds: Int, timeout: Duration?
    ) {
        self.transientAttempts = transientAttempts
        self.transientBackoff = transientBackoff
        self.lostRaceBackoff = lostRaceBackoff
        self.pollInterval = pollInterval
        self.cacheRebuilds = cacheRebuilds
        self.timeout = timeout
    }

    /// The policy of every lockpool operation, for a poll interval (`retry_delay`) and an optional bound.
    public static func standard(retryDelay: Duration, timeout: Duration? = nil) -> RetryPolicy {
        RetryPolicy(
            transientAttempts: 5,
            transientBackoff: Backoff(initial: .seconds(1), factor: 2, jitter: 0.8...1.2),
            lostRaceBackoff: Backoff(initial: .milliseconds(50), factor: 2, cap: retryDelay, jitter: 0.5...1.0),
            pollInterval: Backoff(initial: retryDelay, jitter: 0.9...1.1),
            cacheRebuilds: 1, timeout: timeout)
    }
}

/// What stood in the way of one attempt.
enum Setback {
    /// A failure that may go away by itself (connection refused, a stalled transfer, HTTP 5xx).
    case transient(cause: String)
    /// The cache's object store or references are damaged (`LockRepositoryCache.isCorruption`).
    case damagedCache(GitError)
    /// The branch moved under our push.
    case lostRace(branch: String)
    /// A walk met the boundary of a shallow cache (`HistoryTruncated`).
    case truncatedHistory(HistoryTruncated)
    /// The operation cannot proceed on this tip (no free lock, the lock is held); `reason` says why, when known.
    case waiting(reason: String?)
}

/// What to do before the next attempt.
enum NextAttempt: Equatable {
    /// Delete and recreate the cache, then try again at once.
    case rebuildCache
    /// Fetch deeper history (`LockRepositoryCache.deepen`), then try again at once.
    case deepenCache
    /// Sleep this long, then try again.
    case sleep(Duration)
}

/// One operation's course through a ``RetryPolicy``: counts its setbacks, decides the wait before each next
/// attempt, and ends the operation when a bound is reached. Pure: the caller sleeps, with the same clock.
struct RetrySchedule<C: Clock<Duration>> {
    let policy: RetryPolicy
    let clock: C
    let deadline: C.Instant?
    private var random: any RandomNumberGenerator

    /// Consecutive transient failures since the last successful fetch.
    private(set) var transientFailures = 0
    /// Lost races in a row, since the last wait.
    private(set) var consecutiveLostRaces = 0
    /// Every lost race of the operation.
    private(set) var lostRaces = 0
    private(set) var cacheRebuilds = 0
    private(set) var cacheDeepenings = 0
    /// When waiting for a lock began; nil while the operation has not waited.
    private(set) var waitingSince: C.Instant?
    /// Why the last attempt did not finish, for the timeout's message.
    private(set) var lastReason = "no attempt finished"

    /// What the operation does, for the error when the cache is damaged beyond its rebuilds ("could not …").
    let activity: String

    init(
        policy: RetryPolicy, clock: C, activity: String,
        random: any RandomNumberGenerator = SystemRandomNumberGenerator()
    ) {
        self.policy = policy
        self.activity = activity
        self.clock = clock
        self.deadline = policy.timeout.map { clock.now.advanced(by: $0) }
        self.random = random
    }

    /// Whether the operation has retried at all: the first attempt always runs, even when the bound is zero.
    private var hasRetried: Bool { waitingSince != nil || consecutiveLostRaces > 0 || transientFailures > 0 }

    /// Throws `LockPoolError.timedOut` when the bound has passed after a setback; call before each attempt.
    func checkDeadline() throws {
        if let deadline, let timeout = policy.timeout, clock.now >= deadline, hasRetried {
            throw LockPoolError.timedOut(after: timeout, reason: lastReason)
        }
    }

    /// Time spent waiting for a lock so far.
    var waited: Duration { waitingSince.map { $0.duration(to: clock.now) } ?? .zero }

    /// Records a fetch that worked: transient failures count only in a row.
    mutating func fetched() { transientFailures = 0 }

    /// What to do after `setback`.
    ///
    /// - Throws: `LockPoolError.network` when the transient failures reach `transientAttempts`,
    ///   `LockPoolError.gitFailed` when the cache is damaged again after its rebuilds.
    mutating func next(after setback: Setback) throws -> NextAttempt {
        switch setback {
        case .transient(let cause):
            transientFailures += 1
            lastReason = "network error: \(cause)"
            if transientFailures >= policy.transientAttempts { throw LockPoolError.network(cause: cause) }
            return .sleep(bounded(policy.transientBackoff, consecutive: transientFailures))
        case .damagedCache(let error):
            guard cacheRebuilds < policy.cacheRebuilds else {
                throw LockPoolError.gitFailed(operation: activity, underlying: error)
            }
            cacheRebuilds += 1
            return .rebuildCache
        case .truncatedHistory(let truncated):
            guard cacheDeepenings < policy.cacheDeepenings else {
                throw LockPoolError.gitFailed(
                    operation: activity,
                    underlying: GitError(
                        code: .generic, function: "walk", message: "\(truncated) after the whole history was fetched"))
            }
            cacheDeepenings += 1
            return .deepenCache
        case .lostRace(let branch):
            lostRaces += 1
            lastReason = "lost every push race on branch '\(branch)'"
            consecutiveLostRaces += 1
            return .sleep(bounded(policy.lostRaceBackoff, consecutive: consecutiveLostRaces))
        case .waiting(let reason):
            consecutiveLostRaces = 0
            if let reason { lastReason = reason }
            if waitingSince == nil { waitingSince = clock.now }
            return .sleep(bounded(policy.pollInterval, consecutive: 1))
        }
    }

    /// The backoff's delay, cut to what is left before the deadline (zero once it has passed).
    private mutating func bounded(_ backoff: RetryPolicy.Backoff, consecutive: Int) -> Duration {
        let delay = backoff.delay(
            afterConsecutive: consecutive, random: Double.random(in: backoff.jitter, using: &random))
        guard let deadline else { return delay }
        return max(.zero, min(delay, clock.now.duration(to: deadline)))
    }
}
