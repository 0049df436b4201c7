import ArgumentParser
import FoundationEssentials
import Git
import LockPool

/// A build as the JSON outputs show it.
package struct BuildReport: Encodable {
    let team, pipeline, job, name, id, instanceVars, url: String?

    enum CodingKeys: String, CodingKey {
        case team, pipeline, job, name, id, url
        case instanceVars = "instance_vars"
    }

    init?(_ build: BuildInfo?) {
        guard let build, build != BuildInfo.none else { return nil }
        (team, pipeline, job, name, id, instanceVars, url) =
            (build.team, build.pipeline, build.job, build.name, build.id, build.instanceVars, build.url)
    }
}

/// One lock in `status --json`.
package struct LockReport: Encodable {
    let pool: String
    let lock: String
    let state: String
    let holder: String?
    let build: BuildReport?
    let since: Date?
    let commit: String?
    let leaseExpires: Date?
    let leaseExpired: Bool?
    let buildURL: String?
    /// The lock's content, when asked for (`status --content`, `show --json`).
    package var content: ContentReport?

    enum CodingKeys: String, CodingKey {
        case pool, lock, state, holder, build, since, commit, content
        case leaseExpires = "lease_expires"
        case leaseExpired = "lease_expired"
        case buildURL = "build_url"
        case contentEncoding = "content_encoding"
    }

    package init(_ status: LockStatus, now: Date) {
        pool = status.pool
        lock = status.lock
        state = status.state.rawValue
        holder = status.holder?.description
        build = BuildReport(status.holder?.build)
        since = status.since
        commit = status.commit?.hex
        leaseExpires = status.leaseExpires
        leaseExpired = status.leaseExpires.map { $0 <= now }
        buildURL = status.holder?.build?.url
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(pool, forKey: .pool)
        try container.encode(lock, forKey: .lock)
        try container.encode(state, forKey: .state)
        try container.encode(holder, forKey: .holder)
        try container.encode(build, forKey: .build)
        try container.encode(since, forKey: .since)
        try container.encode(commit, forKey: .commit)
        try container.encode(leaseExpires, forKey: .leaseExpires)
        try container.encode(leaseExpired, forKey: .leaseExpired)
        try container.encode(buildURL, forKey: .buildURL)
        try container.encodeIfPresent(content?.content, forKey: .content)
        try container.encodeIfPresent(content?.contentEncoding, forKey: .contentEncoding)
    }

    /// Adds the content of the lock as `snapshot` has it.
    mutating func addContent(from snapshot: PoolSnapshot, repository: Repository) throws {
        guard let entry = snapshot.entry(of: lock) else { return }
        content = ContentReport(lock: lock, bytes: try repository.blob(entry.id))
    }
}

/// One pool in `status --json`.
package struct PoolReport: Encodable {
    let pool: String
    let claimed: Int
    let unclaimed: Int
    let locks: [LockReport]

    package init(pool: String, claimed: Int, unclaimed: Int, locks: [LockReport]) {
        (self.pool, self.claimed, self.unclaimed, self.locks) = (pool, claimed, unclaimed, locks)
    }
}

/// `status --json`.
package struct StatusReport: Encodable {
    let branch: String
    let tip: String
    let pools: [PoolReport]

    package init(branch: String, tip: String, pools: [PoolReport]) {
        (self.branch, self.tip, self.pools) = (branch, tip, pools)
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show every lock: state, holder, since when, lease and build URL.",
        discussion: """
            Without POOL, every pool of the branch. The holder is the build that claimed the lock \
            (team/pipeline/job build N, one-off build N) or, for commits made by hand, their committer. \
            \(ExitStatus.help)
            """)

    @OptionGroup var options: ConnectionOptions
    @Argument(help: "The pools to show (default: all).") var pools: [String] = []
    @Flag(help: "Print JSON for scripts.") var json = false
    @Flag(help: "With --json, include each lock's content (lock files often hold tokens: off by default).")
    var content = false

    func validate() throws {
        for pool in pools { try validateNames(pool: pool) }
        if content && !json { throw ValidationError("--content applies to --json; use `lockpool show POOL LOCK`") }
    }

    func run() async throws {
        let session = Session(options: options)
        try await session.run {
            let configuration = try session.configuration(pool: pools.first ?? "pool")
            let now = Date()
            let (tip, reports) = try await session.withFreshTip(configuration) { repository, tip in
                let names = pools.isEmpty ? try PoolCatalog.pools(in: repository, at: tip) : pools
                var reports: [(String, PoolSnapshot, [LockStatus], [LockReport])] = []
                for pool in names {
                    let snapshot = try PoolSnapshot(repository: repository, commit: tip, pool: pool)
                    guard snapshot.exists else {
                        throw LockPoolError.poolMissing(pool: pool, branch: configuration.branch)
                    }
                    let statuses = try LockStatus.read(repository: repository, snapshot: snapshot)
                    var locks = statuses.map { LockReport($0, now: now) }
                    if content {
                        for index in locks.indices {
                            try locks[index].addContent(from: snapshot, repository: repository)
                        }
                    }
                    reports.append((pool, snapshot, statuses, locks))
                }
                return (tip, reports)
            }
            if json {
                let pools = reports.map { pool, snapshot, _, locks in
                    PoolReport(
                        pool: pool, claimed: snapshot.claimed.count, unclaimed: snapshot.unclaimed.count, locks: locks)
                }
                session.print(
                    try JSONOutput.encode(StatusReport(branch: configuration.branch, tip: tip.hex, pools: pools)))
                return
            }
            if reports.isEmpty {
                session.print("no pools on branch '\(configuration.branch)' at \(tip.short)")
                return
            }
            session.print(Self.table(reports.flatMap { $0.2 }, now: now, terminal: session.terminal))
            for (pool, snapshot, _, _) in reports {
                session.print(
                    "\(pool): \(snapshot.heldLocks.count) claimed, \(snapshot.freeLocks.count) unclaimed"
                        + (snapshot.doubleLocks.isEmpty ? "" : ", \(snapshot.doubleLocks.count) in both states"))
            }
        }
    }

    static func table(_ statuses: [LockStatus], now: Date, terminal: Terminal) -> String {
        var table = Table("POOL", "LOCK", "STATE", "HOLDER", "SINCE", "LEASE", "BUILD URL")
        for status in statuses {
            let since = status.since.map {
                "\(HumanTime.timestamp($0)) (\(HumanTime.rough(now.timeIntervalSince($0))) ago)"
            }
            let lease = status.leaseExpires.map { expiry in
                expiry <= now
                    ? "expired \(HumanTime.rough(now.timeIntervalSince(expiry))) ago"
                    : "ends in \(HumanTime.rough(expiry.timeIntervalSince(now)))"
            }
            table.add(
                status.pool, status.lock, status.state.rawValue, status.holder?.description ?? "-", since ?? "-",
                lease ?? "-", status.holder?.build?.url ?? "-")
        }
        return table.render { text, row, column in
            if row < 0 { return terminal.styled(text, .bold, forStdout: true) }
            if column == 2 {
                let state = statuses[row].state
                return terminal.styled(
                    text, state == .claimed ? .yellow : state == .unclaimed ? .green : .red, forStdout: true)
            }
            if column == 5, statuses[row].leaseHasExpired(at: now) {
                return terminal.styled(text, .red, forStdout: true)
            }
            return text
        }
    }
}
