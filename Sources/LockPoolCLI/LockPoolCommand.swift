import ArgumentParser
import Git
import LockPool

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
            InitCommand.self, StatusCommand.self, AcquireCommand.self, ClaimCommand.self, ReleaseCommand.self,
            AddCommand.self, RemoveCommand.self, UpdateCommand.self, WaitCommand.self, HistoryCommand.self,
            StatsCommand.self, ReapCommand.self, VerifyCommand.self, RunStepCommand.self,
        ])

    public init() {}
}
