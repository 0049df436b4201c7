import FoundationEssentials
import Git

/// What to do on one tip.
enum Decision {
    /// Make one commit with these tree updates, changing `locks` (one, or a set).
    case change(locks: [String], updates: [TreeUpdate], message: CommitMessage, stateAfter: LockState)
    /// Nothing to push: a no-op add/update or a satisfied check; `version` is the last change of the lock.
    case done(lock: String, version: ObjectID)
    /// Not possible now; poll again. `locks` are the ones whose holders the waiting line names.
    case wait(locks: [String], waitingForClaim: Bool)
    /// A claim whose lease has passed is ended as `lockpool reap` ends it (`release`, `releaseMessage`), and `locks`
    /// are claimed on top (`updates`, `message`): two commits, pushed together (docs/decisions/0011-lease-takeover.md).
    case takeover(
        release: [TreeUpdate], releaseMessage: CommitMessage, locks: [String], updates: [TreeUpdate],
        message: CommitMessage)
}

/// Decides an operation on a fresh tip (docs/resource.md#effects-of-put-operations).
struct Decider {
    let configuration: PoolConfiguration
    let repository: Repository
    let snapshot: PoolSnapshot
    let now: Date
    var warn: (String) -> Void
    /// Lets a waiter's polls on an unchanged tip skip reading the leases again (`passedLease`).
    var leases: LeaseWatch? = nil

    var pool: String { configuration.pool }
    var history: PoolHistory { PoolHistory(repository: repository, pool: pool) }

    func decide(_ operation: PoolOperation) throws -> Decision {
        guard snapshot.exists else { throw LockPoolError.poolMissing(pool: pool, branch: configuration.branch) }
        switch operation {
        case .acquire(let lease): return try acquire(count: 1, lease: lease)
        case .acquireSet(let count, let lease): return try acquire(count: count, lease: lease)
        case .claim(let lock, let lease): return try claim(lock, lease: lease)
        case .releaseSet(let locks, let fence, let remove): return try releaseSet(locks, fence: fence, remove: remove)
        case .release(let lock, let fence): return try releaseSet([lock], fence: fence, remove: false)
        case .remove(let lock, let fence): return try releaseSet([lock], fence: fence, remove: true)
        case .reap(let lock, let claim, let evidence):
            return try releaseSet([lock], fence: claim, remove: false, evidence: evidence)
        case .add(let lock, let content, let claimed, let lease):
            return try add(lock, content: content, claimed: claimed, lease: lease)
        case .update(let lock, let content): return try update(lock, content: content)
        case .check(let lock): return try check(lock, waitingForClaim: false)
        case .checkUnclaimed(let lock): return try check(lock, waitingForClaim: true)
        case .renew(let lock, let claim, let lease): return try renew(lock, claim: claim, lease: lease)
        }
    }

    /// A commit without tree change that records a new `Lease-Expires` for the claim `claim`, fenced on it; refused
    /// once the lease has passed (docs/decisions/0011-lease-takeover.md#safety-argument).
    private func renew(_ lock: String, claim fence: ObjectID, lease: Duration) throws -> Decision {
        guard try namedState(lock) == .claimed else {
            let released = try history.releaseCommit(of: lock, at: snapshot.commit)
            throw LockPoolError.notClaimed(
                lock: lock, pool: pool,
                releasedBy: released.map { "\(PoolHistory.holder(of: $0).description) in \($0.id.short)" })
        }
        let status = try LockStatus.read(repository: repository, snapshot: snapshot, locks: [lock])[0]
        guard let claim = status.commit, claim == fence else {
            let current = try history.claimCommit(of: lock, at: snapshot.commit)
            throw LockPoolError.fenceBroken(
                lock: lock, pool: pool,
                holder: current.map { PoolHistory.holder(of: $0).description } ?? "an unknown holder",
                current: current?.id ?? snapshot.commit, fence: fence,
                leaseTakenOver: try current.map { try isTakeover($0, of: fence) } ?? false)
        }
        if let expiry = status.leaseExpires, expiry <= now {
            throw LockPoolError.leasePassed(lock: lock, pool: pool, at: expiry)
        }
        var message = message(.renew, verb: "renewing", lock: lock, state: "claimed", claim: claim, lease: lease)
        message.lockSet = [lock]
        return .change(locks: [lock], updates: [], message: message, stateAfter: .claimed)
    }

    /// Claims `count` free locks in one commit, or waits until that many are free: all or nothing, so a set is never
    /// half-held.
    private func acquire(count: Int, lease: Duration?) throws -> Decision {
        for lock in snapshot.doubleLocks {
            warn("lock '\(lock)' is both claimed and unclaimed in pool '\(pool)'; skipping it")
        }
        guard snapshot.freeLocks.count >= count else {
            // One lock may come from a claim whose lease has passed; a set waits for free locks.
            if count == 1, snapshot.freeLocks.isEmpty, let passed = try passedLease(snapshot.heldLocks) {
                return try takeOver(passed, operation: .acquire, lease: lease)
            }
            return .wait(locks: snapshot.heldLocks, waitingForClaim: false)
        }
        // A partial Fisher–Yates shuffle: uniform, and O(count) swaps however large the pool.
        var generator = SystemRandomNumberGenerator()
        var free = snapshot.freeLocks
        for index in 0..<count { free.swapAt(index, Int.random(in: index..<free.count, using: &generator)) }
        let chosen = free[..<count].sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        return moveSet(chosen, operation: .acquire, lease: lease)
    }

    private func claim(_ lock: String, lease: Duration?) throws -> Decision {
        switch try namedState(lock) {
        case .unclaimed: return moveSet([lock], operation: .claim, lease: lease)
        default:
            if let passed = try passedLease([lock]) { return try takeOver(passed, operation: .claim, lease: lease) }
            return .wait(locks: [lock], waitingForClaim: false)
        }
    }

    /// Of `locks`, the claimed one whose lease passed first (by `now`), with its status; nil when none has a passed
    /// lease. Claims without `Lease-Expires` (upstream's, Pix4D's, lockpool's without a lease) never qualify.
    ///
    /// - Throws: `HistoryTruncated` when a claim lies below a shallow cache's boundary (the cache fetches deeper).
    private func passedLease(_ locks: [String]) throws -> LockStatus? {
        if let leases, leases.nothingPasses(tip: snapshot.commit, locks: locks, now: now, repository: repository) {
            return nil
        }
        let statuses = try LockStatus.read(repository: repository, snapshot: snapshot, locks: locks)
        let claims = statuses.filter { $0.state == .claimed && $0.commit != nil }
        leases?.record(tip: snapshot.commit, locks: locks, expiries: claims.compactMap(\.leaseExpires))
        return claims.filter { ($0.leaseExpires ?? .distantFuture) <= now }.min { $0.leaseExpires! < $1.leaseExpires! }
    }

    /// Whether `claim` took over the claim `fence` when its lease had passed: its first parent is the reap of `fence`
    /// (docs/decisions/0011-lease-takeover.md).
    private func isTakeover(_ claim: Commit, of fence: ObjectID) throws -> Bool {
        guard let parent = claim.parents.first, repository.contains(parent) else { return false }
        let message = try repository.commit(parent).message
        return Trailers.value("Reap-Claim-Commit", in: message) == fence.hex
            && Trailers.value("Reap-Reason", in: message) == "lease-expired"
    }

    /// Ends `status`'s claim as the reaper ends a passed lease (fenced on that claim, `Reap-*` evidence), and claims
    /// the lock on top for `operation` (docs/decisions/0011-lease-takeover.md).
    private func takeOver(_ status: LockStatus, operation: LockOperation, lease: Duration?) throws -> Decision {
        let lock = status.lock
        let verdict = Reaper(staleAfter: nil, now: now).decide(
            status, liveness: .unknown(reason: "taken over by a waiter"))
        guard case .reap(_, let evidence) = verdict.verdict,
            case .change(_, let releaseUpdates, let releaseMessage, _) = try releaseSet(
                [lock], fence: status.commit, remove: false, evidence: evidence),
            let entry = snapshot.claimed[lock]
        else { return .wait(locks: [lock], waitingForClaim: false) }
        warn(
            "lock '\(lock)' in pool '\(pool)': the lease of \(status.holder?.description ?? "its holder") passed at "
                + "\(CommitMessage.timestamp(status.leaseExpires!)); taking it over")
        var message = message(operation, verb: "claiming", lock: lock, state: "claimed", lease: lease)
        message.lockSet = [lock]
        return .takeover(
            release: releaseUpdates, releaseMessage: releaseMessage, locks: [lock],
            updates: [
                .remove(path: "\(pool)/unclaimed/\(lock)"),
                .upsert(path: "\(pool)/claimed/\(lock)", id: entry.id, mode: entry.mode),
            ],
            message: message)
    }

    /// Creates `lock`. An identical existing lock is a no-op (idempotent puts); any other existing lock is an error,
    /// never an overwrite or a second copy in the other state (upstream issue #27).
    private func add(_ lock: String, content: [UInt8], claimed: Bool, lease: Duration?) throws -> Decision {
        let blob = Repository.hashBlob(content)
        switch (snapshot.state(of: lock), claimed) {
        case (.both, _): throw LockPoolError.lockInBothStates(lock: lock, pool: pool)
        case (.absent, _):
            let id = try repository.createBlob(content)
            let directory = claimed ? "claimed" : "unclaimed"
            return .change(
                locks: [lock], updates: [.upsert(path: "\(pool)/\(directory)/\(lock)", id: id, mode: 0o100644)],
                message: message(
                    claimed ? .addClaimed : .add, verb: claimed ? "adding claimed" : "adding unclaimed", lock: lock,
                    state: directory, lease: lease),
                stateAfter: claimed ? .claimed : .unclaimed)
        case (.unclaimed, false):
            guard snapshot.unclaimed[lock]?.id == blob else {
                throw LockPoolError.existsWithOtherContent(lock: lock, pool: pool)
            }
            return try noOp(lock)
        case (.claimed, true):
            guard snapshot.claimed[lock]?.id == blob else {
                throw LockPoolError.existsClaimed(lock: lock, pool: pool)
            }
            return try noOp(lock)
        case (.claimed, false): throw LockPoolError.existsClaimed(lock: lock, pool: pool)
        case (.unclaimed, true): throw LockPoolError.existsUnclaimed(lock: lock, pool: pool)
        }
    }

    /// Writes `content` as the unclaimed `lock`; a claimed lock is waited for rather than changed under its holder.
    private func update(_ lock: String, content: [UInt8]) throws -> Decision {
        switch snapshot.state(of: lock) {
        case .both: throw LockPoolError.lockInBothStates(lock: lock, pool: pool)
        case .claimed: return .wait(locks: [lock], waitingForClaim: false)
        case .unclaimed where snapshot.unclaimed[lock]?.id == Repository.hashBlob(content): return try noOp(lock)
        case .unclaimed, .absent:
            let isNew = snapshot.state(of: lock) == .absent
            let id = try repository.createBlob(content)
            return .change(
                locks: [lock], updates: [.upsert(path: "\(pool)/unclaimed/\(lock)", id: id, mode: 0o100644)],
                message: message(
                    .update, verb: isNew ? "adding unclaimed" : "updating", lock: lock, state: "unclaimed"),
                stateAfter: .unclaimed)
        }
    }

    /// `check` and `check_unclaimed`: one test, its sense flipped by `waitingForClaim`. The version is the lock's
    /// last change, not the tip, so that the implicit get after the put names this lock.
    private func check(_ lock: String, waitingForClaim: Bool) throws -> Decision {
        let isClaimed = try namedState(lock) == .claimed
        guard isClaimed == waitingForClaim else { return .wait(locks: [lock], waitingForClaim: waitingForClaim) }
        return .done(lock: lock, version: try lastChange(lock))
    }

    /// The state of a lock named by the user: absent and both-states are permanent failures.
    private func namedState(_ lock: String) throws -> LockState {
        let state = snapshot.state(of: lock)
        switch state {
        case .absent: throw LockPoolError.lockMissing(lock: lock, pool: pool)
        case .both: throw LockPoolError.lockInBothStates(lock: lock, pool: pool)
        default: return state
        }
    }

    private func lastChange(_ lock: String) throws -> ObjectID {
        try history.lastChange(of: lock, at: snapshot.commit) ?? snapshot.commit
    }

    private func noOp(_ lock: String) throws -> Decision {
        .done(lock: lock, version: try lastChange(lock))
    }

    /// Claims every one of `locks` (unclaimed on the tip) in one commit.
    private func moveSet(_ locks: [String], operation: LockOperation, lease: Duration?) -> Decision {
        var updates: [TreeUpdate] = []
        for lock in locks {
            let entry = snapshot.unclaimed[lock]!
            updates.append(.remove(path: "\(pool)/unclaimed/\(lock)"))
            updates.append(.upsert(path: "\(pool)/claimed/\(lock)", id: entry.id, mode: entry.mode))
        }
        var message = message(operation, verb: "claiming", lock: locks[0], state: "claimed", lease: lease)
        message.lockSet = locks
        return .change(locks: locks, updates: updates, message: message, stateAfter: .claimed)
    }

    /// Releases or removes every one of `names` in one commit: each must be claimed, and with `fence`, claimed by
    /// that commit; otherwise nothing changes and the first problem is the error. `evidence` (a reaper's) becomes
    /// trailers.
    private func releaseSet(_ names: [String], fence: ObjectID?, remove: Bool, evidence: [TrailerField] = [])
        throws -> Decision
    {
        let locks = Array(Set(names)).sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        var updates: [TreeUpdate] = []
        var claims: [ObjectID] = []
        for lock in locks {
            switch try namedState(lock) {
            case .claimed: break
            default:
                if remove { throw LockPoolError.removeUnclaimed(lock: lock, pool: pool) }
                let released = try history.releaseCommit(of: lock, at: snapshot.commit)
                throw LockPoolError.notClaimed(
                    lock: lock, pool: pool,
                    releasedBy: released.map { "\(PoolHistory.holder(of: $0).description) in \($0.id.short)" })
            }
            let claim = try history.claimCommit(of: lock, at: snapshot.commit)
            if let fence, claim?.id != fence {
                throw LockPoolError.fenceBroken(
                    lock: lock, pool: pool,
                    holder: claim.map { PoolHistory.holder(of: $0).description } ?? "an unknown holder",
                    current: claim?.id ?? snapshot.commit, fence: fence,
                    leaseTakenOver: try claim.map { try isTakeover($0, of: fence) } ?? false)
            }
            if let claim, !claims.contains(claim.id) { claims.append(claim.id) }
            let entry = snapshot.claimed[lock]!
            updates.append(.remove(path: "\(pool)/claimed/\(lock)"))
            if !remove { updates.append(.upsert(path: "\(pool)/unclaimed/\(lock)", id: entry.id, mode: entry.mode)) }
        }
        // Lock-Claim names the claim ended when the set shares one (an atomic claim), as fencing needs.
        var message = message(
            remove ? .remove : .release, verb: remove ? "removing" : "unclaiming", lock: locks[0],
            state: remove ? "removed" : "unclaimed", claim: claims.count == 1 ? claims[0] : nil, extra: evidence)
        message.lockSet = locks
        return .change(locks: locks, updates: updates, message: message, stateAfter: remove ? .absent : .unclaimed)
    }

    private func message(
        _ operation: LockOperation, verb: String, lock: String, state: String, claim: ObjectID? = nil,
        lease: Duration? = nil, extra: [TrailerField] = []
    ) -> CommitMessage {
        let seconds = now.timeIntervalSince1970.rounded(.down)
        let expiry = lease.map { Date(timeIntervalSince1970: seconds + Double($0.components.seconds)) }
        return CommitMessage(
            verb: verb, operation: operation, pool: pool, lock: lock, stateAfter: state, claimCommit: claim?.hex,
            leaseExpires: expiry, build: configuration.build, tool: configuration.tool,
            nonce: CommitMessage.freshNonce(), extraTrailers: extra)
    }
}

/// The leases a waiter last read, so that its polls walk the history to every holder's claim again only when a lease
/// may have come into play: an idle pool costs a poll its fetch, and a busy pool without leases the messages of the
/// commits since the last poll.
final class LeaseWatch {
    private var tip: ObjectID?
    private var locks: [String] = []
    /// The soonest lease of `locks` at `tip`; nil when the last read found none.
    private var nextExpiry: Date?

    /// Whether no lease of `locks` can have passed by `now` at `tip`, judged from the last read: the same tip and
    /// locks, with no lease of them due yet; or, when that read found no lease at all, a tip a few commits on whose new
    /// commits carry no `Lease-Expires` (so the claims made since, and the renewals, have none).
    func nothingPasses(tip: ObjectID, locks: [String], now: Date, repository: Repository) -> Bool {
        guard let last = self.tip else { return false }
        if tip == last && locks == self.locks { return nextExpiry.map { $0 > now } ?? true }
        guard nextExpiry == nil else { return false }
        var reached = false
        var seen = 0
        do {
            try repository.walkFirstParentIDs(from: tip) { id in
                reached = id == last
                seen += 1
                guard !reached, seen <= 64 else { return false }
                return !(try repository.commit(id).message.contains("\nLease-Expires: "))
            }
        } catch {
            return false
        }
        guard reached else { return false }
        (self.tip, self.locks) = (tip, locks)
        return true
    }

    func record(tip: ObjectID, locks: [String], expiries: [Date]) {
        (self.tip, self.locks, nextExpiry) = (tip, locks, expiries.min())
    }
}
