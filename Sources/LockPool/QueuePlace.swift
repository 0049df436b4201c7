import FoundationEssentials
import Git
import Logging

/// A waiter's place in a pool's fair queue during one `perform`: joins the queue when it must wait, refreshes its
/// ticket, and lets a decision to take locks stand only when the tickets ahead leave enough of them (``FairQueue``).
struct QueuePlace {
    let client: LockPoolClient
    let demand: QueueTicket.Demand
    /// This waiter's ticket, once it has queued.
    private(set) var ticket: QueueTicket?
    /// Live tickets of others at the last tip seen.
    private(set) var waitingCount: Int?
    private var refreshAt = Date.distantPast

    init(client: LockPoolClient, demand: QueueTicket.Demand) {
        self.client = client
        self.demand = demand
    }

    /// What the queue made of a decision.
    enum Outcome {
        /// The decision stands (a take now also leaves the queue and sweeps expired tickets).
        case proceed
        /// The decision became a wait (or was one); the reason names the queue when it is what blocks.
        case waiting(reason: String?)
        /// The ticket's push lost a race: fetch and decide again.
        case lost
        /// The ticket's push failed for a transient reason.
        case transient(String)
    }

    private var configuration: PoolConfiguration { client.configuration }
    private var lifetime: Duration { FairQueue.lifetime(retryDelay: configuration.retryDelay) }

    /// Applies the queue to `decision`, made on `tip`: a take by a waiter with tickets ahead becomes a wait; a wait
    /// joins the queue (or refreshes the ticket) with one pushed commit.
    ///
    /// - Throws: `LockPoolError.pushRefused`, a classified remote error, or `GitError`.
    mutating func apply(
        to decision: inout Decision, operation: PoolOperation, tip: ObjectID, snapshot: PoolSnapshot,
        cache: LockRepositoryCache, time: Date, logger: Logger
    ) throws -> Outcome {
        let pool = configuration.pool
        let repository = cache.repository
        let now = Date()
        let tickets = try FairQueue.tickets(repository: repository, commit: tip, pool: pool)
        let mine = ticket?.name
        let stale = tickets.filter { $0.expires <= now && $0.name != mine }
        waitingCount = tickets.filter { $0.expires > now && $0.name != mine }.count
        var reason: String?
        if case .change(let locks, let updates, let message, let state) = decision {
            if FairQueue.mayProceed(demand, mine: mine, tickets: tickets, free: snapshot.freeLocks, now: now) {
                let leaving = tickets.filter { $0.name == mine } + stale
                decision = .change(
                    locks: locks, updates: updates + leaving.map { .remove(path: "\(pool)/waiting/\($0.name)") },
                    message: message, stateAfter: state)
                return .proceed
            }
            let ahead = tickets.filter { $0.expires > now && $0.name < (mine ?? "~") }.count
            reason = "\(ahead) waiting ahead in the fair queue of pool '\(pool)'"
            decision = .wait(locks: operation.lock.map { [$0] } ?? snapshot.heldLocks, waitingForClaim: false)
        }
        guard case .wait = decision else { return .proceed }
        let queued = tickets.contains { $0.name == mine }
        guard ticket == nil || !queued || now >= refreshAt else { return .waiting(reason: reason) }

        // Join the queue, come back to it after an expiry sweep (same name, same place), or refresh it.
        let place = QueueTicket(
            name: mine ?? QueueTicket.fresh(now: now, lifetime: lifetime, demand: demand, holder: "").name,
            expires: now + lifetime.timeInterval, demand: demand, holder: client.queueHolder)
        let message = CommitMessage(
            operation: .queue, pool: pool, lock: place.name, build: configuration.build, tool: configuration.tool)
        let updates =
            [
                TreeUpdate.upsert(
                    path: "\(pool)/waiting/\(place.name)", id: try repository.createBlob(place.content), mode: 0o100644)
            ] + stale.map { .remove(path: "\(pool)/waiting/\($0.name)") }
        let commit = try client.makeCommit(repository, tip: tip, updates: updates, message: message, time: time)
        ticket = place
        switch try client.push(commit, cache: cache) {
        case .won: break
        case .lost: return .lost
        case .transient(let cause): return .transient(cause)
        }
        try repository.setReference(cache.tipReference, to: commit, message: "lockpool: queue")
        refreshAt = now + lifetime.timeInterval / 3
        logger.debug("queued", metadata: ["ticket": "\(place.name)"])
        return .waiting(reason: reason)
    }
}
