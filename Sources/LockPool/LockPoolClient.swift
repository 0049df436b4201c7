import FoundationEssentials
import Git
import Logging
import StringSupport

/// Runs pool operations against a lock repository: fetch the tip, decide, commit, push; on a lost race fetch and
/// decide again (SPEC §6).
public struct LockPoolClient: Sendable {
    public let configuration: PoolConfiguration
    /// Consecutive transient failures of one step that fail the operation (the upstream resource's limit).
    public static let networkAttempts = 5

    public init(configuration: PoolConfiguration) { self.configuration = configuration }

    private enum Step {
        case won(commit: ObjectID, locks: [String], counts: PoolCounts, interrupted: Bool)
        case done(lock: String, version: ObjectID, snapshot: PoolSnapshot)
        case lost
        case wait(locks: [String], waitingForClaim: Bool, status: String?, reason: String?, holders: [LockStatus]?)
        case transient(String)
    }

    /// Performs `operation`, waiting and retrying as needed.
    ///
    /// - Parameters:
    ///   - operation: what to do.
    ///   - timeout: bound on the whole operation (waiting, lost races, transient retries); nil for none.
    ///   - clock: the clock used for sleeping and deadlines (tests inject their own).
    ///   - interruption: SIGTERM coordination; a won claim whose push was interrupted is undone.
    ///   - events: receives progress (`ProgressPrinter` renders it).
    ///   - reportsHolders: whether `.holders` events are sent while waiting, whenever the tip has moved (for a live
    ///     status line; it costs a history walk per new tip).
    ///   - logger: debug logging of each git step.
    /// - Returns: what was done, with the version to report.
    /// - Throws: `LockPoolError` for permanent conditions, timeouts, interruption and exhausted network retries.
    public func perform<C: Clock<Duration>>(
        _ operation: PoolOperation, timeout: Duration? = nil, clock: C, interruption: Interruption? = nil,
        events: @escaping (PoolEvent) -> Void, reportsHolders: Bool = false, logger: Logger
    ) async throws -> OperationResult {
        let pool = configuration.pool
        events(.started(operation.kind, lock: operation.lock, pool: pool, claimed: operation.kind == .addClaimed))
        let cache = try LockRepositoryCache(
            root: configuration.cacheRoot, remoteURL: configuration.remoteURL, pushURL: configuration.pushURL,
            branch: configuration.branch, options: configuration.remoteOptions)
        let start = clock.now
        let deadline = timeout.map { start.advanced(by: $0) }
        var lostRaces = 0
        var consecutiveLost = 0
        var networkFailures = 0
        var waitStart: C.Instant?
        var nextStatus: C.Instant?
        var pending: ObjectID?
        var lastReason = "no attempt finished"
        var warned = Set<String>()
        var holdersTip: ObjectID?
        // A damaged cache is rebuilt once per operation (SPEC §4.4); the commit pushed in the step that met it.
        var rebuiltCache = false
        var pushedInStep: ObjectID?
        // The fair queue (`configuration.fair`) for acquire and claim: this waiter's place in it.
        var queue = configuration.fair ? Self.demand(of: operation).map { QueuePlace(client: self, demand: $0) } : nil

        do {
            while true {
                if let deadline, let timeout, clock.now >= deadline,
                    waitStart != nil || consecutiveLost > 0 || networkFailures > 0
                {
                    throw LockPoolError.timedOut(after: timeout, reason: lastReason)
                }
                let wantStatus = waitStart == nil || nextStatus.map { clock.now >= $0 } ?? false
                let elapsed = waitStart.map { start.duration(to: clock.now) - start.duration(to: $0) } ?? .zero
                let step: Step
                pushedInStep = nil
                do {
                    step = try cache.withLock { () throws -> Step in
                        let tip = try cache.fetchTip(logger: logger)
                        networkFailures = 0
                        let repository = cache.repository
                        if let sent = pending {
                            pending = nil
                            let locks = locksChanged(by: sent, in: repository)
                            // Empty too when the commit is gone with a rebuilt cache and the fetch did not bring it.
                            if !locks.isEmpty, try repository.isSameOrDescendant(tip, of: sent) {
                                logger.debug("push with unknown outcome had won", metadata: ["commit": "\(sent)"])
                                let snapshot = try PoolSnapshot(repository: repository, commit: tip, pool: pool)
                                return .won(
                                    commit: sent, locks: locks, counts: PoolCounts(snapshot), interrupted: false)
                            }
                        }
                        let snapshot = try PoolSnapshot(repository: repository, commit: tip, pool: pool)
                        // One time for the decision and the commit, so Lease-Expires is the committer time + lease.
                        let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
                        let decider = Decider(
                            configuration: configuration, repository: repository, snapshot: snapshot, now: now,
                            warn: { text in
                                if warned.insert(text).inserted { events(.warning(text)) }
                            })
                        var decision = try decider.decide(operation)
                        var queueReason: String?
                        if let outcome = try queue?.apply(
                            to: &decision, operation: operation, tip: tip, snapshot: snapshot, cache: cache, time: now,
                            logger: logger)
                        {
                            switch outcome {
                            case .proceed: break
                            case .waiting(let reason): queueReason = reason
                            case .lost: return .lost
                            case .transient(let cause): return .transient(cause)
                            }
                        }
                        switch decision {
                        case .done(let lock, let version):
                            return .done(lock: lock, version: version, snapshot: snapshot)
                        case .wait(let locks, let waitingForClaim):
                            let status =
                                wantStatus
                                ? try WaitingStatus(repository: repository, snapshot: snapshot, now: Date())
                                    .line(elapsed: elapsed, locks: locks, waitingForClaim: waitingForClaim) : nil
                            // The reason walks history for the holder: refresh it with the status line, not on every poll.
                            let reason =
                                wantStatus
                                ? queueReason
                                    ?? waitReason(operation, locks: locks, repository: repository, snapshot: snapshot)
                                : nil
                            var holders: [LockStatus]?
                            if reportsHolders, holdersTip != tip {
                                holdersTip = tip
                                holders = try WaitingStatus(repository: repository, snapshot: snapshot, now: Date())
                                    .statuses(locks)
                            }
                            return .wait(
                                locks: locks, waitingForClaim: waitingForClaim, status: status, reason: reason,
                                holders: holders)
                        case .change(let locks, let updates, var message, let stateAfter):
                            // Stats read the wait from the claim commit: nothing else records it.
                            if [.acquire, .claim].contains(message.operation) { message.waited = elapsed }
                            let commit = try makeCommit(
                                repository, tip: tip, updates: updates, message: message, time: now)
                            logger.debug("pushing", metadata: ["commit": "\(commit)", "lock.names": "\(locks)"])
                            interruption?.beginPush()
                            pushedInStep = commit
                            let outcome: PushOutcome
                            do {
                                outcome = try push(commit, cache: cache)
                            } catch {
                                if interruption?.endPush(keepDeferring: false) == true {
                                    throw LockPoolError.interrupted
                                }
                                throw error
                            }
                            if outcome != .won, interruption?.endPush(keepDeferring: false) == true {
                                throw LockPoolError.interrupted
                            }
                            switch outcome {
                            case .won: break
                            case .lost: return .lost
                            case .transient(let cause):
                                pending = commit
                                return .transient(cause)
                            }
                            let interrupted = interruption?.endPush(keepDeferring: true) ?? false
                            try repository.setReference(cache.tipReference, to: commit, message: "lockpool: push")
                            // The counts after the change, from the snapshot it was decided on: no second listing.
                            let after = PoolCounts(snapshot, changing: locks, to: stateAfter, at: commit)
                            return .won(commit: commit, locks: locks, counts: after, interrupted: interrupted)
                        }
                    }
                } catch let transient as TransientError {
                    step = .transient(transient.cause)
                } catch let error as GitError where !rebuiltCache && LockRepositoryCache.isCorruption(error) {
                    // Objects the fetch did not need were damaged. Start again on a rebuilt cache; a push made in
                    // this step is judged by the next fetch, as one with an unknown outcome.
                    rebuiltCache = true
                    try cache.rebuild(cause: error, logger: logger)
                    if let pushedInStep { pending = pushedInStep }
                    continue
                } catch let error as GitError {
                    throw LockPoolError.gitFailed(operation: "work on the lock repository", underlying: error)
                }

                switch step {
                case .won(let commit, let locks, let counts, let interrupted):
                    if interrupted {
                        if [.acquire, .claim].contains(operation.kind) {
                            await compensate(
                                locks: locks, claim: commit, cache: cache, clock: clock, logger: logger)
                            throw LockPoolError.interrupted
                        }
                        throw LockPoolError.interruptedAfterChange(operation: operation.kind.rawValue)
                    }
                    events(.succeeded(operation.kind))
                    return result(
                        locks, commit, true, counts, waited(waitStart, clock), lostRaces, queue?.waitingCount)
                case .done(let lock, let version, let snapshot):
                    if [.add, .addClaimed, .update].contains(operation.kind) {
                        events(.nothingToCommit(lock: lock, pool: pool))
                    }
                    events(.succeeded(operation.kind))
                    return result(
                        [lock], version, false, PoolCounts(snapshot), waited(waitStart, clock), lostRaces,
                        queue?.waitingCount)
                case .lost:
                    lostRaces += 1
                    consecutiveLost += 1
                    lastReason = "lost every push race on branch '\(configuration.branch)'"
                    events(.lostRace)
                    let cap = min(configuration.retryDelay, .milliseconds(50) * (1 << min(consecutiveLost - 1, 20)))
                    try await sleep(Self.jitter(cap, low: 0.5, high: 1.0), until: deadline, clock: clock)
                case .wait(let locks, let waitingForClaim, let status, let reason, let holders):
                    consecutiveLost = 0
                    if let reason { lastReason = reason }
                    if waitStart == nil {
                        waitStart = clock.now
                        events(.waitingStarted(operation.kind))
                    } else {
                        events(.poll)
                    }
                    if let holders {
                        events(.holders(holders, total: locks.count, waitingForClaim: waitingForClaim))
                    }
                    if let status {
                        events(.waitingStatus(status))
                        nextStatus = (nextStatus ?? waitStart!).advanced(by: .seconds(30))
                        while let next = nextStatus, next <= clock.now { nextStatus = next.advanced(by: .seconds(30)) }
                    }
                    try await sleep(
                        Self.jitter(configuration.retryDelay, low: 0.9, high: 1.1), until: deadline, clock: clock)
                case .transient(let cause):
                    networkFailures += 1
                    lastReason = "network error: \(cause)"
                    if networkFailures >= Self.networkAttempts { throw LockPoolError.network(cause: cause) }
                    events(.networkRetry(attempt: networkFailures + 1, of: Self.networkAttempts, cause: cause))
                    let base = Duration.seconds(1) * (1 << (networkFailures - 1))
                    try await sleep(Self.jitter(base, low: 0.8, high: 1.2), until: deadline, clock: clock)
                }
            }
        } catch {
            // Leaving early (timeout, failure, interruption) must not keep others waiting until the ticket expires.
            if let ticket = queue?.ticket { await leaveQueue(ticket, cache: cache, clock: clock, logger: logger) }
            throw error
        }
    }

    /// How a push ended when it did not fail for good.
    enum PushOutcome: Equatable {
        case won
        /// The branch moved (SPEC §6.1).
        case lost
        /// A network failure (SPEC §6.4); the push may still have landed.
        case transient(String)
    }

    /// Pushes `commit` to the branch and classifies the outcome (SPEC §6): a stale tip is a lost race, any other
    /// refusal fails with the server's reason, a transient network failure is returned.
    ///
    /// - Throws: `LockPoolError.pushRefused`, or the classified permanent remote failure.
    func push(_ commit: ObjectID, cache: LockRepositoryCache) throws -> PushOutcome {
        do {
            try cache.pushRemote().push(commit, toBranch: configuration.branch)
            return .won
        } catch let rejected as PushRejected {
            if rejected.isStaleTip { return .lost }
            throw LockPoolError.pushRefused(
                branch: configuration.branch,
                reason: Self.refusalReason(rejected.reason, serverMessages: rejected.serverMessages))
        } catch {
            let classified = RemoteFailure.classify(error, uri: configuration.remoteURL, step: "push")
            if let transient = classified as? TransientError { return .transient(transient.cause) }
            throw classified
        }
    }

    /// The reason of a refused push on one line, so that a failure still ends with one `error:` line (SPEC §3): the
    /// server's reason, then what it printed (`remote: …` lines, e.g. a hook's explanation) in parentheses.
    static func refusalReason(_ reason: String, serverMessages: String) -> String {
        let lines = serverMessages.split(whereSeparator: \.isNewline).map { $0.trimming(.whitespaces) }
            .filter { !$0.isEmpty && $0 != "remote:" }
        return lines.isEmpty ? reason : "\(reason) (\(lines.joined(separator: "; ")))"
    }

    /// Runs `attempt` on a fresh tip, under the cache's lock, until it returns true or `limit` passes; a failed
    /// attempt counts as false (try again). For best-effort clean-up after an operation has ended.
    private func retryBriefly<C: Clock<Duration>>(
        for limit: Duration, cache: LockRepositoryCache, clock: C, logger: Logger,
        _ attempt: (Repository, ObjectID) throws -> Bool
    ) async {
        let deadline = clock.now.advanced(by: limit)
        while clock.now < deadline {
            let done =
                (try? cache.withLock { try attempt(cache.repository, try cache.fetchTip(logger: logger)) }) ?? false
            if done { return }
            try? await clock.sleep(for: .milliseconds(50))
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
        _ ticket: QueueTicket, cache: LockRepositoryCache, clock: C, logger: Logger
    ) async {
        let path = "\(configuration.pool)/waiting/\(ticket.name)"
        await retryBriefly(for: .seconds(5), cache: cache, clock: clock, logger: logger) { repository, tip in
            guard try repository.entry(at: path, inTree: try repository.treeID(ofCommit: tip)) != nil else {
                return true
            }
            let message = CommitMessage(
                operation: .dequeue, pool: configuration.pool, lock: ticket.name, build: configuration.build,
                tool: configuration.tool)
            let commit = try makeCommit(repository, tip: tip, updates: [.remove(path: path)], message: message)
            guard try push(commit, cache: cache) == .won else { return false }
            logger.debug("left the queue", metadata: ["ticket": "\(ticket.name)"])
            return true
        }
    }

    private func result(
        _ locks: [String], _ version: ObjectID, _ committed: Bool, _ counts: PoolCounts, _ waited: Duration,
        _ lostRaces: Int, _ waitingCount: Int?
    ) -> OperationResult {
        OperationResult(
            lock: locks.first ?? "", locks: locks, version: version, committed: committed, tip: counts.commit,
            availableCount: counts.available, claimedCount: counts.claimed, waited: waited, lostRaces: lostRaces,
            waitingCount: waitingCount)
    }

    private func waited<C: Clock<Duration>>(_ since: C.Instant?, _ clock: C) -> Duration {
        since.map { $0.duration(to: clock.now) } ?? .zero
    }

    func makeCommit(
        _ repository: Repository, tip: ObjectID, updates: [TreeUpdate], message: CommitMessage, time: Date = Date()
    ) throws -> ObjectID {
        let tree = try repository.updatedTree(try repository.treeID(ofCommit: tip), applying: updates)
        let signature = Signature(
            name: configuration.identityName, email: configuration.identityEmail,
            time: Date(timeIntervalSince1970: time.timeIntervalSince1970.rounded(.down)))
        return try repository.createCommit(
            tree: tree, parents: [tip], message: message.rendered(), author: signature, committer: signature)
    }

    /// The locks `commit` (ours, pushed with an unknown outcome) changes, from its trailers.
    private func locksChanged(by commit: ObjectID, in repository: Repository) -> [String] {
        guard let message = try? repository.commit(commit).message else { return [] }
        return CommitMessage.lockNames(in: message)
    }

    private func waitReason(_ operation: PoolOperation, locks: [String], repository: Repository, snapshot: PoolSnapshot)
        -> String
    {
        let pool = configuration.pool
        switch operation {
        case .acquire: return "no unclaimed lock in pool '\(pool)'"
        case .acquireSet(let count, _): return "fewer than \(count) unclaimed locks in pool '\(pool)'"
        case .checkUnclaimed(let lock): return "lock '\(lock)' in pool '\(pool)' is still unclaimed"
        default:
            let lock = operation.lock ?? ""
            let history = PoolHistory(repository: repository, pool: pool)
            let claim = (try? history.claimCommit(of: lock, at: snapshot.commit)) ?? nil
            let holder = claim.map { PoolHistory.holder(of: $0).description }
            return "lock '\(lock)' in pool '\(pool)' is still claimed" + (holder.map { " by \($0)" } ?? "")
        }
    }

    /// Undoes a claim whose push won after SIGTERM arrived: pushes an `unclaiming` commit for every lock it took,
    /// spending at most 10 s.
    private func compensate<C: Clock<Duration>>(
        locks: [String], claim: ObjectID, cache: LockRepositoryCache, clock: C, logger: Logger
    ) async {
        await retryBriefly(for: .seconds(10), cache: cache, clock: clock, logger: logger) { repository, tip in
            let snapshot = try PoolSnapshot(repository: repository, commit: tip, pool: configuration.pool)
            let held = locks.filter { snapshot.state(of: $0) == .claimed }
            guard !held.isEmpty else { return true }
            let decider = Decider(
                configuration: configuration, repository: repository, snapshot: snapshot, now: Date(), warn: { _ in })
            guard
                case .change(_, let updates, let message, _) = try decider.decide(
                    .releaseSet(locks: held, fence: claim, remove: false))
            else { return true }
            let commit = try makeCommit(repository, tip: tip, updates: updates, message: message)
            return try push(commit, cache: cache) == .won
        }
    }

    private func sleep<C: Clock<Duration>>(_ duration: Duration, until deadline: C.Instant?, clock: C) async throws {
        var duration = duration
        if let deadline {
            let remaining = clock.now.duration(to: deadline)
            if remaining <= .zero { return }
            duration = min(duration, remaining)
        }
        try await clock.sleep(for: duration)
    }

    static func jitter(_ duration: Duration, low: Double, high: Double) -> Duration {
        duration * Double.random(in: low...high)
    }
}

extension LockPoolClient {
    /// Fetches the branch tip into the cache, retrying transient network failures (SPEC §6.4), and runs `body`
    /// on the cache repository and the tip while holding the cache's advisory lock.
    ///
    /// - Throws: `LockPoolError` (branch or repository not found, authentication, exhausted retries), or what
    ///   `body` throws.
    public func withFreshTip<T, C: Clock<Duration>>(
        clock: C, events: (PoolEvent) -> Void, logger: Logger, _ body: (LockRepositoryCache, ObjectID) throws -> T
    ) async throws -> T {
        let cache = try LockRepositoryCache(
            root: configuration.cacheRoot, remoteURL: configuration.remoteURL, pushURL: configuration.pushURL,
            branch: configuration.branch, options: configuration.remoteOptions)
        var failures = 0
        var rebuiltCache = false
        while true {
            do {
                return try cache.withLock {
                    let tip = try cache.fetchTip(logger: logger)
                    return try body(cache, tip)
                }
            } catch let error as GitError where !rebuiltCache && LockRepositoryCache.isCorruption(error) {
                // Objects the fetch did not need were damaged: read again from a rebuilt cache (SPEC §4.4).
                rebuiltCache = true
                try cache.rebuild(cause: error, logger: logger)
            } catch let transient as TransientError {
                failures += 1
                if failures >= Self.networkAttempts { throw LockPoolError.network(cause: transient.cause) }
                events(.networkRetry(attempt: failures + 1, of: Self.networkAttempts, cause: transient.cause))
                try await clock.sleep(for: Self.jitter(.seconds(1) * (1 << (failures - 1)), low: 0.8, high: 1.2))
            } catch let error as GitError {
                throw LockPoolError.gitFailed(operation: "read the lock repository", underlying: error)
            }
        }
    }
}
