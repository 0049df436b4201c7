import FoundationEssentials
import Git
import Logging
import StringSupport

/// Runs pool operations against a lock repository (docs/concurrency.md): each attempt fetches the tip, decides,
/// commits and pushes (``attempt(_:state:)``); between attempts one ``RetryPolicy`` decides how long to wait after
/// a lost race, a wait for a lock, a network failure or a damaged cache, and when to give up.
public struct LockPoolClient: Sendable {
    public let configuration: PoolConfiguration

    public init(configuration: PoolConfiguration) { self.configuration = configuration }

    /// The retry policy of this client's operations, bounded by `timeout`.
    public func retryPolicy(timeout: Duration?) -> RetryPolicy {
        .standard(retryDelay: configuration.retryDelay, timeout: timeout)
    }

    /// Performs `operation`, waiting and retrying as needed.
    ///
    /// - Parameters:
    ///   - operation: what to do.
    ///   - timeout: bound on the whole operation (waiting, lost races, transient retries); nil for none.
    ///   - clock: the monotonic clock used for sleeping and deadlines (tests inject their own).
    ///   - wallClock: the time of day for commits, leases and queue tickets.
    ///   - interruption: SIGTERM coordination; a won claim whose push was interrupted is undone.
    ///   - events: receives progress.
    ///   - reportsHolders: whether `.holders` events are sent while waiting, whenever the tip has moved (for a live
    ///     status line; it costs a history walk per new tip).
    ///   - logger: debug logging of each git step.
    /// - Returns: what was done, with the version to report.
    /// - Throws: `LockPoolError` for permanent conditions, timeouts, interruption and exhausted network retries.
    public func perform<C: Clock<Duration>>(
        _ operation: PoolOperation, timeout: Duration? = nil, clock: C, wallClock: WallClock = .system,
        interruption: Interruption? = nil, events: @escaping (PoolEvent) -> Void, reportsHolders: Bool = false,
        logger: Logger
    ) async throws -> OperationResult {
        events(
            .started(operation.kind, lock: operation.lock, pool: configuration.pool, claimed: operation.isAddClaimed))
        let cache = try openCache()
        var schedule = RetrySchedule(
            policy: retryPolicy(timeout: timeout), clock: clock, activity: "work on the lock repository")
        var state = AttemptState(queue: queuePlace(for: operation))
        var nextStatus: C.Instant?
        do {
            while true {
                try schedule.checkDeadline()
                let context = AttemptContext(
                    operation: operation, cache: cache, wallClock: wallClock, waited: schedule.waited,
                    wantsStatus: schedule.waitingSince == nil || nextStatus.map { clock.now >= $0 } ?? false,
                    reportsHolders: reportsHolders, interruption: interruption, events: events, logger: logger)
                let outcome: AttemptOutcome
                do {
                    outcome = try attempt(context, state: &state)
                } catch {
                    if state.fetched { schedule.fetched() }
                    try await recover(from: error, schedule: &schedule, cache: cache, events: events, logger: logger)
                    continue
                }
                schedule.fetched()
                switch outcome {
                case .won(let commit, let locks, let counts, let interrupted):
                    if interrupted {
                        try await undoInterrupted(
                            operation, locks: locks, claim: commit, cache: cache, clock: clock, wallClock: wallClock,
                            logger: logger)
                    }
                    events(.succeeded(operation.kind))
                    return result(locks, commit, committed: true, counts, schedule, state)
                case .done(let lock, let version, let snapshot):
                    if [.add, .addClaimed, .update].contains(operation.kind) {
                        events(.nothingToCommit(lock: lock, pool: configuration.pool))
                    }
                    events(.succeeded(operation.kind))
                    return result([lock], version, committed: false, PoolCounts(snapshot), schedule, state)
                case .lost:
                    events(.lostRace)
                    try await pause(schedule.next(after: .lostRace(branch: configuration.branch)), clock: clock)
                case .wait(let report):
                    let next = try announce(
                        report, operation: operation, schedule: &schedule, nextStatus: &nextStatus, events: events)
                    try await pause(next, clock: clock)
                }
            }
        } catch {
            // Leaving early (timeout, failure, interruption) must not keep others waiting until the ticket expires.
            if let ticket = state.queue?.ticket {
                await leaveQueue(ticket, cache: cache, clock: clock, wallClock: wallClock, logger: logger)
            }
            throw error
        }
    }

    /// Tells the user about a wait (its start or a poll, the holders, the periodic waiting line) and schedules the
    /// next attempt.
    private func announce<C: Clock<Duration>>(
        _ report: WaitReport, operation: PoolOperation, schedule: inout RetrySchedule<C>, nextStatus: inout C.Instant?,
        events: (PoolEvent) -> Void
    ) throws -> NextAttempt {
        let first = schedule.waitingSince == nil
        let next = try schedule.next(after: .waiting(reason: report.reason))
        events(first ? .waitingStarted(operation.kind) : .poll)
        if let holders = report.holders {
            events(.holders(holders, total: report.locks.count, waitingForClaim: report.waitingForClaim))
        }
        if let status = report.status, let since = schedule.waitingSince {
            events(.waitingStatus(status))
            // Every 30 s from the start of the wait, skipping the marks a long poll passed over.
            let now = schedule.clock.now
            var due = (nextStatus ?? since).advanced(by: .seconds(30))
            while due <= now { due = due.advanced(by: .seconds(30)) }
            nextStatus = due
        }
        return next
    }

    /// Acts on the error of a failed attempt: a transient failure or a damaged cache is a setback the schedule may
    /// retry (after rebuilding the cache, or a sleep); anything else ends the operation.
    ///
    /// - Throws: the error, a `GitError` as `LockPoolError.gitFailed`, or the schedule's verdict when a bound is
    ///   reached.
    private func recover<C: Clock<Duration>>(
        from error: any Error, schedule: inout RetrySchedule<C>, cache: LockRepositoryCache,
        events: (PoolEvent) -> Void, logger: Logger
    ) async throws {
        switch error {
        case let transient as TransientError:
            let next = try schedule.next(after: .transient(cause: transient.cause))
            events(
                .networkRetry(
                    attempt: schedule.transientFailures + 1, of: schedule.policy.transientAttempts,
                    cause: transient.cause))
            try await pause(next, clock: schedule.clock)
        case let truncated as HistoryTruncated:
            // The operation's walks need more history than the shallow cache holds (docs/concurrency.md#a-shallow-cache).
            _ = try schedule.next(after: .truncatedHistory(truncated))
            try cache.deepen(logger: logger)
        case let error as GitError where LockRepositoryCache.isCorruption(error):
            // Objects the fetch did not need were damaged. Start again on a rebuilt cache; a push made before is
            // judged by the next fetch, as one with an unknown outcome (`AttemptState.pending`).
            _ = try schedule.next(after: .damagedCache(error))
            try cache.rebuild(cause: error, logger: logger)
        case let error as GitError:
            throw LockPoolError.gitFailed(operation: schedule.activity, underlying: error)
        default:
            throw error
        }
    }

    /// Sleeps before the next attempt when the schedule says so.
    private func pause<C: Clock<Duration>>(_ next: NextAttempt, clock: C) async throws {
        if case .sleep(let duration) = next, duration > .zero { try await clock.sleep(for: duration) }
    }

    /// After SIGTERM or SIGINT arrived during a push that won: a claim is undone before the process exits, any other
    /// change stands and the operation reports the interruption.
    ///
    /// - Throws: `LockPoolError.interrupted` or `.interruptedAfterChange`, always.
    private func undoInterrupted<C: Clock<Duration>>(
        _ operation: PoolOperation, locks: [String], claim: ObjectID, cache: LockRepositoryCache, clock: C,
        wallClock: WallClock, logger: Logger
    ) async throws {
        guard [.acquire, .claim].contains(operation.kind) else {
            throw LockPoolError.interruptedAfterChange(operation: operation.kind.rawValue)
        }
        await compensate(locks: locks, claim: claim, cache: cache, clock: clock, wallClock: wallClock, logger: logger)
        throw LockPoolError.interrupted
    }

    /// The cache of this client's remote and branch.
    private func openCache() throws -> LockRepositoryCache {
        try LockRepositoryCache(
            root: configuration.cacheRoot, remoteURL: configuration.remoteURL, pushURL: configuration.pushURL,
            branch: configuration.branch, options: configuration.remoteOptions)
    }

    /// This waiter's place in the fair queue (`configuration.fair`), for the operations that queue.
    private func queuePlace(for operation: PoolOperation) -> QueuePlace? {
        guard configuration.fair, let demand = Self.demand(of: operation) else { return nil }
        return QueuePlace(
            demand: demand, pool: configuration.pool,
            lifetime: FairQueue.lifetime(retryDelay: configuration.retryDelay), holder: queueHolder)
    }

    /// Pushes `commit` to the branch: the cache's outcome, with a refusal worded as the resource words it.
    ///
    /// - Throws: `LockPoolError.pushRefused`, the `GitError` of a damaged cache, or the classified permanent failure.
    func push(_ commit: ObjectID, cache: LockRepositoryCache) throws -> PushOutcome {
        do {
            return try cache.push(commit)
        } catch let rejected as PushRejected {
            throw LockPoolError.pushRefused(
                branch: configuration.branch,
                reason: Self.refusalReason(rejected.reason, serverMessages: rejected.serverMessages))
        }
    }

    /// The reason of a refused push on one line, so that a failure still ends with one `error:` line
    /// (docs/resource.md#executables-and-their-input-and-output): the server's reason, then what it printed (`remote:
    /// …` lines, e.g. a hook's explanation) in parentheses.
    static func refusalReason(_ reason: String, serverMessages: String) -> String {
        let lines = serverMessages.split(whereSeparator: \.isNewline).map { $0.trimming(.whitespaces) }
            .filter { !$0.isEmpty && $0 != "remote:" }
        return lines.isEmpty ? reason : "\(reason) (\(lines.joined(separator: "; ")))"
    }

    /// Repeats `attempt` on a fresh tip until it is done, `limit` has passed, or it fails for good. Its setbacks take
    /// the operations' course (`RetrySchedule`, `recover`): a lost race (`attempt` returns false) backs off, a network
    /// failure is retried, a damaged cache rebuilt, a shallow one deepened. Best effort: nobody hears of a failure.
    private func retryBriefly<C: Clock<Duration>>(
        for limit: Duration, cache: LockRepositoryCache, clock: C, logger: Logger,
        _ attempt: (Repository, ObjectID) throws -> Bool
    ) async {
        var schedule = RetrySchedule(
            policy: retryPolicy(timeout: limit), clock: clock, activity: "clean up in the lock repository")
        while true {
            do {
                try schedule.checkDeadline()
                if try cache.withLock({ try attempt(cache.repository, try cache.fetchTip(logger: logger)) }) { return }
                try await pause(schedule.next(after: .lostRace(branch: configuration.branch)), clock: clock)
            } catch {
                do {
                    try await recover(from: error, schedule: &schedule, cache: cache, events: { _ in }, logger: logger)
                } catch {
                    return
                }
            }
        }
    }

    /// What `operation` waits for in a fair queue; nil for operations that do not queue.
    static func demand(of operation: PoolOperation) -> QueueTicket.Demand? {
        switch operation {
        case .acquire: .any(1)
        case .acquireSet(let count, _): .any(count)
        case .claim(let lock, _): .lock(lock)
        default: nil
        }
    }

    /// Who a ticket says is waiting: the build, else the committer identity.
    var queueHolder: String {
        let prefix = CommitMessage(operation: .queue, pool: "", lock: "", build: configuration.build, tool: "")
            .subjectPrefix.trimming(.whitespaces)
        return prefix.isEmpty ? "\(configuration.identityName) <\(configuration.identityEmail)>" : prefix
    }

    /// Deletes `ticket` from the queue, spending at most 5 s; nothing when it is gone already.
    private func leaveQueue<C: Clock<Duration>>(
        _ ticket: QueueTicket, cache: LockRepositoryCache, clock: C, wallClock: WallClock, logger: Logger
    ) async {
        let path = QueuePlace.path(of: ticket, in: configuration.pool)
        await retryBriefly(for: .seconds(5), cache: cache, clock: clock, logger: logger) { repository, tip in
            guard try repository.entry(at: path, inTree: try repository.treeID(ofCommit: tip)) != nil else {
                return true
            }
            let message = CommitMessage(
                operation: .dequeue, pool: configuration.pool, lock: ticket.name, build: configuration.build,
                tool: configuration.tool)
            let commit = try makeCommit(
                repository, tip: tip, updates: [.remove(path: path)], message: message, time: wallClock.wholeSeconds())
            guard try push(commit, cache: cache) == .won else { return false }
            logger.debug("left the queue", metadata: ["ticket": "\(ticket.name)"])
            return true
        }
    }

    private func result<C: Clock<Duration>>(
        _ locks: [String], _ version: ObjectID, committed: Bool, _ counts: PoolCounts, _ schedule: RetrySchedule<C>,
        _ state: AttemptState
    ) -> OperationResult {
        OperationResult(
            lock: locks.first ?? "", locks: locks, version: version, committed: committed, tip: counts.commit,
            availableCount: counts.available, claimedCount: counts.claimed, waited: schedule.waited,
            lostRaces: schedule.lostRaces, waitingCount: state.queue?.waitingCount)
    }

    /// A commit of `updates` on top of `tip`, made by this client's identity at `time`.
    ///
    /// - Throws: `GitError`.
    func makeCommit(
        _ repository: Repository, tip: ObjectID, updates: [TreeUpdate], message: CommitMessage, time: Date
    ) throws -> ObjectID {
        let tree = try repository.updatedTree(try repository.treeID(ofCommit: tip), applying: updates)
        let signature = Signature(
            name: configuration.identityName, email: configuration.identityEmail,
            time: Date(timeIntervalSince1970: time.timeIntervalSince1970.rounded(.down)))
        return try repository.createCommit(
            tree: tree, parents: [tip], message: message.rendered(), author: signature, committer: signature)
    }

    /// Undoes a claim whose push won after SIGTERM arrived: pushes an `unclaiming` commit for every lock it took,
    /// spending at most 10 s.
    private func compensate<C: Clock<Duration>>(
        locks: [String], claim: ObjectID, cache: LockRepositoryCache, clock: C, wallClock: WallClock, logger: Logger
    ) async {
        await retryBriefly(for: .seconds(10), cache: cache, clock: clock, logger: logger) { repository, tip in
            let snapshot = try PoolSnapshot(repository: repository, commit: tip, pool: configuration.pool)
            let held = locks.filter { snapshot.state(of: $0) == .claimed }
            guard !held.isEmpty else { return true }
            let now = wallClock.wholeSeconds()
            let decider = Decider(
                configuration: configuration, repository: repository, snapshot: snapshot, now: now, warn: { _ in })
            guard
                case .change(_, let updates, let message, _) = try decider.decide(
                    .releaseSet(locks: held, fence: claim, remove: false))
            else { return true }
            let commit = try makeCommit(repository, tip: tip, updates: updates, message: message, time: now)
            return try push(commit, cache: cache) == .won
        }
    }
}

extension LockPoolClient {
    /// Fetches the branch tip into the cache and runs `body` on the cache repository and the tip while holding the
    /// cache's advisory lock; transient failures and a damaged cache are retried as the operations retry them
    /// (``RetryPolicy``).
    ///
    /// - Throws: `LockPoolError` (branch or repository not found, authentication, exhausted retries, the timeout), or
    ///   what `body` throws.
    public func withFreshTip<T, C: Clock<Duration>>(
        clock: C, timeout: Duration? = nil, events: (PoolEvent) -> Void, logger: Logger,
        _ body: (LockRepositoryCache, ObjectID) throws -> T
    ) async throws -> T {
        try await retryLoop(
            activity: "read the lock repository", clock: clock, timeout: timeout, events: events, logger: logger
        ) { cache, schedule in
            try cache.withLock {
                let tip = try cache.fetchTip(logger: logger)
                // Transient failures count only in a row: this fetch worked, whatever `body` then throws.
                schedule.fetched()
                return try body(cache, tip)
            }
        }
    }

    /// Runs `body` on the cache until it returns: again after transient failures (paused as ``RetryPolicy`` says),
    /// after a walk that needs deeper history, and once on a rebuilt cache after a damaged one; within `timeout`.
    private func retryLoop<T, C: Clock<Duration>>(
        activity: String, clock: C, timeout: Duration?, events: (PoolEvent) -> Void, logger: Logger,
        _ body: (LockRepositoryCache, inout RetrySchedule<C>) throws -> T
    ) async throws -> T {
        let cache = try openCache()
        var schedule = RetrySchedule(policy: retryPolicy(timeout: timeout), clock: clock, activity: activity)
        while true {
            try schedule.checkDeadline()
            do {
                return try body(cache, &schedule)
            } catch {
                try await recover(from: error, schedule: &schedule, cache: cache, events: events, logger: logger)
            }
        }
    }
}

extension LockPoolClient {
    /// Runs `body` until it returns, again after transient failures (and after a damaged cache, rebuilt), as the
    /// operations do (``RetryPolicy``): for work on the remote that is not a pool operation, such as creating pools.
    ///
    /// - Throws: what `body` throws that is not worth retrying, `LockPoolError.timedOut`, or the exhausted retries.
    public func retrying<T, C: Clock<Duration>>(
        activity: String, clock: C, timeout: Duration?, events: (PoolEvent) -> Void, logger: Logger,
        _ body: () throws -> T
    ) async throws -> T {
        try await retryLoop(activity: activity, clock: clock, timeout: timeout, events: events, logger: logger) {
            _, _ in
            try body()
        }
    }

    /// The content of each of `locks` at `commit`, claimed or unclaimed, read from the cache without fetching: after
    /// an operation the cache holds the commit it pushed (`OperationResult.tip`).
    ///
    /// - Throws: `LockPoolError.lockMissing` for a lock the pool does not have at `commit`.
    public func contents(of locks: [String], at commit: ObjectID) throws -> [[UInt8]] {
        let cache = try openCache()
        return try cache.withLock {
            let repository = cache.repository
            let tree = try repository.treeID(ofCommit: commit)
            return try locks.map { lock in
                guard
                    let entry = try PoolSnapshot.entry(
                        of: lock, pool: configuration.pool, inTree: tree, repository: repository)
                else { throw LockPoolError.lockMissing(lock: lock, pool: configuration.pool) }
                return try repository.blob(entry.id)
            }
        }
    }
}
