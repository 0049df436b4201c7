import ArgumentParser
import Git
import LockPool
import ProcessIO
import StringSupport

#if canImport(Glibc)
    import Glibc
#endif

/// `lockpool`: the lock pool for people and scripts, on the same core as the Concourse resource.
public struct LockPoolCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "lockpool",
        abstract: "Git-backed lock pools: take, release and inspect locks, and reap stale ones.",
        discussion: """
            Every subcommand works on a lock repository (--repo URI --branch NAME) whose pools are directories \
            with claimed/ and unclaimed/ subdirectories, one file per lock. Options can also come from LOCKPOOL_* \
            environment variables or from --source FILE holding a Concourse resource source.

            \(ExitStatus.help)

            Shell completion: lockpool --generate-completion-script bash|zsh|fish
            """,
        version: "lockpool \(LockPoolVersion.current) (libgit2 \(Libgit2Version.current))",
        subcommands: [
            InitCommand.self, StatusCommand.self, ShowCommand.self, AcquireCommand.self, ClaimCommand.self,
            ReleaseCommand.self, RenewCommand.self,
            AddCommand.self, RemoveCommand.self, UpdateCommand.self, WaitCommand.self, HistoryCommand.self,
            StatsCommand.self, ReapCommand.self, VerifyCommand.self, RunStepCommand.self, ReportCommand.self,
            ServeLauncherCommand.self,
        ])

    public init() {}

    /// Runs `lockpool` on `arguments` (argv without the program). A first argument that names no subcommand gets a
    /// suggestion instead of argument-parser's `unexpected arguments` (exit 64).
    public static func run(_ arguments: [String]) async {
        if let problem = unknownSubcommand(arguments) {
            StandardStream.error.write("Error: \(problem)\n")
            Glibc.exit(ExitStatus.usage)
        }
        await main(arguments)
    }

    /// Why `arguments` do not start with a subcommand, with the closest one (or the list); nil when they do, or
    /// start with an option (`--help`, `--version`).
    static func unknownSubcommand(_ arguments: [String]) -> String? {
        guard let word = arguments.first, !word.hasPrefix("-") else { return nil }
        let names = configuration.subcommands.map { $0._commandName } + ["help"]
        guard !names.contains(word) else { return nil }
        let shown = NameRule.jsonQuoted(word)
        if let best = closest(to: word.lowercased(), among: names),
            best.distance <= 2 || best.candidate.hasPrefix(word.lowercased())
        {
            return "unknown subcommand \(shown); did you mean '\(best.candidate)'? (lockpool --help lists them)"
        }
        return "unknown subcommand \(shown); the subcommands are \(names.dropLast().joined(separator: ", "))"
    }
}
