import Crypto
import Foundation

/// A lock repository that looks like a week of real use, for the dashboard's browser tests and the README's
/// screenshots.
///
/// Three pools, eleven locks, and seven days of claims and releases by six jobs of two teams, busier on weekday
/// daytimes (UTC) than at night and at weekends, so that utilisation curves have a shape. Most commits are written as
/// lockpool writes them (schema-1 trailers, docs/commits.md), some in the Pix4D form (`TEAM/PIPELINE/JOB build N
/// claiming: LOCK`, half of them with a `Build URL:` line), and a few releases are `lockpool reap`'s. At the tip:
///
/// | Lock | State |
/// |---|---|
/// | `environments/staging` | claimed 3 h before `now` (lockpool), `Lease-Expires` 2 h after `now` |
/// | `environments/perf` | claimed 9 h before `now` (lockpool), its lease passed 1 h before `now` |
/// | `k8s-clusters/cluster-a` | claimed 47 min before `now` (lockpool, no lease) |
/// | `k8s-clusters/cluster-c` | claimed 2 h 10 min before `now` (Pix4D form with a `Build URL:` line) |
/// | `releases/ci-1` | claimed 2 days before `now` (lockpool, no lease): the longest-held |
/// | every other lock | unclaimed |
///
/// and two live fair-queue tickets in `environments/waiting/` (`wants: any 1` and `wants: lock staging`) whose
/// `expires` is 30 minutes after `now`. Every lock file holds `token: FIXTURE-SECRET-<lock>`
/// (`secretToken(of:)`), which nothing may show unless asked to (`--show-metadata`, `--content`).
///
/// The history is written with one `git fast-import` stream (about 700 commits, well under a second); the commit ids the
/// messages name (`Lock-Claim`, `Reap-Claim-Commit`) are computed while the stream is written and checked against
/// git's at the end. The same `now` and `seed` give the same repository, commit ids included.
public enum DashboardFixture {
    /// The branch holding the pools.
    public static let branch = "main"

    /// The pools and their locks, in the order they are added.
    public static let pools: [(pool: String, locks: [String])] = [
        ("environments", ["staging", "perf", "qa-1", "qa-2"]),
        ("k8s-clusters", ["cluster-a", "cluster-b", "cluster-c", "cluster-d", "cluster-e"]),
        ("releases", ["ci-1", "ci-2"]),
    ]

    /// The secret text in `lock`'s file: `FIXTURE-SECRET-<lock>`.
    public static func secretToken(of lock: String) -> String { "FIXTURE-SECRET-\(lock)" }

    /// The content of `lock`'s file in `pool`: a host line and `token: FIXTURE-SECRET-<lock>`.
    public static func metadata(pool: String, lock: String) -> String {
        let host =
            switch pool {
            case "environments": "domain: \(lock).example.com"
            case "k8s-clusters": "api: https://\(lock).k8s.example.com:6443"
            default: "runner: \(lock).runners.example.com"
            }
        return "\(host)\ntoken: \(secretToken(of: lock))\n"
    }

    /// Builds a bare repository at `path` (branch `main`) whose history spans the 7 days before `now`.
    ///
    /// - Parameters:
    ///   - path: where the bare repository goes; it must not exist or be an empty directory.
    ///   - now: the moment the tip describes (truncated to the second): claims, leases and tickets are placed
    ///     relative to it. Pass the test's current time so that live tickets and leases are live.
    ///   - seed: the seed of the generator choosing jobs, holds, waits and formats.
    /// - Returns: what the repository holds, for assertions.
    /// - Throws: `DashboardFixture.Failure`, `GitCLIError`, `ChildProcessError` or a file-system error.
    public static func build(at path: String, now: Date, seed: UInt64 = 42) async throws -> Summary {
        try buildSynchronously(at: path, now: now, seed: seed)
    }

    /// The fixture could not be built.
    public enum Failure: Error, Sendable, CustomStringConvertible {
        /// `path` exists and is not an empty directory.
        case pathInUse(String)
        /// git computed another tip than the fixture did: the `Lock-Claim` ids in messages would be wrong.
        case tipMismatch(expected: String, found: String)

        public var description: String {
            switch self {
            case .pathInUse(let path): "\(path) exists and is not an empty directory"
            case .tipMismatch(let expected, let found):
                "git fast-import made tip \(found), the fixture computed \(expected)"
            }
        }
    }

    // MARK: - Summary

    /// A lock: its pool and name.
    public struct LockID: Hashable, Comparable, Sendable, CustomStringConvertible {
        /// The pool.
        public let pool: String
        /// The lock name.
        public let lock: String

        /// Creates an id.
        public init(_ pool: String, _ lock: String) {
            self.pool = pool
            self.lock = lock
        }

        /// `pool/lock`.
        public var description: String { "\(pool)/\(lock)" }

        public static func < (left: LockID, right: LockID) -> Bool {
            (left.pool, left.lock) < (right.pool, right.lock)
        }
    }

    /// One build of the fixture's jobs.
    public struct Build: Hashable, Sendable {
        /// Team, pipeline and job.
        public let team: String, pipeline: String, job: String
        /// The build name (number), increasing per job over the week.
        public let name: Int
        /// The global build id, increasing over the week.
        public let id: Int

        /// The holder description as lockpool prints it: `main/deploy/apply build 42`.
        public var holder: String { "\(team)/\(pipeline)/\(job) build \(name)" }

        /// The job build URL: `https://ci.example.com/teams/main/pipelines/deploy/jobs/apply/builds/42`.
        public var url: String {
            "https://ci.example.com/teams/\(team)/pipelines/\(pipeline)/jobs/\(job)/builds/\(name)"
        }
    }

    /// How a claim's commits are written, as `lockpool history` labels the format.
    public enum Format: String, Sendable, Hashable {
        /// Schema-1 trailers, `Build URL:` line and `Build-URL` trailer.
        case lockpool
        /// The Pix4D subject `TEAM/PIPELINE/JOB build N claiming: LOCK`, without trailers.
        case pix4d
    }

    /// One claim of the history (the current ones included).
    public struct Claim: Hashable, Sendable {
        /// The lock claimed.
        public let lock: LockID
        /// The build holding it.
        public let build: Build
        /// The claim commit.
        public let commit: String
        /// The claim commit's committer time.
        public let claimedAt: Date
        /// The release commit's committer time; `nil` while the lock is still held at the tip.
        public let releasedAt: Date?
        /// How the claim commit (and its release, unless reaped) is written.
        public let format: Format
        /// Whether the Pix4D-form commits carry a `Build URL:` line (always true for lockpool's form).
        public let hasBuildURL: Bool
        /// `acquire` or `claim` (`Lock-Operation`); `claim` for the Pix4D form, which does not say.
        public let operation: String
        /// `Lease-Expires`, when the claim has a lease.
        public let leaseExpires: Date?
        /// `Lock-Waited` in milliseconds (lockpool's form only).
        public let waitedMilliseconds: Int?
        /// `Reap-Reason` of the release when `lockpool reap` released it.
        public let reapReason: String?

        /// The holder description as lockpool prints it.
        public var holder: String { build.holder }
        /// The build URL status shows, if the messages carry one.
        public var buildURL: String? { hasBuildURL ? build.url : nil }
        /// Whether the lock is still held at the tip.
        public var isCurrent: Bool { releasedAt == nil }
        /// Whether the lease has passed at `date`; false without a lease.
        public func leaseHasExpired(at date: Date) -> Bool { leaseExpires.map { $0 <= date } ?? false }
    }

    /// A fair-queue ticket at the tip (docs/commits.md#fair-queue-tickets).
    public struct Ticket: Hashable, Sendable {
        /// The pool whose `waiting/` holds it.
        public let pool: String
        /// The file name: `<15-digit milliseconds>-<8 hex digits>`.
        public let name: String
        /// `any N` or `lock L`.
        public let wants: String
        /// The waiting build, as lockpool prints it.
        public let holder: String
        /// When it expires unless refreshed.
        public let expires: Date
    }

    /// What `build(at:now:seed:)` made: everything a test needs to assert.
    public struct Summary: Sendable {
        /// The bare repository.
        public let path: String
        /// The branch (`main`).
        public let branch: String
        /// The tip commit.
        public let tip: String
        /// The number of commits on the branch.
        public let commitCount: Int
        /// `now` as given, truncated to the second.
        public let now: Date
        /// The root commit's time (creation of the pools), just after `now` − 7 days.
        public let start: Date
        /// Pool → lock names, sorted.
        public let pools: [String: [String]]
        /// Every claim of the history, oldest first; the current ones have no `releasedAt`.
        public let claims: [Claim]
        /// The live fair-queue tickets, in queue order.
        public let tickets: [Ticket]
        /// Lock events per format label of `lockpool history` (`lockpool`, `pix4d`): adds, claims and releases.
        public let eventFormats: [String: Int]

        /// Every lock, sorted.
        public var locks: [LockID] {
            pools.flatMap { pool, locks in locks.map { LockID(pool, $0) } }.sorted()
        }
        /// The claims standing at the tip, by lock.
        public var holdings: [LockID: Claim] {
            Dictionary(uniqueKeysWithValues: claims.filter(\.isCurrent).map { ($0.lock, $0) })
        }
        /// The locks claimed at the tip, sorted.
        public var claimedLocks: [LockID] { holdings.keys.sorted() }
        /// The locks unclaimed at the tip, sorted.
        public var unclaimedLocks: [LockID] { locks.filter { holdings[$0] == nil } }
        /// The number of claim commits per lock (every lock present, 0 when never claimed).
        public var claimCounts: [LockID: Int] {
            var counts = Dictionary(uniqueKeysWithValues: locks.map { ($0, 0) })
            for claim in claims { counts[claim.lock, default: 0] += 1 }
            return counts
        }
        /// The number of release commits per lock.
        public var releaseCounts: [LockID: Int] {
            var counts = Dictionary(uniqueKeysWithValues: locks.map { ($0, 0) })
            for claim in claims where !claim.isCurrent { counts[claim.lock, default: 0] += 1 }
            return counts
        }
        /// The leases of the claims standing at the tip, by lock (passed ones included).
        public var leases: [LockID: Date] { holdings.compactMapValues(\.leaseExpires) }
        /// The current claim held longest (`releases/ci-1`).
        public var longestHeld: Claim? { holdings.values.min { $0.claimedAt < $1.claimedAt } }
        /// Each lock's file content.
        public var metadata: [LockID: String] {
            Dictionary(
                uniqueKeysWithValues: locks.map { ($0, DashboardFixture.metadata(pool: $0.pool, lock: $0.lock)) })
        }
    }
}

// MARK: - Building

extension DashboardFixture {
    /// A team/pipeline/job.
    struct Job: Hashable {
        let team: String, pipeline: String, job: String
    }

    /// The six jobs that use the pools.
    static let jobs: [Job] = [
        Job(team: "main", pipeline: "deploy", job: "apply"),
        Job(team: "main", pipeline: "e2e", job: "test"),
        Job(team: "main", pipeline: "release", job: "publish"),
        Job(team: "platform", pipeline: "deploy", job: "apply"),
        Job(team: "platform", pipeline: "e2e", job: "smoke"),
        Job(team: "platform", pipeline: "release", job: "publish"),
    ]

    /// The jobs (indices into `jobs`) using each pool.
    static let poolJobs: [String: [Int]] = [
        "environments": [0, 1, 3, 4],
        "k8s-clusters": [0, 1, 3, 4],
        "releases": [2, 5, 1],
    ]

    /// The claims standing at the tip: seconds before `now`, job, format, lease end relative to `now`.
    static let standing:
        [LockID: (ago: Int, job: Int, format: Format, hasBuildURL: Bool, operation: String, leaseEnd: Int?)] = [
            LockID("environments", "staging"): (3 * 3600, 0, .lockpool, true, "claim", 2 * 3600),
            LockID("environments", "perf"): (9 * 3600, 1, .lockpool, true, "claim", -3600),
            LockID("k8s-clusters", "cluster-a"): (47 * 60, 3, .lockpool, true, "acquire", nil),
            LockID("k8s-clusters", "cluster-c"): (2 * 3600 + 10 * 60, 4, .pix4d, true, "claim", nil),
            LockID("releases", "ci-1"): (2 * 86400, 2, .lockpool, true, "acquire", nil),
        ]

    /// The resource's identity (both forms), the admin who ran `lockpool init`, and the reaper's.
    static let resourceIdentity = "CI Pool Resource <ci-pool@localhost>"
    static let adminIdentity = "Dana Okafor <dana@example.com>"
    static let reaperIdentity = "Pool Reaper <reaper@ci.example.com>"
    static let resourceTool = "lockpool 0.1.0 (resource)"
    static let cliTool = "lockpool 0.1.0 (cli)"

    /// A claim being planned: build numbers are given once every claim is in time order.
    struct PlannedHold {
        var lock: LockID
        var job: Int
        var claimAt: Int
        var releaseAt: Int?
        var format: Format
        var hasBuildURL: Bool
        var operation: String
        var lease: Int?  // absolute end, epoch seconds
        var waited: Int?  // milliseconds
        var reap: (reason: String, status: String)?
    }

    /// One commit of the stream, before ids are known.
    enum Step {
        case claim(Int)  // index into holds
        case release(Int)
        case queue(Int)  // index into tickets
    }

    static func buildSynchronously(at path: String, now nowDate: Date, seed: UInt64) throws -> Summary {
        let fileManager = FileManager.default
        if fileManager.fileExists(atPath: path), !((try? fileManager.contentsOfDirectory(atPath: path)) ?? [""]).isEmpty
        {
            throw Failure.pathInUse(path)
        }
        var random = SeededRandom(seed: seed)
        let now = Int(nowDate.timeIntervalSince1970.rounded(.down))
        let start = now - 7 * 86400 + 60

        // 1. Plan every lock's holds, then order them in time and number the builds.
        var holds: [PlannedHold] = []
        for (pool, locks) in pools {
            for lock in locks {
                let id = LockID(pool, lock)
                let standingClaim = standing[id].map { now - $0.ago }
                let end = standingClaim.map { $0 - 10 * 60 } ?? now - 6 * 60
                holds += planHolds(for: id, from: start + 3600, until: end, random: &random)
                if let plan = standing[id], let claimAt = standingClaim {
                    holds.append(
                        PlannedHold(
                            lock: id, job: plan.job, claimAt: claimAt, releaseAt: nil, format: plan.format,
                            hasBuildURL: plan.hasBuildURL, operation: plan.operation,
                            lease: plan.leaseEnd.map { now + $0 },
                            waited: plan.format == .lockpool ? Int(random.next() % 95_000) : nil, reap: nil))
                }
            }
        }
        // Two waiting builds (later builds of the jobs holding cluster-c and staging): job, demand, seconds before now.
        let ticketPlans: [(job: Int, wants: String, ago: Int)] = [(4, "any 1", 4 * 60), (0, "lock staging", 90)]

        var steps: [(time: Int, order: Int, step: Step)] = []
        for (index, hold) in holds.enumerated() {
            steps.append((hold.claimAt, 0, .claim(index)))
            if let releaseAt = hold.releaseAt { steps.append((releaseAt, 1, .release(index))) }
        }
        for (index, plan) in ticketPlans.enumerated() { steps.append((now - plan.ago, 2, .queue(index))) }
        steps.sort { ($0.time, $0.order) < ($1.time, $1.order) }
        // Committer times strictly increase, so that the history reads in one order whatever sorts it.
        var last = start + 20 * pools.reduce(0) { $0 + $1.locks.count }
        for index in steps.indices {
            if steps[index].time <= last { steps[index].time = last + 1 }
            last = steps[index].time
            switch steps[index].step {
            case .claim(let hold): holds[hold].claimAt = steps[index].time
            case .release(let hold): holds[hold].releaseAt = steps[index].time
            case .queue: break
            }
        }

        var buildNames = jobs.map { _ in 100 + Int(random.next() % 900) }
        var buildID = 20_000 + Int(random.next() % 5000)
        func nextBuild(_ job: Int) -> Build {
            buildNames[job] += 1 + Int(random.next() % 3)
            buildID += 1 + Int(random.next() % 7)
            let named = jobs[job]
            return Build(team: named.team, pipeline: named.pipeline, job: named.job, name: buildNames[job], id: buildID)
        }
        var builds: [Int: Build] = [:]
        var ticketBuilds: [Int: Build] = [:]
        for step in steps {
            switch step.step {
            case .claim(let hold): builds[hold] = nextBuild(holds[hold].job)
            case .queue(let ticket): ticketBuilds[ticket] = nextBuild(ticketPlans[ticket].job)
            case .release: break
            }
        }

        // 2. Write the stream, computing each commit's id as git will.
        var writer = StreamWriter()
        var tree = FixtureTree()
        let emptyBlob = writer.blob([])
        var rootFiles: [(String, StreamWriter.BlobRef)] = []
        for (pool, _) in pools {
            for state in ["claimed", "unclaimed"] { rootFiles.append(("\(pool)/\(state)/.gitkeep", emptyBlob)) }
        }
        writer.commit(
            identity: adminIdentity, time: start,
            message: "initializing pools: \(pools.map(\.pool).joined(separator: ", "))\n\n"
                + "Lock-Tool: \(cliTool)\nLock-Nonce: \(nonce(&random))\n",
            changes: rootFiles.map { .write(path: $0.0, blob: $0.1) }, tree: &tree)
        var adds = 0
        for (pool, locks) in pools {
            for lock in locks {
                adds += 1
                let blob = writer.blob(Array(metadata(pool: pool, lock: lock).utf8))
                let message = lockpoolMessage(
                    verb: "adding unclaimed", operation: "add", pool: pool, name: lock, state: "unclaimed",
                    build: nil, tool: cliTool, random: &random)
                writer.commit(
                    identity: adminIdentity, time: start + 20 * adds, message: message,
                    changes: [.write(path: "\(pool)/unclaimed/\(lock)", blob: blob)], tree: &tree)
            }
        }

        var claimCommits: [Int: String] = [:]
        var tickets: [Ticket] = []
        var formats: [String: Int] = ["lockpool": adds]
        for step in steps {
            switch step.step {
            case .claim(let index):
                let hold = holds[index]
                let build = builds[index]!
                let message: String
                switch hold.format {
                case .lockpool:
                    message = lockpoolMessage(
                        verb: "claiming", operation: hold.operation, pool: hold.lock.pool, name: hold.lock.lock,
                        state: "claimed", lease: hold.lease, waited: hold.waited, build: build, tool: resourceTool,
                        random: &random)
                case .pix4d:
                    message = pix4dMessage(verb: "claiming", lock: hold.lock.lock, build: build, url: hold.hasBuildURL)
                }
                formats[hold.format.rawValue, default: 0] += 1
                let pool = hold.lock.pool
                claimCommits[index] = writer.commit(
                    identity: resourceIdentity, time: step.time, message: message,
                    changes: [
                        .move(from: "\(pool)/unclaimed/\(hold.lock.lock)", to: "\(pool)/claimed/\(hold.lock.lock)")
                    ], tree: &tree)
            case .release(let index):
                let hold = holds[index]
                let build = builds[index]!
                let claim = claimCommits[index]!
                let message: String
                var identity = resourceIdentity
                var format = hold.format
                if let reap = hold.reap {
                    identity = reaperIdentity
                    format = .lockpool
                    message = lockpoolMessage(
                        verb: "unclaiming", operation: "release", pool: hold.lock.pool, name: hold.lock.lock,
                        state: "unclaimed", claim: claim, build: nil,
                        extra: [
                            ("Reap-Reason", reap.reason), ("Reap-Claim-Commit", claim),
                            ("Reap-Claim-Age", goDuration(milliseconds: (step.time - hold.claimAt) * 1000)),
                            ("Reap-Build-Status", reap.status),
                        ], tool: cliTool, random: &random)
                } else if hold.format == .lockpool {
                    message = lockpoolMessage(
                        verb: "unclaiming", operation: "release", pool: hold.lock.pool, name: hold.lock.lock,
                        state: "unclaimed", claim: claim, build: build, tool: resourceTool, random: &random)
                } else {
                    message = pix4dMessage(
                        verb: "unclaiming", lock: hold.lock.lock, build: build, url: hold.hasBuildURL)
                }
                formats[format.rawValue, default: 0] += 1
                let pool = hold.lock.pool
                writer.commit(
                    identity: identity, time: step.time, message: message,
                    changes: [
                        .move(from: "\(pool)/claimed/\(hold.lock.lock)", to: "\(pool)/unclaimed/\(hold.lock.lock)")
                    ], tree: &tree)
            case .queue(let index):
                let plan = ticketPlans[index]
                let build = ticketBuilds[index]!
                let created = step.time * 1000 + Int(random.next() % 1000)
                let digits = String(created)
                let name =
                    String(repeating: "0", count: max(0, 15 - digits.count)) + digits + "-"
                    + hex(random.next(), digits: 8)
                // Expiring 30 minutes after `now`, with the creation's milliseconds, as a refreshed ticket would.
                let milliseconds = created % 1000
                let expires = Date(timeIntervalSince1970: Double(now + 30 * 60) + Double(milliseconds) / 1000)
                let fraction = String(milliseconds + 1000).dropFirst()
                let expiresText = rfc3339(now + 30 * 60).dropLast() + ".\(fraction)Z"
                let content = "expires: \(expiresText)\nwants: \(plan.wants)\nholder: \(build.holder)\n"
                let blob = writer.blob(Array(content.utf8))
                let message = lockpoolMessage(
                    verb: "queueing", operation: "queue", pool: "environments", ticket: name, state: "waiting",
                    build: build, tool: resourceTool, random: &random)
                writer.commit(
                    identity: resourceIdentity, time: step.time, message: message,
                    changes: [.write(path: "environments/waiting/\(name)", blob: blob)], tree: &tree)
                tickets.append(
                    Ticket(pool: "environments", name: name, wants: plan.wants, holder: build.holder, expires: expires))
            }
        }

        // 3. Hand the stream to git and check that it agrees on the tip.
        let configDirectory = URL(fileURLWithPath: NSTemporaryDirectory(), isDirectory: true)
            .appendingPathComponent("lockpool-dashboard-fixture-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try fileManager.createDirectory(at: configDirectory, withIntermediateDirectories: true)
        defer { try? fileManager.removeItem(at: configDirectory) }
        let emptyConfig = configDirectory.appendingPathComponent(".empty-gitconfig")
        try Data().write(to: emptyConfig)
        let repository = URL(fileURLWithPath: path, isDirectory: true)
        let git = GitCLI(directory: configDirectory, emptyConfig: emptyConfig)
        try git.run(["init", "--quiet", "--bare", "--initial-branch=\(branch)", repository.path])
        try git.run(
            ["fast-import", "--quiet", "--done"], in: repository, stdin: writer.finish(),
            timeout: .seconds(120))
        let found = try git.run(["rev-parse", "refs/heads/\(branch)"], in: repository).output
        guard found == writer.tip else { throw Failure.tipMismatch(expected: writer.tip ?? "none", found: found) }

        let claims = holds.indices.sorted { holds[$0].claimAt < holds[$1].claimAt }.map { index in
            let hold = holds[index]
            return Claim(
                lock: hold.lock, build: builds[index]!, commit: claimCommits[index]!,
                claimedAt: Date(timeIntervalSince1970: Double(hold.claimAt)),
                releasedAt: hold.releaseAt.map { Date(timeIntervalSince1970: Double($0)) }, format: hold.format,
                hasBuildURL: hold.hasBuildURL, operation: hold.operation,
                leaseExpires: hold.lease.map { Date(timeIntervalSince1970: Double($0)) },
                waitedMilliseconds: hold.waited, reapReason: hold.reap?.reason)
        }
        return Summary(
            path: repository.path, branch: branch, tip: found, commitCount: writer.commitCount,
            now: Date(timeIntervalSince1970: Double(now)), start: Date(timeIntervalSince1970: Double(start)),
            pools: Dictionary(uniqueKeysWithValues: pools.map { ($0.pool, $0.locks.sorted()) }), claims: claims,
            tickets: tickets, eventFormats: formats)
    }

    // MARK: The shape of a week

    /// How likely a lock is to be claimed at `time` (epoch seconds, UTC): busy on weekday working hours, quiet at
    /// night and at weekends.
    static func activity(at time: Int) -> Double {
        let day = time / 86400
        let weekday = (day + 3) % 7  // 1970-01-01 was a Thursday; 0 is Monday
        let hour = (time % 86400) / 3600
        if weekday >= 5 { return (9..<18).contains(hour) ? 0.15 : 0.04 }
        switch hour {
        case 8..<18: return 0.85
        case 6..<8, 18..<22: return 0.3
        default: return 0.06
        }
    }

    /// The holds of `lock` between `from` and `until` (epoch seconds): claims every few hours, each released before
    /// `until`.
    static func planHolds(for lock: LockID, from: Int, until: Int, random: inout SeededRandom) -> [PlannedHold] {
        var holds: [PlannedHold] = []
        var time = from + Int(random.next() % 10_800)
        let candidates = poolJobs[lock.pool]!
        while time < until {
            guard uniform(&random) < activity(at: time) else {
                time += 15 * 60 + Int(random.next() % 2700)
                continue
            }
            // 5 min to 6 h, most under two hours.
            let hold = 300 + Int(21_300 * pow(uniform(&random), 2.2))
            let releaseAt = time + hold
            guard releaseAt < until else { break }
            let job = candidates[Int(random.next() % UInt64(candidates.count))]
            let roll = uniform(&random)
            let format: Format = roll < 0.16 ? .pix4d : .lockpool
            let operation =
                format == .pix4d ? "claim" : lock.pool == "environments" && uniform(&random) < 0.7 ? "claim" : "acquire"
            var lease: Int?
            var waited: Int?
            var reap: (reason: String, status: String)?
            if format == .lockpool {
                if uniform(&random) < 0.3 { lease = time + hold + 900 + Int(random.next() % 6300) }
                waited = waitedMilliseconds(at: time, random: &random)
                if uniform(&random) < 0.06 {
                    reap = ("build-finished", ["failed", "errored", "aborted"][Int(random.next() % 3)])
                }
            }
            holds.append(
                PlannedHold(
                    lock: lock, job: job, claimAt: time, releaseAt: releaseAt, format: format,
                    hasBuildURL: format == .lockpool || roll < 0.08, operation: operation, lease: lease,
                    waited: waited, reap: reap))
            // Idle for 10 minutes to 3 hours, less when busy.
            time = releaseAt + 600 + Int(Double(random.next() % 10_200) * (1.2 - activity(at: releaseAt)))
        }
        return holds
    }

    /// A wait before a claim: often none, sometimes under a second, up to 40 minutes in busy hours.
    static func waitedMilliseconds(at time: Int, random: inout SeededRandom) -> Int {
        let roll = uniform(&random)
        if roll < 0.35 { return 0 }
        if roll < 0.6 { return 40 + Int(random.next() % 960) }
        if roll < 0.85 { return 1000 + Int(random.next() % 119_000) }
        let longest = activity(at: time) > 0.5 ? 2_400_000 : 600_000
        return 120_000 + Int(random.next() % UInt64(longest - 120_000))
    }

    static func uniform(_ random: inout SeededRandom) -> Double {
        Double(random.next() >> 11) / Double(1 << 53)
    }

    // MARK: Messages

    /// A schema-1 message as `CommitMessage.rendered()` writes it (docs/commits.md#message-layout).
    static func lockpoolMessage(
        verb: String, operation: String, pool: String, name: String? = nil, ticket: String? = nil, state: String,
        claim: String? = nil, lease: Int? = nil, waited: Int? = nil, build: Build?, extra: [(String, String)] = [],
        tool: String, random: inout SeededRandom
    ) -> String {
        var text = (build.map { "\($0.holder) " } ?? "") + "\(verb): \(name ?? ticket ?? "")\n\n"
        if let build { text += "Build URL: \(build.url)\n\n" }
        var trailers: [(String, String?)] = [
            ("Lock-Schema", "1"), ("Lock-Operation", operation), ("Lock-Pool", pool), ("Lock-Name", name),
            ("Lock-Ticket", ticket), ("Lock-State", state), ("Lock-Claim", claim),
            ("Lease-Expires", lease.map { rfc3339($0) }), ("Lock-Waited", waited.map { goDuration(milliseconds: $0) }),
        ]
        if let build {
            trailers += [
                ("Build-Team", build.team), ("Build-Pipeline", build.pipeline), ("Build-Job", build.job),
                ("Build-Name", String(build.name)), ("Build-Id", String(build.id)), ("Build-URL", build.url),
            ]
        }
        trailers += extra.map { ($0.0, Optional($0.1)) }
        trailers += [("Lock-Tool", tool), ("Lock-Nonce", nonce(&random))]
        for case (let key, let value?) in trailers { text += "\(key): \(value)\n" }
        return text
    }

    /// The Pix4D fork's message: the subject alone, or (the upstream resource since 2026) with a `Build URL:` line.
    static func pix4dMessage(verb: String, lock: String, build: Build, url: Bool) -> String {
        "\(build.holder) \(verb): \(lock)\n" + (url ? "\nBuild URL: \(build.url)\n" : "")
    }

    /// RFC 3339 UTC to the second.
    static func rfc3339(_ seconds: Int) -> String {
        Date(timeIntervalSince1970: Double(seconds)).formatted(Date.ISO8601FormatStyle(timeZone: .gmt))
    }

    /// A Go duration of whole milliseconds: `0s`, `850ms`, `1m30.25s`, `3h5m0s`.
    static func goDuration(milliseconds: Int) -> String {
        if milliseconds == 0 { return "0s" }
        if milliseconds < 1000 { return "\(milliseconds)ms" }
        let hours = milliseconds / 3_600_000
        let minutes = milliseconds / 60000 % 60
        let seconds = milliseconds / 1000 % 60
        var fraction = String(milliseconds % 1000)
        fraction = String(repeating: "0", count: 3 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        var text = hours > 0 ? "\(hours)h\(minutes)m" : minutes > 0 ? "\(minutes)m" : ""
        text += "\(seconds)" + (fraction.isEmpty ? "" : ".\(fraction)") + "s"
        return text
    }

    /// 32 lower-case hex digits.
    static func nonce(_ random: inout SeededRandom) -> String {
        hex(random.next(), digits: 16) + hex(random.next(), digits: 16)
    }

    static func hex(_ value: UInt64, digits: Int) -> String {
        let text = String(value, radix: 16)
        let padded = String(repeating: "0", count: max(0, 16 - text.count)) + text
        return String(padded.suffix(digits))
    }
}

// MARK: - The fast-import stream and git's object ids

extension DashboardFixture {
    /// The files of the lock branch as git will store them, with each tree's id kept until a file below it changes.
    fileprivate struct FixtureTree {
        /// Directory path ("" for the root) → entry name → (is a tree, raw id). Files live three levels down.
        var files: [String: [String: [UInt8]]] = [:]
        var cachedTrees: [String: [UInt8]] = [:]

        mutating func write(_ path: String, blob: [UInt8]) {
            let (directory, name) = split(path)
            files[directory, default: [:]][name] = blob
            invalidate(directory)
        }

        mutating func remove(_ path: String) -> [UInt8]? {
            let (directory, name) = split(path)
            let blob = files[directory]?.removeValue(forKey: name)
            if files[directory]?.isEmpty == true { files[directory] = nil }
            invalidate(directory)
            return blob
        }

        private func split(_ path: String) -> (String, String) {
            let slash = path.lastIndex(of: "/")!
            return (String(path[..<slash]), String(path[path.index(after: slash)...]))
        }

        private mutating func invalidate(_ directory: String) {
            var current = directory
            while true {
                cachedTrees[current] = nil
                guard let slash = current.lastIndex(of: "/") else { break }
                current = String(current[..<slash])
            }
            cachedTrees[""] = nil
        }

        /// The raw id of the tree at `directory` ("" for the root).
        mutating func treeID(_ directory: String = "") -> [UInt8] {
            if let cached = cachedTrees[directory] { return cached }
            var entries: [(sortKey: [UInt8], name: String, mode: String, id: [UInt8])] = []
            for (name, id) in files[directory] ?? [:] {
                entries.append((Array(name.utf8), name, "100644", id))
            }
            let prefix = directory.isEmpty ? "" : directory + "/"
            let subdirectories = Set(
                (files.keys.filter { $0.hasPrefix(prefix) && $0 != directory }).map { key in
                    String(key.dropFirst(prefix.count).split(separator: "/")[0])
                })
            for name in subdirectories {
                entries.append((Array((name + "/").utf8), name, "40000", treeID(prefix + name)))
            }
            entries.sort { $0.sortKey.lexicographicallyPrecedes($1.sortKey) }
            var body: [UInt8] = []
            for entry in entries {
                body += Array("\(entry.mode) \(entry.name)".utf8) + [0] + entry.id
            }
            let id = GitObject.id(type: "tree", body: body)
            cachedTrees[directory] = id
            return id
        }
    }

    /// Writes a `git fast-import` stream and computes the id of every object in it.
    fileprivate struct StreamWriter {
        struct BlobRef {
            let mark: Int
            let raw: [UInt8]
            var id: String { GitObject.hex(raw) }
        }

        enum Change {
            case write(path: String, blob: BlobRef)
            case move(from: String, to: String)
        }

        private var stream: [UInt8] = []
        private var nextMark = 1
        private(set) var tip: String?
        private(set) var commitCount = 0

        mutating func blob(_ content: [UInt8]) -> BlobRef {
            let mark = nextMark
            nextMark += 1
            stream += Array("blob\nmark :\(mark)\ndata \(content.count)\n".utf8) + content + [0x0A]
            return BlobRef(mark: mark, raw: GitObject.id(type: "blob", body: content))
        }

        /// Appends a commit on top of the previous one and returns its id.
        @discardableResult
        mutating func commit(identity: String, time: Int, message: String, changes: [Change], tree: inout FixtureTree)
            -> String
        {
            let messageBytes = Array(message.utf8)
            var text = "commit refs/heads/\(DashboardFixture.branch)\n"
            text += "author \(identity) \(time) +0000\ncommitter \(identity) \(time) +0000\n"
            text += "data \(messageBytes.count)\n"
            stream += Array(text.utf8) + messageBytes + [0x0A]
            var operations = ""
            for change in changes {
                switch change {
                case .write(let path, let blob):
                    operations += "M 100644 :\(blob.mark) \(path)\n"
                    tree.write(path, blob: blob.raw)
                case .move(let from, let to):
                    operations += "R \(from) \(to)\n"
                    let blob = tree.remove(from)!
                    tree.write(to, blob: blob)
                }
            }
            stream += Array((operations + "\n").utf8)
            var body = "tree \(GitObject.hex(tree.treeID()))\n"
            if let tip { body += "parent \(tip)\n" }
            body += "author \(identity) \(time) +0000\ncommitter \(identity) \(time) +0000\n\n"
            let id = GitObject.hex(GitObject.id(type: "commit", body: Array(body.utf8) + messageBytes))
            tip = id
            commitCount += 1
            return id
        }

        /// The stream, ended with `done`.
        func finish() -> Data {
            Data(stream + Array("done\n".utf8))
        }
    }

    /// Git object ids: SHA-1 of `<type> <size>\0<body>`.
    fileprivate enum GitObject {
        static func id(type: String, body: [UInt8]) -> [UInt8] {
            Array(Insecure.SHA1.hash(data: Array("\(type) \(body.count)".utf8) + [0] + body))
        }

        static func hex(_ raw: [UInt8]) -> String {
            let digits = Array("0123456789abcdef".utf8)
            var text: [UInt8] = []
            text.reserveCapacity(raw.count * 2)
            for byte in raw {
                text.append(digits[Int(byte >> 4)])
                text.append(digits[Int(byte & 0x0F)])
            }
            return String(decoding: text, as: UTF8.self)
        }
    }
}
