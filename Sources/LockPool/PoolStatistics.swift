import FoundationEssentials
import Git

/// Analytics of one pool over a window of time, computed from the lock repository's history (`lockpool stats`).
///
/// Definitions (the contract `lockpool stats` prints):
/// - **Window**: `[since, until]`. `since` defaults to the time of the pool's first event (the start of its history),
///   `until` to now. A claim that began before `since` counts from `since` for utilisation.
/// - **Utilisation** of a lock: the time it was claimed within the window ÷ the time it existed within the window,
///   0…1; nil when it did not exist for any time in the window. Of the pool: the sum of claimed lock-time ÷ the sum of
///   existing lock-time over its locks.
/// - **Hold**: from a claim (action `claim` or `add_claimed`) to the `release` or `remove` that ends it. Percentiles
///   and the maximum are over the holds that end within the window, by their full length (a hold begun before `since`
///   counts from its claim commit). Holds still open at `until` are counted apart (`open`, and the age of the oldest
///   at `until`) and are not in the percentiles. `update` and `duplicate` (a lock in both states, from older tools)
///   begin and end no hold.
/// - **Percentiles**: nearest rank: sort ascending and take element ⌈p·n⌉−1 (p50, p90; p100 is the maximum).
/// - **Wait**: the `Lock-Waited` trailer of the claims in the window (lockpool writes it on acquire and claim); nil
///   when no claim recorded one.
/// - **Operations per day**: the events in the window ÷ the window's length in days; 0 for a window shorter than
///   `rateWindow` (a minute), where a rate would say nothing (one event in a second is not 86,400 a day).
/// - **Top holders**: who made the claims in the window, grouped by team/pipeline/job when the claim's build names at
///   least a pipeline and a job (instance vars and build names are dropped), else by the holder's description;
///   ordered by number of claims, then by hold time (the part within the window of the holds those claims began),
///   then by name.
public struct PoolStatistics: Sendable, Equatable {
    /// The pool.
    public var pool: String
    /// The window's start.
    public var since: Date
    /// The window's end.
    public var until: Date
    /// Lock-time claimed within the window, summed over the locks.
    public var claimedTime: Duration
    /// Lock-time existing within the window, summed over the locks.
    public var lockTime: Duration
    /// The holds, over every lock.
    public var holds: Holds
    /// The recorded waits of the window's claims; nil when no claim recorded one.
    public var waits: Percentiles?
    /// The operations in the window.
    public var operations: Operations
    /// Every lock that existed within the window (removed ones included), in byte order of their names.
    public var locks: [Lock]
    /// The first holders by claims in the window.
    public var topHolders: [TopHolder]
    /// How many holders (groups) made claims in the window.
    public var holderCount: Int

    /// Creates statistics from their parts.
    public init(
        pool: String, since: Date, until: Date, claimedTime: Duration, lockTime: Duration, holds: Holds,
        waits: Percentiles?, operations: Operations, locks: [Lock], topHolders: [TopHolder], holderCount: Int
    ) {
        self.pool = pool
        self.since = since
        self.until = until
        self.claimedTime = claimedTime
        self.lockTime = lockTime
        self.holds = holds
        self.waits = waits
        self.operations = operations
        self.locks = locks
        self.topHolders = topHolders
        self.holderCount = holderCount
    }

    /// The window's length.
    public var window: Duration { Self.duration(from: since, to: until) }

    /// Claimed lock-time ÷ existing lock-time, 0…1; nil when no lock existed within the window.
    public var utilisation: Double? { Self.ratio(claimedTime, lockTime) }

    /// Count, p50, p90 and maximum of some durations.
    public struct Percentiles: Sendable, Equatable {
        /// How many durations.
        public var count: Int
        /// The nearest-rank 50th and 90th percentiles.
        public var p50: Duration
        public var p90: Duration
        /// The longest.
        public var max: Duration

        /// Creates a summary from its parts.
        public init(count: Int, p50: Duration, p90: Duration, max: Duration) {
            self.count = count
            self.p50 = p50
            self.p90 = p90
            self.max = max
        }

        /// The summary of `durations`: nearest rank, element ⌈p·n⌉−1 of the sorted values; nil when empty.
        public init?(_ durations: [Duration]) {
            guard !durations.isEmpty else { return nil }
            let sorted = durations.sorted()
            // Whole percents in integers: (n·p + 99) / 100 is ⌈n·p / 100⌉ without floating-point rounding.
            func rank(_ percent: Int) -> Duration { sorted[(sorted.count * percent + 99) / 100 - 1] }
            self.init(count: sorted.count, p50: rank(50), p90: rank(90), max: sorted[sorted.count - 1])
        }
    }

    /// The holds of a lock or a pool.
    public struct Holds: Sendable, Equatable {
        /// The holds that ended within the window, by full length; nil when none did.
        public var ended: Percentiles?
        /// Holds still open at the window's end.
        public var open: Int
        /// The age at the window's end of the oldest open hold, from its claim; nil when none is open.
        public var oldestOpen: Duration?

        /// Creates a summary from its parts.
        public init(ended: Percentiles?, open: Int, oldestOpen: Duration?) {
            self.ended = ended
            self.open = open
            self.oldestOpen = oldestOpen
        }
    }

    /// Counts of the operations in the window.
    public struct Operations: Sendable, Equatable {
        /// Every event in the window.
        public var total: Int
        /// `claim` and `add_claimed`: the holds begun.
        public var claims: Int
        /// `release`.
        public var releases: Int
        /// `add` and `add_claimed`: the locks created (so `add_claimed` counts as a claim and as an add).
        public var adds: Int
        /// `remove`.
        public var removes: Int
        /// `update`.
        public var updates: Int
        /// `total` ÷ the window's length in days; 0 for an empty window.
        public var perDay: Double

        /// Creates counts from their parts.
        public init(total: Int, claims: Int, releases: Int, adds: Int, removes: Int, updates: Int, perDay: Double) {
            self.total = total
            self.claims = claims
            self.releases = releases
            self.adds = adds
            self.removes = removes
            self.updates = updates
            self.perDay = perDay
        }
    }

    /// One lock's figures.
    public struct Lock: Sendable, Equatable {
        /// The lock name.
        public var lock: String
        /// Its state at the window's end (`absent` once removed).
        public var state: LockState
        /// Time claimed within the window.
        public var claimedTime: Duration
        /// Time existing within the window.
        public var lockTime: Duration
        /// Claims (`claim`, `add_claimed`) in the window.
        public var claims: Int
        /// Its holds.
        public var holds: Holds

        /// Creates figures from their parts.
        public init(
            lock: String, state: LockState, claimedTime: Duration, lockTime: Duration, claims: Int, holds: Holds
        ) {
            self.lock = lock
            self.state = state
            self.claimedTime = claimedTime
            self.lockTime = lockTime
            self.claims = claims
            self.holds = holds
        }

        /// Claimed time ÷ existing time, 0…1; nil when the lock did not exist for any time in the window.
        public var utilisation: Double? { PoolStatistics.ratio(claimedTime, lockTime) }
    }

    /// A holder by claims in the window.
    public struct TopHolder: Sendable, Equatable {
        /// `team/pipeline/job` (or `pipeline/job`), else the holder's description.
        public var name: String
        /// Claims in the window.
        public var claims: Int
        /// The part within the window of the holds those claims began (open ones up to the window's end).
        public var holdTime: Duration

        /// Creates a holder's figures from their parts.
        public init(name: String, claims: Int, holdTime: Duration) {
            self.name = name
            self.claims = claims
            self.holdTime = holdTime
        }
    }

    /// The top-holder group of `holder`: its job path when the build names at least a pipeline and a job, else its
    /// description.
    public static func group(of holder: Holder) -> String {
        if let build = holder.build, let pipeline = build.pipeline, let job = build.job, !pipeline.isEmpty,
            !job.isEmpty
        {
            let team = build.team.flatMap { $0.isEmpty ? nil : $0 }
            return [team, pipeline, job].compactMap { $0 }.joined(separator: "/")
        }
        return holder.description
    }

    static func ratio(_ part: Duration, _ whole: Duration) -> Double? {
        whole > .zero ? part.timeInterval / whole.timeInterval : nil
    }

    /// The shortest window that has an operations rate.
    public static let rateWindow: Duration = .seconds(60)

    /// `end − start` to the millisecond (committer times are whole seconds), never negative.
    static func duration(from start: Date, to end: Date) -> Duration {
        .milliseconds(Int64((max(0, end.timeIntervalSince(start)) * 1000).rounded()))
    }
}

// MARK: - Computing

extension PoolStatistics {
    /// Computes the statistics of one pool from the state at the window's start and the events of the window.
    ///
    /// - Parameters:
    ///   - pool: the pool.
    ///   - since: the window's start.
    ///   - until: the window's end; taken as `since` when earlier.
    ///   - start: the pool's locks at `since`: state, and for a claimed lock its claim time (`LockStatus.since`;
    ///     `since` when unknown). Locks not listed are absent.
    ///   - events: the pool's events within the window, oldest first; events of other pools are ignored.
    ///   - top: how many top holders to keep.
    public init(
        pool: String, since: Date, until: Date, start: [LockStatus], events: [HistoryEvent], top: Int = 5
    ) {
        var replay = WindowReplay(pool: pool, since: since, until: max(since, until), start: start)
        for event in events where event.pool == pool { replay.apply(event) }
        self = replay.finish(pool: pool, top: top)
    }

    /// Reads the statistics of `pools` from the history behind `tip`.
    ///
    /// With `since`, the history is read only back to `since`: the state at the window's start comes from the
    /// newest commit older than `since` (`PoolSnapshot`, then `LockStatus.read` for the claim times of the locks
    /// claimed there, a walk that stops at the oldest of those claims), so `--since 7d` on a long history reads a
    /// week of commits plus the pool's changes back to its oldest open claim, never the whole history. Without
    /// `since`, each pool's window starts at its first event and the whole history is read once.
    ///
    /// - Parameters:
    ///   - repository: the lock repository.
    ///   - tip: the commit to read back from.
    ///   - pools: the pools.
    ///   - since: the window's start; each pool's first event when nil (the window is empty for a pool without
    ///     events).
    ///   - until: the window's end; `now` when nil.
    ///   - now: the current time.
    ///   - top: how many top holders to keep per pool.
    /// - Returns: one `PoolStatistics` per pool, in the order of `pools`.
    /// - Throws: `GitError` when the history cannot be read.
    public static func read(
        repository: Repository, tip: ObjectID, pools: [String], since: Date? = nil, until: Date? = nil,
        now: Date = Date(), top: Int = 5
    ) throws -> [PoolStatistics] {
        let end = until ?? now
        let window = try PoolTimeline(repository: repository).window(tip: tip, pools: pools, since: since, until: end)
        return try read(repository: repository, pools: pools, since: since, until: end, window: window, top: top)
    }

    /// As `read(repository:tip:pools:since:until:now:top:)`, from a `window` already walked: the pools' events from
    /// `since` (each pool's first event when nil) to `until`, as `PoolTimeline.window` returns them, or a later part
    /// of one (`Window.since`). Only the state at `since` is read from the repository, at the commit the walk stopped
    /// at.
    ///
    /// - Throws: `GitError` when the history cannot be read.
    public static func read(
        repository: Repository, pools: [String], since: Date?, until end: Date, window: PoolTimeline.Window,
        top: Int = 5
    ) throws -> [PoolStatistics] {
        var start: [LockStatus] = []
        if let since, let base = window.newestCommit(before: since) {
            for pool in pools {
                let snapshot = try PoolSnapshot(repository: repository, commit: base, pool: pool)
                let held = snapshot.heldLocks + snapshot.doubleLocks
                start += try LockStatus.read(repository: repository, snapshot: snapshot, locks: held)
                start += snapshot.freeLocks.map { LockStatus(pool: pool, lock: $0, state: .unclaimed) }
            }
        }
        return pools.map { pool in
            let mine = window.events.filter { $0.pool == pool }
            let from = since ?? mine.map(\.time).min() ?? end
            return PoolStatistics(pool: pool, since: from, until: end, start: start, events: mine, top: top)
        }
    }
}

/// One pool's window replayed in one pass: the locks at `since`, then each event in order, then every lock closed at
/// `until`. Each lock's and holder's time grows as its holds end or are closed, so the events are read only once.
private struct WindowReplay {
    let since: Date
    let until: Date
    var trackers: [String: LockTracker] = [:]
    /// Claims and hold time so far, by holder group.
    var holders: [String: PoolStatistics.TopHolder] = [:]
    var waits: [Duration] = []
    var operations = PoolStatistics.Operations(
        total: 0, claims: 0, releases: 0, adds: 0, removes: 0, updates: 0, perDay: 0)

    /// Starts from the pool's locks at `since`; `until` is not before `since`.
    init(pool: String, since: Date, until: Date, start: [LockStatus]) {
        self.since = since
        self.until = until
        for status in start where status.pool == pool && status.state != .absent {
            var tracker = LockTracker(state: status.state, existsFrom: since)
            if status.state.isHeld {
                // Counted from its claim for the hold's length, from `since` for the time claimed in the window.
                tracker.holdStart = status.since ?? since
                tracker.claimedFrom = since
            }
            trackers[status.lock] = tracker
        }
    }

    /// `date` moved into the window: time outside it counts for no lock.
    func clamped(_ date: Date) -> Date { min(max(date, since), until) }

    mutating func apply(_ event: HistoryEvent) {
        let time = clamped(event.time)
        var tracker = trackers[event.lock] ?? LockTracker(state: .absent, existsFrom: time)
        if tracker.state == .absent { tracker.existsFrom = time }
        operations.total += 1
        switch event.action {
        case .claim, .addClaimed:
            endHold(&tracker, at: event.time)  // only when history and tree disagree: a claim of a held lock
            beginHold(&tracker, for: event)
            if event.action == .addClaimed { operations.adds += 1 }
        case .release:
            endHold(&tracker, at: event.time)
            tracker.state = .unclaimed
            operations.releases += 1
        case .add:
            tracker.state = .unclaimed
            operations.adds += 1
        case .remove:
            endHold(&tracker, at: event.time)
            tracker.lockTime += PoolStatistics.duration(from: tracker.existsFrom, to: time)
            tracker.state = .absent
            operations.removes += 1
        case .update:
            operations.updates += 1
        case .duplicate:
            tracker.state = .both
        }
        trackers[event.lock] = tracker
    }

    /// Starts the hold of a claim in the window, credited to the claim's holder group.
    private mutating func beginHold(_ tracker: inout LockTracker, for event: HistoryEvent) {
        let group = PoolStatistics.group(of: event.holder)
        tracker.state = .claimed
        tracker.claims += 1
        tracker.holdStart = event.time
        tracker.claimedFrom = clamped(event.time)
        tracker.holder = group
        holders[group, default: PoolStatistics.TopHolder(name: group, claims: 0, holdTime: .zero)].claims += 1
        if let waited = event.waited { waits.append(waited) }
        operations.claims += 1
    }

    /// Ends the hold of `tracker` at `time` (an event in the window): its full length is an ended hold, its part in
    /// the window is claimed time, for the lock and for the holder.
    private mutating func endHold(_ tracker: inout LockTracker, at time: Date) {
        guard let holdStart = tracker.holdStart, let claimedFrom = tracker.claimedFrom else { return }
        let claimed = PoolStatistics.duration(from: claimedFrom, to: clamped(time))
        tracker.claimedTime += claimed
        tracker.endedHolds.append(PoolStatistics.duration(from: holdStart, to: time))
        if let group = tracker.holder { holders[group]?.holdTime += claimed }
        tracker.holdStart = nil
        tracker.claimedFrom = nil
        tracker.holder = nil
    }

    /// Closes `tracker` at `until`: a lock still present existed up to it, and a hold still open was claimed up to
    /// it (not an ended hold). Returns the open hold's age.
    private mutating func close(_ tracker: inout LockTracker) -> Duration? {
        if tracker.state != .absent {
            tracker.lockTime += PoolStatistics.duration(from: tracker.existsFrom, to: until)
        }
        guard let holdStart = tracker.holdStart, let claimedFrom = tracker.claimedFrom else { return nil }
        let claimed = PoolStatistics.duration(from: claimedFrom, to: until)
        tracker.claimedTime += claimed
        if let group = tracker.holder { holders[group]?.holdTime += claimed }
        return PoolStatistics.duration(from: holdStart, to: until)
    }

    /// Closes every lock at `until` and sums the figures.
    mutating func finish(pool: String, top: Int) -> PoolStatistics {
        var locks: [PoolStatistics.Lock] = []
        var allEnded: [Duration] = []
        var openAges: [Duration] = []
        for (name, var tracker) in trackers {
            let openAge = close(&tracker)
            if let openAge { openAges.append(openAge) }
            allEnded += tracker.endedHolds
            locks.append(
                PoolStatistics.Lock(
                    lock: name, state: tracker.state, claimedTime: tracker.claimedTime, lockTime: tracker.lockTime,
                    claims: tracker.claims,
                    holds: PoolStatistics.Holds(
                        ended: PoolStatistics.Percentiles(tracker.endedHolds), open: openAge == nil ? 0 : 1,
                        oldestOpen: openAge)))
        }
        locks.sort { Array($0.lock.utf8).lexicographicallyPrecedes(Array($1.lock.utf8)) }

        let window = PoolStatistics.duration(from: since, to: until)
        operations.perDay =
            window >= PoolStatistics.rateWindow ? Double(operations.total) / (window.timeInterval / 86400) : 0
        let ranked = Self.ranked(Array(holders.values))
        return PoolStatistics(
            pool: pool, since: since, until: until,
            claimedTime: locks.reduce(.zero) { $0 + $1.claimedTime },
            lockTime: locks.reduce(.zero) { $0 + $1.lockTime },
            holds: PoolStatistics.Holds(
                ended: PoolStatistics.Percentiles(allEnded), open: openAges.count, oldestOpen: openAges.max()),
            waits: PoolStatistics.Percentiles(waits), operations: operations, locks: locks,
            topHolders: Array(ranked.prefix(top)), holderCount: ranked.count)
    }

    /// Most claims first, then most hold time, then by name in byte order: a total order (names are unique), so the
    /// top holders never depend on the order of a dictionary.
    static func ranked(_ holders: [PoolStatistics.TopHolder]) -> [PoolStatistics.TopHolder] {
        holders.sorted {
            if $0.claims != $1.claims { return $0.claims > $1.claims }
            if $0.holdTime != $1.holdTime { return $0.holdTime > $1.holdTime }
            return Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8))
        }
    }
}

/// One lock while the events are replayed.
private struct LockTracker {
    var state: LockState
    /// When the lock began to exist (clamped to the window).
    var existsFrom: Date
    /// The open hold's claim time (before the window for a claim made earlier), its start clamped to the window,
    /// and its holder group (nil for a claim made before the window).
    var holdStart: Date?
    var claimedFrom: Date?
    var holder: String?
    var claims = 0
    var claimedTime: Duration = .zero
    var lockTime: Duration = .zero
    var endedHolds: [Duration] = []
}
