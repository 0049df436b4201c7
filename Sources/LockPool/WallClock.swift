import FoundationEssentials

/// The time of day, injected next to the monotonic clock that paces waiting: commits, leases, queue tickets and the
/// waiting line are stamped with it (docs/concurrency.md#clocks).
///
/// The monotonic clock measures durations (backoff, deadlines); this one says what time it is. Tests inject both.
public struct WallClock: Sendable {
    private let read: @Sendable () -> Date

    /// A clock that reads `read` for the time.
    public init(_ read: @escaping @Sendable () -> Date) { self.read = read }

    /// The system's time of day.
    public static let system = WallClock { Date() }

    /// A clock stopped at `date`, for tests.
    public static func fixed(_ date: Date) -> WallClock { WallClock { date } }

    /// The current time.
    public func now() -> Date { read() }

    /// The current time in whole seconds: git records commit times in seconds, and a lease or a decision made on the
    /// same time as its commit must agree with it.
    public func wholeSeconds() -> Date {
        Date(timeIntervalSince1970: read().timeIntervalSince1970.rounded(.down))
    }
}
