import Foundation
import TestSupport
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
