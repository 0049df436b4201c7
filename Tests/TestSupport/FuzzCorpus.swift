import Foundation

/// The files of `Fuzz/Corpus/<target>/` and its `regressions/`, by path, in name order: the seed corpora and the inputs
/// the fuzz targets found, which the fuzz regression tests replay through the targets' invariant checks.
public func fuzzCorpus(_ target: String) -> [String] {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/Corpus/\(target)")
    return [root, root.appendingPathComponent("regressions")].flatMap { directory in
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { !$0.hasPrefix(".") && $0 != "regressions" }.sorted().map {
            directory.appendingPathComponent($0).path
        }
    }
}
