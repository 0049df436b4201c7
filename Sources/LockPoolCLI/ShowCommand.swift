import ArgumentParser
import FoundationEssentials
import Git
import LockPool
import ProcessIO

struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Print the content of the lock LOCK of POOL.",
        discussion: """
            The content exactly as the lock's file holds it, claimed or unclaimed, at the tip of the branch: what \
            `in` writes to metadata. With --json, the lock's status as `status --json` shows it, with the content \
            (base64 when it is not UTF-8, as content_encoding says). \(ExitStatus.help)
            """)

    @OptionGroup var options: ConnectionOptions
    @Argument(help: "The pool.") var pool: String
    @Argument(help: "The lock.") var lock: String
    @Flag(help: "Print the status and the content as JSON.") var json = false

    func validate() throws {
        try validateNames(pool: pool, lock: lock)
        try rejectLease(options)
    }

    func run() async throws {
        let session = Session(options: options)
        try await session.run {
            let configuration = try session.configuration(pool: pool)
            let now = Date()
            let (report, bytes) = try await session.withFreshTip(configuration) { repository, tip in
                let snapshot = try PoolSnapshot(repository: repository, commit: tip, pool: pool)
                guard snapshot.exists else { throw LockPoolError.poolMissing(pool: pool, branch: configuration.branch) }
                guard let entry = snapshot.entry(of: lock) else {
                    throw LockPoolError.lockMissing(lock: lock, pool: pool)
                }
                let bytes = try repository.blob(entry.id)
                // The status walks the history to the lock's claim: only the JSON shows it.
                guard json else { return (nil as LockReport?, bytes) }
                let status = try LockStatus.read(repository: repository, snapshot: snapshot, locks: [lock])[0]
                var report = LockReport(status, now: now)
                report.content = ContentReport(lock: lock, bytes: bytes)
                return (report, bytes)
            }
            if let report { session.print(try JSONOutput.encode(report)) } else { StandardStream.output.write(bytes) }
        }
    }
}
