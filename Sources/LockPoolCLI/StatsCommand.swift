import ArgumentParser
import FoundationEssentials
import Git
import LockPool
import PoolMetrics
import StringSupport

/// The output formats of `stats`.
enum StatsFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case table, json, prometheus
}

/// `stats --json`: `{"branch", "tip", "pools": [PoolStatsReport]}`.
package struct StatsReport: Encodable {
    let branch: String
    let tip: String
    let pools: [PoolStatsReport]

    package init(branch: String, tip: String, pools: [PoolStatsReport]) {
        (self.branch, self.tip, self.pools) = (branch, tip, pools)
    }
}

/// One pool in `stats --json`. Durations are seconds, times RFC 3339, ratios 0…1; a figure without a value is null.
package struct PoolStatsReport: Encodable {
    let pool: String
    let since: Date
    let until: Date
    let windowSeconds: Double
    let utilisation: Double?
    let claimedSeconds: Double
    let lockSeconds: Double
    let holds: HoldsReport
    let waits: WaitsReport?
    let operations: OperationsReport
    let locks: [LockStatsReport]
    let topHolders: [TopHolderReport]
    let holders: Int

    enum CodingKeys: String, CodingKey {
        case pool, since, until, utilisation, holds, waits, operations, locks, holders
        case windowSeconds = "window_seconds"
        case claimedSeconds = "claimed_seconds"
        case lockSeconds = "lock_seconds"
        case topHolders = "top_holders"
    }

    package init(_ statistics: PoolStatistics) {
        pool = statistics.pool
        since = statistics.since
        until = statistics.until
        windowSeconds = statistics.window.timeInterval
        utilisation = statistics.utilisation
        claimedSeconds = statistics.claimedTime.timeInterval
        lockSeconds = statistics.lockTime.timeInterval
        holds = HoldsReport(statistics.holds)
        waits = statistics.waits.map(WaitsReport.init)
        operations = OperationsReport(statistics.operations)
        locks = statistics.locks.map(LockStatsReport.init)
        topHolders = statistics.topHolders.map(TopHolderReport.init)
        holders = statistics.holderCount
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(pool, forKey: .pool)
        try container.encode(since, forKey: .since)
        try container.encode(until, forKey: .until)
        try container.encode(windowSeconds, forKey: .windowSeconds)
        try container.encode(utilisation, forKey: .utilisation)
        try container.encode(claimedSeconds, forKey: .claimedSeconds)
        try container.encode(lockSeconds, forKey: .lockSeconds)
        try container.encode(holds, forKey: .holds)
        try container.encode(waits, forKey: .waits)
        try container.encode(operations, forKey: .operations)
        try container.encode(locks, forKey: .locks)
        try container.encode(topHolders, forKey: .topHolders)
        try container.encode(holders, forKey: .holders)
    }
}

/// Holds in `stats --json`: `ended` holds with their percentiles (null when none ended), `open` holds and the age of
/// the oldest (null when none is open).
struct HoldsReport: Encodable {
    let ended: Int
    let p50Seconds, p90Seconds, maxSeconds: Double?
    let open: Int
    let oldestOpenSeconds: Double?

    enum CodingKeys: String, CodingKey {
        case ended, open
        case p50Seconds = "p50_seconds"
        case p90Seconds = "p90_seconds"
        case maxSeconds = "max_seconds"
        case oldestOpenSeconds = "oldest_open_seconds"
    }

    init(_ holds: PoolStatistics.Holds) {
        ended = holds.ended?.count ?? 0
        p50Seconds = holds.ended.map { $0.p50.timeInterval }
        p90Seconds = holds.ended.map { $0.p90.timeInterval }
        maxSeconds = holds.ended.map { $0.max.timeInterval }
        open = holds.open
        oldestOpenSeconds = holds.oldestOpen.map(\.timeInterval)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(ended, forKey: .ended)
        try container.encode(p50Seconds, forKey: .p50Seconds)
        try container.encode(p90Seconds, forKey: .p90Seconds)
        try container.encode(maxSeconds, forKey: .maxSeconds)
        try container.encode(open, forKey: .open)
        try container.encode(oldestOpenSeconds, forKey: .oldestOpenSeconds)
    }
}

/// Recorded waits in `stats --json` (the whole object is null when no claim recorded one).
struct WaitsReport: Encodable {
    let recorded: Int
    let p50Seconds, p90Seconds, maxSeconds: Double

    enum CodingKeys: String, CodingKey {
        case recorded
        case p50Seconds = "p50_seconds"
        case p90Seconds = "p90_seconds"
        case maxSeconds = "max_seconds"
    }

    init(_ waits: PoolStatistics.Percentiles) {
        recorded = waits.count
        p50Seconds = waits.p50.timeInterval
        p90Seconds = waits.p90.timeInterval
        maxSeconds = waits.max.timeInterval
    }
}

/// Operations in `stats --json`.
struct OperationsReport: Encodable {
    let total: Int
    let perDay: Double
    let claims, releases, adds, removes, updates: Int

    enum CodingKeys: String, CodingKey {
        case total, claims, releases, adds, removes, updates
        case perDay = "per_day"
    }

    init(_ operations: PoolStatistics.Operations) {
        total = operations.total
        perDay = operations.perDay
        (claims, releases, adds, removes, updates) =
            (operations.claims, operations.releases, operations.adds, operations.removes, operations.updates)
    }
}

/// One lock in `stats --json`.
struct LockStatsReport: Encodable {
    let lock: String
    let state: String
    let utilisation: Double?
    let claimedSeconds: Double
    let lockSeconds: Double
    let claims: Int
    let holds: HoldsReport

    enum CodingKeys: String, CodingKey {
        case lock, state, utilisation, claims, holds
        case claimedSeconds = "claimed_seconds"
        case lockSeconds = "lock_seconds"
    }

    init(_ lock: PoolStatistics.Lock) {
        self.lock = lock.lock
        state = lock.state.rawValue
        utilisation = lock.utilisation
        claimedSeconds = lock.claimedTime.timeInterval
        lockSeconds = lock.lockTime.timeInterval
        claims = lock.claims
        holds = HoldsReport(lock.holds)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(lock, forKey: .lock)
        try container.encode(state, forKey: .state)
        try container.encode(utilisation, forKey: .utilisation)
        try container.encode(claimedSeconds, forKey: .claimedSeconds)
        try container.encode(lockSeconds, forKey: .lockSeconds)
        try container.encode(claims, forKey: .claims)
        try container.encode(holds, forKey: .holds)
    }
}

/// One top holder in `stats --json`.
struct TopHolderReport: Encodable {
    let holder: String
    let claims: Int
    let holdSeconds: Double

    enum CodingKeys: String, CodingKey {
        case holder, claims
        case holdSeconds = "hold_seconds"
    }

    init(_ holder: PoolStatistics.TopHolder) {
        self.holder = holder.name
        claims = holder.claims
        holdSeconds = holder.holdTime.timeInterval
    }
}

struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show utilisation, hold and wait times, operations and top holders, computed from the history.",
        discussion: """
            The window is --since to --until (default: each pool's first event to now). Utilisation: time claimed \
            ÷ time existing within the window, per lock and summed per pool; a claim made before --since counts \
            from --since. A hold runs from a claim to the release or remove that ends it; p50, p90 and max (nearest \
            rank) are over the holds ending in the window, by full length, and holds still open at --until are \
            counted apart. Waits are the Lock-Waited times that lockpool records on its claims. Operations per day: \
            events in the window ÷ its length in days. Top holders are grouped by team/pipeline/job, by claims in \
            the window, then hold time. --format prometheus writes gauges named lockpool_stats_* for \
            node_exporter's textfile collector. \(ExitStatus.help)
            """)

    @OptionGroup var options: ConnectionOptions
    @Argument(help: "The pools (default: all).") var pools: [String] = []
    @Option(help: ArgumentHelp("Window start: RFC 3339, a date, or an age (36h, 7d).", valueName: "time"))
    var since: TimeArgument?
    @Option(help: ArgumentHelp("Window end (default: now): RFC 3339, a date, or an age.", valueName: "time"))
    var until: TimeArgument?
    @Option(help: ArgumentHelp("Show the N holders with the most claims.", valueName: "n")) var top = 5
    @Flag(help: "Print JSON for scripts (same as --format json).") var json = false
    @Option(help: ArgumentHelp("Output format: table, json or prometheus (default: table).", valueName: "format"))
    var format: StatsFormat?

    /// The format to print.
    var output: StatsFormat { json ? .json : format ?? .table }

    func validate() throws {
        for pool in pools { try validateNames(pool: pool) }
        if top < 1 { throw ValidationError("--top must be at least 1") }
        if let since, let until, since.date > until.date {
            throw ValidationError("--since must not be after --until")
        }
        if let since, until == nil, since.date > Date() { throw ValidationError("--since must not be in the future") }
        if json, let format, format != .json {
            throw ValidationError("--json conflicts with --format \(format.rawValue)")
        }
    }

    func run() async throws {
        let session = Session(options: options)
        try await session.run {
            let configuration = try session.configuration(pool: pools.first ?? "pool")
            let now = Date()
            let (tip, statistics) = try await session.withFreshTip(configuration) { repository, tip in
                let names = pools.isEmpty ? try PoolCatalog.pools(in: repository, at: tip) : pools
                for pool in names {
                    guard try PoolSnapshot(repository: repository, commit: tip, pool: pool).exists else {
                        throw LockPoolError.poolMissing(pool: pool, branch: configuration.branch)
                    }
                }
                let statistics = try PoolStatistics.read(
                    repository: repository, tip: tip, pools: names, since: since?.date, until: until?.date, now: now,
                    top: top)
                return (tip, statistics)
            }
            switch output {
            case .json:
                session.print(
                    try JSONOutput.encode(
                        StatsReport(
                            branch: configuration.branch, tip: tip.hex, pools: statistics.map(PoolStatsReport.init))))
            case .prometheus:
                let text = StatisticsExposition.text(statistics)
                if !text.isEmpty { session.print(String(text.dropLast())) }
            case .table:
                if statistics.isEmpty {
                    session.print("no pools on branch '\(configuration.branch)' at \(tip.short)")
                    return
                }
                session.print(
                    statistics.map { Self.render($0, terminal: session.terminal) }.joined(separator: "\n\n"))
            }
        }
    }

    /// One pool's section of the table output: summary lines, the locks, the top holders.
    static func render(_ statistics: PoolStatistics, terminal: Terminal) -> String {
        func bold(_ text: String, _ row: Int, _ column: Int) -> String {
            row < 0 ? terminal.styled(text, .bold, forStdout: true) : text
        }
        var lines = [
            "\(terminal.styled(statistics.pool, .bold, forStdout: true)): \(HumanTime.timestamp(statistics.since)) to "
                + "\(HumanTime.timestamp(statistics.until)) (\(rough(statistics.window)))"
        ]
        if let utilisation = statistics.utilisation {
            lines.append(
                "utilisation \(Decimals.percent(utilisation)): \(rough(statistics.claimedTime)) claimed of "
                    + "\(rough(statistics.lockTime)) lock time")
        } else {
            lines.append("utilisation -: no lock existed in the window")
        }
        lines.append("holds: " + holds(statistics.holds))
        let operations = statistics.operations
        lines.append(
            "operations: \(operations.total) (\(rate(operations.perDay, window: statistics.window))): claims "
                + "\(operations.claims), releases \(operations.releases), adds \(operations.adds), removes "
                + "\(operations.removes), updates \(operations.updates)")
        if let waits = statistics.waits {
            lines.append(
                "waits: \(waits.count) of \(operations.claims) claims recorded (p50 \(exact(waits.p50)), p90 "
                    + "\(exact(waits.p90)), max \(exact(waits.max)))")
        } else {
            lines.append("waits: none recorded (0 of \(operations.claims) claims)")
        }
        if !statistics.locks.isEmpty {
            var table = Table("LOCK", "STATE", "UTILISATION", "CLAIMS", "HOLD P50", "HOLD P90", "HOLD MAX", "OPEN")
            for lock in statistics.locks {
                let ended = lock.holds.ended
                table.add(
                    lock.lock, lock.state.rawValue, lock.utilisation.map(Decimals.percent) ?? "-", "\(lock.claims)",
                    ended.map { exact($0.p50) } ?? "-", ended.map { exact($0.p90) } ?? "-",
                    ended.map { exact($0.max) } ?? "-", lock.holds.oldestOpen.map(exact) ?? "-")
            }
            lines += ["", table.render(style: bold)]
        }
        if statistics.topHolders.isEmpty {
            lines += ["", "top holders: no claims in the window"]
        } else {
            var table = Table("TOP HOLDER", "CLAIMS", "HOLD TIME")
            for holder in statistics.topHolders {
                table.add(holder.name, "\(holder.claims)", exact(holder.holdTime))
            }
            lines += ["", table.render(style: bold)]
        }
        return lines.joined(separator: "\n")
    }

    /// `holds: 3 ended (p50 1h0m0s, p90 2h0m0s, max 2h0m0s); 1 open (oldest 20m0s)`.
    static func holds(_ holds: PoolStatistics.Holds) -> String {
        var text = "none ended"
        if let ended = holds.ended {
            text = "\(ended.count) ended (p50 \(exact(ended.p50)), p90 \(exact(ended.p90)), max \(exact(ended.max)))"
        }
        if let oldest = holds.oldestOpen {
            return text + "; \(holds.open) open (oldest \(exact(oldest)))"
        }
        return text + "; none open"
    }

    /// The operations rate, or why there is none: a window under a minute says nothing per day.
    static func rate(_ perDay: Double, window: Duration) -> String {
        window >= PoolStatistics.rateWindow
            ? "\(Decimals.oneDecimal(perDay)) per day" : "no daily rate: the window is under a minute"
    }

    /// A duration to the millisecond, Go style (`1h0m0s`, `1.5s`).
    static func exact(_ duration: Duration) -> String { duration.goDescription }

    /// A long duration, coarsely (`3h0m`, `7d0h`).
    static func rough(_ duration: Duration) -> String { HumanTime.rough(duration.timeInterval) }
}
