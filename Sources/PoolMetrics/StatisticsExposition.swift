import FoundationEssentials
import LockPool
import Prometheus

/// `lockpool stats --format prometheus`: pool statistics as gauges in the text exposition format 0.0.4, for
/// node_exporter's textfile collector.
///
/// Every metric is a gauge named `lockpool_stats_…` with a HELP text. Durations are in seconds, ratios 0…1. A metric
/// without a value (no ended hold, no recorded wait, no open hold, a lock that never existed in the window) is left
/// out rather than written as 0.
public enum StatisticsExposition {
    /// The metric names.
    public enum Name {
        public static let windowSeconds = "lockpool_stats_window_seconds"
        public static let windowStart = "lockpool_stats_window_start_timestamp_seconds"
        public static let poolUtilisation = "lockpool_stats_pool_utilisation_ratio"
        public static let utilisation = "lockpool_stats_utilisation_ratio"
        public static let holdSeconds = "lockpool_stats_hold_seconds"
        public static let holds = "lockpool_stats_holds"
        public static let openHolds = "lockpool_stats_open_holds"
        public static let oldestOpenHold = "lockpool_stats_oldest_open_hold_seconds"
        public static let waitSeconds = "lockpool_stats_wait_seconds"
        public static let waitsRecorded = "lockpool_stats_waits_recorded"
        public static let operationsPerDay = "lockpool_stats_operations_per_day"
        public static let operations = "lockpool_stats_operations"
        public static let claims = "lockpool_stats_claims"
        public static let holderHoldSeconds = "lockpool_stats_holder_hold_seconds"
    }

    /// One metric family: name, help text and samples (labels, value).
    struct Family {
        let name: String
        let help: String
        var samples: [(labels: [(String, String)], value: Double)] = []
    }

    /// The `quantile` label values of the hold and wait percentiles.
    static let quantiles = ["0.5", "0.9", "1"]

    /// The families for `statistics`, in a fixed order.
    static func families(_ statistics: [PoolStatistics]) -> [Family] {
        var window = Family(
            name: Name.windowSeconds, help: "Length of the statistics window (--since to --until) in seconds")
        var windowStart = Family(
            name: Name.windowStart, help: "Start of the statistics window as a Unix timestamp in seconds")
        var poolUtilisation = Family(
            name: Name.poolUtilisation,
            help: "Claimed lock-time divided by existing lock-time over the pool's locks within the window")
        var utilisation = Family(
            name: Name.utilisation, help: "Time the lock was claimed divided by the time it existed within the window")
        var holdSeconds = Family(
            name: Name.holdSeconds,
            help: "Nearest-rank quantiles of the length of holds (claim to release or remove) ended in the window")
        var holds = Family(name: Name.holds, help: "Number of holds ended in the window")
        var openHolds = Family(name: Name.openHolds, help: "Number of holds still open at the window's end")
        var oldestOpen = Family(
            name: Name.oldestOpenHold, help: "Age at the window's end of the oldest hold still open, in seconds")
        var waitSeconds = Family(
            name: Name.waitSeconds,
            help: "Nearest-rank quantiles of the recorded waits (Lock-Waited) of the claims in the window")
        var waitsRecorded = Family(
            name: Name.waitsRecorded, help: "Number of claims in the window that recorded their wait")
        var perDay = Family(
            name: Name.operationsPerDay, help: "Lock operations in the window divided by its length in days")
        var operations = Family(
            name: Name.operations,
            help: "Lock operations in the window by kind (add_claimed counts as a claim and as an add)")
        var claims = Family(name: Name.claims, help: "Claims in the window by the top holders (team/pipeline/job)")
        var holderHold = Family(
            name: Name.holderHoldSeconds,
            help: "Time within the window held by the claims of the top holders, in seconds")

        for stats in statistics {
            let pool = [("pool", stats.pool)]
            window.samples.append((pool, stats.window.timeInterval))
            windowStart.samples.append((pool, stats.since.timeIntervalSince1970))
            if let ratio = stats.utilisation { poolUtilisation.samples.append((pool, ratio)) }
            for lock in stats.locks {
                guard let ratio = lock.utilisation else { continue }
                utilisation.samples.append((pool + [("lock", lock.lock)], ratio))
            }
            if let ended = stats.holds.ended {
                holdSeconds.samples += quantileSamples(ended, labels: pool)
            }
            holds.samples.append((pool, Double(stats.holds.ended?.count ?? 0)))
            openHolds.samples.append((pool, Double(stats.holds.open)))
            if let age = stats.holds.oldestOpen { oldestOpen.samples.append((pool, age.timeInterval)) }
            if let waits = stats.waits { waitSeconds.samples += quantileSamples(waits, labels: pool) }
            waitsRecorded.samples.append((pool, Double(stats.waits?.count ?? 0)))
            perDay.samples.append((pool, stats.operations.perDay))
            let counts = stats.operations
            for (kind, count) in [
                ("claim", counts.claims), ("release", counts.releases), ("add", counts.adds),
                ("remove", counts.removes), ("update", counts.updates),
            ] {
                operations.samples.append((pool + [("kind", kind)], Double(count)))
            }
            for holder in stats.topHolders {
                claims.samples.append((pool + [("holder", holder.name)], Double(holder.claims)))
                holderHold.samples.append((pool + [("holder", holder.name)], holder.holdTime.timeInterval))
            }
        }
        return [
            window, windowStart, poolUtilisation, utilisation, holdSeconds, holds, openHolds, oldestOpen, waitSeconds,
            waitsRecorded, perDay, operations, claims, holderHold,
        ]
    }

    static func quantileSamples(_ summary: PoolStatistics.Percentiles, labels: [(String, String)])
        -> [(labels: [(String, String)], value: Double)]
    {
        zip(quantiles, [summary.p50, summary.p90, summary.max]).map { quantile, value in
            (labels + [("quantile", quantile)], value.timeInterval)
        }
    }

    /// The exposition text of `statistics`: families in a fixed order, the samples of each sorted.
    ///
    /// The text is what swift-prometheus writes; each family gets its own registry because a registry writes its
    /// families and their samples in hash order, and a stable order keeps textfile diffs readable.
    ///
    /// - Returns: the text, ending in a newline; empty when there are no statistics.
    public static func text(_ statistics: [PoolStatistics]) -> String {
        var text = ""
        for family in families(statistics) where !family.samples.isEmpty {
            let registry = PrometheusCollectorRegistry()
            let descriptor = MetricNameDescriptor(metricName: family.name, unitName: "", helpText: family.help)
            for sample in family.samples {
                registry.makeGauge(descriptor: descriptor, labels: sample.labels).set(to: sample.value)
            }
            let lines = registry.emitToString().split(separator: "\n", omittingEmptySubsequences: true)
            let comments = lines.filter { $0.hasPrefix("#") }
            let samples = lines.filter { !$0.hasPrefix("#") }.sorted {
                Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8))
            }
            for line in comments + samples { text += line + "\n" }
        }
        return text
    }
}
