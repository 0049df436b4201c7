import FoundationEssentials

/// An operation that changes a pool, as named in the `Lock-Operation` trailer.
public enum LockOperation: String, Sendable, CaseIterable {
    /// Claim any unclaimed lock of the pool.
    case acquire
    /// Claim a named lock.
    case claim
    /// Move a claimed lock back to unclaimed.
    case release
    /// Create a lock as unclaimed.
    case add
    /// Create a lock as claimed.
    case addClaimed = "add_claimed"
    /// Delete a claimed lock.
    case remove
    /// Replace an unclaimed lock's content, or add it as unclaimed.
    case update
    /// Join (or refresh a place in) a pool's fair queue: write `<pool>/waiting/<ticket>`.
    case queue
    /// Extend the lease of a claim (a commit without tree change, docs/decisions/0011-lease-takeover.md).
    case renew
    /// Leave the fair queue without taking a lock (timeout, failure): delete the ticket.
    case dequeue

    /// Whether the operation is about a queue ticket rather than a lock (`Lock-Ticket` instead of `Lock-Name`).
    public var isQueue: Bool { self == .queue || self == .dequeue }

    /// The lock's state after a commit of this operation: `claimed`, `unclaimed` or `removed`.
    public var stateAfter: String {
        switch self {
        case .acquire, .claim, .addClaimed, .renew: "claimed"
        case .release, .add, .update: "unclaimed"
        case .remove: "removed"
        case .queue: "waiting"
        case .dequeue: "gone"
        }
    }

    /// The subject verb of this operation.
    ///
    /// `update` of a lock that does not exist yet writes `adding unclaimed` instead (docs/commits.md#verbs); the caller
    /// decides.
    public var verb: String {
        switch self {
        case .acquire, .claim: "claiming"
        case .release: "unclaiming"
        case .add: "adding unclaimed"
        case .addClaimed: "adding claimed"
        case .remove: "removing"
        case .update: "updating"
        case .renew: "renewing"
        case .queue: "queueing"
        case .dequeue: "leaving the queue"
        }
    }
}

/// One `Key: value` trailer line.
public struct TrailerField: Sendable, Equatable, CustomStringConvertible {
    /// The key, such as `Reap-Reason`.
    public var key: String
    /// The value, one line.
    public var value: String

    /// Creates a trailer.
    public init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
    }

    /// `Key: value`.
    public var description: String { "\(key): \(value)" }
}

/// The message of a commit that changes one lock: Pix4D-form subject, optional `Build URL:` paragraph and schema-1
/// trailers (docs/commits.md#message-layout).
///
/// Values are inserted verbatim; control characters (U+0000–U+001F, U+007F) become a space, so the subject stays one
/// line and every trailer stays one trailer. Empty strings count as unknown.
public struct CommitMessage: Sendable, Equatable {
    /// The subject verb: `claiming`, `unclaiming`, `removing`, `adding unclaimed`, `adding claimed` or `updating`.
    public var verb: String
    /// The operation, for the `Lock-Operation` trailer.
    public var operation: LockOperation
    /// The pool name.
    public var pool: String
    /// The lock name (the first of a set).
    public var lock: String
    /// Every lock the commit changes when it changes several at once (an atomic multi-lock claim or release), in
    /// byte order; empty (or one lock) for a single-lock commit. The subject names them all, `Lock-Count` and `Lock-Names` (a JSON array)
    /// list them, and `Lock-Name` keeps the first for single-lock readers.
    public var lockSet: [String]
    /// The lock's state after the commit: `claimed`, `unclaimed` or `removed`.
    public var stateAfter: String
    /// The claim commit whose claim this commit ends (`Lock-Claim`; release and remove).
    public var claimCommit: String?
    /// When the lease ends (`Lease-Expires`), written as RFC 3339 UTC to the second.
    public var leaseExpires: Date?
    /// How long the operation waited for the lock before this commit (`Lock-Waited`; acquire and claim), in whole
    /// milliseconds as a Go duration such as `1m30.25s` or `0s`.
    public var waited: Duration?
    /// The build making the commit.
    public var build: BuildInfo
    /// The tool and its face, such as `lockpool 0.1.0 (resource)` (`Lock-Tool`).
    public var tool: String
    /// 32 lower-case hexadecimal digits, fresh for every commit created (`Lock-Nonce`).
    public var nonce: String
    /// Optional trailers added within schema 1 (such as the reaper's evidence), written before `Lock-Tool`.
    public var extraTrailers: [TrailerField]

    /// Creates a message; `stateAfter` and `verb` default to the operation's own.
    public init(
        verb: String? = nil, operation: LockOperation, pool: String, lock: String, stateAfter: String? = nil,
        claimCommit: String? = nil, leaseExpires: Date? = nil, waited: Duration? = nil, build: BuildInfo = .none,
        tool: String,
        nonce: String = CommitMessage.freshNonce(), extraTrailers: [TrailerField] = [], lockSet: [String] = []
    ) {
        self.lockSet = lockSet
        self.verb = verb ?? operation.verb
        self.operation = operation
        self.pool = pool
        self.lock = lock
        self.stateAfter = stateAfter ?? operation.stateAfter
        self.claimCommit = claimCommit
        self.leaseExpires = leaseExpires
        self.waited = waited
        self.build = build
        self.tool = tool
        self.nonce = nonce
        self.extraTrailers = extraTrailers
    }

    /// The subject prefix, with its trailing space: `TEAM/PIPELINE/JOB build NAME `, else `one-off build ID `, else
    /// empty.
    ///
    /// Instance vars never enter the subject; they would break the team/pipeline/job split reapers rely on.
    public var subjectPrefix: String {
        if let team = known(build.team), let pipeline = known(build.pipeline), let job = known(build.job),
            let name = known(build.name)
        {
            return "\(team)/\(pipeline)/\(job) build \(name) "
        }
        if let id = known(build.id) { return "one-off build \(id) " }
        return ""
    }

    /// The subject line: `<prefix><verb>: <lock>`.
    public var subject: String {
        let names = lockSet.count > 1 ? lockSet.map(oneLine).joined(separator: ", ") : oneLine(lock)
        return subjectPrefix + oneLine(verb) + ": " + names
    }

    /// `Lock-Names`: the set as a JSON array of strings, unambiguous whatever the names contain.
    public var lockNamesTrailer: String? {
        guard lockSet.count > 1 else { return nil }
        return "[" + lockSet.map(NameRule.jsonQuoted).joined(separator: ",") + "]"
    }

    /// The schema-1 trailers in the order of docs/commits.md#trailers, unknown values left out.
    ///
    /// A trailer cannot carry surrounding whitespace (`git interpret-trailers` trims it), so values are trimmed, and
    /// an optional value that is then empty is left out.
    public var trailers: [(key: String, value: String)] {
        let count: String? = lockSet.count > 1 ? String(lockSet.count) : nil
        let name: String? = operation.isQueue ? nil : lock
        let ticket: String? = operation.isQueue ? lock : nil
        let lease: String? = leaseExpires.map(CommitMessage.timestamp)
        let waitedText: String? = waited.map(CommitMessage.milliseconds)
        let lockTrailers: [(String, String?)] = [
            ("Lock-Schema", "1"), ("Lock-Operation", operation.rawValue), ("Lock-Pool", pool), ("Lock-Name", name),
            ("Lock-Ticket", ticket), ("Lock-Count", count), ("Lock-Names", lockNamesTrailer),
            ("Lock-State", stateAfter), ("Lock-Claim", claimCommit), ("Lease-Expires", lease),
            ("Lock-Waited", waitedText),
        ]
        let buildTrailers: [(String, String?)] = [
            ("Build-Team", build.team), ("Build-Pipeline", build.pipeline), ("Build-Job", build.job),
            ("Build-Name", build.name), ("Build-Id", build.id), ("Build-Pipeline-Instance-Vars", build.instanceVars),
            ("Build-URL", build.url),
        ]
        let extra: [(String, String?)] = extraTrailers.map { ($0.key, $0.value) }
        let tail: [(String, String?)] = [("Lock-Tool", tool), ("Lock-Nonce", nonce)]
        let candidates = lockTrailers + buildTrailers + extra + tail
        return candidates.compactMap { key, value in
            guard let value = known(value), let first = value.firstIndex(where: { $0 != " " }),
                let last = value.lastIndex(where: { $0 != " " })
            else { return nil }
            return (key, String(value[first...last]))
        }
    }

    /// The exact message text of docs/commits.md#message-layout, ending with a single newline.
    ///
    /// - Returns: the subject, a blank line, `Build URL: <url>` and a blank line when the URL is known, then the
    ///   trailers one per line.
    public func rendered() -> String {
        var text = subject + "\n\n"
        if let url = known(build.url) { text += "Build URL: \(url)\n\n" }
        for trailer in trailers { text += "\(trailer.key): \(trailer.value)\n" }
        return text
    }

    /// A fresh nonce: 128 bits from `SystemRandomNumberGenerator` as 32 lower-case hexadecimal digits.
    public static func freshNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        return hex(generator.next()) + hex(generator.next())
    }

    /// `date` as RFC 3339 UTC to the second, such as `2026-05-02T14:00:00Z`; fractions of a second are dropped.
    public static func timestamp(_ date: Date) -> String {
        let whole = Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
        return whole.formatted(Date.ISO8601FormatStyle(timeZone: .gmt))
    }

    /// `duration` truncated to whole milliseconds, as a Go duration (`1m30.25s`, `850ms`, `0s`).
    public static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = max(duration, .zero).components
        return (Duration.seconds(seconds) + .milliseconds(attoseconds / 1_000_000_000_000_000)).goDescription
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// The value with control characters replaced by spaces, or `nil` when it is absent or empty.
    private func known(_ value: String?) -> String? {
        guard let value, !value.isEmpty else { return nil }
        return oneLine(value)
    }

    private func oneLine(_ value: String) -> String {
        guard value.unicodeScalars.contains(where: CommitMessage.isControl) else { return value }
        var scalars = String.UnicodeScalarView()
        for scalar in value.unicodeScalars { scalars.append(CommitMessage.isControl(scalar) ? " " : scalar) }
        return String(scalars)
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool { scalar.value < 0x20 || scalar.value == 0x7F }
}

extension CommitMessage {
    /// The locks a lockpool commit names: `Lock-Names` when it changes a set, else `Lock-Name`; empty when neither is
    /// there (or `Lock-Names` is not a JSON array of strings).
    public static func lockNames(in message: String) -> [String] {
        if let list = Trailers.value("Lock-Names", in: message) {
            guard let data = list.data(using: .utf8),
                let names = try? JSONDecoder().decode([String].self, from: data)
            else { return [] }
            return names
        }
        return Trailers.value("Lock-Name", in: message).map { [$0] } ?? []
    }
}
