import Foundation
import Git

/// The periodic waiting line: who holds the locks and since when (SPEC §6.2).
struct WaitingStatus {
    let repository: Repository
    let snapshot: PoolSnapshot
    let now: Date

    func line(elapsed: Duration, locks: [String], waitingForClaim: Bool) throws -> String {
        let history = PoolHistory(repository: repository, pool: snapshot.pool)
        var parts: [String] = []
        for lock in locks.prefix(5) {
            if waitingForClaim {
                let since = try history.lastChange(of: lock, at: snapshot.commit).map { try repository.commit($0) }
                parts.append("\(lock) unclaimed" + (since.map { " since \(Self.timestamp($0.committer.time))" } ?? ""))
                continue
            }
            guard let claim = try history.claimCommit(of: lock, at: snapshot.commit) else {
                parts.append("\(lock) claimed")
                continue
            }
            var part = "\(lock) claimed by \(PoolHistory.holder(of: claim).description) since "
            part += Self.timestamp(claim.committer.time)
            if let expiry = Holder.leaseExpiry(in: claim.message), expiry < now {
                part += ", lease expired \(Self.rough(now.timeIntervalSince(expiry))) ago"
            }
            parts.append(part)
        }
        if locks.count > 5 { parts.append("and \(locks.count - 5) more") }
        if parts.isEmpty { parts.append("no locks in pool '\(snapshot.pool)'") }
        let seconds = Duration.seconds(elapsed.components.seconds)
        return "waiting \(seconds.goDescription): " + parts.joined(separator: "; ")
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
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
