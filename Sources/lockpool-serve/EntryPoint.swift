import ArgumentParser
import DashboardServer
import Logging

/// `lockpool serve`: a program of its own, so that the resource's binary carries no HTTP server
/// (docs/decisions/0012-dashboard.md). `lockpool serve …` runs it.
@main enum EntryPoint {
    static func main() async {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        await ServeCommand.main()
    }
}
