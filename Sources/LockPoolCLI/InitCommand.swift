import ArgumentParser
import FoundationEssentials
import LockPool

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create pools (claimed/, unclaimed/, .gitkeep) and their first locks.",
        discussion: """
            A local --repo path that does not exist (or is an empty directory) becomes a new bare repository. A \
            remote without the branch gets it. Existing pools and locks are left as they are, so init can be run \
            again to add pools or locks. Each lock is added unclaimed in a commit of its own, as `add` does. \
            \(ExitStatus.help)
            """)

    @OptionGroup var options: ConnectionOptions
    @Argument(help: "The pools to create.") var pools: [String]
    @Option(
        name: .customLong("lock"),
        help: ArgumentHelp("A lock to add to every pool named (repeatable).", valueName: "name"))
    var locks: [String] = []
    @Option(
        help: ArgumentHelp("File holding the content of the locks added (default: empty).", valueName: "file"),
        completion: .file())
    var file: String?

    func validate() throws {
        for pool in pools { try validateNames(pool: pool) }
        for lock in locks { try validateNames(pool: pools[0], lock: lock) }
        try rejectLease(options)
    }

    func run() async throws {
        let session = Session(options: options)
        try await session.run {
            let content = try file.map { Array(try ConnectionOptions.read($0, what: "--file")) } ?? []
            let configuration = try session.configuration(pool: pools[0])
            let outcome = try await session.retrying(configuration, activity: "create the pools") {
                try LockRepositoryLayout.initialize(configuration: configuration, pools: pools, logger: session.logger)
            }
            if outcome.createdRepository { session.print("created repository \(configuration.remoteURL)") }
            if outcome.createdBranch && outcome.commit != nil {
                session.print("created branch '\(configuration.branch)'")
            }
            for pool in pools {
                session.print(
                    outcome.createdPools.contains(pool) ? "created pool '\(pool)'" : "pool '\(pool)' already exists")
            }
            for pool in pools {
                var poolConfiguration = configuration
                poolConfiguration.pool = pool
                for lock in locks {
                    session.print(
                        try await add(lock, to: pool, content: content, configuration: poolConfiguration, session))
                }
            }
        }
    }

    /// Adds `lock` unclaimed unless the pool has it already, in any state and with any content, which init leaves as
    /// it is, so init is safe to re-run; the line says which.
    private func add(
        _ lock: String, to pool: String, content: [UInt8], configuration: PoolConfiguration, _ session: Session
    ) async throws -> String {
        do {
            let result = try await LockPoolClient(configuration: configuration).perform(
                .add(lock: lock, content: content, claimed: false, lease: nil), timeout: try session.timeLeft(),
                clock: ContinuousClock(),
                events: { _ in }, logger: session.logger)
            return result.committed
                ? "added lock '\(lock)' to pool '\(pool)'" : "lock '\(lock)' already exists in pool '\(pool)'"
        } catch LockPoolError.existsClaimed {
            return "lock '\(lock)' already exists in pool '\(pool)' and is claimed; left as it is"
        } catch LockPoolError.existsWithOtherContent {
            return
                "lock '\(lock)' already exists in pool '\(pool)' with other content; left as it is (update changes it)"
        }
    }
}
