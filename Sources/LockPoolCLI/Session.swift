import ArgumentParser
import ConcourseResource
import Foundation
import Git
import LockPool
import Logging
import PoolMetrics

/// One invocation's surroundings: environment, terminal, logging, and the settings resolved from options.
struct Session: Sendable {
    let options: ConnectionOptions
    let environment: [String: String]
    let terminal: Terminal
    let logger: Logger
    let writeError: @Sendable (String) -> Void

    /// The `Lock-Tool` trailer of commits made by the CLI.
    static var tool: String { "lockpool \(LockPoolVersion.current) (cli)" }

    init(options: ConnectionOptions, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.options = options
        self.environment = environment.filter { !$0.value.isEmpty }
        terminal = Terminal.current(environment: self.environment)
        writeError = { FileHandle.standardError.write(Data($0.utf8)) }
        LoggingSetup.once()
        var logger = Logger(label: "lockpool.cli")
        logger.logLevel =
            options.verbose ? .debug : Logger.Level(rawValue: self.environment["LOCKPOOL_LOG_LEVEL"] ?? "") ?? .warning
        self.logger = logger
    }

    /// The progress view for stderr: a live line on a terminal, plain lines otherwise.
    func progress() -> any ProgressView {
        terminal.stderrIsTerminal
            ? LiveStatusLine(terminal: terminal, write: writeError) : PlainProgress(write: writeError)
    }

    /// The validated `source` for `pool`, its warnings printed.
    func source(pool: String) throws -> Source {
        let (source, warnings) = try options.resolvedSource(pool: pool, environment: environment)
        for warning in warnings { writeError(warning + "\n") }
        return source
    }

    /// The pool configuration for `pool`: the resolved source, with the user's git identity unless `git_config`
    /// names one.
    func configuration(pool: String, announce: (@Sendable (String) -> Void)? = nil) throws -> PoolConfiguration {
        try configuration(source: try source(pool: pool), announce: announce)
    }

    /// The pool configuration for `pool` and the Pushgateway its operations report to, if one is set.
    func operationSettings(pool: String) throws -> (PoolConfiguration, Pushgateway?) {
        let source = try source(pool: pool)
        return (try configuration(source: source, announce: nil), source.pushgateway)
    }

    /// Pushes the metrics of a finished operation; a failure is one warning line on stderr, never an error.
    func pushMetrics(_ metrics: OperationMetrics, to gateway: Pushgateway) async {
        logger.debug("pushing metrics", metadata: ["pushgateway": "\(gateway.address)"])
        let writeError = self.writeError
        await gateway.push(metrics) { writeError($0 + "\n") }
    }

    private func configuration(source: Source, announce: (@Sendable (String) -> Void)?) throws -> PoolConfiguration {
        let writeError = self.writeError
        var configuration = try source.preparedConfiguration(
            environment: environment, tool: Self.tool, readsBuild: false,
            announce: announce ?? { writeError($0 + "\n") })
        if source.gitConfigValue("user.name") == nil, let name = identity("NAME", key: "user.name") {
            configuration.identityName = name
        }
        if source.gitConfigValue("user.email") == nil, let email = identity("EMAIL", key: "user.email") {
            configuration.identityEmail = email
        }
        return configuration
    }

    /// The user's git identity: `GIT_COMMITTER_*`, `GIT_AUTHOR_*`, then the git configuration files.
    private func identity(_ part: String, key: String) -> String? {
        environment["GIT_COMMITTER_\(part)"] ?? environment["GIT_AUTHOR_\(part)"]
            ?? UserConfiguration.value(key, environment: environment)
    }

    /// The secrets of the resolved settings, for redaction (best effort: settings that do not resolve hold none
    /// that could have been used).
    func secrets() -> [String] {
        var secrets = (try? options.resolvedSource(pool: "x", environment: environment).0.secrets) ?? []
        for name in [
            "LOCKPOOL_PASSWORD", "LOCKPOOL_PRIVATE_KEY_PASSPHRASE", "LOCKPOOL_HTTPS_TUNNEL_PASSWORD",
            "LOCKPOOL_CONCOURSE_TOKEN",
        ] {
            if let value = environment[name] { secrets.append(value) }
        }
        return secrets
    }

    /// Runs `body`, turning its errors into a message on stderr and the exit status of `ExitStatus`.
    func run(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as ExitCode {
            throw error
        } catch let error as CleanExit {
            throw error
        } catch {
            if case CLIError.usage(_, let warnings) = error {
                for warning in warnings { writeError(warning + "\n") }
            }
            let text = redact(String(describing: error), secrets())
            writeError("Error: \(text)\n")
            throw ExitCode(ExitStatus.of(error))
        }
    }

    /// Runs a pool operation with progress on stderr and SIGINT/SIGTERM handling.
    func perform(_ operation: PoolOperation, configuration: PoolConfiguration, timeout: Duration?) async throws
        -> OperationResult
    {
        let view = progress()
        let interruption = Interruption()
        let writeError = self.writeError
        let sources = interruption.installSignalHandlers {
            view.finish()
            writeError("Error: interrupted; nothing was changed\n")
            exit(ExitStatus.failure)
        }
        defer {
            sources.forEach { $0.cancel() }
            view.finish()
        }
        return try await LockPoolClient(configuration: configuration).perform(
            operation, timeout: timeout, clock: ContinuousClock(), interruption: interruption, events: view.handle,
            reportsHolders: terminal.stderrIsTerminal, logger: logger)
    }

    /// Fetches the tip and runs `body` on the cache repository.
    func withFreshTip<T>(
        _ configuration: PoolConfiguration, _ body: (Repository, ObjectID) throws -> T
    ) async throws -> T {
        let view = progress()
        defer { view.finish() }
        return try await LockPoolClient(configuration: configuration).withFreshTip(
            clock: ContinuousClock(), events: view.handle, logger: logger
        ) { cache, tip in try body(cache.repository, tip) }
    }

    /// Writes `text` and a newline to stdout.
    func print(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}

/// Bootstraps swift-log once per process: log lines go to stderr.
enum LoggingSetup {
    private static let done: Void = LoggingSystem.bootstrap(StreamLogHandler.standardError)
    static func once() { _ = done }
}
