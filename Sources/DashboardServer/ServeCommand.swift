import ArgumentParser
import Dashboard
import Dispatch
import FoundationEssentials
import Git
import Hummingbird
import LockPool
import LockPoolCLI
import Logging
import ProcessIO

#if canImport(Glibc)
    import Glibc
#endif

/// `lockpool serve` (the `lockpool-serve` executable): a read-only dashboard and JSON API over a lock repository
/// (docs/dashboard.md).
public struct ServeCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "lockpool serve",
        abstract: "Serve a read-only web dashboard, JSON API and /metrics of the pools.",
        discussion: """
            Fetches the branch every --refresh (only what is new) and serves every page from the last state read, \
            so a slow or unreachable remote never blocks a page: the pages then say since when the remote fails. \
            Pages: / (every pool), /pool?name=P, /lock?pool=P&name=L; they update themselves while open. JSON: \
            /api/v1/status, /api/v1/history, /api/v1/stats, /api/v1/freshness (docs/dashboard.md). Prometheus: \
            /metrics (the stats gauges over the last 7 days). Lock contents are shown only with --show-metadata. \
            Exit status: 0 stopped by SIGTERM or SIGINT; 1 the first read of the repository failed; 64 usage error.
            """)

    @OptionGroup var options: ConnectionOptions
    @Option(help: ArgumentHelp("Address and port to listen on (port 0: any free port).", valueName: "host:port"))
    var listen = "127.0.0.1:8080"
    @Option(help: ArgumentHelp("How often to fetch the branch (Go duration or seconds).", valueName: "duration"))
    var refresh = DurationArgument(.seconds(5))
    @Flag(help: "Show lock contents (they often hold tokens: off by default).") var showMetadata = false
    @Flag(help: "Listen on an address other than loopback without a warning.") var allowRemote = false

    public init() {}

    public func validate() throws {
        guard ListenAddress(listen) != nil else {
            throw ValidationError(
                "--listen expects host:port (127.0.0.1:8080, [::1]:8080, 0.0.0.0:80), got '\(listen)'")
        }
        if refresh.duration < .milliseconds(200) { throw ValidationError("--refresh must be at least 200ms") }
    }

    public func run() async throws {
        let session = Session(options: options)
        try await session.run {
            let address = ListenAddress(listen)!
            if !address.isLoopback && !allowRemote {
                session.writeError(
                    "warning: listening on \(listen) makes the dashboard reachable from other machines: anyone who "
                        + "can connect sees every pool, holder and build; use --allow-remote to say that is meant\n")
            }
            let configuration = try session.configuration(pool: "pool")
            let store = DashboardStore()
            let refresher = Refresher(
                configuration: configuration, store: store, interval: refresh.duration, showMetadata: showMetadata,
                secrets: session.secrets(), logger: session.logger)
            // The first read must work: a typo in --repo or --branch fails here, not on a page.
            let first = try await Self.firstRead(refresher, timeout: try session.timeLeft() ?? .seconds(120))
            try await serve(address: address, store: store, refresher: refresher, first: first, session: session)
        }
    }

    /// The first read, bounded by `--timeout` (2 minutes without): it may fetch the history of 7 days.
    private static func firstRead(_ refresher: Refresher, timeout: Duration) async throws -> ReadTip {
        guard let first = await refresher.refresh(previous: nil, timeout: timeout) else {
            let failure = await refresher.store.freshness?.failure ?? "unknown error"
            throw CLIError.failure("could not read the lock repository: \(failure)")
        }
        return first
    }

    private func serve(
        address: ListenAddress, store: DashboardStore, refresher: Refresher, first: ReadTip, session: Session
    ) async throws {
        let writeError = session.writeError
        let interval = refresh.duration
        let application = Application(
            router: DashboardRoutes(store: store, showMetadata: showMetadata).router(),
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? address.port
                writeError("serving http://\(address.urlHost):\(port)/ (refresh every \(interval.goDescription))\n")
            },
            logger: session.logger)
        // Stopping is immediate: the server holds nothing to flush, and open event streams would delay a graceful
        // shutdown forever.
        let sources = Interruption().installSignalHandlers { Glibc.exit(0) }
        defer { sources.forEach { $0.cancel() } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await application.runService(gracefulShutdownSignals: []) }
            group.addTask { await refresher.run(after: first) }
            try await group.next()
            group.cancelAll()
        }
    }
}

/// `--listen`: `host:port`, `[v6]:port`.
struct ListenAddress: Equatable {
    let host: String
    let port: Int

    init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        (self.host, self.port) = (host, port)
    }

    /// Whether only this machine can connect.
    var isLoopback: Bool { host == "localhost" || host == "::1" || host.hasPrefix("127.") }

    /// The host as a URL writes it.
    var urlHost: String { host.contains(":") ? "[\(host)]" : host }
}
