import ArgumentParser
import Dashboard
import FoundationEssentials
import Git
import LockPool
import ProcessIO

/// `lockpool report --html FILE`: the dashboard's pages as one self-contained file (docs/dashboard.md#the-report).
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write the dashboard's pages (every pool and lock) as one self-contained HTML file.",
        discussion: """
            The same pages as `lockpool serve`: the overview, each pool and each lock, linked by anchors, with \
            inline styles and charts and no external asset or script, so the file renders offline (a CI artifact, a \
            static site). Lock contents only with --show-metadata, and the file is then made readable by its owner \
            only. \(ExitStatus.help)
            """)

    @OptionGroup var options: ConnectionOptions
    @Option(
        help: ArgumentHelp("Write the report to this file ('-': stdout).", valueName: "file"), completion: .file())
    var html: String
    @Flag(help: "Show lock contents (they often hold tokens: off by default).") var showMetadata = false

    func run() async throws {
        let session = Session(options: options)
        try await session.run {
            let configuration = try session.configuration(pool: "pool")
            let state = try await session.withFreshTip(configuration) { repository, tip in
                try DashboardState.read(
                    repository: repository, tip: tip, branch: configuration.branch, now: Date(),
                    showMetadata: showMetadata)
            }
            let pages = DashboardPages(
                state: state, freshness: Freshness(fetchedAt: state.readAt), links: .report, showMetadata: showMetadata)
            let text = pages.report()
            if html == "-" {
                session.print(text)
                return
            }
            // The whole file appears at once, and with its final mode from the start: 0600 when it shows contents.
            do {
                try FileReplacement.replace(html, with: Array(text.utf8), mode: showMetadata ? 0o600 : 0o644)
            } catch {
                throw CLIError.failure("could not write the report to \(error)")
            }
            session.writeError("wrote \(html): \(state.pools.count) pools at \(state.tip.short)\n")
        }
    }
}
