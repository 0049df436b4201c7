import Dashboard
import FoundationEssentials
import Git
import LockPool
import Logging

/// The tip a refresh read, and when it read the state there.
struct ReadTip: Sendable {
    let tip: ObjectID
    let at: ContinuousClock.Instant
}

/// Fetches the branch every `interval` and publishes what changed to the store (docs/dashboard.md#refreshing).
struct Refresher: Sendable {
    let configuration: PoolConfiguration
    let store: DashboardStore
    let interval: Duration
    let showMetadata: Bool
    /// Redacted from every failure before it is shown.
    let secrets: [String]
    let logger: Logger

    /// The state is read again at least this often even when the tip does not move: windows, lease countdowns and
    /// "since" texts move with the clock.
    static let reread: Duration = .seconds(30)

    /// One refresh: a fetch (only what is new, the cache is warm after the first), then a new state when the tip
    /// moved or `reread` passed. Transient failures are retried only within `interval` (the next refresh is the next
    /// try), so a remote that goes away shows on the pages within one or two intervals. Failures go to the store,
    /// never up.
    ///
    /// - Returns: the tip read, or the previous one after a failure.
    func refresh(previous: ReadTip?, timeout: Duration? = nil) async -> ReadTip? {
        let client = LockPoolClient(configuration: configuration)
        do {
            let (tip, state) = try await client.withFreshTip(
                clock: ContinuousClock(), timeout: timeout ?? interval, events: { _ in }, logger: logger
            ) { cache, tip -> (ObjectID, DashboardState?) in
                if let previous, previous.tip == tip, previous.at.duration(to: .now) < Self.reread { return (tip, nil) }
                return (
                    tip,
                    try DashboardState.read(
                        repository: cache.repository, tip: tip, branch: configuration.branch, now: Date(),
                        showMetadata: showMetadata)
                )
            }
            await store.fetched(state, at: Date())
            return state == nil ? previous : ReadTip(tip: tip, at: .now)
        } catch {
            // The bound is the refresh interval: a failure shows at once, and the next refresh is the retry.
            var message = String(describing: error)
            if case LockPoolError.timedOut(_, let reason) = error, !reason.isEmpty { message = reason }
            message = redact(message, secrets)
            logger.warning("could not refresh the dashboard: \(message)")
            await store.failed(message, at: Date())
            return previous
        }
    }

    /// Refreshes every `interval` until cancelled.
    func run(after first: ReadTip?) async {
        var last = first
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            last = await refresh(previous: last)
        }
    }
}
