import FoundationEssentials
import Git

/// The periodic waiting line: who holds the locks and since when (docs/concurrency.md#waiting).
struct WaitingStatus {
    let repository: Repository
    let snapshot: PoolSnapshot
    let now: Date

    /// The holders of the first five of `locks`.
    func statuses(_ locks: [String]) throws -> [LockStatus] {
        try LockStatus.read(repository: repository, snapshot: snapshot, locks: Array(locks.prefix(5)))
    }

    func line(elapsed: Duration, locks: [String], waitingForClaim: Bool) throws -> String {
        Self.line(
            elapsed: elapsed, statuses: try statuses(locks), total: locks.count, waitingForClaim: waitingForClaim,
            pool: snapshot.pool, now: now)
    }

    static func line(
        elapsed: Duration, statuses: [LockStatus], total: Int, waitingForClaim: Bool, pool: String, now: Date
    ) -> String {
        var parts: [String] = []
        for status in statuses {
            if waitingForClaim {
                parts.append(
                    "\(status.lock) unclaimed" + (status.since.map { " since \(Self.timestamp($0))" } ?? ""))
                continue
            }
            guard let holder = status.holder, let since = status.since else {
                parts.append("\(status.lock) claimed")
                continue
            }
            var part = "\(status.lock) claimed by \(holder.description) since \(Self.timestamp(since))"
            if let expiry = status.leaseExpires {
                part +=
                    expiry <= now
                    ? ", lease expired \(Self.rough(now.timeIntervalSince(expiry))) ago (lockpool reap \(pool) frees it)"
                    : ", lease ends \(Self.timestamp(expiry))"
            }
            parts.append(part)
        }
        if total > 5 { parts.append("and \(total - 5) more") }
        if parts.isEmpty { parts.append("no locks in pool '\(pool)'") }
        let seconds = Duration.seconds(elapsed.components.seconds)
        return "waiting \(seconds.goDescription): " + parts.joined(separator: "; ")
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(timeZone: .gmt))
    }

    /// A coarse duration: `45s`, `12m`, `3h5m`, `2d4h`.
    static func rough(_ interval: TimeInterval) -> String {
        let seconds = Int(interval)
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m" }
        if seconds < 86400 { return "\(seconds / 3600)h\(seconds % 3600 / 60)m" }
        return "\(seconds / 86400)d\(seconds % 86400 / 3600)h"
    }
}

/// Formatting of times and durations for people, shared by the waiting line and the CLI.
public enum HumanTime {
    /// `date` as RFC 3339 UTC to the second.
    public static func timestamp(_ date: Date) -> String { WaitingStatus.timestamp(date) }
    /// A coarse duration: `45s`, `12m`, `3h5m`, `2d4h`.
    public static func rough(_ interval: TimeInterval) -> String { WaitingStatus.rough(max(0, interval)) }
}
