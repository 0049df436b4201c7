import FoundationEssentials
import Git
import StringSupport

/// One change to one lock, read from a commit of the lock repository (`lockpool history`).
public struct HistoryEvent: Sendable, Equatable {
    /// What happened to the lock, as the commit's tree shows it.
    public enum Action: String, Sendable, CaseIterable {
        /// unclaimed → claimed.
        case claim
        /// claimed → unclaimed.
        case release
        /// absent → unclaimed.
        case add
        /// absent → claimed.
        case addClaimed = "add_claimed"
        /// claimed or unclaimed → absent.
        case remove
        /// The content (or mode) changed in place.
        case update
        /// The lock entered both states.
        case duplicate
    }

    /// Who wrote the commit, judged from its message.
    public enum Format: String, Sendable, CaseIterable {
        /// lockpool: schema-1 trailers.
        case lockpool
        /// The Pix4D form `TEAM/PIPELINE/JOB build NAME <verb>: <lock>` (also the upstream resource since 2017).
        case pix4d
        /// The upstream resource's other forms: a bare `<verb>: <lock>` (2015), `PIPELINE/JOB build NAME`,
        /// `one-off build N`, instance vars, `#N`, or a `Build URL:` line.
        case upstream
        /// Pool Boy's `Freshening up the pool with N changes`.
        case poolBoy = "pool-boy"
        /// Anything else: a commit made by hand or by a script.
        case manual
    }

    /// The commit.
    public var commit: ObjectID
    /// Its committer time.
    public var time: Date
    /// The pool and lock.
    public var pool: String
    public var lock: String
    /// What the tree change was.
    public var action: Action
    /// The operation as the tool named it: the `Lock-Operation` trailer (`acquire`, `claim`, …) when present,
    /// else the action.
    public var operation: String
    /// Who made the change.
    public var holder: Holder
    /// The message format.
    public var format: Format
    /// The commit's subject.
    public var subject: String
    /// `Lock-Claim`: the claim this release or remove ended.
    public var claim: String?
    /// `Lease-Expires` of a claim.
    public var leaseExpires: Date?
    /// `Reap-Reason` of a reaper's release.
    public var reapReason: String?
    /// `Lock-Waited` of a lockpool claim: how long its operation waited for the lock; nil when not recorded.
    public var waited: Duration?
}

/// The timeline of lock changes in a lock repository's first-parent history.
public struct PoolTimeline {
    public let repository: Repository

    public init(repository: Repository) { self.repository = repository }

    /// Subject verbs of the upstream resource, lockpool and the Pix4D fork, longest first.
    static let verbs = [
        "adding unclaimed", "adding claimed", "unclaiming", "claiming", "removing", "updating", "adding",
    ]

    /// The events of `pools` from `tip` back, oldest first.
    ///
    /// - Parameters:
    ///   - tip: where to start.
    ///   - pools: the pools to read.
    ///   - lock: only this lock, when given.
    ///   - since: stop at the first commit older than this.
    ///   - until: skip commits newer than this.
    ///   - limit: keep at most this many of the newest events.
    /// - Throws: `GitError` when the history cannot be read.
    public func events(
        tip: ObjectID, pools: [String], lock: String? = nil, since: Date? = nil, until: Date? = nil,
        limit: Int = .max
    ) throws -> [HistoryEvent] {
        try walk(tip: tip, pools: pools, lock: lock, since: since, until: until, limit: limit).events
    }

    /// The events of `pools` from `since` to `until` and the commits walked to read them, so that the state at the
    /// window's start, or at any later date, is found without walking the history again.
    ///
    /// - Throws: `GitError` when the history cannot be read.
    public func window(tip: ObjectID, pools: [String], since: Date?, until: Date?) throws -> Window {
        try walk(tip: tip, pools: pools, lock: nil, since: since, until: until, limit: .max)
    }

    private func walk(
        tip: ObjectID, pools: [String], lock: String?, since: Date?, until: Date?, limit: Int
    ) throws -> Window {
        var events: [HistoryEvent] = []
        var walked: [Window.Walked] = []
        let readers = pools.map { PoolDirectories(repository: repository, pool: $0) }
        // Walking back, a commit's "before" listing is its parent's "after": keep the last one of each pool.
        var previousBefore = [PoolDirectories.Listing?](repeating: nil, count: readers.count)
        try repository.walkFirstParents(from: tip) { id in
            let commit = try repository.commit(id)
            walked.append(Window.Walked(id: id, time: commit.committer.time))
            if let since, commit.committer.time < since { return false }
            if let until, commit.committer.time > until { return true }
            let parentTree = try commit.parents.first.map { try repository.treeID(ofCommit: $0) }
            var found: [HistoryEvent] = []
            for (index, reader) in readers.enumerated() {
                let mineEntry = try repository.entry(at: reader.pool, inTree: commit.tree)
                let theirsEntry = try parentTree.flatMap { try repository.entry(at: reader.pool, inTree: $0) }
                guard mineEntry?.id != theirsEntry?.id else { continue }
                let cached = previousBefore[index].flatMap {
                    $0.poolTree != nil && $0.poolTree == mineEntry?.id ? $0 : nil
                }
                let after = try cached ?? reader.listing(ofTree: commit.tree)
                let before = try reader.listing(ofTree: parentTree)
                previousBefore[index] = before
                found += Self.events(in: commit, pool: reader.pool, before: before, after: after, lock: lock)
            }
            events += found.reversed()
            return events.count < limit
        }
        return Window(events: Array(events.prefix(limit).reversed()), walked: walked, start: since)
    }

    static func events(
        in commit: Commit, pool: String, before: PoolDirectories.Listing, after: PoolDirectories.Listing,
        lock only: String?
    ) -> [HistoryEvent] {
        var names = Set(before.claimed.keys).union(before.unclaimed.keys).union(after.claimed.keys)
            .union(after.unclaimed.keys)
        if let only { names = names.filter { $0 == only } }
        var events: [HistoryEvent] = []
        let message = commit.message
        let trailers = Trailers.parse(message)
        func trailer(_ key: String) -> String? { trailers.first { $0.key.lowercased() == key.lowercased() }?.value }
        let holder = PoolHistory.holder(of: commit)
        for lock in names.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            let (wasClaimed, wasFree) = (before.claimed[lock], before.unclaimed[lock])
            let (isClaimed, isFree) = (after.claimed[lock], after.unclaimed[lock])
            if wasClaimed == isClaimed && wasFree == isFree { continue }
            let action: HistoryEvent.Action
            switch (wasClaimed != nil, wasFree != nil, isClaimed != nil, isFree != nil) {
            case (true, true, true, true): action = .update  // already in both states: one copy changed
            case (_, _, true, true): action = .duplicate
            case (false, true, true, false): action = .claim
            case (true, false, false, true): action = .release
            case (false, false, false, true): action = .add
            case (false, false, true, false): action = .addClaimed
            case (_, _, false, false): action = .remove
            default: action = .update
            }
            let format = Self.format(of: commit, lock: lock, pool: pool, trailer: trailer)
            var operation = action.rawValue
            if format == .lockpool, let named = trailer("Lock-Operation") { operation = named }
            events.append(
                HistoryEvent(
                    commit: commit.id, time: commit.committer.time, pool: pool, lock: lock, action: action,
                    operation: operation, holder: holder, format: format, subject: commit.subject,
                    claim: format == .lockpool ? trailer("Lock-Claim") : nil,
                    leaseExpires: action == .claim || action == .addClaimed ? Holder.leaseExpiry(in: message) : nil,
                    reapReason: trailer("Reap-Reason"),
                    waited: format == .lockpool ? trailer("Lock-Waited").flatMap { try? GoDuration.parse($0) } : nil))
        }
        return events
    }

    /// The message format of `commit` for the change of `lock`: a message that names another lock (or none) is
    /// manual.
    static func format(of commit: Commit, lock: String, pool: String, trailer: (String) -> String?)
        -> HistoryEvent.Format
    {
        if trailer("Lock-Schema") != nil {
            let named =
                CommitMessage.lockNames(in: commit.message).contains(lock) && (trailer("Lock-Pool") ?? pool) == pool
            return named ? .lockpool : .manual
        }
        let subject = commit.subject.trimming(.whitespaces)
        if subject.hasPrefix("Freshening up the pool with ") { return .poolBoy }
        for verb in verbs {
            let suffix = "\(verb): \(lock)"
            guard subject.hasSuffix(suffix) else { continue }
            let prefix = subject.dropLast(suffix.count)
            if prefix.isEmpty { return .upstream }
            guard prefix.hasSuffix(" ") else { continue }
            let build = Holder.from(
                message: String(prefix) + "claiming: x", committerName: "", committerEmail: ""
            ).build
            guard let build else { return .manual }
            return build.team != nil && build.instanceVars == nil ? .pix4d : .upstream
        }
        return .manual
    }
}

extension PoolTimeline {
    /// What one walk of the first-parent history read for a window: its events, and every commit it passed.
    public struct Window: Sendable {
        struct Walked: Sendable {
            let id: ObjectID
            let time: Date
        }

        /// The events of the window, oldest first.
        public let events: [HistoryEvent]
        /// The commits walked, newest first, with their committer times; the last is the first one older than the
        /// window's start, when the history reaches that far.
        let walked: [Walked]
        /// The window's start (`since`); nil for the whole history.
        let start: Date?

        /// The first commit on the first-parent walk from the tip whose committer time is before `date`: where a walk
        /// with `since: date` stops, so the pools' state there is their state at `date`. `date` is not before the
        /// window's start; nil when no commit is older.
        public func newestCommit(before date: Date) -> ObjectID? {
            precondition(start.map { date >= $0 } ?? true, "before the window's start: the walk did not go there")
            return walked.first { $0.time < date }?.id
        }

        /// The part of this window a walk with `since: date` would have read: the commits up to the first one older
        /// than `date`, and the events of the commits before it. `date` is not before the window's start.
        public func since(_ date: Date) -> Window {
            precondition(start.map { date >= $0 } ?? true, "before the window's start: the walk did not go there")
            guard let stop = walked.firstIndex(where: { $0.time < date }) else { return self }
            let read = Set(walked[..<stop].map(\.id))
            return Window(
                events: events.filter { read.contains($0.commit) }, walked: Array(walked[...stop]), start: date)
        }
    }
}
