import Foundation
import TestSupport
import Testing

/// `lockpool` end to end (docs/resource.md#the-lockpool-command): the built binary on real lock repositories, its
/// stdout, stderr and exit status. Every run gets `HOME` pointing at an empty directory, so no personal git
/// configuration leaks in.

/// A lock repository, the `out` resource over it, and the `lockpool` binary.
struct CLIHarness {
    let resource: ResourceHarness
    /// An empty directory used as `HOME`.
    let home: URL

    var scratch: Scratch { resource.scratch }
    var repository: LockRepository { resource.repository }
    var executables: Executables { resource.executables }

    init(
        _ label: String, branch: String = "master", locks: [String: LockSeed],
        otherPools: [String: [String: LockSeed]] = [:]
    ) throws {
        resource = try makeHarness(label, branch: branch, locks: locks, otherPools: otherPools)
        home = try resource.scratch.directory("home")
    }

    /// `--repo PATH --branch B` for the repository.
    var connection: [String] { ["--repo", repository.path, "--branch", repository.branch] }

    /// The environment of every run: `HOME` plus `extra`.
    func environment(_ extra: [String: String] = [:]) -> [String: String] {
        ["HOME": home.path].merging(extra) { $1 }
    }

    /// Runs `lockpool arguments… [--repo … --branch …]`.
    func run(
        _ arguments: [String], connect: Bool = true, stdin: String = "", environment extra: [String: String] = [:],
        timeout: Duration = .seconds(120)
    ) throws -> ExecutableResult {
        try executables.lockpool(
            arguments + (connect ? connection : []), stdin: Data(stdin.utf8), environment: environment(extra),
            timeout: timeout)
    }

    /// Starts `lockpool arguments… --repo … --branch …` in the background.
    func start(_ arguments: [String], environment extra: [String: String] = [:]) throws -> RunningExecutable {
        try executables.startLockpool(arguments + connection, environment: environment(extra))
    }
}

/// `status --json`.
struct StatusJSON: Decodable {
    struct Build: Decodable {
        let team, pipeline, job, name, id, url: String?
    }
    struct Lock: Decodable {
        let pool, lock, state: String
        let holder: String?
        let build: Build?
        let since: String?
        let commit: String?
        let leaseExpires: String?
        let leaseExpired: Bool?
        let buildUrl: String?
    }
    struct Pool: Decodable {
        let pool: String
        let claimed, unclaimed: Int
        let locks: [Lock]
    }
    let branch: String
    let tip: String
    let pools: [Pool]

    func lock(_ name: String, in pool: String = "envs") -> Lock? {
        pools.first { $0.pool == pool }?.locks.first { $0.lock == name }
    }
}

/// `acquire|claim|… --json`.
struct OperationJSON: Decodable {
    let pool, lock, operation, version: String
    let locks: [String]
    let committed: Bool
    let waitedSeconds: Double
    let lostRaces: Int
}

/// One event of `history --json`.
struct HistoryEventJSON: Decodable {
    let time, commit, pool, lock, action, operation, holder, format, subject: String
    let claim: String?
    let leaseExpires: String?
}

/// `verify --json`.
struct VerifyJSON: Decodable {
    struct Problem: Decodable {
        let severity, kind, pool, message: String
        let lock, commit: String?
    }
    let healthy: Bool
    let tip: String
    let pools: [String]
    let commitsReplayed, errors, warnings: Int
    let problems: [Problem]
}

extension ExecutableResult {
    /// stdout decoded as `type`, with snake_case keys.
    func decodeSnakeCase<T: Decodable>(_ type: T.Type) throws -> T {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(type, from: stdout)
    }

    /// Whether stdout or stderr holds an ANSI escape sequence.
    var hasEscapes: Bool { stdoutText.contains("\u{1B}") || stderr.contains("\u{1B}") }
}

/// An RFC 3339 timestamp as a date.
func rfc3339(_ text: String?) -> Date? {
    text.flatMap { try? Date($0, strategy: .iso8601) }
}

/// The committer time of `ref`, from `git log --format=%ct`.
func committerTime(_ repository: LockRepository, _ ref: String) throws -> Date {
    let seconds = try #require(Double(try repository.git.output("log", "-1", "--format=%ct", ref)))
    return Date(timeIntervalSince1970: seconds)
}

/// Asserts a usage error: exit 64, nothing on stdout, `message` on stderr.
func expectUsageError(
    _ result: ExecutableResult, _ message: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(result.status == 64, "\(result)", sourceLocation: sourceLocation)
    #expect(result.stdout.isEmpty, "\(result)", sourceLocation: sourceLocation)
    #expect(result.stderr.contains(message), "\(result)", sourceLocation: sourceLocation)
}

/// Asserts an operational failure: exit 1, nothing on stdout, last stderr line `Error: <message>`.
func expectCLIFailure(
    _ result: ExecutableResult, _ message: String, exact: Bool = true,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(result.status == 1, "\(result)", sourceLocation: sourceLocation)
    #expect(result.stdout.isEmpty, "\(result)", sourceLocation: sourceLocation)
    let last = result.lastStderrLine ?? ""
    if exact {
        #expect(last == "Error: \(message)", "\(result)", sourceLocation: sourceLocation)
    } else {
        #expect(last.hasPrefix("Error: ") && last.contains(message), "\(result)", sourceLocation: sourceLocation)
    }
}

/// The subcommands `--help` and completion scripts must name.
let cliSubcommands = [
    "init", "status", "show", "acquire", "claim", "release", "add", "remove", "update", "wait", "history", "stats",
    "reap",
    "verify", "run-step", "report", "serve",
]

@Suite struct CLITests {
    // MARK: version, help, completion

    @Test func versionNamesTheToolAndLibgit2() throws {
        let scratch = try Scratch(label: "cli-version")
        let result = try Executables(scratch: scratch).lockpool(["--version"])
        #expect(result.status == 0, "\(result)")
        let line = result.stdoutText.trimmingCharacters(in: .newlines)
        #expect(try Regex(#"^lockpool \S+ \(libgit2 \d+\.\d+\.\d+\)$"#).wholeMatch(in: line) != nil, "\(line)")
        #expect(result.stderr.isEmpty)
    }

    @Test func helpListsSubcommandsAndExitStatuses() throws {
        let scratch = try Scratch(label: "cli-help")
        let result = try Executables(scratch: scratch).lockpool(["--help"])
        #expect(result.status == 0, "\(result)")
        let help = result.stdoutText
        for text in [
            "Exit status:", "0 success", "1 failure", "64 usage error", "65 `verify` found the",
            "75 `--timeout` passed",
        ] {
            #expect(help.contains(text), "\(text) missing from:\n\(help)")
        }
        for name in cliSubcommands { #expect(help.contains("  \(name)"), "\(name) missing from:\n\(help)") }
        #expect(!result.hasEscapes)

        let acquireHelp = try Executables(scratch: scratch).lockpool(["acquire", "--help"])
        #expect(acquireHelp.status == 0)
        for text in ["--repo", "--branch", "--retry-delay", "--timeout", "--lease", "64 usage error", "75"] {
            #expect(acquireHelp.stdoutText.contains(text), "\(text) missing from:\n\(acquireHelp.stdoutText)")
        }
    }

    @Test(arguments: ["bash", "zsh", "fish"])
    func completionScriptNamesEverySubcommand(shell: String) throws {
        let scratch = try Scratch(label: "cli-completion")
        let result = try Executables(scratch: scratch).lockpool(["--generate-completion-script", shell])
        #expect(result.status == 0, "\(result)")
        let script = result.stdoutText
        for name in cliSubcommands { #expect(script.contains(name), "\(name) missing from the \(shell) script") }
        for option in ["repo", "retry-delay", "until-claimed"] { #expect(script.contains(option)) }
        switch shell {
        case "bash": #expect(script.contains("complete ") && script.contains("lockpool"))
        case "zsh": #expect(script.hasPrefix("#compdef lockpool"))
        default: #expect(script.contains("complete -c 'lockpool'"))
        }
    }

    // MARK: init

    @Test func initCreatesABareRepositoryWithPoolsAndLocksAndIsIdempotent() throws {
        let scratch = try Scratch(label: "cli-init")
        let executables = try Executables(scratch: scratch)
        let home = try scratch.directory("home")
        let git = try GitCLI(scratch: scratch)
        let path = scratch.url("locks.git").path
        let arguments = ["init", "envs", "ops/db", "--lock", "env-1", "--lock", "env-2", "--repo", path]
        let first = try executables.lockpool(arguments, environment: ["HOME": home.path])
        #expect(first.status == 0, "\(first)")
        #expect(
            first.stdoutText.components(separatedBy: "\n").filter { !$0.isEmpty } == [
                "created repository \(path)", "created branch 'main'", "created pool 'envs'", "created pool 'ops/db'",
                "added lock 'env-1' to pool 'envs'", "added lock 'env-2' to pool 'envs'",
                "added lock 'env-1' to pool 'ops/db'", "added lock 'env-2' to pool 'ops/db'",
            ], "\(first)")
        #expect(!first.hasEscapes)

        let bare = git.inDirectory(URL(fileURLWithPath: path))
        #expect(try bare.output("rev-parse", "--is-bare-repository") == "true")
        #expect(try bare.output("symbolic-ref", "HEAD") == "refs/heads/main")
        let files = try bare.output("ls-tree", "-r", "--name-only", "main").components(separatedBy: "\n")
        #expect(
            files == [
                "envs/claimed/.gitkeep", "envs/unclaimed/.gitkeep", "envs/unclaimed/env-1", "envs/unclaimed/env-2",
                "ops/db/claimed/.gitkeep", "ops/db/unclaimed/.gitkeep", "ops/db/unclaimed/env-1",
                "ops/db/unclaimed/env-2",
            ])
        let subjects = try bare.output("log", "--format=%s", "main").components(separatedBy: "\n")
        #expect(subjects.count == 5)
        #expect(subjects.last == "initializing pools: envs, ops/db")
        #expect(subjects.first == "adding unclaimed: env-2")
        let tool = try bare.output("log", "-1", "--format=%(trailers:key=Lock-Tool,valueonly)", "main")
        #expect(tool.hasSuffix(" (cli)"), "\(tool)")
        let tip = try bare.output("rev-parse", "main")

        let again = try executables.lockpool(arguments, environment: ["HOME": home.path])
        #expect(again.status == 0, "\(again)")
        #expect(
            again.stdoutText.components(separatedBy: "\n").filter { !$0.isEmpty } == [
                "pool 'envs' already exists", "pool 'ops/db' already exists",
                "lock 'env-1' already exists in pool 'envs'", "lock 'env-2' already exists in pool 'envs'",
                "lock 'env-1' already exists in pool 'ops/db'", "lock 'env-2' already exists in pool 'ops/db'",
            ], "\(again)")
        #expect(try bare.output("rev-parse", "main") == tip)
    }

    @Test func initAddsPoolsToAnExistingRepository() throws {
        let cli = try CLIHarness("cli-init-existing", locks: ["env-1": .claimed("x")])
        let before = try cli.repository.commitID()
        let result = try cli.run(["init", "envs", "dbs"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdoutText == "pool 'envs' already exists\ncreated pool 'dbs'\n")
        let tip = try cli.repository.commit()
        #expect(tip.parents == [before])
        #expect(tip.subject == "initializing pools: dbs")
        #expect(tip.trailer("Lock-Tool")?.hasSuffix(" (cli)") == true)
        #expect(try cli.repository.locks(in: "dbs") == PoolLocks(claimed: [], unclaimed: []))
        #expect(try cli.repository.file("dbs/claimed/.gitkeep") == Data())
        #expect(try cli.repository.file("dbs/unclaimed/.gitkeep") == Data())
        #expect(try cli.repository.locks(in: "envs") == PoolLocks(claimed: ["env-1"], unclaimed: []))
        #expect(try cli.repository.file("envs/claimed/env-1") == Data("x".utf8))
    }

    @Test func initWithLockContentFromAFile() throws {
        let cli = try CLIHarness("cli-init-file", locks: [:])
        let file = try cli.scratch.write("host: a\n", to: "lock-content")
        let result = try cli.run(["init", "envs", "--lock", "env-7", "--file", file.path])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdoutText == "pool 'envs' already exists\nadded lock 'env-7' to pool 'envs'\n")
        #expect(try cli.repository.file("envs/unclaimed/env-7") == Data("host: a\n".utf8))
        #expect(try cli.repository.commit().trailer("Lock-Operation") == "add")
    }

    /// init leaves every lock the pool has as it is (claimed, updated) and adds only what is missing (a removed lock).
    @Test func initReRunLeavesClaimedUpdatedAndAddsRemovedLocks() throws {
        let cli = try CLIHarness(
            "cli-init-rerun",
            locks: ["env-1": .claimed("one\n"), "env-2": .unclaimed("two, updated\n"), "env-4": .unclaimed("")])
        let before = try cli.repository.commitID()
        let result = try cli.run([
            "init", "envs", "--lock", "env-1", "--lock", "env-2", "--lock", "env-3", "--lock", "env-4",
        ])
        #expect(result.status == 0, "\(result)")
        #expect(
            result.stdoutText.components(separatedBy: "\n").filter { !$0.isEmpty } == [
                "pool 'envs' already exists",
                "lock 'env-1' already exists in pool 'envs' and is claimed; left as it is",
                "lock 'env-2' already exists in pool 'envs' with other content; left as it is (update changes it)",
                "added lock 'env-3' to pool 'envs'",
                "lock 'env-4' already exists in pool 'envs'",
            ], "\(result)")
        #expect(
            try cli.repository.locks(in: "envs")
                == PoolLocks(claimed: ["env-1"], unclaimed: ["env-2", "env-3", "env-4"]))
        #expect(try cli.repository.file("envs/claimed/env-1") == Data("one\n".utf8))
        #expect(try cli.repository.file("envs/unclaimed/env-2") == Data("two, updated\n".utf8))
        let tip = try cli.repository.commit()
        #expect(tip.parents == [before] && tip.subject == "adding unclaimed: env-3")
    }

    // MARK: status

    @Test func statusShowsStateHolderSinceLeaseAndBuildURL() throws {
        let cli = try CLIHarness(
            "cli-status",
            locks: [
                "env-1": .unclaimed(), "env-2": .unclaimed(), "env-3": .unclaimed(), "env-4": .unclaimed(),
            ])
        // A claim by the resource, with a build and a lease.
        var resource = cli.resource
        resource.environment = pix4dEnvironment
        try expectSuccess(try resource.out(["claim": "env-1", "lease": "2h"]), lock: "env-1", pool: "envs")
        let resourceClaim = try cli.repository.commit()
        // A claim made by hand with the git CLI: the committer holds it.
        let manualClaim = try cli.repository.moveLock("env-2", in: "envs", toClaimed: true, message: "debugging")
        // A hand-made claim whose lease has long expired.
        let expiredClaim = try cli.repository.moveLock(
            "env-4", in: "envs", toClaimed: true,
            message: "claiming: env-4\n\nLease-Expires: 2020-01-02T03:04:05Z")

        let json = try cli.run(["status", "--json"])
        #expect(json.status == 0, "\(json)")
        #expect(!json.hasEscapes)
        let status = try json.decodeSnakeCase(StatusJSON.self)
        #expect(status.branch == "master")
        #expect(status.tip == expiredClaim)
        #expect(status.pools.map(\.pool) == ["envs"])
        #expect(status.pools.first?.claimed == 3 && status.pools.first?.unclaimed == 1)
        #expect(status.pools.first?.locks.map(\.lock) == ["env-1", "env-2", "env-3", "env-4"])

        let one = try #require(status.lock("env-1"))
        #expect(one.state == "claimed")
        #expect(one.holder == "main/deploy/apply build 42")
        #expect(one.build?.team == "main" && one.build?.pipeline == "deploy" && one.build?.job == "apply")
        #expect(one.build?.name == "42" && one.build?.id == "1042")
        let url = "https://ci.example.com/teams/main/pipelines/deploy/jobs/apply/builds/42"
        #expect(one.buildUrl == url)
        #expect(one.build?.url == url)
        #expect(one.commit == resourceClaim.id)
        #expect(rfc3339(one.since) == (try committerTime(cli.repository, resourceClaim.id)))
        #expect(one.leaseExpires == resourceClaim.trailer("Lease-Expires"))
        let expiry = try #require(rfc3339(one.leaseExpires))
        #expect(abs(expiry.timeIntervalSince(try committerTime(cli.repository, resourceClaim.id)) - 7200) < 1)
        #expect(one.leaseExpired == false)

        let two = try #require(status.lock("env-2"))
        #expect(two.state == "claimed")
        #expect(two.holder == "\(GitCLI.authorName) <\(GitCLI.authorEmail)>")
        #expect(two.buildUrl == nil && two.build == nil)
        #expect(two.commit == manualClaim)
        #expect(rfc3339(two.since) == (try committerTime(cli.repository, manualClaim)))
        #expect(two.leaseExpires == nil && two.leaseExpired == nil)

        let three = try #require(status.lock("env-3"))
        #expect(three.state == "unclaimed")
        #expect(three.holder == nil && three.leaseExpires == nil)
        #expect(three.since != nil)

        let four = try #require(status.lock("env-4"))
        #expect(four.leaseExpires == "2020-01-02T03:04:05Z")
        #expect(four.leaseExpired == true)

        // Keys without a value are present as null, for scripts that index them.
        let object = try #require(try json.json() as? [String: Any])
        let pools = try #require(object["pools"] as? [[String: Any]])
        let locks = try #require(pools.first?["locks"] as? [[String: Any]])
        let unclaimed = try #require(locks.first { $0["lock"] as? String == "env-3" })
        for key in ["holder", "build", "lease_expires", "lease_expired", "build_url"] {
            #expect(unclaimed[key] is NSNull, "\(key): \(String(describing: unclaimed[key]))")
        }

        let table = try cli.run(["status"])
        #expect(table.status == 0, "\(table)")
        #expect(!table.hasEscapes)
        let lines = table.stdoutText.components(separatedBy: "\n").filter { !$0.isEmpty }
        let header = try #require(lines.first)
        #expect(try Regex(#"^POOL +LOCK +STATE +HOLDER +SINCE +LEASE +BUILD URL$"#).wholeMatch(in: header) != nil)
        let row1 = try #require(lines.first { $0.contains(" env-1 ") })
        #expect(row1.contains("claimed") && row1.contains("main/deploy/apply build 42"))
        #expect(row1.contains("ends in 1h") || row1.contains("ends in 2h"), "\(row1)")
        #expect(row1.hasSuffix(url))
        #expect(row1.contains(one.since ?? "?"))
        let row2 = try #require(lines.first { $0.contains(" env-2 ") })
        #expect(row2.contains("Lockpool Test <test@lockpool.invalid>"))
        let row4 = try #require(lines.first { $0.contains(" env-4 ") })
        #expect(try Regex(#"expired \S+ ago"#).firstMatch(in: row4) != nil, "\(row4)")
        #expect(lines.last == "envs: 3 claimed, 1 unclaimed")
    }

    @Test func statusOfEveryPoolAndOfAMissingPool() throws {
        let cli = try CLIHarness(
            "cli-status-pools", locks: ["env-1": .unclaimed()], otherPools: ["dbs": ["db-1": .claimed()]])
        let all = try cli.run(["status", "--json"]).decodeSnakeCase(StatusJSON.self)
        #expect(all.pools.map(\.pool) == ["dbs", "envs"])
        #expect(all.lock("db-1", in: "dbs")?.state == "claimed")
        let one = try cli.run(["status", "dbs", "--json"]).decodeSnakeCase(StatusJSON.self)
        #expect(one.pools.map(\.pool) == ["dbs"])
        expectCLIFailure(
            try cli.run(["status", "nope"]),
            "pool 'nope' does not exist on branch 'master' (expected nope/claimed and nope/unclaimed)")
    }

    // MARK: acquire, claim

    @Test func acquirePrintsExactlyTheLockName() throws {
        let cli = try CLIHarness("cli-acquire", locks: ["env-1": .unclaimed("meta\n"), "env-2": .claimed()])
        let before = try cli.repository.commitID()
        let result = try cli.run(["acquire", "envs"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdoutText == "env-1\n")
        #expect(result.stderrLines.contains("acquiring lock on: envs"))
        #expect(result.stderrLines.contains("acquired!"))
        #expect(!result.hasEscapes)
        let tip = try cli.repository.commit()
        #expect(tip.parents == [before])
        #expect(tip.subject == "claiming: env-1")
        #expect(tip.trailer("Lock-Operation") == "acquire")
        #expect(tip.trailer("Lock-State") == "claimed")
        let tool = try #require(tip.trailer("Lock-Tool"))
        #expect(tool.hasPrefix("lockpool ") && tool.hasSuffix(" (cli)"), "\(tool)")
        #expect(tip.authorName == "CI Pool Resource" && tip.authorEmail == "ci-pool@localhost")
        #expect(tip.trailer("Lease-Expires") == nil)
        #expect(try cli.repository.locks(in: "envs") == PoolLocks(claimed: ["env-1", "env-2"], unclaimed: []))
        #expect(try cli.repository.file("envs/claimed/env-1") == Data("meta\n".utf8))
    }

    @Test func acquireWithLeaseAndJSONReport() throws {
        let cli = try CLIHarness("cli-acquire-json", locks: ["env-1": .unclaimed()])
        let result = try cli.run(["acquire", "envs", "--lease", "90m", "--json"])
        #expect(result.status == 0, "\(result)")
        let report = try result.decodeSnakeCase(OperationJSON.self)
        let tip = try cli.repository.commit()
        #expect(report.pool == "envs" && report.lock == "env-1" && report.operation == "acquire")
        #expect(report.version == tip.id)
        #expect(report.committed)
        #expect(report.lostRaces == 0 && report.waitedSeconds >= 0)
        let expiry = try #require(rfc3339(tip.trailer("Lease-Expires")))
        #expect(abs(expiry.timeIntervalSince(try committerTime(cli.repository, tip.id)) - 5400) < 1)
    }

    @Test func claimTakesTheNamedLockAndPrintsNothing() throws {
        let cli = try CLIHarness("cli-claim", locks: ["env-1": .unclaimed(), "env-2": .unclaimed()])
        let result = try cli.run(["claim", "envs", "env-2"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderrLines.contains("claiming lock on: env-2"))
        #expect(result.stderrLines.contains("claimed!"))
        let tip = try cli.repository.commit()
        #expect(tip.subject == "claiming: env-2")
        #expect(tip.trailer("Lock-Operation") == "claim")
        #expect(try cli.repository.locks(in: "envs") == PoolLocks(claimed: ["env-2"], unclaimed: ["env-1"]))
    }

    // MARK: release and fencing

    @Test func releaseMovesTheLockBack() throws {
        let cli = try CLIHarness("cli-release", locks: ["env-1": .unclaimed("keep")])
        let claim = try cli.repository.moveLock("env-1", in: "envs", toClaimed: true)
        let result = try cli.run(["release", "envs", "env-1"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderrLines == ["releasing lock: env-1 on pool: envs", "released!"])
        let tip = try cli.repository.commit()
        #expect(tip.subject == "unclaiming: env-1")
        #expect(tip.trailer("Lock-Claim") == claim)
        #expect(tip.trailer("Lock-State") == "unclaimed")
        #expect(try cli.repository.file("envs/unclaimed/env-1") == Data("keep".utf8))
        expectCLIFailure(
            try cli.run(["release", "envs", "env-1"]), "lock 'env-1' in pool 'envs' is not claimed", exact: false)
        #expect(try cli.repository.commitID() == tip.id)
    }

    @Test func releaseWithAStaleClaimIsFencedOff() throws {
        let cli = try CLIHarness("cli-fence", locks: ["env-1": .unclaimed()])
        #expect(try cli.run(["acquire", "envs"]).stdoutText == "env-1\n")
        let myClaim = try cli.repository.commitID()
        // A reaper releases the lock and another build claims it again.
        try cli.repository.moveLock("env-1", in: "envs", toClaimed: false, message: "unclaiming: env-1")
        let theirClaim = try cli.repository.moveLock(
            "env-1", in: "envs", toClaimed: true, message: "other/pipe/job build 7 claiming: env-1")

        let stale = try cli.run(["release", "envs", "env-1", "--claim", myClaim])
        expectCLIFailure(
            stale,
            "lock 'env-1' in pool 'envs' was claimed again by other/pipe/job build 7 in \(theirClaim.prefix(7)) "
                + "after this job's claim \(myClaim.prefix(7)); not releasing it")
        #expect(try cli.repository.commitID() == theirClaim)
        #expect(try cli.repository.locks(in: "envs") == PoolLocks(claimed: ["env-1"], unclaimed: []))

        let staleRemove = try cli.run(["remove", "envs", "env-1", "--claim", myClaim])
        expectCLIFailure(staleRemove, "was claimed again by other/pipe/job build 7", exact: false)
        #expect(try cli.repository.commitID() == theirClaim)

        let current = try cli.run(["release", "envs", "env-1", "--claim", theirClaim.uppercased()])
        #expect(current.status == 0, "\(current)")
        #expect(try cli.repository.commit().trailer("Lock-Claim") == theirClaim)
        #expect(try cli.repository.locks(in: "envs") == PoolLocks(claimed: [], unclaimed: ["env-1"]))
    }

    // MARK: add, remove, update

    @Test func addTakesContentFromAFileOrStdin() throws {
        let cli = try CLIHarness("cli-add", locks: [:])
        let file = try cli.scratch.write("host: a\r\nport: 1\n", to: "meta.txt")
        let fromFile = try cli.run(["add", "envs", "env-1", "--file", file.path])
        #expect(fromFile.status == 0, "\(fromFile)")
        #expect(fromFile.stdout.isEmpty)
        #expect(fromFile.stderrLines == ["adding unclaimed lock: env-1 to pool: envs", "added!"])
        #expect(try cli.repository.file("envs/unclaimed/env-1") == Data("host: a\r\nport: 1\n".utf8))
        #expect(try cli.repository.mode(of: "envs/unclaimed/env-1") == "100644")
        #expect(try cli.repository.commit().subject == "adding unclaimed: env-1")
        #expect(try cli.repository.commit().trailer("Lock-Operation") == "add")

        let fromStdin = try cli.run(["add", "envs", "env-2"], stdin: "from stdin\n")
        #expect(fromStdin.status == 0, "\(fromStdin)")
        #expect(try cli.repository.file("envs/unclaimed/env-2") == Data("from stdin\n".utf8))

        let claimed = try cli.run(["add", "envs", "env-3", "--claimed", "--lease", "1h"], stdin: "held")
        #expect(claimed.status == 0, "\(claimed)")
        #expect(claimed.stderrLines.first == "adding claimed lock: env-3 to pool: envs")
        let tip = try cli.repository.commit()
        #expect(tip.subject == "adding claimed: env-3")
        #expect(tip.trailer("Lock-Operation") == "add_claimed")
        #expect(tip.trailer("Lease-Expires") != nil)
        #expect(try cli.repository.file("envs/claimed/env-3") == Data("held".utf8))

        // Re-adding the same lock with the same content changes nothing.
        let again = try cli.run(["add", "envs", "env-2"], stdin: "from stdin\n")
        #expect(again.status == 0, "\(again)")
        #expect(again.stderrLines.contains("lock 'env-2' in pool 'envs' already has this content; nothing to commit"))
        #expect(try cli.repository.commitID() == tip.id)
        let againJSON = try cli.run(["add", "envs", "env-2", "--json"], stdin: "from stdin\n")
        let report = try againJSON.decodeSnakeCase(OperationJSON.self)
        #expect(!report.committed && report.operation == "add")
        #expect(report.version == (try cli.repository.log(format: "%H", paths: ["envs/unclaimed/env-2"]).first))

        expectCLIFailure(
            try cli.run(["add", "envs", "env-2"], stdin: "other"),
            "lock 'env-2' already exists in pool 'envs' as unclaimed with different content; use update to change it")
        expectCLIFailure(
            try cli.run(["add", "envs", "env-3"], stdin: "held"),
            "lock 'env-3' already exists in pool 'envs' as claimed")
        expectCLIFailure(
            try cli.run(["add", "envs", "env-4", "--file", cli.scratch.url("missing").path]),
            "--file \(cli.scratch.url("missing").path): the file does not exist")
        #expect(try cli.repository.commitID() == tip.id)
    }

    @Test func removeDeletesAClaimedLockOnly() throws {
        let cli = try CLIHarness("cli-remove", locks: ["env-1": .claimed(), "env-2": .unclaimed()])
        let result = try cli.run(["remove", "envs", "env-1"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stderrLines == ["removing lock: env-1 on pool: envs", "removed!"])
        let tip = try cli.repository.commit()
        #expect(tip.subject == "removing: env-1")
        #expect(tip.trailer("Lock-State") == "removed")
        #expect(try cli.repository.locks(in: "envs") == PoolLocks(claimed: [], unclaimed: ["env-2"]))
        expectCLIFailure(
            try cli.run(["remove", "envs", "env-2"]), "only claimed locks can be removed; claim it first", exact: false)
        expectCLIFailure(try cli.run(["remove", "envs", "env-1"]), "lock 'env-1' does not exist in pool 'envs'")
        #expect(try cli.repository.commitID() == tip.id)
    }

    @Test func updateReplacesContentFromAFileOrStdin() throws {
        let cli = try CLIHarness("cli-update", locks: ["env-1": .unclaimed("old")])
        let file = try cli.scratch.write("new", to: "new.txt")
        let result = try cli.run(["update", "envs", "env-1", "--file", file.path])
        #expect(result.status == 0, "\(result)")
        #expect(result.stderrLines == ["updating lock: env-1 in pool: envs", "updated!"])
        #expect(try cli.repository.file("envs/unclaimed/env-1") == Data("new".utf8))
        #expect(try cli.repository.commit().subject == "updating: env-1")

        let added = try cli.run(["update", "envs", "env-2"], stdin: "second")
        #expect(added.status == 0, "\(added)")
        #expect(try cli.repository.commit().subject == "adding unclaimed: env-2")
        #expect(try cli.repository.file("envs/unclaimed/env-2") == Data("second".utf8))

        let tip = try cli.repository.commitID()
        let same = try cli.run(["update", "envs", "env-2"], stdin: "second")
        #expect(same.status == 0, "\(same)")
        #expect(same.stderrLines.contains("lock 'env-2' in pool 'envs' already has this content; nothing to commit"))
        #expect(try cli.repository.commitID() == tip)
    }

    // MARK: wait

    @Test func waitReturnsAtOnceWhenTheConditionHolds() throws {
        let cli = try CLIHarness("cli-wait-now", locks: ["free": .unclaimed(), "held": .claimed()])
        let tip = try cli.repository.commitID()
        let free = try cli.run(["wait", "envs", "free", "--json"])
        #expect(free.status == 0, "\(free)")
        let report = try free.decodeSnakeCase(OperationJSON.self)
        #expect(report.operation == "check" && report.lock == "free" && !report.committed)
        #expect(report.version == tip)
        #expect(free.stderrLines.contains("checking lock: free in pool: envs"))
        let held = try cli.run(["wait", "envs", "held", "--until-claimed"])
        #expect(held.status == 0, "\(held)")
        #expect(held.stdout.isEmpty)
        expectCLIFailure(try cli.run(["wait", "envs", "ghost"]), "lock 'ghost' does not exist in pool 'envs'")
        #expect(try cli.repository.commitID() == tip)
    }

    @Test func waitBlocksUntilTheLockIsReleased() throws {
        let cli = try CLIHarness("cli-wait", locks: ["env-1": .claimed()])
        let running = try cli.start(["wait", "envs", "env-1", "--retry-delay", "200ms", "--timeout", "150s", "--json"])
        try #require(running.waitUntilStderr(contains: "waiting for lock to become unclaimed", timeout: .seconds(60)))
        #expect(running.isRunning)
        let release = try cli.repository.moveLock("env-1", in: "envs", toClaimed: false)
        let result = try running.waitUntilExit(timeout: .seconds(150))
        #expect(result.status == 0, "\(result)")
        #expect(try result.decodeSnakeCase(OperationJSON.self).version == release)
        #expect(try cli.repository.commitID() == release)
    }

    @Test func waitUntilClaimedBlocksUntilTheLockIsClaimed() throws {
        let cli = try CLIHarness("cli-wait-claimed", locks: ["env-1": .unclaimed()])
        let running = try cli.start(["wait", "envs", "env-1", "--until-claimed", "--retry-delay", "200ms"])
        try #require(running.waitUntilStderr(contains: "waiting for lock to become claimed", timeout: .seconds(60)))
        let claim = try cli.repository.moveLock("env-1", in: "envs", toClaimed: true)
        let result = try running.waitUntilExit(timeout: .seconds(150))
        #expect(result.status == 0, "\(result)")
        #expect(try cli.repository.commitID() == claim)
    }

    // MARK: timeout, usage errors, failures

    @Test func timeoutOnAFullyClaimedPoolExits75ChangingNothing() throws {
        let cli = try CLIHarness("cli-timeout", locks: ["env-1": .claimed(), "env-2": .claimed()])
        let before = try cli.repository.commitID()
        let acquire = try cli.run(["acquire", "envs", "--timeout", "1s", "--retry-delay", "200ms"])
        #expect(acquire.status == 75, "\(acquire)")
        #expect(acquire.stdout.isEmpty)
        #expect(acquire.lastStderrLine == "Error: timed out after 1s: no unclaimed lock in pool 'envs'")
        #expect(acquire.stderrLines.contains("waiting for lock"))

        let claim = try cli.run(["claim", "envs", "env-1", "--timeout", "1s", "--retry-delay", "200ms"])
        #expect(claim.status == 75, "\(claim)")
        #expect(
            claim.lastStderrLine?.hasPrefix(
                "Error: timed out after 1s: lock 'env-1' in pool 'envs' is still claimed by")
                == true, "\(claim)")
        let wait = try cli.run(
            ["wait", "envs", "env-1"], environment: ["LOCKPOOL_TIMEOUT": "1s", "LOCKPOOL_RETRY_DELAY": "0.2"])
        #expect(wait.status == 75, "\(wait)")
        #expect(try cli.repository.commitID() == before)
    }

    struct UsageCase: Sendable, CustomTestStringConvertible {
        let arguments: [String]
        let connect: Bool
        let message: String
        init(_ arguments: [String], connect: Bool = true, _ message: String) {
            self.arguments = arguments
            self.connect = connect
            self.message = message
        }
        var testDescription: String { arguments.joined(separator: " ") + (connect ? "" : " (no --repo)") }
    }

    @Test(arguments: [
        UsageCase(["acquire", "../x"], #"invalid pool name "../x""#),
        UsageCase(["claim", "envs", ".hidden"], #"invalid lock name ".hidden""#),
        UsageCase(["acquire", "envs", "--timeout", "soon"], "--timeout"),
        UsageCase(["acquire", "envs", "--retry-delay", "1 fortnight"], "--retry-delay"),
        UsageCase(["release", "envs", "env-1", "--lease", "1h"], "--lease applies only to acquire, claim and add"),
        UsageCase(["add", "envs", "env-1", "--lease", "1h"], "--lease applies only to acquire, claim and add"),
        UsageCase(["acquire", "envs", "--lease", "0s"], "--lease must be a positive duration"),
        UsageCase(["release", "envs", "env-1", "--claim", "abc"], "--claim"),
        UsageCase(["acquire", "envs", "--git-config", "novalue"], "--git-config expects name=value"),
        UsageCase(
            ["acquire", "envs"], connect: false,
            "no lock repository given: use --repo URI, LOCKPOOL_REPO or --source FILE"
        ),
        UsageCase(["status"], connect: false, "no lock repository given"),
        UsageCase(
            ["frobnicate"], connect: false, "unknown subcommand \"frobnicate\"; the subcommands are init, status"),
        UsageCase(["run-step", "in"], connect: false, "in needs a directory: lockpool run-step in DIR"),
    ])
    func usageErrorsExit64(_ c: UsageCase) throws {
        let cli = try CLIHarness("cli-usage", locks: ["env-1": .claimed()])
        let before = try cli.repository.commitID()
        expectUsageError(try cli.run(c.arguments, connect: c.connect), c.message)
        #expect(try cli.repository.commitID() == before)
    }

    @Test func usageErrorsFromTheEnvironmentExit64() throws {
        let cli = try CLIHarness("cli-usage-env", locks: ["env-1": .unclaimed()])
        expectUsageError(
            try cli.run(["acquire", "envs"], environment: ["LOCKPOOL_TIMEOUT": "soon"]),
            #"LOCKPOOL_TIMEOUT: "soon" is not a duration"#)
        expectUsageError(
            try cli.run(["acquire", "envs"], environment: ["LOCKPOOL_LEASE": "0"]),
            "--lease must be a positive duration")
        expectUsageError(
            try cli.run(["add", "envs", "env-2", "--claimed"], environment: ["LOCKPOOL_LEASE": "0"]),
            "--lease must be a positive duration")
        let source = try cli.scratch.write("[1, 2]", to: "bad-source.json")
        expectUsageError(
            try cli.run(["status", "--source", source.path], connect: false),
            "--source \(source.path): expected a JSON object")
        #expect(try cli.repository.locks(in: "envs") == PoolLocks(claimed: [], unclaimed: ["env-1"]))
    }

    @Test func operationalFailuresExit1WithAMessage() throws {
        let cli = try CLIHarness("cli-failures", locks: ["env-1": .unclaimed()])
        let before = try cli.repository.commitID()
        expectCLIFailure(
            try cli.run(["acquire", "nope"]),
            "pool 'nope' does not exist on branch 'master' (expected nope/claimed and nope/unclaimed)")
        expectCLIFailure(try cli.run(["claim", "envs", "ghost"]), "lock 'ghost' does not exist in pool 'envs'")
        expectCLIFailure(try cli.run(["release", "envs", "ghost"]), "lock 'ghost' does not exist in pool 'envs'")
        let missing = cli.scratch.url("no-such-repo.git").path
        let unreachable = try cli.run(["status", "--repo", missing], connect: false)
        expectCLIFailure(unreachable, "repository not found", exact: false)
        #expect(unreachable.lastStderrLine?.contains(missing) == true, "\(unreachable)")
        let wrongBranch = try cli.run(["status", "--repo", cli.repository.path, "--branch", "nope"], connect: false)
        expectCLIFailure(wrongBranch, "branch 'nope' not found", exact: false)
        #expect(try cli.repository.commitID() == before)
    }

    // MARK: history

    @Test func historyShowsEveryOperationOldestFirst() throws {
        let cli = try CLIHarness("cli-history", locks: ["env-1": .unclaimed(), "env-2": .unclaimed()])
        #expect(try cli.run(["claim", "envs", "env-1"]).status == 0)
        let claim = try cli.repository.commitID()
        #expect(try cli.run(["release", "envs", "env-1"]).status == 0)
        let release = try cli.repository.commitID()
        let manual = try cli.repository.moveLock("env-2", in: "envs", toClaimed: true, message: "taking it by hand")
        var resource = cli.resource
        resource.environment = pix4dEnvironment
        try resource.stepDirectory("step", lock: "env-2")
        try expectSuccess(try resource.out(["release": "step"]), lock: "env-2", pool: "envs")
        let resourceRelease = try cli.repository.commitID()

        let json = try cli.run(["history", "envs", "--json"])
        #expect(json.status == 0, "\(json)")
        let events = try json.decodeSnakeCase([HistoryEventJSON].self)
        // The seed commit adds both locks (a hand-made commit), then the four operations.
        #expect(events.map(\.commit).suffix(4) == [claim, release, manual, resourceRelease])
        #expect(events.count == 6)
        #expect(events.prefix(2).map(\.action) == ["add", "add"])
        #expect(events.prefix(2).map(\.format) == ["manual", "manual"])

        let claimEvent = events[2]
        #expect(claimEvent.lock == "env-1" && claimEvent.action == "claim" && claimEvent.operation == "claim")
        #expect(claimEvent.format == "lockpool")
        #expect(claimEvent.holder == "CI Pool Resource <ci-pool@localhost>")
        #expect(claimEvent.subject == "claiming: env-1")
        let releaseEvent = events[3]
        #expect(releaseEvent.operation == "release" && releaseEvent.claim == claim)
        let manualEvent = events[4]
        #expect(manualEvent.lock == "env-2" && manualEvent.action == "claim" && manualEvent.format == "manual")
        #expect(manualEvent.holder == "\(GitCLI.authorName) <\(GitCLI.authorEmail)>")
        #expect(manualEvent.subject == "taking it by hand")
        let resourceEvent = events[5]
        #expect(resourceEvent.holder == "main/deploy/apply build 42")
        #expect(resourceEvent.format == "lockpool" && resourceEvent.claim == manual)
        #expect(rfc3339(resourceEvent.time) == (try committerTime(cli.repository, resourceRelease)))

        let onlyEnv1 = try cli.run(["history", "--lock", "env-1", "--json"]).decodeSnakeCase([HistoryEventJSON].self)
        #expect(onlyEnv1.map(\.commit).suffix(2) == [claim, release])
        #expect(Set(onlyEnv1.map(\.lock)) == ["env-1"])
        let limited = try cli.run(["history", "--limit", "1", "--json"]).decodeSnakeCase([HistoryEventJSON].self)
        #expect(limited.map(\.commit) == [resourceRelease])
        let future = try cli.run(["history", "--since", "2999-01-01", "--json"]).decodeSnakeCase(
            [HistoryEventJSON].self)
        #expect(future.isEmpty)

        let table = try cli.run(["history", "envs"])
        #expect(table.status == 0, "\(table)")
        #expect(!table.hasEscapes)
        let lines = table.stdoutText.components(separatedBy: "\n").filter { !$0.isEmpty }
        #expect(
            try Regex(#"^TIME +COMMIT +POOL +LOCK +OPERATION +BY +FORMAT$"#).wholeMatch(in: lines.first ?? "") != nil)
        #expect(lines.count == 7)
        #expect(
            lines[3].contains(String(claim.prefix(7))) && lines[3].contains(" claim ") && lines[3].hasSuffix("lockpool")
        )
        #expect(lines[5].contains("Lockpool Test <test@lockpool.invalid>") && lines[5].hasSuffix("manual"))
        #expect(lines[6].contains("main/deploy/apply build 42"))
        let none = try cli.run(["history", "--since", "2999-01-01"])
        #expect(none.stdoutText == "no lock operations found\n")
    }

    // MARK: verify

    @Test func verifyOfAHealthyRepositoryExits0() throws {
        let cli = try CLIHarness("cli-verify-ok", locks: ["env-1": .unclaimed(), "env-2": .claimed()])
        #expect(try cli.run(["acquire", "envs"]).status == 0)
        #expect(try cli.run(["release", "envs", "env-2"]).status == 0)
        let result = try cli.run(["verify"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdoutText == "healthy: 1 pool, 3 commits replayed, 0 errors, 0 warnings\n")
        let json = try cli.run(["verify", "--json"])
        #expect(json.status == 0, "\(json)")
        let report = try json.decodeSnakeCase(VerifyJSON.self)
        #expect(report.healthy && report.errors == 0 && report.warnings == 0 && report.problems.isEmpty)
        #expect(report.pools == ["envs"] && report.commitsReplayed == 3)
        #expect(report.tip == (try cli.repository.commitID()))
    }

    @Test func verifyOfAnUnhealthyRepositoryExits65() throws {
        let cli = try CLIHarness("cli-verify-bad", locks: ["env-1": .unclaimed("a"), "env-2": .claimed("b")])
        // By hand: a copy of the unclaimed env-1 in claimed/, and a second claim of the claimed env-2.
        let duplicate = try cli.repository.writeFile("envs/claimed/env-1", content: "a", message: "copy env-1")
        let doubleClaim = try cli.repository.writeFile(
            "envs/claimed/env-2", content: "c", message: "team/pipe/job build 9 claiming: env-2")
        let result = try cli.run(["verify"])
        #expect(result.status == 65, "\(result)")
        let lines = result.stdoutText.components(separatedBy: "\n").filter { !$0.isEmpty }
        #expect(lines.contains("error: lock 'env-1' is both claimed and unclaimed in pool 'envs'"))
        #expect(
            lines.contains(
                "error: \(doubleClaim.prefix(7)) claims lock 'env-2' in pool 'envs', which was already claimed"))
        #expect(
            lines.contains(
                "error: \(duplicate.prefix(7)) puts lock 'env-1' in pool 'envs' in both claimed and unclaimed"))
        #expect(lines.last == "unhealthy: 1 pool, 3 commits replayed, 3 errors, 0 warnings")
        #expect(!result.hasEscapes)

        let json = try cli.run(["verify", "envs", "--json"])
        #expect(json.status == 65, "\(json)")
        let report = try json.decodeSnakeCase(VerifyJSON.self)
        #expect(!report.healthy && report.errors == 3 && report.warnings == 0)
        #expect(report.tip == doubleClaim)
        let kinds = report.problems.map { "\($0.severity) \($0.kind) \($0.lock ?? "-") \($0.commit ?? "-")" }
        #expect(
            kinds.sorted() == [
                "error both-states env-1 -", "error double-claim env-2 \(doubleClaim)",
                "error duplicated env-1 \(duplicate)",
            ])
    }

    @Test func verifyStrictCountsWarnings() throws {
        let cli = try CLIHarness("cli-verify-strict", locks: ["env-1": .unclaimed()])
        try cli.repository.writeFile("envs/unclaimed/sub/file", content: "x", message: "stray directory")
        let lenient = try cli.run(["verify"])
        #expect(lenient.status == 0, "\(lenient)")
        #expect(lenient.stdoutText.contains(#"warning: envs/unclaimed/"sub" is a directory; it is not a lock"#))
        #expect(lenient.stdoutText.hasSuffix("healthy: 1 pool, 2 commits replayed, 0 errors, 1 warning\n"))
        let strict = try cli.run(["verify", "--strict"])
        #expect(strict.status == 65, "\(strict)")
        #expect(strict.stdoutText.hasSuffix("unhealthy: 1 pool, 2 commits replayed, 0 errors, 1 warning\n"))
    }

    // MARK: run-step

    @Test func runStepGivesTheSameJSONAsTheResourceExecutables() throws {
        let cli = try CLIHarness("cli-run-step", locks: ["env-1": .unclaimed(), "env-2": .claimed()])
        let claim = try cli.repository.moveLock("env-1", in: "envs", toClaimed: true)
        let executables = cli.executables

        let checkRequest: JSONValue = ["source": cli.resource.source(), "version": ["ref": .string(claim)]]
        let check = try executables.run(.check, request: checkRequest)
        let checkStep = try cli.run(["run-step", "check"], connect: false, stdin: checkRequest.stringValue)
        #expect(check.status == 0 && checkStep.status == 0, "\(checkStep)")
        #expect(checkStep.stdout == check.stdout)
        #expect(try checkStep.versions() == [claim])

        let inRequest: JSONValue = ["source": cli.resource.source(), "version": ["ref": .string(claim)]]
        let resourceDestination = try cli.scratch.directory("in-resource")
        let stepDestination = try cli.scratch.directory("in-step")
        let get = try executables.run(.in, arguments: [resourceDestination.path], request: inRequest)
        let getStep = try cli.run(
            ["run-step", "in", stepDestination.path], connect: false, stdin: inRequest.stringValue)
        #expect(get.status == 0 && getStep.status == 0, "\(getStep)")
        #expect(getStep.stdout == get.stdout)
        for name in ["name", "metadata", "claim_ref"] {
            let step = try Data(contentsOf: stepDestination.appendingPathComponent(name))
            #expect(step == (try Data(contentsOf: resourceDestination.appendingPathComponent(name))), "\(name)")
        }
        #expect(readFile(stepDestination, "claim_ref") == claim + "\n")

        // A put that makes no commit gives the same version both ways.
        try cli.resource.stepDirectory("watch", lock: "env-1")
        let putRequest: JSONValue = ["source": cli.resource.source(), "params": ["check_unclaimed": "watch"]]
        let put = try executables.run(.out, arguments: [cli.resource.sourceDirectory.path], request: putRequest)
        let putStep = try cli.run(
            ["run-step", "out", cli.resource.sourceDirectory.path], connect: false, stdin: putRequest.stringValue)
        #expect(put.status == 0 && putStep.status == 0, "\(putStep)")
        #expect(putStep.stdout == put.stdout)
        try expectSuccess(putStep, lock: "env-1", pool: "envs")

        // A put that commits: the resource's commit, made by the resource code.
        let releaseRequest: JSONValue = ["source": cli.resource.source(), "params": ["release": "watch"]]
        let release = try cli.run(
            ["run-step", "out", cli.resource.sourceDirectory.path], connect: false, stdin: releaseRequest.stringValue)
        let response = try expectSuccess(release, lock: "env-1", pool: "envs")
        let tip = try cli.repository.commit()
        #expect(response.version.ref == tip.id)
        #expect(tip.subject == "unclaiming: env-1")
        #expect(tip.trailer("Lock-Tool")?.hasSuffix(" (resource)") == true)

        // Failures are the resource's too: status 1, nothing on stdout, `error: …` last.
        let invalid: JSONValue = ["source": ["uri": .string(cli.repository.fileURL)], "params": [:]]
        let failed = try executables.run(.out, arguments: [cli.resource.sourceDirectory.path], request: invalid)
        let failedStep = try cli.run(
            ["run-step", "out", cli.resource.sourceDirectory.path], connect: false, stdin: invalid.stringValue)
        #expect(failed.status == 1 && failedStep.status == 1, "\(failedStep)")
        #expect(failedStep.stdout.isEmpty)
        #expect(failedStep.stderr == failed.stderr)
        #expect(failedStep.stderr.contains("invalid payload (missing branch)"))
    }

    // MARK: settings from the environment and --source

    @Test func repositoryAndBranchFromTheEnvironmentAndFromASourceFile() throws {
        let cli = try CLIHarness("cli-settings", branch: "locks", locks: ["env-1": .unclaimed()])
        let good = ["LOCKPOOL_REPO": cli.repository.fileURL, "LOCKPOOL_BRANCH": "locks"]
        let fromEnvironment = try cli.run(["status", "--json"], connect: false, environment: good)
        #expect(fromEnvironment.status == 0, "\(fromEnvironment)")
        #expect(try fromEnvironment.decodeSnakeCase(StatusJSON.self).branch == "locks")

        // A flag beats the environment.
        let flags = try cli.run(
            ["status", "--json", "--repo", cli.repository.path, "--branch", "locks"], connect: false,
            environment: ["LOCKPOOL_REPO": cli.scratch.url("elsewhere.git").path, "LOCKPOOL_BRANCH": "nope"])
        #expect(flags.status == 0, "\(flags)")
        #expect(try flags.decodeSnakeCase(StatusJSON.self).lock("env-1")?.state == "unclaimed")

        // A resource source file, whole request or bare source; the environment beats it.
        let requestJSON: JSONValue = [
            "source": ["uri": .string(cli.repository.fileURL), "branch": "locks", "pool": "ignored"]
        ]
        let sourceJSON: JSONValue = ["uri": .string(cli.repository.fileURL), "branch": "nope"]
        let request = try cli.scratch.write(requestJSON.stringValue, to: "request.json")
        let bare = try cli.scratch.write(sourceJSON.stringValue, to: "source.json")
        let fromRequest = try cli.run(["status", "--json", "--source", request.path], connect: false)
        #expect(fromRequest.status == 0, "\(fromRequest)")
        #expect(try fromRequest.decodeSnakeCase(StatusJSON.self).branch == "locks")
        let overridden = try cli.run(
            ["acquire", "envs", "--source", bare.path], connect: false, environment: ["LOCKPOOL_BRANCH": "locks"])
        #expect(overridden.status == 0, "\(overridden)")
        #expect(overridden.stdoutText == "env-1\n")
        let fromVariable = try cli.run(
            ["release", "envs", "env-1", "--branch", "locks"], connect: false,
            environment: ["LOCKPOOL_SOURCE": bare.path])
        #expect(fromVariable.status == 0, "\(fromVariable)")
        #expect(try cli.repository.locks(in: "envs") == PoolLocks(claimed: [], unclaimed: ["env-1"]))
        expectCLIFailure(
            try cli.run(["status", "--source", cli.scratch.url("none.json").path], connect: false),
            "--source \(cli.scratch.url("none.json").path): the file does not exist")
    }

    @Test func commitIdentityFromTheEnvironmentGitConfigAndHome() throws {
        let cli = try CLIHarness(
            "cli-identity", locks: ["env-1": .unclaimed(), "env-2": .unclaimed(), "env-3": .unclaimed()])
        let fromEnvironment = try cli.run(
            ["claim", "envs", "env-1"], environment: ["GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.com"])
        #expect(fromEnvironment.status == 0, "\(fromEnvironment)")
        var tip = try cli.repository.commit()
        #expect(tip.authorName == "Ada" && tip.authorEmail == "ada@example.com")
        #expect(tip.committerName == "Ada" && tip.committerEmail == "ada@example.com")
        #expect(tip.trailer("Lock-Tool")?.hasSuffix(" (cli)") == true)

        // --git-config beats the environment.
        let fromFlags = try cli.run(
            [
                "claim", "envs", "env-2", "--git-config", "user.name=Grace Hopper", "--git-config",
                "user.email=grace@example.com",
            ],
            environment: ["GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.com"])
        #expect(fromFlags.status == 0, "\(fromFlags)")
        tip = try cli.repository.commit()
        #expect(tip.authorName == "Grace Hopper" && tip.authorEmail == "grace@example.com")
        #expect(tip.committerName == "Grace Hopper" && tip.committerEmail == "grace@example.com")

        // The user's ~/.gitconfig, read from HOME.
        try "[user]\n\tname = Home User\n\temail = home@example.com\n".write(
            to: cli.home.appendingPathComponent(".gitconfig"), atomically: true, encoding: .utf8)
        let fromHome = try cli.run(["claim", "envs", "env-3"])
        #expect(fromHome.status == 0, "\(fromHome)")
        tip = try cli.repository.commit()
        #expect(tip.authorName == "Home User" && tip.authorEmail == "home@example.com")

        // Without a build, the holder of a CLI claim is its committer.
        let status = try cli.run(["status", "--json"]).decodeSnakeCase(StatusJSON.self)
        #expect(status.lock("env-1")?.holder == "Ada <ada@example.com>")
        #expect(status.lock("env-2")?.holder == "Grace Hopper <grace@example.com>")
    }

    // MARK: output discipline

    @Test func plainProgressWhenStderrIsNotATerminal() throws {
        let cli = try CLIHarness("cli-plain", locks: ["env-1": .unclaimed()])
        var resource = cli.resource
        resource.environment = pix4dEnvironment
        try expectSuccess(try resource.out(["claim": "env-1"]), lock: "env-1", pool: "envs")
        let running = try cli.start(
            ["acquire", "envs", "--retry-delay", "200ms", "--timeout", "150s"], environment: ["TERM": "xterm-256color"])
        try #require(running.waitUntilStderr(contains: "waiting for lock", timeout: .seconds(60)))
        // Let it poll a few times before the lock comes free.
        Thread.sleep(forTimeInterval: 1)
        try cli.repository.moveLock("env-1", in: "envs", toClaimed: false)
        let result = try running.waitUntilExit(timeout: .seconds(150))
        #expect(result.status == 0, "\(result)")
        #expect(result.stdoutText == "env-1\n")
        #expect(!result.hasEscapes, "\(result)")
        #expect(!result.stderr.contains("\r"))
        #expect(!result.stderr.contains("."), "no dots: \(result.stderr)")
        let lines = result.stderrLines
        #expect(lines.first == "acquiring lock on: envs")
        #expect(lines.contains("waiting for lock"))
        #expect(lines.last == "acquired!")
        let waiting = try #require(lines.first { $0.hasPrefix("waiting ") && $0 != "waiting for lock" })
        #expect(waiting.contains("env-1 claimed by main/deploy/apply build 42 since "), "\(waiting)")
        // Within 30 s, one waiting line at most.
        #expect(lines.filter { $0.hasPrefix("waiting ") && $0 != "waiting for lock" }.count == 1, "\(lines)")
        #expect(!lines.contains { $0.lowercased().contains("err") }, "\(lines)")
    }

    @Test func noColorAndNothingButResultsOnStdout() throws {
        let cli = try CLIHarness("cli-no-color", locks: ["env-1": .unclaimed()], otherPools: ["dbs": [:]])
        for environment in [["NO_COLOR": "1", "TERM": "xterm-256color"], ["TERM": "xterm-256color"]] {
            let status = try cli.run(["status"], environment: environment)
            #expect(status.status == 0 && !status.hasEscapes, "\(status)")
            let verify = try cli.run(["verify"], environment: environment)
            #expect(verify.status == 0 && !verify.hasEscapes, "\(verify)")
        }
        // Mutating commands print nothing on stdout but what was asked for; stdin at end of file never blocks them.
        for arguments in [["claim", "envs", "env-1"], ["release", "envs", "env-1"], ["add", "dbs", "db-1"]] {
            let result = try cli.run(arguments, environment: ["NO_COLOR": "1"])
            #expect(result.status == 0, "\(result)")
            #expect(result.stdout.isEmpty, "\(result)")
            #expect(!result.stderr.isEmpty)
        }
        #expect(try cli.repository.file("dbs/unclaimed/db-1") == Data())
        let empty = try cli.run(["status", "dbs"])
        #expect(empty.stdoutText.hasSuffix("dbs: 0 claimed, 1 unclaimed\n"), "\(empty)")
    }
}

// MARK: - Over git daemon (git://)

extension CLITests {
    @Suite(.serialized) struct OverGitDaemon {
        @Test func initPushesALayoutToAnEmptyRemote() throws {
            let scratch = try Scratch(label: "cli-init-daemon")
            let git = try GitCLI(scratch: scratch)
            let bare = scratch.url("empty.git")
            try git.run(["init", "--quiet", "--bare", bare.path])
            let daemon = try GitDaemon(scratch: scratch)
            defer { daemon.stop() }
            let executables = try Executables(scratch: scratch)
            let home = try scratch.directory("home")
            let uri = daemon.url(for: "empty.git")

            let result = try executables.lockpool(
                ["init", "envs", "--lock", "env-1", "--repo", uri, "--branch", "locks"],
                environment: ["HOME": home.path])
            #expect(result.status == 0, "\(result)\n\(daemon.log)")
            #expect(
                result.stdoutText
                    == "created branch 'locks'\ncreated pool 'envs'\nadded lock 'env-1' to pool 'envs'\n")
            let files = try git.inDirectory(bare).output("ls-tree", "-r", "--name-only", "locks")
            #expect(
                files.components(separatedBy: "\n") == [
                    "envs/claimed/.gitkeep", "envs/unclaimed/.gitkeep", "envs/unclaimed/env-1",
                ])

            let acquire = try executables.lockpool(
                ["acquire", "envs", "--repo", uri, "--branch", "locks"], environment: ["HOME": home.path])
            #expect(acquire.status == 0, "\(acquire)")
            #expect(acquire.stdoutText == "env-1\n")
            let status = try executables.lockpool(
                ["status", "--json", "--repo", uri, "--branch", "locks"], environment: ["HOME": home.path])
            let report = try status.decodeSnakeCase(StatusJSON.self)
            #expect(report.lock("env-1")?.state == "claimed")
            #expect(report.lock("env-1")?.holder == "CI Pool Resource <ci-pool@localhost>")
            #expect(report.tip == (try git.inDirectory(bare).output("rev-parse", "locks")))
        }
    }
}

extension JSONValue {
    /// The JSON text.
    var stringValue: String { String(decoding: data, as: UTF8.self) }
}
