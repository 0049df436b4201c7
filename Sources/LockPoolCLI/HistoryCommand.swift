import ArgumentParser
import FoundationEssentials
import Git
import LockPool

/// A point in time: RFC 3339 (`2026-05-02T10:00:00Z`), a date (`2026-05-02`, midnight UTC), or an age before now
/// (`90m`, `36h`, `7d`, `2w`).
package struct TimeArgument: ExpressibleByArgument, Sendable {
    package let date: Date

    package init?(argument: String) { self.init(argument, now: Date()) }

    package init?(_ text: String, now: Date) {
        if let date = try? Date(text, strategy: .iso8601) {
            self.date = date
            return
        }
        if let date = try? Date(text + "T00:00:00Z", strategy: .iso8601) {
            self.date = date
            return
        }
        for (suffix, seconds) in [("d", 86400.0), ("w", 604800.0)] where text.hasSuffix(suffix) {
            guard let count = Double(text.dropLast()), count >= 0 else { return nil }
            date = now.addingTimeInterval(-count * seconds)
            return
        }
        guard let duration = try? GoDuration.parse(text), duration >= .zero else { return nil }
        date = now.addingTimeInterval(-Double(duration.components.seconds))
    }
}

/// One event in `history --json`.
package struct EventReport: Encodable {
    let time: Date
    let commit: String
    let pool: String
    let lock: String
    let action: String
    let operation: String
    let holder: String
    let build: BuildReport?
    let format: String
    let subject: String
    let claim: String?
    let leaseExpires: Date?
    let reapReason: String?

    enum CodingKeys: String, CodingKey {
        case time, commit, pool, lock, action, operation, holder, build, format, subject, claim
        case leaseExpires = "lease_expires"
        case reapReason = "reap_reason"
    }

    package init(_ event: HistoryEvent) {
        time = event.time
        commit = event.commit.hex
        pool = event.pool
        lock = event.lock
        action = event.action.rawValue
        operation = event.operation
        holder = event.holder.description
        build = BuildReport(event.holder.build)
        format = event.format.rawValue
        subject = event.subject
        claim = event.claim
        leaseExpires = event.leaseExpires
        reapReason = event.reapReason
    }
}

struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Show the timeline of lock operations, read from the commits.",
        discussion: """
            Reads every message format: lockpool's trailers, the Pix4D form (TEAM/PIPELINE/JOB build N claiming: \
            L), every upstream form since 2015, Pool Boy's commits, and commits made by hand (format "manual"). \
            What happened is taken from each commit's tree, so a message never misleads it. Oldest first. \
            \(ExitStatus.help)
            """)

    @OptionGroup var options: ConnectionOptions
    @Argument(help: "The pools (default: all).") var pools: [String] = []
    @Option(help: ArgumentHelp("Only this lock.", valueName: "lock")) var lock: String?
    @Option(help: ArgumentHelp("Only commits since: RFC 3339, a date, or an age (36h, 7d).", valueName: "time"))
    var since: TimeArgument?
    @Option(help: ArgumentHelp("Only commits until: RFC 3339, a date, or an age.", valueName: "time"))
    var until: TimeArgument?
    @Option(help: ArgumentHelp("Keep only the newest N events.", valueName: "n")) var limit: Int?
    @Flag(help: "Print JSON for scripts.") var json = false

    func validate() throws {
        for pool in pools { try validateNames(pool: pool) }
        if let lock, let problem = NameRule.lockProblem(lock) {
            throw ValidationError("invalid lock name \(NameRule.jsonQuoted(lock)): \(problem)")
        }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() async throws {
        let session = Session(options: options)
        try await session.run {
            let configuration = try session.configuration(pool: pools.first ?? "pool")
            let events = try await session.withFreshTip(configuration) { repository, tip in
                let names = pools.isEmpty ? try PoolCatalog.pools(in: repository, at: tip) : pools
                let events = try PoolTimeline(repository: repository).events(
                    tip: tip, pools: names, lock: lock, since: since?.date, until: until?.date,
                    limit: limit ?? .max)
                // A pool named that is not on the branch is a typo, as for status and stats, unless it has a history
                // (a pool since removed).
                for pool in pools where !events.contains(where: { $0.pool == pool }) {
                    guard try PoolSnapshot(repository: repository, commit: tip, pool: pool).exists else {
                        throw LockPoolError.poolMissing(pool: pool, branch: configuration.branch)
                    }
                }
                return events
            }
            if json {
                session.print(try JSONOutput.encode(events.map(EventReport.init)))
                return
            }
            if events.isEmpty {
                session.print("no lock operations found")
                return
            }
            var table = Table("TIME", "COMMIT", "POOL", "LOCK", "OPERATION", "BY", "FORMAT")
            for event in events {
                var operation = event.operation
                if let reason = event.reapReason { operation += " (reaped: \(reason))" }
                table.add(
                    HumanTime.timestamp(event.time), event.commit.short, event.pool, event.lock, operation,
                    event.holder.description, event.format.rawValue)
            }
            session.print(
                table.render { text, row, _ in
                    row < 0 ? session.terminal.styled(text, .bold, forStdout: true) : text
                })
        }
    }
}
