import ArgumentParser
import ConcourseResource
import LockPoolCLI
import Logging

/// `lockpool`: parses argv and runs the subcommand. Installed also as `/opt/resource/check`, `in` and `out` (links to
/// this one binary, see `assets/stage.sh`): called by one of those names, it is that resource step, exactly as the
/// separate `check`, `in` and `out` executables are.
@main enum EntryPoint {
    static func main() async {
        // Once per process, before either path: log lines go to stderr (stdout carries only results).
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        let name = CommandLine.arguments.first?.split(separator: "/").last.map(String.init) ?? ""
        if let step = ResourceMain.Step(rawValue: name) { await ResourceMain.main(step) }
        await LockPoolCommand.run(Array(CommandLine.arguments.dropFirst()))
    }
}
