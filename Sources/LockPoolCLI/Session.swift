import ArgumentParser
import ConcourseResource
import Dispatch
import FoundationEssentials
import Git
import LockPool
import Logging
import PoolMetrics
import ProcessIO
import StringSupport

#if canImport(Glibc)
    import Glibc
#endif

/// One invocation's surroundings: environment, terminal, logging, and the settings resolved from options. The logger
/// goes through the handler the `lockpool` entry point bootstrapped (swift-log's default, stderr, in tests).
package struct Session: Sendable {
    package let options: ConnectionOptions
    package let environment: [String: String]
    let terminal: Terminal
    package let logger: Logger
    package let writeError: @Sendable (String) -> Void
    /// Secrets the subcommand read itself (a Concourse token file), redacted like the source's.
    let additionalSecrets: [String]
    /// When the subcommand started: `--timeout` bounds the whole of it (`timeLeft()`).
    let started = ContinuousClock.now

    /// The `Lock-Tool` trailer of commits made by the CLI.
    static var tool: String { "lockpool \(LockPoolVersion.current) (cli)" }

    package init(
        options: ConnectionOptions, environment: [String: String] = ProcessInfo.processInfo.environment,
        additionalSecrets: [String] = []
    ) {
        self.options = options
        self.additionalSecrets = additionalSecrets.filter { !$0.isEmpty }
        self.environment = environment.filter { !$0.value.isEmpty }
        terminal = Terminal.current(environment: self.environment)
        writeError = { StandardStream.error.write($0) }
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
    package func configuration(pool: String, announce: (@Sendable (String) -> Void)? = nil) throws -> PoolConfiguration
    {
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
        // The gateway's answer is part of the warning: it could echo the credentials sent to it.
        let secrets = secrets()
        let address = gateway.address
        await gateway.push(metrics) { writeError(redact(address.redacting($0), secrets) + "\n") }
    }

    private func configuration(source: Source, announce: (@Sendable (String) -> Void)?) throws -> PoolConfiguration {
        let writeError = self.writeError
        var configuration = try source.preparedConfiguration(
            environment: environment, tool: Self.tool, readsBuild: false,
            announce: announce ?? { writeError($0 + "\n") })
        if configuration.branch == ConnectionOptions.remoteHeadBranch {
            configuration.branch = try LockRepositoryCache.defaultBranch(
                root: configuration.cacheRoot, remoteURL: configuration.remoteURL, options: configuration.remoteOptions)
        }
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

    /// The secrets of the resolved settings, for redaction. When the settings do not resolve (a validation error),
    /// the secret values of the environment and of the `--source` and password files are still collected, so that
    /// no message can echo one.
    package func secrets() -> [String] {
        var secrets = (try? options.resolvedSource(pool: "x", environment: environment).0.secrets) ?? []
        for name in [
            "LOCKPOOL_PASSWORD", "LOCKPOOL_PRIVATE_KEY", "LOCKPOOL_PRIVATE_KEY_PASSPHRASE",
            "LOCKPOOL_HTTPS_TUNNEL_PASSWORD", "LOCKPOOL_CONCOURSE_TOKEN",
        ] {
            if let value = environment[name] { secrets.append(value) }
        }
        for name in ["LOCKPOOL_REPO", "LOCKPOOL_PUSHGATEWAY", "LOCKPOOL_CONCOURSE_URL"] {
            if let value = environment[name] { secrets += Self.userinfoSecrets(value) }
        }
        if let path = options.passwordFile, let data = FileManager.default.contents(atPath: path) {
            secrets.append(String(decoding: data, as: UTF8.self).trimming(.newlines))
        }
        if let path = options.source ?? environment["LOCKPOOL_SOURCE"],
            let data = FileManager.default.contents(atPath: path),
            let parsed = JSONValue.parse(Array(data))
        {
            secrets += Self.secretValues(in: parsed)
        }
        return (secrets + additionalSecrets).filter { !$0.isEmpty }
    }

    /// The values under secret keys anywhere in a parsed `--source` file, and the userinfo of every URL in it.
    static func secretValues(in value: JSONValue, key: String = "") -> [String] {
        let secretKeys: Set<String> = ["private_key", "private_key_passphrase", "password", "proxy_password", "secret"]
        switch value {
        case .object(let members):
            // A git_config entry's value is a secret for the keys that carry one.
            let name = value["name"]?.text?.lowercased()
            let secretEntry = name == "http.extraheader" || name == "http.proxy"
            return members.flatMap {
                secretValues(in: $0.value, key: secretEntry && $0.key == "value" ? "secret" : $0.key)
            }
        case .array(let elements):
            return elements.flatMap { secretValues(in: $0, key: key) }
        case .string(let text):
            var found = userinfoSecrets(text)
            if secretKeys.contains(key) {
                found.append(text)
                // An http.extraHeader value: the part after the header name, and its last word (the token).
                if let colon = text.firstIndex(of: ":") {
                    let rest = text[text.index(after: colon)...].trimming(.whitespaces)
                    found += [rest, rest.split(separator: " ").last.map(String.init) ?? ""]
                }
            }
            return found.filter { $0.count >= 3 }
        default:
            return []
        }
    }

    /// The userinfo of a URL (`scheme://user:password@host…`, or `user:password@host` without a scheme), and its
    /// password part as written and percent-decoded.
    static func userinfoSecrets(_ url: String) -> [String] {
        URLUserinfo(in: url, defaultScheme: "http")?.passwordSecrets ?? []
    }

    /// Runs `body`, turning its errors into a message on stderr and the exit status of `ExitStatus`.
    package func run(_ body: () async throws -> Void) async throws {
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
            var error = error
            // The operations were given what was left of the bound (`timeLeft()`); the user gave the whole of it.
            if case LockPoolError.timedOut(_, let reason) = error, let timeout = try? options.timeout(environment) {
                error = LockPoolError.timedOut(after: timeout, reason: reason)
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
            exit(ExitStatus.interrupted)
        }
        defer {
            sources.forEach { $0.cancel() }
            view.finish()
        }
        return try await LockPoolClient(configuration: configuration).perform(
            operation, timeout: timeout, clock: ContinuousClock(), interruption: interruption, events: view.handle,
            reportsHolders: terminal.stderrIsTerminal, logger: logger)
    }

    /// Runs `body` (work on the remote outside the operations, such as `init`'s) again after transient failures, as
    /// the operations retry them, within `--timeout`.
    func retrying<T>(_ configuration: PoolConfiguration, activity: String, _ body: () throws -> T) async throws -> T {
        let view = progress()
        defer { view.finish() }
        return try await LockPoolClient(configuration: configuration).retrying(
            activity: activity, clock: ContinuousClock(), timeout: try timeLeft(), events: view.handle, logger: logger,
            body)
    }

    /// Fetches the tip and runs `body` on the cache repository.
    func withFreshTip<T>(
        _ configuration: PoolConfiguration, _ body: (Repository, ObjectID) throws -> T
    ) async throws -> T {
        let view = progress()
        defer { view.finish() }
        return try await LockPoolClient(configuration: configuration).withFreshTip(
            clock: ContinuousClock(), timeout: try timeLeft(), events: view.handle, logger: logger
        ) { cache, tip in try body(cache.repository, tip) }
    }

    /// What is left of `--timeout` (or `LOCKPOOL_TIMEOUT`) since the subcommand started; nil without one. Every
    /// fetch and operation of the subcommand gets it, so the bound holds for the whole command (exit 75). Never
    /// less than a millisecond: an operation started late still makes its first attempt, then times out.
    package func timeLeft() throws -> Duration? {
        guard let timeout = try options.timeout(environment) else { return nil }
        return max(timeout - started.duration(to: .now), .milliseconds(1))
    }

    /// Writes `text` and a newline to stdout.
    func print(_ text: String) {
        StandardStream.output.write(text + "\n")
    }
}
