import LockPool
import Logging

/// What a resource step gets from its process: argv, environment, the signal state, a logger and stderr's printer.
/// The request itself is decoded before (`ResourceMain`), once.
public struct ResourceContext: Sendable {
    public var arguments: [String]
    public var environment: [String: String]
    public var interruption: Interruption
    public var logger: Logger
    /// Renders progress on stderr and keeps track of an unfinished dots line.
    public let printer: ProgressPrinter

    public init(
        arguments: [String], environment: [String: String], interruption: Interruption = Interruption(),
        logger: Logger, printer: ProgressPrinter
    ) {
        self.arguments = arguments
        // An empty variable counts as unset.
        self.environment = environment.filter { !$0.value.isEmpty }
        self.interruption = interruption
        self.logger = logger
        self.printer = printer
    }

    /// The `Lock-Tool` trailer for the resource.
    static var tool: String { "lockpool \(LockPoolVersion.current) (resource)" }

    func printWarnings(_ warnings: [String]) {
        for warning in warnings { printer.line(warning) }
    }

    /// The pool configuration for `source`, after applying its process-wide settings and printing their warnings.
    func configuration(for source: Source, readsBuild: Bool) throws -> PoolConfiguration {
        let printer = self.printer
        return try source.preparedConfiguration(
            environment: environment, tool: Self.tool, readsBuild: readsBuild, announce: { printer.line($0) })
    }

    func decoded<R>(_ result: Result<Decoded<R>, RequestProblems>) throws -> R {
        switch result {
        case .success(let decoded):
            printWarnings(decoded.warnings)
            return decoded.request
        case .failure(let problems):
            printWarnings(problems.warnings)
            for line in problems.errors.dropLast() { printer.line(line) }
            throw ResourceError.invalidRequest(problems)
        }
    }
}
