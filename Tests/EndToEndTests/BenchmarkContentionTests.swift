import Foundation
import TestSupport
import Testing

/// The benchmark's contention run (`benchmarks/bench.py --only contention`) at a small size, as a correctness test:
/// workers acquire and release on a 2-lock pool over `git daemon`, then the history replay must find no double claim
/// and no lost or extra lock (the script exits 1 otherwise). Timings are for `make bench`, not asserted here.
@Suite(.enabled(if: Executables.areAvailable && ExternalTool.areAvailable("python3", "git")))
struct BenchmarkContentionTests {
    @Test func theContentionRunFindsNoDoubleClaim() throws {
        let scratch = try Scratch(label: "bench-contention")
        let executables = try Executables(scratch: scratch)
        let json = scratch.url("bench.json")
        let result = try BenchmarkScript.run(
            ["--only", "contention", "--workers", "4", "--cycles", "4", "--json", json.path],
            executables: executables, scratch: scratch)
        #expect(result.status == 0, "\(result)")
        let output = result.stdout
        #expect(output.contains("0 double claims, lost locks: none, extra locks: none"), "\(output)")
        #expect(output.contains("completed operations   32 of 32"), "\(output)")
    }
}
