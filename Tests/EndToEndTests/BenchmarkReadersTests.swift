import Foundation
import TestSupport
import Testing

/// The benchmark's history readers (`benchmarks/bench.py --only readers`) at a small size, as a correctness test: on
/// a generated week of claims and releases, `stats` must count every operation, `history` list every event and
/// `report` write the pool's page (the script exits 1 otherwise). Timings are for `make bench`, not asserted here.
@Suite(.enabled(if: Executables.areAvailable && ExternalTool.areAvailable("python3", "git")))
struct BenchmarkReadersTests {
    @Test func theReadersAgreeOnABusyWeek() throws {
        let scratch = try Scratch(label: "bench-readers")
        let executables = try Executables(scratch: scratch)
        let json = scratch.url("bench.json")
        let result = try BenchmarkScript.run(
            ["--only", "readers", "--readers-commits", "300", "--readers-runs", "1", "--json", json.path],
            executables: executables, scratch: scratch, timeout: .seconds(300))
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.contains("History readers over a busy week: 300 commits in 7 days"), "\(result)")
        let document = try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: Any]
        let readers = (document?["sections"] as? [String: Any])?["readers"] as? [String: Any]
        let medians = try #require(readers?["median_ms"] as? [String: Double])
        #expect(Set(medians.keys) == ["stats", "history", "report", "git log"])
        #expect(medians.values.allSatisfy { $0 > 0 })
    }
}
