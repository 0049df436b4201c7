import FoundationEssentials
import Git
import StringSupport

/// A waiter's place in a pool's fair queue: the file `<pool>/waiting/<name>` (docs/commits.md#fair-queue-tickets,
/// `source.fair`).
///
/// The name orders the queue: the creation time in milliseconds (15 digits) and a random suffix, so tickets sort
/// oldest first. The content is three `key: value` lines: when the ticket expires unless refreshed, what its owner
/// wants (`any N` locks, or `lock L`), and who the owner is.
public struct QueueTicket: Sendable, Equatable {
    /// What a waiter wants.
    public enum Demand: Sendable, Equatable {
        /// Any `count` unclaimed locks (acquire).
        case any(Int)
        /// This lock (claim).
        case lock(String)
    }

    /// The file name, which is also the queue order.
    public var name: String
    /// The owner refreshes the ticket before this; after it, others skip it.
    public var expires: Date
    public var demand: Demand
    /// Who waits (the build or the committer), for people reading the repository.
    public var holder: String

    public init(name: String, expires: Date, demand: Demand, holder: String) {
        self.name = name
        self.expires = expires
        self.demand = demand
        self.holder = holder
    }

    /// A new ticket created `now`, with a name that sorts after every ticket created before it.
    public static func fresh(now: Date, lifetime: Duration, demand: Demand, holder: String) -> QueueTicket {
        let milliseconds = Int64((now.timeIntervalSince1970 * 1000).rounded(.down))
        let digits = String(milliseconds)
        let suffix = String(UInt32.random(in: .min ... .max), radix: 16)
        let name =
            String(repeating: "0", count: max(0, 15 - digits.count)) + digits + "-"
            + String(repeating: "0", count: 8 - suffix.count) + suffix
        return QueueTicket(name: name, expires: now + lifetime.timeInterval, demand: demand, holder: holder)
    }

    /// The file's bytes.
    public var content: [UInt8] {
        let wants =
            switch demand {
            case .any(let count): "any \(count)"
            case .lock(let lock): "lock \(lock)"
            }
        let holder = holder.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : String($0) }.joined()
        let expiry = expires.formatted(Self.timeFormat)
        return Array("expires: \(expiry)\nwants: \(wants)\nholder: \(holder)\n".utf8)
    }

    /// RFC 3339 UTC with milliseconds: `2026-05-02T14:01:00.250Z`.
    static let timeFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)

    /// Reads a ticket file; nil when it is not one (it then never blocks anyone).
    public static func parse(name: String, content: [UInt8]) -> QueueTicket? {
        var fields: [String: String] = [:]
        for line in String(decoding: content, as: UTF8.self).split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = String(line[line.index(after: colon)...]).trimming(.whitespaces)
        }
        guard let expiryText = fields["expires"],
            let expires = try? Date(expiryText, strategy: timeFormat),
            let wants = fields["wants"]
        else { return nil }
        let demand: Demand
        if wants.hasPrefix("any "), let count = Int(wants.dropFirst(4)), count > 0 {
            demand = .any(count)
        } else if wants.hasPrefix("lock "), wants.count > 5 {
            demand = .lock(String(wants.dropFirst(5)))
        } else {
            return nil
        }
        return QueueTicket(name: name, expires: expires, demand: demand, holder: fields["holder"] ?? "")
    }
}

/// First-come-first-served waiting (`source.fair`): waiters queue tickets in the repository, and a lock goes to the
/// oldest live ticket that wants it.
public enum FairQueue {
    /// How long a ticket lives without a refresh: ten polls, at least 5 s. A waiter that dies blocks the queue at
    /// most this long.
    public static func lifetime(retryDelay: Duration) -> Duration { max(retryDelay * 10, .seconds(5)) }

    /// The tickets of `pool` at `commit`, oldest first (unreadable files are not tickets).
    ///
    /// - Throws: `GitError`.
    public static func tickets(repository: Repository, commit: ObjectID, pool: String) throws -> [QueueTicket] {
        let tree = try repository.treeID(ofCommit: commit)
        guard let directory = try repository.entry(at: "\(pool)/waiting", inTree: tree), directory.kind == .tree
        else { return [] }
        var tickets: [QueueTicket] = []
        for entry in try repository.entries(ofTree: directory.id) where entry.isRegularFile {
            if let ticket = QueueTicket.parse(name: entry.name, content: try repository.blob(entry.id)) {
                tickets.append(ticket)
            }
        }
        return tickets.sorted { $0.name < $1.name }
    }

    /// Whether a waiter wanting `demand`, holding ticket `mine` (nil: none yet), may take its locks now: the live
    /// tickets ahead of it must leave enough of the `free` locks.
    ///
    /// Tickets ahead are the live (unexpired) ones older than `mine`, or all live ones for a waiter without a
    /// ticket. An `any N` ticket ahead reserves N free locks; a `lock L` ticket ahead reserves L when it is free.
    public static func mayProceed(
        _ demand: QueueTicket.Demand, mine: String?, tickets: [QueueTicket], free: [String], now: Date
    ) -> Bool {
        let ahead = tickets.filter { ticket in
            ticket.expires > now && ticket.name != mine && (mine.map { ticket.name < $0 } ?? true)
        }
        var reservedAny = 0
        var reservedLocks = Set<String>()
        for ticket in ahead {
            switch ticket.demand {
            case .any(let count): reservedAny += count
            case .lock(let lock) where free.contains(lock): reservedLocks.insert(lock)
            case .lock: break
            }
        }
        switch demand {
        case .any(let count):
            return free.count - reservedLocks.count - reservedAny >= count
        case .lock(let lock):
            guard free.contains(lock), !reservedLocks.contains(lock) else { return false }
            return free.count - reservedLocks.count - reservedAny >= 1
        }
    }
}
