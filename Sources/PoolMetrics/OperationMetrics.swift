import LockPool
import Prometheus

/// The metrics of one finished `out` operation, in the Pix4D fork's family (docs/resource.md#metrics): execution time,
/// wait time and lost races grouped by pool, branch and operation; available and claimed locks grouped by pool and
/// branch.
public struct OperationMetrics: Sendable, Equatable {
    /// The Pushgateway job of every group.
    public static let job = "concourse_resource_pool"
    /// The fork's buckets (client_golang's defaults), in seconds.
    public static let executionTimeBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    /// The metric names and help texts, as the fork and docs/resource.md#metrics have them.
    public enum Name {
        public static let executionTime = "resource_pool_execution_time"
        public static let availableLocks = "resource_pool_num_available_locks"
        public static let claimedLocks = "resource_pool_num_claimed_locks"
        public static let waitTime = "resource_pool_wait_time"
        public static let lostRaces = "resource_pool_lost_races"
        public static let waiting = "resource_pool_num_waiting"
    }

    public var pool: String
    public var branch: String
    public var operation: OperationKind
    /// From the start of the step until its JSON was written.
    public var executionTime: Duration
    /// Time spent waiting for availability.
    public var waited: Duration
    /// Lost push races.
    public var lostRaces: Int
    /// Unclaimed and claimed locks at the last tip the operation saw.
    public var availableCount: Int
    public var claimedCount: Int
    /// Clients queued for the pool, when known (a fair queue); nil leaves the metric out.
    public var waitingCount: Int?

    public init(
        pool: String, branch: String, operation: OperationKind, executionTime: Duration, waited: Duration,
        lostRaces: Int, availableCount: Int, claimedCount: Int, waitingCount: Int? = nil
    ) {
        self.pool = pool
        self.branch = branch
        self.operation = operation
        self.executionTime = executionTime
        self.waited = waited
        self.lostRaces = lostRaces
        self.availableCount = availableCount
        self.claimedCount = claimedCount
        self.waitingCount = waitingCount
    }

    /// The metrics of `result`, an operation of `operation` on `pool` and `branch` that ran for `executionTime`.
    public init(
        _ result: OperationResult, operation: OperationKind, pool: String, branch: String, executionTime: Duration
    ) {
        self.init(
            pool: pool, branch: branch, operation: operation, executionTime: executionTime, waited: result.waited,
            lostRaces: result.lostRaces, availableCount: result.availableCount, claimedCount: result.claimedCount,
            waitingCount: result.waitingCount)
    }

    /// A descriptor whose name is exactly `name` (the fork's names carry no unit suffix).
    private static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// The `operation` label: the fork's `acquire_lock`, `claim_lock`, `release_lock`, `add_unclaimed_lock`,
    /// `add_claimed_lock`, `remove_lock`, `update_lock`, and lockpool's `check_lock`, `check_unclaimed_lock`,
    /// `renew_lock`.
    public static func operationLabel(_ kind: OperationKind) -> String {
        switch kind {
        case .acquire: "acquire_lock"
        case .claim: "claim_lock"
        case .release: "release_lock"
        case .add: "add_unclaimed_lock"
        case .addClaimed: "add_claimed_lock"
        case .remove: "remove_lock"
        case .update: "update_lock"
        case .check: "check_lock"
        case .checkUnclaimed: "check_unclaimed_lock"
        case .renew: "renew_lock"
        }
    }

    /// The two groups to push: per operation, then per pool.
    public func groups() -> [MetricGroup] {
        let operationRegistry = PrometheusCollectorRegistry()
        operationRegistry.makeDurationHistogram(
            descriptor: Self.descriptor(Name.executionTime, "Execution time of the current operation"),
            buckets: Self.executionTimeBuckets
        ).record(executionTime)
        operationRegistry.makeGauge(
            descriptor: Self.descriptor(Name.waitTime, "Time the current operation spent waiting for a lock")
        ).set(to: waited.timeInterval)
        operationRegistry.makeGauge(
            descriptor: Self.descriptor(Name.lostRaces, "Number of lost push races in the current operation")
        ).set(to: Double(lostRaces))

        let poolRegistry = PrometheusCollectorRegistry()
        poolRegistry.makeGauge(
            descriptor: Self.descriptor(Name.availableLocks, "The number of unclaimed locks in the current pool")
        ).set(to: Double(availableCount))
        poolRegistry.makeGauge(
            descriptor: Self.descriptor(Name.claimedLocks, "The number of claimed locks in the current pool")
        ).set(to: Double(claimedCount))
        if let waitingCount {
            poolRegistry.makeGauge(
                descriptor: Self.descriptor(Name.waiting, "The number of clients queued for the current pool")
            ).set(to: Double(waitingCount))
        }

        let poolLabels = [MetricGroup.Label("pool", pool), MetricGroup.Label("branch", branch)]
        return [
            MetricGroup(
                labels: poolLabels + [MetricGroup.Label("operation", Self.operationLabel(operation))],
                body: operationRegistry.emitToBuffer()),
            MetricGroup(labels: poolLabels, body: poolRegistry.emitToBuffer()),
        ]
    }
}
