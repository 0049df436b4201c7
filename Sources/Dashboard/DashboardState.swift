import FoundationEssentials
import Git
import LockPool

/// Everything the dashboard shows, read at one tip (docs/dashboard.md#what-it-shows): each pool's locks, waiters,
/// statistics over the last 24 hours and 7 days, and the holds of the last 7 days.
public struct DashboardState: Sendable {
    /// The branch and the commit read.
    public var branch: String
    public var tip: ObjectID
    /// When the state was read: the end of every window (whole seconds, so that `stats --until` can name it).
    public var readAt: Date
    public var pools: [PoolBoard]
    /// The events of every pool in the last 7 days, in `history`'s order.
    public var events: [HistoryEvent]

    public init(branch: String, tip: ObjectID, readAt: Date, pools: [PoolBoard], events: [HistoryEvent]) {
        self.branch = branch
        self.tip = tip
        self.readAt = readAt
        self.pools = pools
        self.events = events
    }

    /// The length of the long window: holds, the utilisation curve and waits cover it.
    public static let week: Duration = .seconds(7 * 86400)
    /// The short window of the overview's second utilisation figure.
    public static let day: Duration = .seconds(86400)

    /// Reads the state of every pool at `tip`.
    ///
    /// - Parameters:
    ///   - repository: the lock repository (its history back to 7 days before `now`, and to the oldest open claim).
    ///   - tip: the commit to read.
    ///   - branch: the branch `tip` is on, for display.
    ///   - now: the end of the windows; rounded down to the second.
    ///   - showMetadata: whether to read each lock's content (`--show-metadata`).
    /// - Throws: `GitError` when the repository cannot be read (a shallow cache's `HistoryTruncated` among them).
    public static func read(
        repository: Repository, tip: ObjectID, branch: String, now: Date, showMetadata: Bool
    ) throws -> DashboardState {
        let readAt = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        let names = try PoolCatalog.pools(in: repository, at: tip)
        let weekStart = readAt - Self.week.timeInterval
        let dayStart = readAt - Self.day.timeInterval
        // One walk of the week's history serves both windows and the charts.
        let window = try PoolTimeline(repository: repository).window(
            tip: tip, pools: names, since: weekStart, until: readAt)
        let events = window.events
        let week = try PoolStatistics.read(
            repository: repository, pools: names, since: weekStart, until: readAt, window: window)
        let day = try PoolStatistics.read(
            repository: repository, pools: names, since: dayStart, until: readAt, window: window.since(dayStart))
        var pools: [PoolBoard] = []
        for (index, name) in names.enumerated() {
            let snapshot = try PoolSnapshot(repository: repository, commit: tip, pool: name)
            let locks = try LockStatus.read(repository: repository, snapshot: snapshot)
            var contents: [String: [UInt8]] = [:]
            if showMetadata {
                for (lock, entry) in snapshot.claimed.merging(snapshot.unclaimed, uniquingKeysWith: { a, _ in a }) {
                    contents[lock] = try repository.blob(entry.id)
                }
            }
            let tickets = try FairQueue.tickets(repository: repository, commit: tip, pool: name)
            pools.append(
                PoolBoard(
                    name: name, locks: locks, waiters: tickets.filter { $0.expires > readAt }, day: day[index],
                    week: week[index], events: events.filter { $0.pool == name }, windowStart: weekStart,
                    now: readAt, contents: contents))
        }
        return DashboardState(branch: branch, tip: tip, readAt: readAt, pools: pools, events: events)
    }

    /// The pool named `name`.
    public func pool(_ name: String) -> PoolBoard? { pools.first { $0.name == name } }
}

/// One pool on the dashboard.
public struct PoolBoard: Sendable {
    public var name: String
    /// Every lock of the pool, in byte order of the names.
    public var locks: [LockStatus]
    /// The fair queue's live tickets, first in line first (docs/commits.md#fair-queue-tickets).
    public var waiters: [QueueTicket]
    /// `stats` over the last 24 hours and the last 7 days.
    public var day: PoolStatistics
    public var week: PoolStatistics
    /// The pool's events of the last 7 days, oldest first.
    public var events: [HistoryEvent]
    /// The holds that overlap the last 7 days, oldest first.
    public var holds: [Hold]
    /// Hourly utilisation over the last 7 days, oldest first.
    public var utilisation: [UtilisationSample]
    /// The lock contents, read only with `--show-metadata`.
    public var contents: [String: [UInt8]]

    public init(
        name: String, locks: [LockStatus], waiters: [QueueTicket], day: PoolStatistics, week: PoolStatistics,
        events: [HistoryEvent], windowStart: Date, now: Date, contents: [String: [UInt8]] = [:]
    ) {
        self.name = name
        self.locks = locks
        self.waiters = waiters
        self.day = day
        self.week = week
        self.events = events
        self.contents = contents
        holds = Hold.holds(events: events, locks: locks, windowStart: windowStart)
        utilisation = UtilisationSample.hourly(
            holds: holds, lifetimes: Lifetime.lifetimes(events: events, locks: locks, windowStart: windowStart),
            from: windowStart, to: now)
    }

    /// The claimed lock held longest, if any is claimed.
    public var longestHeld: LockStatus? {
        locks.filter { $0.state == .claimed && $0.since != nil }.min { $0.since! < $1.since! }
    }

    /// The number of locks in each state.
    public func count(_ state: LockState) -> Int { locks.filter { $0.state == state }.count }

    /// The Lock-Waited times recorded by the claims of the last 7 days (of `lock` only, when given).
    public func waits(lock: String? = nil) -> [Duration] {
        events.compactMap { event in
            guard event.action == .claim || event.action == .addClaimed, lock == nil || event.lock == lock else {
                return nil
            }
            return event.waited
        }
    }
}

/// One claim of one lock, from its claim (or the window's start) to its release (or now, while it lasts).
public struct Hold: Sendable, Equatable {
    public var lock: String
    /// Who claimed it; nil when the claim is older than the window and the lock is no longer claimed.
    public var holder: Holder?
    public var start: Date
    /// Whether `start` is the claim's own time (false: the claim is older than the window, which starts it).
    public var startKnown: Bool
    /// The release or removal; nil while the claim lasts.
    public var end: Date?

    /// The holds of a pool from its events (oldest first) and its current locks: a claim opens a hold, a release or
    /// removal ends it; a lock claimed now whose claim is older than the window is held from that claim.
    static func holds(events: [HistoryEvent], locks: [LockStatus], windowStart: Date) -> [Hold] {
        var open: [String: Hold] = [:]
        var seen = Set<String>()
        var holds: [Hold] = []
        for event in events {
            defer { seen.insert(event.lock) }
            switch event.action {
            case .claim, .addClaimed:
                if let previous = open.removeValue(forKey: event.lock) { holds.append(previous.ended(event.time)) }
                open[event.lock] = Hold(
                    lock: event.lock, holder: event.holder, start: event.time, startKnown: true, end: nil)
            case .release, .remove:
                if let hold = open.removeValue(forKey: event.lock) {
                    holds.append(hold.ended(event.time))
                } else if event.action == .release, !seen.contains(event.lock) {
                    holds.append(
                        Hold(lock: event.lock, holder: nil, start: windowStart, startKnown: false, end: event.time))
                }
            case .add, .update, .duplicate:
                break
            }
        }
        for status in locks where status.state.isHeld {
            if var hold = open[status.lock] {
                hold.holder = status.holder ?? hold.holder
                open[status.lock] = hold
            } else if !seen.contains(status.lock), let since = status.since {
                open[status.lock] = Hold(
                    lock: status.lock, holder: status.holder, start: since, startKnown: true, end: nil)
            }
        }
        holds += open.values
        return holds.sorted { ($0.start, $0.lock) < ($1.start, $1.lock) }
    }

    private func ended(_ time: Date) -> Hold {
        var hold = self
        hold.end = time
        return hold
    }
}

/// When a lock existed within the window: from its addition (or the window's start) to its removal (or now).
struct Lifetime {
    var lock: String
    var start: Date
    var end: Date?

    static func lifetimes(events: [HistoryEvent], locks: [LockStatus], windowStart: Date) -> [Lifetime] {
        var open: [String: Lifetime] = [:]
        var seen = Set<String>()
        var lifetimes: [Lifetime] = []
        for event in events {
            defer { seen.insert(event.lock) }
            switch event.action {
            case .add, .addClaimed:
                if open[event.lock] == nil { open[event.lock] = Lifetime(lock: event.lock, start: event.time) }
            case .remove:
                let start =
                    open.removeValue(forKey: event.lock)?.start ?? (seen.contains(event.lock) ? nil : windowStart)
                if let start { lifetimes.append(Lifetime(lock: event.lock, start: start, end: event.time)) }
            case .claim, .release, .update, .duplicate:
                if open[event.lock] == nil, !seen.contains(event.lock) {
                    open[event.lock] = Lifetime(lock: event.lock, start: windowStart)
                }
            }
        }
        for status in locks where status.state != .absent && open[status.lock] == nil && !seen.contains(status.lock) {
            open[status.lock] = Lifetime(lock: status.lock, start: windowStart)
        }
        return lifetimes + open.values
    }
}

/// The pool's utilisation over one interval: claimed lock-time ÷ existing lock-time.
public struct UtilisationSample: Sendable, Equatable {
    public var start: Date
    public var end: Date
    /// 0…1; nil when no lock existed.
    public var ratio: Double?

    /// Hourly samples from `start` to `end` (the last one shorter when the span is not whole hours).
    static func hourly(holds: [Hold], lifetimes: [Lifetime], from start: Date, to end: Date) -> [UtilisationSample] {
        var samples: [UtilisationSample] = []
        var bucketStart = start
        while bucketStart < end {
            let bucketEnd = min(bucketStart + 3600, end)
            func overlap(_ from: Date, _ to: Date?) -> TimeInterval {
                max(0, min(to ?? end, bucketEnd).timeIntervalSince(max(from, bucketStart)))
            }
            let claimed = holds.reduce(0) { $0 + overlap($1.start, $1.end) }
            let existing = lifetimes.reduce(0) { $0 + overlap($1.start, $1.end) }
            samples.append(
                UtilisationSample(
                    start: bucketStart, end: bucketEnd, ratio: existing > 0 ? min(1, claimed / existing) : nil))
            bucketStart = bucketEnd
        }
        return samples
    }
}
