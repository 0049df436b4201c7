import Foundation
import TestSupport
import Testing

@testable import ConcourseResource

/// The files of a step directory come from task outputs, which code the pipeline does not trust may have made: a
/// symbolic link may lead anywhere inside the source directory, never out of it (security review, finding 14).
@Suite struct StepDirectoryTests {
    /// A source directory holding `outside` (a file `out` must never read) and a step directory `step`.
    func sourceDirectory(_ label: String) throws -> (scratch: Scratch, source: URL, outside: URL) {
        let scratch = try Scratch(label: label)
        let source = try scratch.directory("source")
        _ = try scratch.directory("source/step")
        _ = try scratch.write(Data("env-1\n".utf8), to: "source/other/name")
        _ = try scratch.write(Data("address: 10.0.0.1\n".utf8), to: "source/other/metadata")
        let outside = try scratch.write(Data("SECRET=hunter2\n".utf8), to: "secret-env")
        return (scratch, source, outside)
    }

    func link(_ path: URL, to destination: String) throws {
        guard symlink(destination, path.path) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
    }

    @Test func linksInsideTheSourceDirectoryAreRead() throws {
        let (scratch, source, _) = try sourceDirectory("step-inside")
        defer { withExtendedLifetime(scratch) {} }
        try link(source.appendingPathComponent("step/name"), to: "../other/name")
        try link(
            source.appendingPathComponent("step/metadata"), to: source.appendingPathComponent("other/metadata").path)
        let step = StepDirectory(source.path, "step")
        #expect(try step.name() == "env-1")
        #expect(try step.metadata() == Array("address: 10.0.0.1\n".utf8))
        // A linked step directory inside the source directory is fine too.
        try link(source.appendingPathComponent("alias"), to: "other")
        #expect(try StepDirectory(source.path, "alias").name() == "env-1")
    }

    @Test func linksOutOfTheSourceDirectoryAreRefused() throws {
        let (scratch, source, outside) = try sourceDirectory("step-outside")
        try link(source.appendingPathComponent("step/metadata"), to: outside.path)
        try link(source.appendingPathComponent("step/name"), to: "../../secret-env")
        try link(source.appendingPathComponent("step/claim_ref"), to: "/proc/self/environ")
        let step = StepDirectory(source.path, "step")
        let leaving = "is a symbolic link that leads out of the source directory; copy the file"
        for (file, read) in [
            ("metadata", { _ = try step.metadata() }), ("name", { _ = try step.name() }),
            ("claim_ref", { _ = try step.claimRef() }),
        ] as [(String, () throws -> Void)] {
            #expect {
                try read()
            } throws: { error in
                let text = String(describing: error)
                return text.contains("\(source.path)/step/\(file) \(leaving)") && !text.contains("hunter2")
            }
        }
        // A step directory that is itself a link out of the source directory.
        let elsewhere = try scratch.directory("elsewhere")
        _ = try scratch.write(Data("env-9\n".utf8), to: "elsewhere/name")
        try link(source.appendingPathComponent("escape"), to: elsewhere.path)
        #expect(throws: (any Error).self) { try StepDirectory(source.path, "escape").name() }
    }
}
