import ArgumentParser
import ConcourseResource

/// The resource steps `run-step` can run.
enum StepName: String, ExpressibleByArgument, CaseIterable, Sendable {
    case check, `in`, out
}

struct RunStepCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run-step",
        abstract: "Run a resource step (check, in, out) locally, exactly as Concourse runs it.",
        discussion: """
            The request JSON is read from stdin; the step's JSON goes to stdout and its log to stderr, and the exit \
            status is the step's (0 or 1). DIR is in's destination or out's source directory; set BUILD_TEAM_NAME, \
            BUILD_PIPELINE_NAME, BUILD_JOB_NAME, BUILD_NAME (and ATC_EXTERNAL_URL) to stand for a build.

            Example: lockpool run-step out ./build < put.json
            """)

    @Argument(help: "check, in or out.") var step: StepName
    @Argument(help: "in: the destination; out: the build's source directory; check: unused.", completion: .directory)
    var directory: String?

    func validate() throws {
        if step != .check && directory == nil {
            throw ValidationError("\(step.rawValue) needs a directory: lockpool run-step \(step.rawValue) DIR")
        }
    }

    func run() async throws {
        let resourceStep: ResourceMain.Step =
            switch step {
            case .check: .check
            case .in: .in
            case .out: .out
            }
        let status = await ResourceMain.run(
            resourceStep, arguments: [step.rawValue] + (directory.map { [$0] } ?? []))
        if status != 0 { throw ExitCode(status) }
    }
}
