import Foundation

/// `benchmarks/bench.py` run on the executables under test, for the tests that run one of its sections at a small size
/// as a correctness test (the script checks its own outcomes and exits 1 on a problem).
public enum BenchmarkScript {
    /// The script, beside `Tests/` in the source tree.
    public static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("benchmarks/bench.py").path

    /// Runs `bench.py <executables' directory> arguments…` with a home and a `TMPDIR` of `scratch`, whatever its exit
    /// status.
    ///
    /// - Throws: `ChildProcessError` when python3 cannot be started or the script runs longer than `timeout`.
    public static func run(
        _ arguments: [String], executables: Executables, scratch: Scratch, timeout: Duration = .seconds(600)
    ) throws -> ToolResult {
        try ExternalTool.result(
            "python3", [path, executables.binDirectory.path] + arguments,
            environment: ExternalTool.baseEnvironment(home: try scratch.directory("home")).merging(
                ["TMPDIR": try scratch.directory("tmp").path]) { $1 },
            timeout: timeout)
    }
}
