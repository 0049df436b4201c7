import ArgumentParser
import ConcourseResource
import FoundationEssentials
import Git
import LockPool
import PoolMetrics
import ProcessIO

#if canImport(Glibc)
    import Glibc
#endif

/// `--json` output of the operations: what was done, for scripts.
struct OperationReport: Encodable {
    let pool: String
    let lock: String
    let locks: [String]
    let operation: String
    let version: String
    let committed: Bool
    let waitedSeconds: Double
    let lostRaces: Int
    /// For `acquire` and `claim`: the content of `lock` and of every lock taken (`contents`).
    var content: String?
    var contentEncoding: String?
    var contents: [ContentReport]?

    enum CodingKeys: String, CodingKey {
        case pool, lock, locks, operation, version, committed, content, contents
        case waitedSeconds = "waited_seconds"
        case lostRaces = "lost_races"
        case contentEncoding = "content_encoding"
    }

    init(_ result: OperationResult, pool: String, kind: OperationKind) {
        self.pool = pool
        lock = result.lock
        locks = result.locks
        operation = kind.rawValue
        version = result.version.hex
        committed = result.committed
        waitedSeconds = result.waited.timeInterval
        lostRaces = result.lostRaces
    }
}

/// Shared by the operation subcommands: runs one pool operation and reports it.
struct OperationRunner {
    let options: ConnectionOptions
    let pool: String
    let json: Bool
    /// For `acquire` and `claim`: the JSON report holds the contents of the locks taken, and `output` (when given)
    /// receives the step files.
    var takesLocks = false
    var output: String?

    func run(_ operation: PoolOperation, printLock: Bool = false) async throws {
        try await run(printLock: printLock) { _ in operation }
    }

    /// Runs the operation `makeOperation` builds. It runs inside `Session.run`, so that what it throws (a bad
    /// `LOCKPOOL_LEASE`, an unreadable `--file`) gets the exit status of `ExitStatus` (64, 1) and one `Error:` line.
    func run(printLock: Bool = false, _ makeOperation: (Session) throws -> PoolOperation) async throws {
        let session = Session(options: options)
        try await session.run {
            let started = ContinuousClock.now
            let operation = try makeOperation(session)
            if let output { try StepFiles.prepare(output) }
            let (configuration, gateway) = try session.operationSettings(pool: pool)
            let result = try await session.perform(
                operation, configuration: configuration, timeout: try session.timeLeft())
            var report = OperationReport(result, pool: pool, kind: operation.kind)
            if takesLocks && (json || output != nil) {
                let contents = try LockPoolClient(configuration: configuration).contents(
                    of: result.locks, at: result.tip)
                report.contents = zip(result.locks, contents).map { ContentReport(lock: $0, bytes: $1) }
                (report.content, report.contentEncoding) = (
                    report.contents?[0].content, report.contents?[0].contentEncoding
                )
                if let output {
                    try StepFiles.write(
                        to: output, locks: result.locks, metadata: contents[0],
                        claim: result.committed ? result.version : nil)
                }
            }
            if json {
                session.print(try JSONOutput.encode(report))
            } else if printLock {
                session.print(result.locks.joined(separator: "\n"))
            }
            if let gateway {
                let metrics = OperationMetrics(
                    result, operation: operation.kind, pool: pool, branch: configuration.branch,
                    executionTime: started.duration(to: .now))
                await session.pushMetrics(metrics, to: gateway)
            }
        }
    }
}

/// The pool and locks of `release` and `remove`: at least one lock, valid names, no `--lease` (exit 64).
func validateLockSet(pool: String, locks: [String], options: ConnectionOptions) throws {
    guard !locks.isEmpty else { throw ValidationError("Missing expected argument '<locks> ...'") }
    try validateNames(pool: pool)
    for lock in locks { try validateNames(pool: pool, lock: lock) }
    try rejectLease(options)
}

/// `--lease` given to a subcommand that records no lease (exit 64).
func rejectLease(_ options: ConnectionOptions) throws {
    if options.lease != nil {
        throw ValidationError("--lease applies only to acquire, claim and add --claimed, and to renew")
    }
}

/// Names valid for a pool argument, checked in `validate()` (exit 64).
func validateNames(pool: String, lock: String? = nil) throws {
    if let problem = NameRule.poolProblem(pool) {
        throw ValidationError("invalid pool name \(NameRule.jsonQuoted(pool)): \(problem)")
    }
    if let lock, let problem = NameRule.lockProblem(lock) {
        throw ValidationError("invalid lock name \(NameRule.jsonQuoted(lock)): \(problem)")
    }
}

struct AcquireCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "acquire",
        abstract: "Claim any unclaimed lock of POOL and print its name on stdout.",
        discussion: """
            Waits while every lock is claimed (bounded by --timeout). With --count N, claims N locks in one commit, \
            all or nothing, waiting while fewer than N are unclaimed, and prints one name per line; release them \
            together with `release POOL LOCK…`. \(ExitStatus.help)
            """)

    @OptionGroup var options: ConnectionOptions
    @Argument(help: "The pool.") var pool: String
    @Option(help: ArgumentHelp("Claim this many locks at once, all or nothing (1 to 1000).", valueName: "n"))
    var count = 1
    @Flag(help: "Print a JSON report instead of the lock name, with the content of the locks taken.") var json = false
    @Option(
        help: ArgumentHelp(
            "Also write name, metadata and claim_ref into this directory, as `in` does (for `release --from`).",
            valueName: "dir"), completion: .directory)
    var output: String?

    func validate() throws {
        try validateNames(pool: pool)
        guard (1...1000).contains(count) else { throw ValidationError("--count must be from 1 to 1000") }
    }

    func run() async throws {
        let runner = OperationRunner(options: options, pool: pool, json: json, takesLocks: true, output: output)
        try await runner.run(printLock: true) { session in
            let lease = try options.lease(session.environment)
            return count > 1 ? .acquireSet(count: count, lease: lease) : .acquire(lease: lease)
        }
    }
}

struct ClaimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "claim", abstract: "Claim the lock LOCK of POOL, waiting while someone else holds it.",
        discussion: ExitStatus.help)

    @OptionGroup var options: ConnectionOptions
    @Argument(help: "The pool.") var pool: String
    @Argument(help: "The lock.") var lock: String
    @Flag(help: "Print a JSON report, with the lock's content.") var json = false
    @Option(
        help: ArgumentHelp(
            "Also write name, metadata and claim_ref into this directory, as `in` does (for `release --from`).",
            valueName: "dir"), completion: .directory)
    var output: String?

    func validate() throws { try validateNames(pool: pool, lock: lock) }

    func run() async throws {
        let runner = OperationRunner(options: options, pool: pool, json: json, takesLocks: true, output: output)
        try await runner.run { session in
            .claim(lock: lock, lease: try options.lease(session.environment))
        }
    }
}

/// A full commit id given as `--claim`.
struct CommitArgument: ExpressibleByArgument, Sendable {
    let id: ObjectID
    init?(argument: String) {
        guard let id = ObjectID(hex: argument.lowercased()) else { return nil }
        self.id = id
    }
}

struct ReleaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release", abstract: "Move the claimed lock LOCK of POOL back to unclaimed.",
        discussion: """
            With --claim COMMIT (the claim commit, as `in` writes it to claim_ref), nothing is released when the \
            lock was claimed again since: fencing. Several locks (a set taken by `acquire --count`) are released \
            together in one commit, all or nothing. With --from DIR, the locks and the fence come from the name and \
            claim_ref files that `acquire --output DIR`, `claim --output DIR` or a resource's `in` wrote. \
            \(ExitStatus.help)
            """)

    @OptionGroup var options: ConnectionOptions
    @Argument(help: "The pool.") var pool: String
    @Argument(help: "The lock, or several.") var locks: [String] = []
    @Option(help: ArgumentHelp("Release only if this commit started the current claim.", valueName: "commit"))
    var claim: CommitArgument?
    @Option(
        help: ArgumentHelp(
            "Release the locks named in DIR/name, fenced by DIR/claim_ref when present.", valueName: "dir"),
        completion: .directory)
    var from: String?
    @Flag(help: "Print a JSON report.") var json = false

    func validate() throws {
        guard let from else { return try validateLockSet(pool: pool, locks: locks, options: options) }
        guard locks.isEmpty, claim == nil else {
            throw ValidationError("--from \(from) names the locks and the fence; give no LOCK and no --claim with it")
        }
        try validateNames(pool: pool)
        try rejectLease(options)
    }

    func run() async throws {
        try await OperationRunner(options: options, pool: pool, json: json).run { _ in
            let (locks, fence) = try from.map(Self.read) ?? (locks, claim?.id)
            return locks.count > 1
                ? .releaseSet(locks: locks, fence: fence, remove: false) : .release(lock: locks[0], fence: fence)
        }
    }

    /// The locks and the fence a step directory holds (`StepDirectory`, the resource's reader).
    static func read(_ directory: String) throws -> ([String], ObjectID?) {
        let step = StepDirectory(directory: directory)
        do {
            return (try step.names(), try step.claimRef())
        } catch let error as ResourceError {
            throw CLIError.usage("--from \(directory): \(error.description)")
        }
    }
}

struct RemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Delete the claimed lock LOCK of POOL (claim it first).",
        discussion: """
            With --claim COMMIT, only while that commit is the current claim. Several locks are removed together in \
            one commit, all or nothing. \(ExitStatus.help)
            """)

    @OptionGroup var options: ConnectionOptions
    @Argument(help: "The pool.") var pool: String
    @Argument(help: "The lock, or several.") var locks: [String] = []
    @Option(help: ArgumentHelp("Remove only if this commit started the current claim.", valueName: "commit"))
    var claim: CommitArgument?
    @Flag(help: "Print a JSON report.") var json = false

    func validate() throws { try validateLockSet(pool: pool, locks: locks, options: options) }

    func run() async throws {
        try await OperationRunner(options: options, pool: pool, json: json).run(
            locks.count > 1
                ? .releaseSet(locks: locks, fence: claim?.id, remove: true) : .remove(lock: locks[0], fence: claim?.id))
    }
}

/// The most lock content read from stdin: what the resource accepts as a whole request.
let maximumLockContent = 16 << 20

/// Lock content from `--file` or stdin (empty when stdin is a terminal).
func lockContent(file: String?) throws -> [UInt8] {
    if let file { return Array(try ConnectionOptions.read(file, what: "--file")) }
    if isatty(STDIN_FILENO) == 1 { return [] }
    guard let content = StandardStream.readInput(atMost: maximumLockContent) else {
        throw CLIError.usage("stdin is larger than \(maximumLockContent >> 20) MiB; expected a lock's content")
    }
    return content
}

struct AddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Create the lock LOCK in POOL, unclaimed (or claimed with --claimed).",
        discussion: """
            The lock's content (its metadata) comes from --file, else from stdin when it is not a terminal. Adding \
            a lock that exists with the same state and content changes nothing. \(ExitStatus.help)
            """)

    @OptionGroup var options: ConnectionOptions
    @Argument(help: "The pool.") var pool: String
    @Argument(help: "The lock.") var lock: String
    @Flag(help: "Create the lock claimed.") var claimed = false
    @Option(help: ArgumentHelp("File holding the lock's content.", valueName: "file"), completion: .file())
    var file: String?
    @Flag(help: "Print a JSON report.") var json = false

    func validate() throws {
        try validateNames(pool: pool, lock: lock)
        if !claimed { try rejectLease(options) }
    }

    func run() async throws {
        try await OperationRunner(options: options, pool: pool, json: json).run { session in
            let lease = claimed ? try options.lease(session.environment) : nil
            return .add(lock: lock, content: try lockContent(file: file), claimed: claimed, lease: lease)
        }
    }
}

struct UpdateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update", abstract: "Replace the content of the unclaimed lock LOCK of POOL (or add it).",
        discussion: "Content from --file or stdin. Waits while the lock is claimed. \(ExitStatus.help)")

    @OptionGroup var options: ConnectionOptions
    @Argument(help: "The pool.") var pool: String
    @Argument(help: "The lock.") var lock: String
    @Option(help: ArgumentHelp("File holding the lock's new content.", valueName: "file"), completion: .file())
    var file: String?
    @Flag(help: "Print a JSON report.") var json = false

    func validate() throws {
        try validateNames(pool: pool, lock: lock)
        try rejectLease(options)
    }

    func run() async throws {
        try await OperationRunner(options: options, pool: pool, json: json).run { _ in
            .update(lock: lock, content: try lockContent(file: file))
        }
    }
}

struct WaitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait", abstract: "Wait until the lock LOCK of POOL is unclaimed (or claimed).",
        discussion: """
            The resource's check (and check_unclaimed with --until-claimed). Makes no commit. \(ExitStatus.help)
            """)

    @OptionGroup var options: ConnectionOptions
    @Argument(help: "The pool.") var pool: String
    @Argument(help: "The lock.") var lock: String
    @Flag(help: "Wait until the lock is claimed instead.") var untilClaimed = false
    @Flag(help: "Print a JSON report.") var json = false

    func validate() throws {
        try validateNames(pool: pool, lock: lock)
        try rejectLease(options)
    }

    func run() async throws {
        let operation: PoolOperation = untilClaimed ? .checkUnclaimed(lock: lock) : .check(lock: lock)
        try await OperationRunner(options: options, pool: pool, json: json).run(operation)
    }
}

/// JSON for stdout: sorted keys, pretty printed, slashes unescaped.
package enum JSONOutput {
    package static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(HumanTime.timestamp(date))
        }
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

struct RenewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "renew", abstract: "Extend the lease of your claim of LOCK in POOL to --lease from now.",
        discussion: """
            Fenced like a release: only while the claim named by --claim COMMIT (or DIR/claim_ref with --from DIR) \
            is the lock's current claim, and only before its lease has passed; a claim taken over, released or \
            claimed again fails and nothing changes. The renewal is a commit without tree change that records the \
            new Lease-Expires. \(ExitStatus.help)
            """)

    @OptionGroup var options: ConnectionOptions
    @Argument(help: "The pool.") var pool: String
    @Argument(help: "The lock (not with --from).") var lock: String?
    @Option(help: ArgumentHelp("The claim commit whose lease to extend.", valueName: "commit"))
    var claim: CommitArgument?
    @Option(
        help: ArgumentHelp(
            "Renew the claim DIR/name and DIR/claim_ref describe (acquire --output DIR).", valueName: "dir"),
        completion: .directory)
    var from: String?
    @Flag(help: "Print a JSON report.") var json = false

    func validate() throws {
        try validateNames(pool: pool, lock: lock)
        switch (lock, claim, from) {
        case (.some, .some, nil), (nil, nil, .some): break
        default: throw ValidationError("renew needs LOCK --claim COMMIT, or --from DIR")
        }
    }

    func run() async throws {
        try await OperationRunner(options: options, pool: pool, json: json).run { session in
            guard let lease = try options.lease(session.environment) else {
                throw CLIError.usage("renew needs --lease D (or LOCKPOOL_LEASE): the new lease, counted from now")
            }
            if let from {
                let (locks, fence) = try ReleaseCommand.read(from)
                guard locks.count == 1, let fence else {
                    throw CLIError.usage("--from \(from): renew needs one lock and its claim_ref")
                }
                return .renew(lock: locks[0], claim: fence, lease: lease)
            }
            return .renew(lock: lock!, claim: claim!.id, lease: lease)
        }
    }
}
