import ArgumentParser
import FoundationEssentials
import Git
import LockPool

/// `verify --json`.
struct HealthJSON: Encodable {
    struct Problem: Encodable {
        let severity, kind, pool: String
        let lock, commit: String?
        let message: String
    }
    let healthy: Bool
    let tip: String
    let pools: [String]
    let commitsReplayed: Int
    let errors: Int
    let warnings: Int
    let problems: [Problem]

    enum CodingKeys: String, CodingKey {
        case healthy, tip, pools, errors, warnings, problems
        case commitsReplayed = "commits_replayed"
    }
}

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the repository's invariants and replay its history for double claims.",
        discussion: """
            Errors: a lock in both claimed/ and unclaimed/, a pool missing one of its directories, a commit that \
            claimed a lock already claimed (double claim), a commit that put a lock in both states. Warnings: \
            entries that are not locks, a missing .gitkeep, a lock deleted without a remove. Exits 65 when an \
            error is found (or a warning, with --strict). \(ExitStatus.help)
            """)

    @OptionGroup var options: ConnectionOptions
    @Argument(help: "The pools to check (default: all).") var pools: [String] = []
    @Option(
        help: ArgumentHelp(
            "Replay only commits since: RFC 3339, a date, or an age (36h, 7d); the pools as the newest older commit left them are the start.",
            valueName: "time"))
    var since: TimeArgument?
    @Flag(help: "Count warnings as errors.") var strict = false
    @Flag(help: "Print JSON for scripts.") var json = false

    func validate() throws { for pool in pools { try validateNames(pool: pool) } }

    func run() async throws {
        let session = Session(options: options)
        try await session.run {
            let configuration = try session.configuration(pool: pools.first ?? "pool")
            let report = try await session.withFreshTip(configuration) { repository, tip in
                try RepositoryHealth(repository: repository).check(tip: tip, pools: pools, since: since?.date)
            }
            let errors = report.problems.filter { $0.severity == .error }.count
            let warnings = report.problems.count - errors
            let healthy = errors == 0 && (!strict || warnings == 0)
            if json {
                session.print(
                    try JSONOutput.encode(
                        HealthJSON(
                            healthy: healthy, tip: report.tip.hex, pools: report.pools,
                            commitsReplayed: report.commitsReplayed, errors: errors, warnings: warnings,
                            problems: report.problems.map {
                                HealthJSON.Problem(
                                    severity: $0.severity.rawValue, kind: $0.kind.rawValue, pool: $0.pool,
                                    lock: $0.lock, commit: $0.commit?.hex, message: $0.message)
                            })))
            } else {
                for problem in report.problems {
                    let style: Terminal.Style = problem.severity == .error ? .red : .yellow
                    session.print(session.terminal.styled(problem.description, style, forStdout: true))
                }
                let summary =
                    "\(healthy ? "healthy" : "unhealthy"): \(report.pools.count) pool\(report.pools.count == 1 ? "" : "s"), "
                    + "\(report.commitsReplayed) commits replayed, \(errors) error\(errors == 1 ? "" : "s"), "
                    + "\(warnings) warning\(warnings == 1 ? "" : "s")"
                session.print(summary)
            }
            if !healthy { throw ExitCode(ExitStatus.unhealthy) }
        }
    }
}
