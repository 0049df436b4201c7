import Dispatch
import FoundationEssentials
import Git
import LockPool
import Logging
import ProcessIO
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// The entry point shared by the `check`, `in` and `out` executables.
public enum ResourceMain {
    /// Which executable is running.
    public enum Step: String, Sendable { case check, `in`, out }

    /// The whole process for `step`: `run(step)`, then exit with its status. What the `check`, `in` and `out`
    /// executables do, and `lockpool` when it is called by one of those names; the executable has bootstrapped
    /// logging (to stderr) before.
    public static func main(_ step: Step) async -> Never {
        exit(await run(step))
    }

    /// Runs `step` in this process: reads stdin, writes one JSON document to stdout on success, logs to stderr,
    /// and returns the exit status (0 or 1).
    ///
    /// - Parameter arguments: argv, the program name first (`lockpool run-step` passes its own).
    public static func run(_ step: Step, arguments: [String] = CommandLine.arguments) async -> Int32 {
        let printer = ProgressPrinter { StandardStream.error.write($0) }
        // An empty `$1` names no directory (it would mean the working directory); it counts as missing.
        if step != .check && (arguments.count < 2 || arguments[1].isEmpty) {
            StandardStream.error.write("usage: \(step.rawValue) <\(step == .in ? "destination" : "source")>\n")
            return 1
        }
        var logger = Logger(label: "lockpool.\(step.rawValue)")
        logger.logLevel =
            Logger.Level(rawValue: ProcessInfo.processInfo.environment["LOCKPOOL_LOG_LEVEL"] ?? "") ?? .warning
        ensureHomeDirectory()
        let interruption = Interruption()
        // SIGTERM and SIGINT (a Concourse abort): outside a push, stop at once; during a push, let the operation
        // finish and undo a won claim.
        let signalSources = interruption.installSignalHandlers {
            printer.line("error: interrupted; nothing was changed")
            exit(1)
        }
        defer { signalSources.forEach { $0.cancel() } }
        guard let stdin = StandardStream.readInput(atMost: maximumRequestBytes) else {
            let limit = "\(maximumRequestBytes >> 20) MiB"
            printer.line("error: invalid payload (stdin is larger than \(limit); expected one JSON object)")
            return 1
        }
        let context = ResourceContext(
            arguments: arguments, environment: ProcessInfo.processInfo.environment, interruption: interruption,
            logger: logger, printer: printer)
        // The secrets of the decoded request's source, hidden in the error line. A refused request leaves none to
        // hide: the decoder's lines never contain a secret value (they are printed as they are).
        var secrets: [String] = []
        do {
            switch step {
            case .check:
                let request = try context.decoded(RequestDecoder.decodeCheck(stdin))
                secrets = request.source.secrets
                StandardStream.output.write(try await CheckCommand.run(request, context))
            case .in:
                let request = try context.decoded(RequestDecoder.decodeIn(stdin))
                secrets = request.source.secrets
                StandardStream.output.write(try await InCommand.run(request, context))
            case .out:
                let request = try context.decoded(RequestDecoder.decodeOut(stdin))
                secrets = request.source.secrets
                let outcome = try await OutCommand.run(request, context)
                StandardStream.output.write(outcome.output)
                await outcome.metrics?.push(printer: printer)
            }
            return 0
        } catch {
            printer.line("error: \(redact(String(describing: error), secrets))")
            return 1
        }
    }

    /// The largest request read from stdin. Real requests are a few kilobytes (a private key and `known_hosts` text
    /// included); reading more would only let a runaway producer exhaust memory.
    static let maximumRequestBytes = 16 << 20

    /// libgit2 1.5's ssh transport reads `~/.ssh/known_hosts` and fails when `HOME` is unset (as in some resource
    /// containers); give it an empty private directory under `TMPDIR` then. Nothing is ever written there.
    private static func ensureHomeDirectory() {
        guard (ProcessInfo.processInfo.environment["HOME"] ?? "").isEmpty else { return }
        let temporary = FilePath(
            ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp")
        // It must be this user's own: libgit2 reads its .gitconfig and .ssh/known_hosts. Otherwise (another user made it
        // on a shared /tmp) a fresh one is made.
        var home = temporary.appending("lockpool-home-\(geteuid())").string
        if PrivateDirectory.problem(home) != nil {
            var template = Array(temporary.appending("lockpool-home-XXXXXX").string.utf8CString)
            guard let made = mkdtemp(&template) else { return }
            home = String(cString: made)
        }
        setenv("HOME", home, 1)
    }
}
