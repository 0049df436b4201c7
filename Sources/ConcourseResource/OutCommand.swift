import FoundationEssentials
import Git
import LockPool
import PoolMetrics
import StringSupport
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// The `out` step: one pool operation per put (docs/resource.md#effects-of-put-operations), then its metrics
/// (docs/resource.md#metrics).
public enum OutCommand {
    /// What `out` did: its stdout, and the metrics to push once that has been written.
    public struct Outcome: Sendable {
        public var output: [UInt8]
        public var metrics: PendingMetrics?
    }

    /// Metrics of a finished operation, waiting for the step's JSON to be written (the execution time ends there).
    public struct PendingMetrics: Sendable {
        let gateway: Pushgateway
        let result: OperationResult
        let operation: OperationKind
        let pool: String
        let branch: String
        let started: ContinuousClock.Instant

        /// Pushes the metrics; a failure is one warning line and never fails the step.
        func push(printer: ProgressPrinter) async {
            let metrics = OperationMetrics(
                result, operation: operation, pool: pool, branch: branch,
                executionTime: started.duration(to: .now))
            printer.line("Pushing prometheus metrics...")
            await gateway.push(metrics) { printer.line($0) }
        }
    }

    /// Runs `out` for `request` with the build's source directory `context.arguments[1]`.
    ///
    /// - Throws: `ResourceError`, `LockPoolError`.
    public static func run(_ request: OutRequest, _ context: ResourceContext) async throws -> Outcome {
        let sourceDirectory = context.arguments[1]
        let started = ContinuousClock.now
        let gateway = request.source.pushgateway
        if let gateway { context.printer.line("Setting up prometheus client, pushgateway=\(gateway.address)") }
        let configuration = try context.configuration(for: request.source, readsBuild: true)
        let operation = try poolOperation(request.params, in: sourceDirectory)
        let printer = context.printer
        let result = try await LockPoolClient(configuration: configuration).perform(
            operation, timeout: request.params.timeout, clock: ContinuousClock(), interruption: context.interruption,
            events: printer.handle, logger: context.logger)
        let output = ResourceOutput.step(version: result.version, locks: result.locks, pool: configuration.pool)
        return Outcome(
            output: output,
            metrics: gateway.map {
                PendingMetrics(
                    gateway: $0, result: result, operation: operation.kind, pool: request.source.pool,
                    branch: request.source.branch, started: started)
            })
    }

    /// Reads the step directory's files and builds the pool operation.
    static func poolOperation(_ params: OutParams, in sourceDirectory: String) throws -> PoolOperation {
        let lease = params.lease
        switch params.operation {
        case .acquire: return params.count > 1 ? .acquireSet(count: params.count, lease: lease) : .acquire(lease: lease)
        case .claim(let lock): return .claim(lock: lock, lease: lease)
        case .release(let directory), .remove(let directory):
            let step = StepDirectory(sourceDirectory, directory)
            let names = try step.names()
            let fence = try step.claimRef()
            let isRemove = if case .remove = params.operation { true } else { false }
            if names.count > 1 { return .releaseSet(locks: names, fence: fence, remove: isRemove) }
            return isRemove ? .remove(lock: names[0], fence: fence) : .release(lock: names[0], fence: fence)
        case .add(let directory):
            let step = StepDirectory(sourceDirectory, directory)
            return .add(lock: try step.name(), content: try step.metadata(), claimed: false, lease: nil)
        case .addClaimed(let directory):
            let step = StepDirectory(sourceDirectory, directory)
            return .add(lock: try step.name(), content: try step.metadata(), claimed: true, lease: lease)
        case .update(let directory):
            let step = StepDirectory(sourceDirectory, directory)
            return .update(lock: try step.name(), content: try step.metadata())
        case .check(let directory): return .check(lock: try StepDirectory(sourceDirectory, directory).name())
        case .checkUnclaimed(let directory):
            return .checkUnclaimed(lock: try StepDirectory(sourceDirectory, directory).name())
        case .renew(let directory):
            let step = StepDirectory(sourceDirectory, directory)
            let lock = try step.name()
            guard let claim = try step.claimRef(), let lease else {
                throw ResourceError.claimRefFile(
                    "renew needs \(directory)/claim_ref, which the get step after the claim writes")
            }
            return .renew(lock: lock, claim: claim, lease: lease)
        }
    }
}

/// A step directory inside the `out` source directory: `name`, `metadata` and optionally `claim_ref`.
public struct StepDirectory {
    let sourceDirectory: FilePath
    let path: FilePath

    init(_ sourceDirectory: String, _ directory: String) {
        self.sourceDirectory = FilePath(sourceDirectory)
        path = self.sourceDirectory.appending(directory)
    }

    /// The directory itself, for `lockpool release --from DIR`: its files may not lead out of it either.
    public init(directory: String) {
        sourceDirectory = FilePath(directory)
        path = sourceDirectory
    }

    private func read(_ file: String) throws(FileReadError) -> [UInt8]? {
        let filePath = path.appending(file)
        var isDirectory = false
        guard FileManager.default.fileExists(atPath: filePath.string, isDirectory: &isDirectory) else { return nil }
        // Task outputs may come from code the pipeline does not trust: a symbolic link (the file or a directory on
        // the way) may lead anywhere inside the source directory, but not out of it, or the container's own files
        // (`/proc/self/environ`, a mounted secret) would be committed into the lock repository.
        // Inside means below the resolved source directory, by whole components (`/src-x` is not inside `/src`).
        guard let real = Self.realPath(filePath), let root = Self.realPath(sourceDirectory),
            real != root, real.starts(with: root)
        else {
            throw FileReadError(
                description:
                    "\(filePath.string) is a symbolic link that leads out of the source directory; copy the file"
            )
        }
        guard !isDirectory, let data = FileManager.default.contents(atPath: filePath.string) else {
            throw FileReadError(description: "\(filePath.string) is not a readable file")
        }
        return Array(data)
    }

    /// `path` with every symbolic link, `.` and `..` resolved (`realpath(3)`); nil when it cannot be resolved.
    private static func realPath(_ path: FilePath) -> FilePath? {
        guard let resolved = realpath(path.string, nil) else { return nil }
        defer { free(resolved) }
        return FilePath(String(cString: resolved))
    }

    private struct FileReadError: Error { let description: String }

    private func missing(_ file: String) -> String {
        "open \(path.appending(file).string): no such file or directory"
    }

    func name() throws -> String {
        switch NameRule.lockName(fromFile: try nameFile()) {
        case .success(let name): return name
        case .failure(let problem): throw ResourceError.nameFile(problem.description)
        }
    }

    /// The names in `name`: one, or for a set taken by a multi-lock acquire, one per line (blank lines ignored).
    public func names() throws -> [String] {
        let bytes = try nameFile()
        let blank: Set<UInt8> = [9, 11, 12, 13, 32]  // tab, vertical tab, form feed, carriage return, space
        let lines = bytes.split(separator: UInt8(ascii: "\n")).filter { $0.contains { !blank.contains($0) } }
        guard lines.count > 1 else { return [try name()] }
        return try lines.map { line in
            switch NameRule.lockName(fromFile: Array(line)) {
            case .success(let name): return name
            case .failure(let problem): throw ResourceError.nameFile(problem.description)
            }
        }
    }

    private func nameFile() throws -> [UInt8] {
        do {
            guard let read = try read("name") else { throw ResourceError.nameFile(missing("name") + directoryHint) }
            return read
        } catch let error as FileReadError { throw ResourceError.nameFile(error.description) }
    }

    /// When the step directory itself is missing, the likely mistake: a lock's name where a directory is expected
    /// (`release: ci-instance-01` instead of `release: env-lock`), with the directories that are there.
    private var directoryHint: String {
        var isDirectory = false
        guard path != sourceDirectory, !FileManager.default.fileExists(atPath: path.string, isDirectory: &isDirectory)
        else { return "" }
        let inputs = ((try? FileManager.default.contentsOfDirectory(atPath: sourceDirectory.string)) ?? [])
            .filter { name in
                var isDirectory = false
                return FileManager.default.fileExists(
                    atPath: sourceDirectory.appending(name).string, isDirectory: &isDirectory) && isDirectory
            }
            .sorted()
        let here = inputs.isEmpty ? "" : "; the directories here: \(inputs.prefix(10).joined(separator: ", "))"
        return " (release, remove and update name the directory a get step or a task wrote, such as the "
            + "resource's name, not a lock\(here))"
    }

    func metadata() throws -> [UInt8] {
        do {
            guard let bytes = try read("metadata") else { throw ResourceError.metadataFile(missing("metadata")) }
            return bytes
        } catch let error as FileReadError { throw ResourceError.metadataFile(error.description) }
    }

    public func claimRef() throws -> ObjectID? {
        let bytes: [UInt8]?
        do { bytes = try read("claim_ref") } catch { throw ResourceError.claimRefFile(error.description) }
        guard let bytes else { return nil }
        let text = String(decoding: bytes, as: UTF8.self).trimming(.whitespacesAndNewlines)
        if text.isEmpty { return nil }
        guard let id = ObjectID(hex: text) else {
            throw ResourceError.claimRefFile("\(NameRule.jsonQuoted(text)) is not a full commit id")
        }
        return id
    }
}
