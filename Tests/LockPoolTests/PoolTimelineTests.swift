import Foundation
import Git
import Logging
import TestSupport
import Testing

@testable import LockPool

// MARK: - A history written commit by commit

/// A lock repository whose first-parent history a test writes with the git CLI, one commit at a time, with chosen
/// messages, committers and committer times; `open()` pushes it to a bare `origin.git` and opens that with the `Git`
/// module, as the cache would see it.
///
/// Every commit is made in one work clone (cheaper than a clone per commit). Committer times start at
/// `HandBuiltHistory.start` (the root commit) and advance by a minute per commit unless a time is given.
/// Not `Sendable`: one test builds and reads it.
final class HandBuiltHistory {
    /// The root commit's committer time: 2026-05-02T10:00:00Z.
    static let start = Date(timeIntervalSince1970: 1_777_716_000)
    /// The committer of commits that name none: the git CLI's fixed identity.
    static let cliHolder = "\(GitCLI.authorName) <\(GitCLI.authorEmail)>"

    let scratch: Scratch
    /// The bare repository that `open()` pushes to.
    let originPath: String
    /// The work clone.
    let work: URL
    /// git working in the work clone.
    let git: GitCLI
    /// The commits made so far, oldest first; `commits[0]` is the root commit.
    private(set) var commits: [ObjectID] = []
    /// The committer time of each commit, in the same order.
    private(set) var times: [Date] = []

    /// Creates the repository and its root commit (`seed pools`, or `seedMessage`) holding `pools`: both `.gitkeep`
    /// files of each pool and its locks.
    ///
    /// - Throws: `GitCLIError` or a file-system error.
    init(label: String, pools: [String: [String: LockSeed]], seedMessage: String = "seed pools") throws {
        scratch = try Scratch(label: label)
        let cli = try GitCLI(scratch: scratch)
        originPath = scratch.url("origin.git").path
        try cli.run(["init", "--quiet", "--bare", "--initial-branch=master", originPath])
        work = try scratch.directory("work")
        git = cli.inDirectory(work)
        try git.run(["init", "--quiet", "--initial-branch=master"])
        try commit(seedMessage, at: Self.start) {
            try write("README", "lock repository\n")
            for (pool, locks) in pools { try addPoolFiles(pool, locks: locks) }
        }
    }

    /// The newest commit.
    var tip: ObjectID { commits[commits.count - 1] }
    /// The committer time of the newest commit.
    var time: Date { times[times.count - 1] }

    /// Runs `change` on the work tree, then commits everything with `message` kept verbatim.
    ///
    /// - Parameters:
    ///   - committer: author and committer; the git CLI's fixed identity when nil.
    ///   - time: committer time; a minute after the previous commit when nil.
    /// - Returns: the new commit.
    /// - Throws: `GitCLIError`, a file-system error, or what `change` throws.
    @discardableResult
    func commit(
        _ message: String, committer: (name: String, email: String)? = nil, at time: Date? = nil,
        _ change: () throws -> Void
    ) throws -> ObjectID {
        try change()
        let when = time ?? self.time.addingTimeInterval(60)
        let stamp = "@\(Int(when.timeIntervalSince1970)) +0000"
        var environment = ["GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp]
        if let committer {
            environment["GIT_AUTHOR_NAME"] = committer.name
            environment["GIT_AUTHOR_EMAIL"] = committer.email
            environment["GIT_COMMITTER_NAME"] = committer.name
            environment["GIT_COMMITTER_EMAIL"] = committer.email
        }
        try git.run(["add", "--all"])
        try git.run(
            ["commit", "--quiet", "--allow-empty", "--cleanup=verbatim", "--file=-"], stdin: Data(message.utf8),
            extraEnvironment: environment)
        let id = try #require(ObjectID(hex: try git.output("rev-parse", "HEAD")))
        commits.append(id)
        times.append(when)
        return id
    }

    /// `git mv` of `lock` between the pool's two directories.
    func move(_ lock: String, in pool: String, toClaimed: Bool) throws {
        let (from, to) = toClaimed ? ("unclaimed", "claimed") : ("claimed", "unclaimed")
        try git.run(["mv", "\(pool)/\(from)/\(lock)", "\(pool)/\(to)/\(lock)"])
    }

    /// Writes `content` to `path`, creating directories.
    func write(_ path: String, _ content: String) throws {
        let file = work.appendingPathComponent(path)
        try FileManager.default.createDirectory(
            at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(content.utf8).write(to: file)
    }

    /// `git rm -r` of `path`.
    func delete(_ path: String) throws {
        try git.run(["rm", "-r", "--quiet", path])
    }

    /// Both `.gitkeep` files of `pool` and its `locks`.
    func addPoolFiles(_ pool: String, locks: [String: LockSeed] = [:]) throws {
        try write("\(pool)/claimed/.gitkeep", "")
        try write("\(pool)/unclaimed/.gitkeep", "")
        for (lock, seed) in locks {
            try write("\(pool)/\(seed.isClaimed ? "claimed" : "unclaimed")/\(lock)", seed.content)
        }
    }

    /// Pushes the history to `origin.git` and opens that.
    ///
    /// - Returns: the opened bare repository and the tip.
    /// - Throws: `GitCLIError` or `GitError`.
    func open() throws -> (Repository, ObjectID) {
        try git.run(["push", "--quiet", "--force", originPath, "HEAD:refs/heads/master"])
        return (try Repository.open(at: originPath), tip)
    }

    /// The position of `id` in `commits`.
    func index(_ id: ObjectID?) -> Int? { id.flatMap { commits.firstIndex(of: $0) } }
}

// MARK: - Each historic subject format

/// The tree change a format case makes, on a pool `envs` seeded with `env-1` unclaimed and `env-2` claimed.
enum SeededChange: String, Sendable {
    case claim, release, add, addClaimed, remove, update

    /// The lock the change acts on.
    var lock: String {
        switch self {
        case .claim, .update: "env-1"
        case .release, .remove: "env-2"
        case .add, .addClaimed: "env-3"
        }
    }

    /// The action the timeline must read from the tree.
    var action: HistoryEvent.Action {
        switch self {
        case .claim: .claim
        case .release: .release
        case .add: .add
        case .addClaimed: .addClaimed
        case .remove: .remove
        case .update: .update
        }
    }

    func apply(to history: HandBuiltHistory) throws {
        switch self {
        case .claim: try history.move("env-1", in: "envs", toClaimed: true)
        case .release: try history.move("env-2", in: "envs", toClaimed: false)
        case .add: try history.write("envs/unclaimed/env-3", "three")
        case .addClaimed: try history.write("envs/claimed/env-3", "three")
        case .remove: try history.delete("envs/claimed/env-2")
        case .update: try history.write("envs/unclaimed/env-1", "one, changed")
        }
    }
}

struct SubjectFormatCase: Sendable, CustomTestStringConvertible {
    let name: String
    let message: String
    var committer = (name: "CI Pool Resource", email: "ci-pool@localhost")
    let change: SeededChange
    /// The expected operation; the action's name when nil.
    var operation: String? = nil
    let holder: String
    var build: BuildInfo? = nil
    let format: HistoryEvent.Format
    var claim: String? = nil
    var leaseExpires: Date? = nil
    var testDescription: String { name }
}

private let tool = "lockpool 0.0.0-test (cli)"
private let nonce = "0123456789abcdef0123456789abcdef"
private let claimID = "89abcdef0123456789abcdef0123456789abcdef"
private let lease = Date(timeIntervalSince1970: 1_777_730_400)  // 2026-05-02T14:00:00Z
private let apply42 = BuildInfo(
    team: "main", pipeline: "deploy", job: "apply", name: "42", id: "1234", instanceVars: #"{"branch":"main"}"#,
    url: "https://ci.example.com/teams/main/pipelines/deploy/jobs/apply/builds/42?vars.branch=%22main%22")
private let pix4d42 = BuildInfo(team: "team-name", pipeline: "pipeline-name", job: "job-name", name: "42")
private let buildURL = "https://ci.example.com/teams/main/pipelines/deploy/jobs/apply/builds/42"

/// Every event of the filter fixture, as `PoolTimelineTests.summary` writes them.
private let everyEvent = [
    "c0 envs/a add", "c0 envs/b add", "c0 ops/eu/x add", "c1 envs/a claim", "c2 ops/eu/x claim",
    "c4 envs/a release", "c5 envs/b claim", "c6 envs/b release", "c6 ops/eu/x release", "c7 envs/a claim",
]

private func rendered(
    _ operation: LockOperation, _ lock: String, build: BuildInfo = .none, claim: String? = nil,
    lease: Date? = nil
) -> String {
    CommitMessage(
        operation: operation, pool: "envs", lock: lock, claimCommit: claim, leaseExpires: lease, build: build,
        tool: tool, nonce: nonce
    ).rendered()
}

private let subjectFormatCases: [SubjectFormatCase] = [
    // Upstream 2015: no build at all; the committer is the holder.
    SubjectFormatCase(
        name: "upstream 2015 claiming: L", message: "claiming: env-1", change: .claim,
        holder: "CI Pool Resource <ci-pool@localhost>", format: .upstream),
    SubjectFormatCase(
        name: "upstream 2015 unclaiming: L", message: "unclaiming: env-2", change: .release,
        holder: "CI Pool Resource <ci-pool@localhost>", format: .upstream),
    SubjectFormatCase(
        name: "upstream 2015 adding: L", message: "adding: env-3", change: .add,
        holder: "CI Pool Resource <ci-pool@localhost>", format: .upstream),
    // Upstream 2015–2016: add_claimed, remove, update, still without a prefix.
    SubjectFormatCase(
        name: "upstream adding unclaimed: L", message: "adding unclaimed: env-3", change: .add,
        holder: "CI Pool Resource <ci-pool@localhost>", format: .upstream),
    SubjectFormatCase(
        name: "upstream adding claimed: L", message: "adding claimed: env-3", change: .addClaimed,
        holder: "CI Pool Resource <ci-pool@localhost>", format: .upstream),
    SubjectFormatCase(
        name: "upstream removing: L", message: "removing: env-2", change: .remove,
        holder: "CI Pool Resource <ci-pool@localhost>", format: .upstream),
    SubjectFormatCase(
        name: "upstream updating: L", message: "updating: env-1", change: .update,
        holder: "CI Pool Resource <ci-pool@localhost>", format: .upstream),
    // Upstream v3: PIPELINE/JOB build N.
    SubjectFormatCase(
        name: "upstream P/J build N claiming: L", message: "my-pipeline/deploy build 17 claiming: env-1",
        change: .claim, holder: "my-pipeline/deploy build 17",
        build: BuildInfo(pipeline: "my-pipeline", job: "deploy", name: "17"), format: .upstream),
    SubjectFormatCase(
        name: "upstream P/J build N removing: L", message: "my-pipeline/deploy build 17 removing: env-2",
        change: .remove, holder: "my-pipeline/deploy build 17",
        build: BuildInfo(pipeline: "my-pipeline", job: "deploy", name: "17"), format: .upstream),
    // Pix4D fork and upstream v4: TEAM/PIPELINE/JOB build N, every verb (upstream integration test subjects).
    SubjectFormatCase(
        name: "Pix4D T/P/J build N claiming: L", message: "team-name/pipeline-name/job-name build 42 claiming: env-1",
        change: .claim, holder: "team-name/pipeline-name/job-name build 42", build: pix4d42, format: .pix4d),
    SubjectFormatCase(
        name: "Pix4D T/P/J build N unclaiming: L",
        message: "team-name/pipeline-name/job-name build 42 unclaiming: env-2", change: .release,
        holder: "team-name/pipeline-name/job-name build 42", build: pix4d42, format: .pix4d),
    SubjectFormatCase(
        name: "Pix4D T/P/J build N removing: L", message: "team-name/pipeline-name/job-name build 42 removing: env-2",
        change: .remove, holder: "team-name/pipeline-name/job-name build 42", build: pix4d42, format: .pix4d),
    SubjectFormatCase(
        name: "Pix4D T/P/J build N adding unclaimed: L",
        message: "team-name/pipeline-name/job-name build 42 adding unclaimed: env-3", change: .add,
        holder: "team-name/pipeline-name/job-name build 42", build: pix4d42, format: .pix4d),
    SubjectFormatCase(
        name: "Pix4D T/P/J build N adding claimed: L",
        message: "team-name/pipeline-name/job-name build 42 adding claimed: env-3", change: .addClaimed,
        holder: "team-name/pipeline-name/job-name build 42", build: pix4d42, format: .pix4d),
    SubjectFormatCase(
        name: "Pix4D T/P/J build N updating: L", message: "team-name/pipeline-name/job-name build 42 updating: env-1",
        change: .update, holder: "team-name/pipeline-name/job-name build 42", build: pix4d42, format: .pix4d),
    // One-off builds.
    SubjectFormatCase(
        name: "one-off build N claiming: L", message: "one-off build 12345 claiming: env-1", change: .claim,
        holder: "one-off build 12345", build: BuildInfo(id: "12345"), format: .upstream),
    SubjectFormatCase(
        name: "one-off #N unclaiming: L", message: "one-off #12345 unclaiming: env-2", change: .release,
        holder: "one-off build 12345", build: BuildInfo(id: "12345"), format: .upstream),
    // Instance vars between pipeline and job, including a `/` inside them.
    SubjectFormatCase(
        name: "instance vars T/P/V/J build N claiming: L",
        message: #"main/deploy/{"branch":"feature/x"}/apply build 42.1 claiming: env-1"#, change: .claim,
        holder: #"main/deploy/{"branch":"feature/x"}/apply build 42.1"#,
        build: BuildInfo(
            team: "main", pipeline: "deploy", job: "apply", name: "42.1", instanceVars: #"{"branch":"feature/x"}"#),
        format: .upstream),
    // `#N` forms.
    SubjectFormatCase(
        name: "P/J #N unclaiming: L", message: "deploy/apply #12 unclaiming: env-2", change: .release,
        holder: "deploy/apply build 12", build: BuildInfo(pipeline: "deploy", job: "apply", name: "12"),
        format: .upstream),
    SubjectFormatCase(
        name: "P/J `#N` claiming: L", message: "deploy/apply `#12` claiming: env-1", change: .claim,
        holder: "deploy/apply build 12", build: BuildInfo(pipeline: "deploy", job: "apply", name: "12"),
        format: .upstream),
    // Upstream 2026: bare subject with the Build URL line directly below, committer from the image's config.
    SubjectFormatCase(
        name: "upstream 2026 claiming: L + Build URL line", message: "claiming: env-1\nBuild URL: \(buildURL)\n",
        committer: (name: "git", email: "git@localhost"), change: .claim, holder: "main/deploy/apply build 42",
        build: BuildInfo(team: "main", pipeline: "deploy", job: "apply", name: "42", url: buildURL), format: .upstream),
    SubjectFormatCase(
        name: "upstream 2026 unclaiming: L + empty Build URL line", message: "unclaiming: env-2\nBuild URL: \n",
        committer: (name: "git", email: "git@localhost"), change: .release, holder: "git <git@localhost>",
        format: .upstream),
    // lockpool's own schema-1 messages.
    SubjectFormatCase(
        name: "lockpool acquire with lease", message: rendered(.acquire, "env-1", build: apply42, lease: lease),
        change: .claim, operation: "acquire", holder: "main/deploy/apply build 42", build: apply42,
        format: .lockpool, leaseExpires: lease),
    SubjectFormatCase(
        name: "lockpool claim from the CLI", message: rendered(.claim, "env-1"),
        committer: (name: "Alice Doe", email: "alice@example.com"), change: .claim, operation: "claim",
        holder: "Alice Doe <alice@example.com>", format: .lockpool),
    SubjectFormatCase(
        name: "lockpool release with Lock-Claim",
        message: rendered(.release, "env-2", build: BuildInfo(id: "77"), claim: claimID), change: .release,
        operation: "release", holder: "one-off build 77", build: BuildInfo(id: "77"), format: .lockpool,
        claim: claimID),
    SubjectFormatCase(
        name: "lockpool remove", message: rendered(.remove, "env-2", build: pix4d42, claim: claimID),
        change: .remove, operation: "remove", holder: "team-name/pipeline-name/job-name build 42", build: pix4d42,
        format: .lockpool, claim: claimID),
    SubjectFormatCase(
        name: "lockpool add", message: rendered(.add, "env-3"), change: .add, operation: "add",
        holder: "CI Pool Resource <ci-pool@localhost>", format: .lockpool),
    SubjectFormatCase(
        name: "lockpool add_claimed with lease", message: rendered(.addClaimed, "env-3", lease: lease),
        change: .addClaimed, operation: "add_claimed", holder: "CI Pool Resource <ci-pool@localhost>",
        format: .lockpool, leaseExpires: lease),
    SubjectFormatCase(
        name: "lockpool update", message: rendered(.update, "env-1"), change: .update, operation: "update",
        holder: "CI Pool Resource <ci-pool@localhost>", format: .lockpool),
    SubjectFormatCase(
        name: "lockpool trailers naming another lock are manual", message: rendered(.claim, "env-9"),
        change: .claim, holder: "CI Pool Resource <ci-pool@localhost>", format: .manual),
    // Scripts and people.
    SubjectFormatCase(
        name: "kubo-ci Claiming: pool/env", message: "Claiming: envs/env-1",
        committer: (name: "CI Bot", email: "ci-bot@localhost"), change: .claim, holder: "CI Bot <ci-bot@localhost>",
        format: .manual),
    SubjectFormatCase(
        name: "kubo-ci Unclaiming: pool/env", message: "Unclaiming: envs/env-2",
        committer: (name: "CI Bot", email: "ci-bot@localhost"), change: .release,
        holder: "CI Bot <ci-bot@localhost>", format: .manual),
    SubjectFormatCase(
        name: "buildpacks-ci Unclaim L via P pipeline", message: "Unclaim env-2 via deploy pipeline",
        committer: (name: "CI Bot", email: "ci-bot@localhost"), change: .release,
        holder: "CI Bot <ci-bot@localhost>", format: .manual),
    SubjectFormatCase(
        name: "free-form with a body", message: "put env-2 back by hand\n\nThe build was aborted.\n",
        committer: (name: "Alice Doe", email: "alice@example.com"), change: .release,
        holder: "Alice Doe <alice@example.com>", format: .manual),
    SubjectFormatCase(
        name: "free-form upstream test subject", message: "claiming a lock",
        committer: (name: "Alice Doe", email: "alice@example.com"), change: .claim,
        holder: "Alice Doe <alice@example.com>", format: .manual),
    SubjectFormatCase(
        name: "a verb naming another lock is manual", message: "claiming: env-9",
        committer: (name: "Alice Doe", email: "alice@example.com"), change: .claim,
        holder: "Alice Doe <alice@example.com>", format: .manual),
    SubjectFormatCase(
        name: "an unknown prefix before the verb is manual", message: "some text claiming: env-1",
        committer: (name: "Bob", email: "bob@example.com"), change: .claim, holder: "Bob <bob@example.com>",
        format: .manual),
]

@Suite struct PoolTimelineTests {
    @Test(arguments: subjectFormatCases)
    func historyParsingOnRepositoriesBuiltWithEachHistoricSubjectFormat(_ c: SubjectFormatCase) throws {
        let history = try HandBuiltHistory(
            label: "format", pools: ["envs": ["env-1": .unclaimed("one"), "env-2": .claimed("two")]])
        let time = HandBuiltHistory.start.addingTimeInterval(3600)
        let id = try history.commit(c.message, committer: c.committer, at: time) { try c.change.apply(to: history) }
        let (repository, tip) = try history.open()

        let events = try PoolTimeline(repository: repository).events(tip: tip, pools: ["envs"])
        try #require(events.count == 3)
        let event = events[2]
        #expect(event.commit == id)
        #expect(event.time == time)
        #expect(event.pool == "envs")
        #expect(event.lock == c.change.lock)
        #expect(event.action == c.change.action)
        #expect(event.operation == c.operation ?? c.change.action.rawValue)
        #expect(event.holder.description == c.holder)
        #expect(event.holder.build == c.build)
        #expect(event.format == c.format)
        #expect(event.subject == String(c.message.prefix { $0 != "\n" }))
        #expect(event.claim == c.claim)
        #expect(event.leaseExpires == c.leaseExpires)
        #expect(event.reapReason == nil)

        // The root commit adds both locks by hand.
        #expect(events[0].lock == "env-1" && events[0].action == .add && events[0].format == .manual)
        #expect(events[1].lock == "env-2" && events[1].action == .addClaimed)
        #expect(events[0].holder.description == HandBuiltHistory.cliHolder && events[0].holder.build == nil)
        #expect(events[0].time == HandBuiltHistory.start && events[0].commit == history.commits[0])
    }

    @Test func poolBoyMovesSeveralLocksInOneCommit() throws {
        let history = try HandBuiltHistory(
            label: "pool-boy",
            pools: [
                "envs": ["env-1": .claimed("1"), "env-2": .claimed("2"), "env-3": .claimed("3")],
                "ops/eu": ["x": .claimed()],
            ])
        let id = try history.commit(
            "Freshening up the pool with 3 changes", committer: (name: "Pool Boy", email: "pool-boy@localhost")
        ) {
            try history.move("env-1", in: "envs", toClaimed: false)
            try history.move("env-3", in: "envs", toClaimed: false)
            try history.move("x", in: "ops/eu", toClaimed: false)
        }
        let (repository, tip) = try history.open()

        let events = try PoolTimeline(repository: repository).events(
            tip: tip, pools: ["envs", "ops/eu"], since: history.time)
        #expect(events.map { "\($0.pool)/\($0.lock)" } == ["envs/env-1", "envs/env-3", "ops/eu/x"])
        for event in events {
            #expect(event.commit == id)
            #expect(event.time == history.time)
            #expect(event.action == .release)
            #expect(event.operation == "release")
            #expect(event.format == .poolBoy)
            #expect(event.holder == Holder(description: "Pool Boy"))
            #expect(event.subject == "Freshening up the pool with 3 changes")
            #expect(event.claim == nil && event.leaseExpires == nil)
        }
    }

    @Test func lockpoolCommitsMadeByTheClientAreRead() async throws {
        let scratch = try Scratch(label: "timeline-client")
        let origin = try LockRepository.create(in: scratch, pools: ["envs": ["env-1": .unclaimed("1")]])
        let build = BuildInfo(team: "main", pipeline: "deploy", job: "apply", name: "42", id: "1234")
        let client = LockPoolClient(
            configuration: PoolConfiguration(
                remoteURL: origin.path, branch: origin.branch, pool: "envs", cacheRoot: scratch.url("cache").path,
                retryDelay: .milliseconds(50), build: build, tool: tool))
        let silent = Logger(label: "lockpool.tests") { _ in SwiftLogNoOpLogHandler() }
        let claimed = try await client.perform(
            .claim(lock: "env-1", lease: .seconds(3600)), timeout: .seconds(20), clock: ContinuousClock(),
            events: { _ in }, logger: silent)
        let released = try await client.perform(
            .release(lock: "env-1", fence: claimed.version), timeout: .seconds(20), clock: ContinuousClock(),
            events: { _ in }, logger: silent)

        let repository = try Repository.open(at: origin.path)
        let events = try PoolTimeline(repository: repository).events(tip: released.version, pools: ["envs"])
        #expect(events.map(\.action) == [.add, .claim, .release])
        #expect(events.map(\.operation) == ["add", "claim", "release"])
        #expect(events.map(\.format) == [.manual, .lockpool, .lockpool])
        #expect(events[1].commit == claimed.version && events[2].commit == released.version)
        #expect(events[1].holder.description == "main/deploy/apply build 42")
        #expect(events[1].holder.build == build)
        #expect(events[1].subject == "main/deploy/apply build 42 claiming: env-1")
        let claimTime = try repository.commit(claimed.version).committer.time
        #expect(events[1].time == claimTime)
        // The lease counts from the decision, the committer time from the commit a moment later.
        let expiry = try #require(events[1].leaseExpires)
        #expect(abs(expiry.timeIntervalSince(claimTime) - 3600) <= 1)
        #expect(events[2].claim == claimed.version.hex)
        #expect(events[2].leaseExpires == nil)
    }

    // MARK: Filters

    /// ```
    /// c0  seed: envs {a, b}, ops/eu {x}, all unclaimed        (manual, by the git CLI identity)
    /// c1  main/deploy/apply build 1 claiming: a               envs
    /// c2  claiming: x                                         ops/eu
    /// c3  README                                              no pool
    /// c4  one-off build 7 unclaiming: a                       envs
    /// c5  main/deploy/apply build 2 claiming: b               envs
    /// c6  Freshening up the pool with 2 changes               envs b and ops/eu x back to unclaimed
    /// c7  lockpool acquire of a (trailers)                    envs
    /// ```
    private func filterFixture() throws -> (HandBuiltHistory, Repository, ObjectID) {
        let history = try HandBuiltHistory(
            label: "timeline-filters",
            pools: ["envs": ["a": .unclaimed("A"), "b": .unclaimed("B")], "ops/eu": ["x": .unclaimed("X")]])
        try history.commit("main/deploy/apply build 1 claiming: a") {
            try history.move("a", in: "envs", toClaimed: true)
        }
        try history.commit("claiming: x") { try history.move("x", in: "ops/eu", toClaimed: true) }
        try history.commit("README") { try history.write("README", "changed\n") }
        try history.commit("one-off build 7 unclaiming: a") { try history.move("a", in: "envs", toClaimed: false) }
        try history.commit("main/deploy/apply build 2 claiming: b") {
            try history.move("b", in: "envs", toClaimed: true)
        }
        try history.commit(
            "Freshening up the pool with 2 changes", committer: (name: "Pool Boy", email: "pool-boy@localhost")
        ) {
            try history.move("b", in: "envs", toClaimed: false)
            try history.move("x", in: "ops/eu", toClaimed: false)
        }
        try history.commit(rendered(.acquire, "a", build: pix4d42)) {
            try history.move("a", in: "envs", toClaimed: true)
        }
        let (repository, tip) = try history.open()
        return (history, repository, tip)
    }

    /// `c<index> <pool>/<lock> <action>` for each event.
    private func summary(_ events: [HistoryEvent], _ history: HandBuiltHistory) -> [String] {
        events.map { "c\(history.index($0.commit) ?? -1) \($0.pool)/\($0.lock) \($0.action.rawValue)" }
    }

    @Test func everyPoolOldestFirstWithNestedPoolNames() throws {
        let (history, repository, tip) = try filterFixture()
        let timeline = PoolTimeline(repository: repository)
        let events = try timeline.events(tip: tip, pools: ["envs", "ops/eu"])
        #expect(summary(events, history) == everyEvent)
        #expect(events.allSatisfy { $0.time == history.times[history.index($0.commit) ?? 0] })
        #expect(
            events.map(\.format) == [
                .manual, .manual, .manual, .pix4d, .upstream, .upstream, .pix4d, .poolBoy, .poolBoy, .lockpool,
            ])
        #expect(
            events.map(\.holder.description) == [
                HandBuiltHistory.cliHolder, HandBuiltHistory.cliHolder, HandBuiltHistory.cliHolder,
                "main/deploy/apply build 1", HandBuiltHistory.cliHolder, "one-off build 7",
                "main/deploy/apply build 2", "Pool Boy", "Pool Boy", "team-name/pipeline-name/job-name build 42",
            ])
        #expect(events.last?.operation == "acquire")
        #expect(try PoolCatalog.pools(in: repository, at: tip) == ["envs", "ops/eu"])

        // One pool at a time; a pool that does not exist has no events.
        #expect(
            summary(try timeline.events(tip: tip, pools: ["ops/eu"]), history) == [
                "c0 ops/eu/x add", "c2 ops/eu/x claim", "c6 ops/eu/x release",
            ])
        #expect(summary(try timeline.events(tip: tip, pools: ["envs"]), history).count == 7)
        #expect(try timeline.events(tip: tip, pools: ["ops"]).isEmpty)
        #expect(try timeline.events(tip: tip, pools: ["nope"]).isEmpty)
        #expect(try timeline.events(tip: tip, pools: []).isEmpty)
        // An older tip ends the history there.
        #expect(
            summary(try timeline.events(tip: history.commits[3], pools: ["envs", "ops/eu"]), history)
                == Array(everyEvent.prefix(5)))
    }

    struct FilterCase: Sendable, CustomTestStringConvertible {
        let name: String
        var lock: String? = nil
        /// Commit indexes whose committer times bound the range; `sinceOffset` seconds are added to `since`.
        var since: Int? = nil
        var sinceOffset: TimeInterval = 0
        var until: Int? = nil
        var untilOffset: TimeInterval = 0
        var limit: Int = .max
        let expected: [String]
        var testDescription: String { name }
    }

    @Test(arguments: [
        FilterCase(
            name: "--lock a", lock: "a",
            expected: ["c0 envs/a add", "c1 envs/a claim", "c4 envs/a release", "c7 envs/a claim"]
        ),
        FilterCase(
            name: "--lock x finds it in the nested pool", lock: "x",
            expected: ["c0 ops/eu/x add", "c2 ops/eu/x claim", "c6 ops/eu/x release"]),
        FilterCase(name: "--lock of a lock that never existed", lock: "zz", expected: []),
        FilterCase(name: "since a commit's time includes it", since: 4, expected: Array(everyEvent.suffix(5))),
        FilterCase(
            name: "since between two commits", since: 3, sinceOffset: 1, expected: Array(everyEvent.suffix(5))),
        FilterCase(name: "since after the tip", since: 7, sinceOffset: 1, expected: []),
        FilterCase(name: "until a commit's time includes it", until: 4, expected: Array(everyEvent.prefix(6))),
        FilterCase(
            name: "until between two commits", until: 4, untilOffset: 30, expected: Array(everyEvent.prefix(6))),
        FilterCase(name: "until before the root", until: 0, untilOffset: -1, expected: []),
        FilterCase(
            name: "since and until", since: 2, until: 5,
            expected: ["c2 ops/eu/x claim", "c4 envs/a release", "c5 envs/b claim"]),
        FilterCase(
            name: "since, until and --lock", lock: "a", since: 1, until: 6,
            expected: ["c1 envs/a claim", "c4 envs/a release"]),
        FilterCase(name: "limit 1", limit: 1, expected: ["c7 envs/a claim"]),
        FilterCase(
            name: "limit cuts inside one commit", limit: 2, expected: ["c6 ops/eu/x release", "c7 envs/a claim"]),
        FilterCase(name: "limit 3", limit: 3, expected: Array(everyEvent.suffix(3))),
        FilterCase(name: "limit above the count", limit: 100, expected: everyEvent),
        FilterCase(name: "limit 0", limit: 0, expected: []),
        FilterCase(
            name: "limit with --lock and until", lock: "a", until: 6, limit: 2,
            expected: ["c1 envs/a claim", "c4 envs/a release"]),
    ])
    func filters(_ c: FilterCase) throws {
        let (history, repository, tip) = try filterFixture()
        let events = try PoolTimeline(repository: repository).events(
            tip: tip, pools: ["envs", "ops/eu"], lock: c.lock,
            since: c.since.map { history.times[$0].addingTimeInterval(c.sinceOffset) },
            until: c.until.map { history.times[$0].addingTimeInterval(c.untilOffset) }, limit: c.limit)
        #expect(summary(events, history) == c.expected)
    }

    @Test func changesInPlaceAndLocksInBothStates() throws {
        let history = try HandBuiltHistory(
            label: "timeline-odd", pools: ["envs": ["a": .unclaimed("A"), "b": .claimed("B")]])
        try history.commit("note on b") { try history.write("envs/claimed/b", "B, noted") }
        try history.commit("copy a by hand") { try history.write("envs/claimed/a", "A") }
        try history.commit("chmod a") {
            try FileManager.default.setAttributes(
                [.posixPermissions: 0o755], ofItemAtPath: history.work.appendingPathComponent("envs/unclaimed/a").path)
        }
        try history.commit("drop a's copy") { try history.delete("envs/claimed/a") }
        try history.commit("not locks") {
            try history.write("envs/unclaimed/.hidden", "h")
            try history.write("envs/unclaimed/sub/inner", "i")
        }
        try history.commit("b goes") { try history.delete("envs/claimed/b") }
        let (repository, tip) = try history.open()
        let events = try PoolTimeline(repository: repository).events(tip: tip, pools: ["envs"])
        #expect(
            summary(events, history) == [
                "c0 envs/a add", "c0 envs/b add_claimed", "c1 envs/b update", "c2 envs/a duplicate",
                "c3 envs/a update", "c4 envs/a update", "c6 envs/b remove",
            ])
        #expect(events.allSatisfy { $0.format == .manual })
    }
}
