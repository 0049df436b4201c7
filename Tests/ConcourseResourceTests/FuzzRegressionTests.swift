import Foundation
import Testing

/// Replays the inputs the fuzz targets found (Fuzz/Corpus/<target>/regressions/) and the seed corpora through the
/// fuzz targets' invariant checks (the FuzzInvariants+*.swift files, symlinks into Fuzz/Sources/*Invariants/).
@Suite struct FuzzRegressionTests {
    @Test(arguments: fuzzCorpus("request-decoder"))
    func requestDecoder(_ file: String) throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        #expect(RequestDecoderInvariants.check(bytes) == [], "\(file)")
    }

    @Test func corporaAreFound() {
        #expect(!fuzzCorpus("request-decoder").isEmpty)
    }
}

/// The files of Fuzz/Corpus/<target>/ and its regressions/, by path, in name order.
private func fuzzCorpus(_ target: String) -> [String] {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/Corpus/\(target)")
    return [root, root.appendingPathComponent("regressions")].flatMap { directory in
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { !$0.hasPrefix(".") && $0 != "regressions" }.sorted().map {
            directory.appendingPathComponent($0).path
        }
    }
}
