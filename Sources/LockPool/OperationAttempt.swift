import FoundationEssentials
import Git
import Logging

/// What one attempt at an operation came to.
enum AttemptOutcome {
    /// Our commit is on the branch; `counts` are the pool's after it.
    case won(commit: ObjectID, locks: [String], counts: PoolCounts, interrupted: Bool)
    /// Nothing to push: a no-op add or update, or a satisfied check; `version` is the lock's last change.
    case done(lock: String, version: ObjectID, snapshot: PoolSnapshot)
    /// The branch moved under our push (of the change or of a queue ticket).
    case lost
    /// The operation cannot proceed on this tip.
    case wait(WaitReport)
}

/// Why an attempt waits, and what to tell the user about it.
struct WaitReport {
    /// The locks whose holders the waiting line names.
    var locks: [String]
    var waitingForClaim: Bool
    /// The periodic waiting line, when one was due.
    var status: String?
    /// Why it waits (for the timeout's message), when one was due.
    var reason: String?
    /// The holders of `locks`, when asked for and the tip moved.
    var holders: [LockStatus]?
}

/// What an operation carries from one attempt to the next.
struct AttemptState {
    /// A push whose outcome is not known yet; the next attempt judges it (``PushInFlight``).
    var pending: PushInFlight?
    /// This waiter's place in the fair queue, with `source.fair`.
    var queue: QueuePlace?
    /// Whether the last attempt's fetch worked (transient failures count only in a row).
    var fetched = false
    /// Warnings already shown: each once per operation.
    var warned: Set<String> = []
    /// The tip whose holders were last reported.
    var holdersTip: ObjectID?
    /// What the last attempt learnt about the leases of the locks it waits for.
    let leases = LeaseWatch()
}

/// What an attempt needs besides its state.
struct AttemptContext {
    let operation: PoolOperation
    let cache: LockRepositoryCache
    let wallClock: WallClock
    /// How long the operation has waited for a lock so far (recorded in a claim's `Lock-Waited`).
    let waited: Duration
    /// Whether the periodic waiting line (and the reason, which walks history) is due.
    let wantsStatus: Bool
    let reportsHolders: Bool
    let interruption: Interruption?
    let events: (PoolEvent) -> Void
    let logger: Logger
}

extension LockPoolClient {
    /// One attempt, under the cache's lock: fetch the tip, judge a pending push, decide, let the fair queue judge the
    /// decision, then commit and push (docs/concurrency.md#one-attempt).
    ///
    /// - Throws: `TransientError` (the network; a change pushed with an unknown outcome stays in `state.pending`),
    ///   `GitError` (for the caller to tell a damaged cache from other failures), `LockPoolError`.
    func attempt(_ context: AttemptContext, state: inout AttemptState) throws -> AttemptOutcome {
        let cache = context.cache
        return try cache.withLock {
            state.fetched = false
            // Not while waiting: a poll rarely pushes, and each prepared connection is a server process.
            if context.waited == .zero { cache.preparePush() }
            defer { cache.discardPreparedPush() }
            let tip = try cache.fetchTip(logger: context.logger)
            state.fetched = true
            let repository = cache.repository
            let snapshot = try PoolSnapshot(repository: repository, commit: tip, pool: configuration.pool)
            if let pending = state.pending {
                // Judged before it is dropped: a walk that needs deeper history throws and keeps it pending.
                let landed = try pending.landed(on: tip, in: repository)
                state.pending = nil
                if landed {
                    context.logger.debug("push with unknown outcome had won", metadata: ["commit": "\(pending.commit)"])
                    return .won(
                        commit: pending.commit, locks: pending.locks, counts: PoolCounts(snapshot), interrupted: false)
                }
            }
            // One time for the decision and the commit, so that Lease-Expires is the committer time plus the lease.
            let now = context.wallClock.wholeSeconds()
            var decision = try decide(context, snapshot: snapshot, now: now, state: &state)
            var queueReason: String?
            if var queue = state.queue {
                let queueTime = context.wallClock.now()
                let tickets = try FairQueue.tickets(repository: repository, commit: tip, pool: configuration.pool)
                let verdict = queue.judge(
                    decision, operation: context.operation, tickets: tickets, snapshot: snapshot, now: queueTime)
                decision = verdict.decision
                queueReason = verdict.reason
                // Kept before the push: a ticket whose push fails is pushed again under the same name.
                state.queue = queue
                if let (ticket, sweep) = verdict.ticketToPush {
                    guard try pushTicket(ticket, sweeping: sweep, queue: queue, tip: tip, cache: cache, time: now)
                    else { return .lost }
                    state.queue?.ticketPushed(at: queueTime)
                    context.logger.debug("queued", metadata: ["ticket": "\(ticket.name)"])
                }
            }
            switch decision {
            case .done(let lock, let version):
                return .done(lock: lock, version: version, snapshot: snapshot)
            case .wait(let locks, let waitingForClaim):
                return .wait(
                    try waitReport(
                        locks: locks, waitingForClaim: waitingForClaim, queueReason: queueReason, tip: tip,
                        snapshot: snapshot, context: context, state: &state))
            case .takeover(let releaseUpdates, let releaseMessage, let locks, let updates, var message):
                // The reap of the passed lease, then the claim on top; pushed as one: both land or neither does.
                message.waited = context.waited
                let release = try makeCommit(
                    repository, tip: tip, updates: releaseUpdates, message: releaseMessage, time: now)
                let commit = try makeCommit(repository, tip: release, updates: updates, message: message, time: now)
                let push = PushInFlight(commit: commit, parent: tip, locks: locks)
                guard let interrupted = try send(push, context: context, state: &state) else { return .lost }
                return .won(
                    commit: commit, locks: locks,
                    counts: PoolCounts(snapshot, changing: locks, to: .claimed, at: commit), interrupted: interrupted)
            case .change(let locks, let updates, var message, let stateAfter):
                // Stats read the wait from the claim commit: nothing else records it.
                if [.acquire, .claim].contains(message.operation) { message.waited = context.waited }
                let commit = try makeCommit(repository, tip: tip, updates: updates, message: message, time: now)
                let push = PushInFlight(commit: commit, parent: tip, locks: locks)
                guard let interrupted = try send(push, context: context, state: &state) else { return .lost }
                // The counts after the change, from the snapshot it was decided on: no second listing.
                let after = PoolCounts(snapshot, changing: locks, to: stateAfter, at: commit)
                return .won(commit: commit, locks: locks, counts: after, interrupted: interrupted)
            }
        }
    }

    /// Pushes the operation's change and moves the cache's tip to it when it wins.
    ///
    /// - Returns: whether a signal arrived during the push when it won; nil when it lost the race.
    /// - Throws: `TransientError` when the outcome is unknown: the push stays in `state.pending` for the next attempt
    ///   to judge, as it does when the cache turns out damaged after it.
    private func send(_ push: PushInFlight, context: AttemptContext, state: inout AttemptState) throws -> Bool? {
        let cache = context.cache
        context.logger.debug("pushing", metadata: ["commit": "\(push.commit)", "lock.names": "\(push.locks)"])
        state.pending = push
        switch try push.send(interruption: context.interruption, { try self.push($0, cache: cache) }) {
        case .lost:
            state.pending = nil
            return nil
        case .unknown(let cause):
            throw TransientError(cause: cause)
        case .won(let interrupted):
            // Still pending while the cache is written: a failure here must not let the next attempt decide again.
            try cache.repository.setReference(cache.tipReference, to: push.commit, message: "lockpool: push")
            state.pending = nil
            return interrupted
        }
    }

    /// The decision on `snapshot`; its warnings are shown once per operation.
    private func decide(_ context: AttemptContext, snapshot: PoolSnapshot, now: Date, state: inout AttemptState)
        throws -> Decision
    {
        var warnings: [String] = []
        defer {
            for text in warnings where state.warned.insert(text).inserted { context.events(.warning(text)) }
        }
        let decider = Decider(
            configuration: configuration, repository: context.cache.repository, snapshot: snapshot, now: now,
            warn: { warnings.append($0) }, leases: state.leases)
        return try decider.decide(context.operation)
    }

    /// Pushes this waiter's queue ticket (and the removal of expired ones) on top of `tip`.
    ///
    /// - Returns: whether it landed; false when the branch moved.
    /// - Throws: `TransientError` (the next attempt pushes the ticket again, under the same name), or a permanent
    ///   failure.
    private func pushTicket(
        _ ticket: QueueTicket, sweeping stale: [QueueTicket], queue: QueuePlace, tip: ObjectID,
        cache: LockRepositoryCache, time: Date
    ) throws -> Bool {
        let repository = cache.repository
        let message = CommitMessage(
            operation: .queue, pool: configuration.pool, lock: ticket.name, build: configuration.build,
            tool: configuration.tool)
        let updates =
            [
                TreeUpdate.upsert(
                    path: queue.path(of: ticket), id: try repository.createBlob(ticket.content), mode: 0o100644)
            ] + stale.map { .remove(path: queue.path(of: $0)) }
        let commit = try makeCommit(repository, tip: tip, updates: updates, message: message, time: time)
        switch try push(commit, cache: cache) {
        case .won: break
        case .lost: return false
        case .transient(let cause): throw TransientError(cause: cause)
        }
        try repository.setReference(cache.tipReference, to: commit, message: "lockpool: queue")
        return true
    }

    /// The report of a wait: the waiting line and the reason when due (the reason walks history for the holder, so it
    /// is refreshed with the line, not on every poll), and the holders when asked for and the tip moved.
    private func waitReport(
        locks: [String], waitingForClaim: Bool, queueReason: String?, tip: ObjectID, snapshot: PoolSnapshot,
        context: AttemptContext, state: inout AttemptState
    ) throws -> WaitReport {
        let repository = context.cache.repository
        var report = WaitReport(locks: locks, waitingForClaim: waitingForClaim)
        if context.wantsStatus {
            report.status = try WaitingStatus(repository: repository, snapshot: snapshot, now: context.wallClock.now())
                .line(elapsed: context.waited, locks: locks, waitingForClaim: waitingForClaim)
            report.reason =
                try queueReason
                ?? waitReason(context.operation, locks: locks, repository: repository, snapshot: snapshot)
        }
        if context.reportsHolders, state.holdersTip != tip {
            state.holdersTip = tip
            report.holders = try WaitingStatus(
                repository: repository, snapshot: snapshot, now: context.wallClock.now()
            ).statuses(locks)
        }
        return report
    }

    /// Why `operation` waits on `snapshot`, naming the holder when it waits for one lock.
    ///
    /// - Throws: `HistoryTruncated` when the holder's claim lies below a shallow cache's boundary (the cache fetches
    ///   deeper, docs/concurrency.md#a-shallow-cache).
    private func waitReason(
        _ operation: PoolOperation, locks: [String], repository: Repository, snapshot: PoolSnapshot
    ) throws -> String {
        let pool = configuration.pool
        switch operation {
        case .acquire: return "no unclaimed lock in pool '\(pool)'"
        case .acquireSet(let count, _): return "fewer than \(count) unclaimed locks in pool '\(pool)'"
        case .checkUnclaimed(let lock): return "lock '\(lock)' in pool '\(pool)' is still unclaimed"
        default:
            let lock = operation.lock ?? ""
            let history = PoolHistory(repository: repository, pool: pool)
            let claim: Commit?
            do {
                claim = try history.claimCommit(of: lock, at: snapshot.commit)
            } catch let truncated as HistoryTruncated {
                throw truncated
            } catch {
                claim = nil
            }
            let holder = claim.map { PoolHistory.holder(of: $0).description }
            return "lock '\(lock)' in pool '\(pool)' is still claimed" + (holder.map { " by \($0)" } ?? "")
        }
    }
}
