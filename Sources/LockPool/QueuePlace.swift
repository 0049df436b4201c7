import FoundationEssentials
import Git

/// A waiter's place in a pool's fair queue during one operation (docs/concurrency.md#the-fair-queue).
///
/// A value that judges decisions: a decision to take locks stands only when the tickets ahead leave enough of them
/// (``FairQueue``); a wait asks for this waiter's ticket to be pushed (to join, to come back after an expiry sweep, or
/// to refresh it). It pushes nothing itself: the attempt that consulted it commits and pushes the ticket.
struct QueuePlace {
    let demand: QueueTicket.Demand
    let pool: String
    /// How long a ticket lives unless refreshed.
    let lifetime: Duration
    /// Who the ticket says is waiting.
    let holder: String
    /// This waiter's ticket, once it has asked to queue.
    private(set) var ticket: QueueTicket?
    /// Live tickets of others at the last tip judged.
    private(set) var waitingCount: Int?
    private var refreshAt = Date.distantPast

    init(demand: QueueTicket.Demand, pool: String, lifetime: Duration, holder: String) {
        self.demand = demand
        self.pool = pool
        self.lifetime = lifetime
        self.holder = holder
    }

    /// What the queue made of a decision.
    struct Verdict {
        /// The decision to carry out: the original, a take that also removes this ticket and expired ones, or a wait.
        var decision: Decision
        /// Why the operation waits, when the queue is what blocks it.
        var reason: String?
        /// A ticket to push before waiting, with the expired tickets to sweep in the same commit.
        var ticketToPush: (ticket: QueueTicket, sweep: [QueueTicket])?
    }

    /// Judges `decision`, made on a tip whose queue holds `tickets`: a take by a waiter with tickets ahead becomes a
    /// wait; a wait asks for this waiter's ticket unless it is queued and not due for a refresh.
    mutating func judge(
        _ decision: Decision, operation: PoolOperation, tickets: [QueueTicket], snapshot: PoolSnapshot, now: Date,
        alsoFree: [String] = []
    ) -> Verdict {
        let mine = ticket?.name
        let stale = tickets.filter { $0.expires <= now && $0.name != mine }
        waitingCount = tickets.filter { $0.expires > now && $0.name != mine }.count
        // A takeover goes ahead as its claim would: the queue judges the claim, and removes tickets in its commit.
        if case .takeover(let release, let releaseMessage, let locks, let updates, let message) = decision {
            // The lock taken over counts as free: it is, once the reap lands.
            var verdict = judge(
                .change(locks: locks, updates: updates, message: message, stateAfter: .claimed), operation: operation,
                tickets: tickets, snapshot: snapshot, now: now, alsoFree: locks)
            if case .change(_, let updates, _, _) = verdict.decision {
                verdict.decision = .takeover(
                    release: release, releaseMessage: releaseMessage, locks: locks, updates: updates, message: message)
            }
            return verdict
        }
        var verdict = Verdict(decision: decision)
        if case .change(let locks, let updates, let message, let state) = decision {
            if FairQueue.mayProceed(
                demand, mine: mine, tickets: tickets, free: snapshot.freeLocks + alsoFree, now: now)
            {
                let leaving = tickets.filter { $0.name == mine } + stale
                verdict.decision = .change(
                    locks: locks, updates: updates + leaving.map { .remove(path: path(of: $0)) }, message: message,
                    stateAfter: state)
                return verdict
            }
            let ahead = tickets.filter { $0.expires > now && $0.name < (mine ?? "~") }.count
            verdict.reason = "\(ahead) waiting ahead in the fair queue of pool '\(pool)'"
            verdict.decision = .wait(locks: operation.lock.map { [$0] } ?? snapshot.heldLocks, waitingForClaim: false)
        }
        guard case .wait = verdict.decision else { return verdict }
        let queued = tickets.contains { $0.name == mine }
        guard ticket == nil || !queued || now >= refreshAt else { return verdict }
        // Join the queue, come back to it after an expiry sweep (same name, same place), or refresh it.
        let place = QueueTicket(
            name: mine ?? QueueTicket.fresh(now: now, lifetime: lifetime, demand: demand, holder: "").name,
            expires: now + lifetime.timeInterval, demand: demand, holder: holder)
        ticket = place
        verdict.ticketToPush = (place, stale)
        return verdict
    }

    /// Records that the ticket asked for at `now` is on the branch: it is refreshed after a third of its lifetime.
    mutating func ticketPushed(at now: Date) { refreshAt = now + lifetime.timeInterval / 3 }

    /// The ticket's file in the lock repository.
    func path(of ticket: QueueTicket) -> String { Self.path(of: ticket, in: pool) }

    /// The file of `ticket` in `pool`'s queue.
    static func path(of ticket: QueueTicket, in pool: String) -> String { "\(pool)/waiting/\(ticket.name)" }
}
