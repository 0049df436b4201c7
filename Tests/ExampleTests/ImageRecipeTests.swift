import Foundation
import Testing

/// The Dockerfile, assets/image-rootfs.sh (which builds and measures the same image without Docker) and the staged
/// layout the end-to-end tests run against must describe one image.
@Suite struct ImageRecipeTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static func text(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    /// The Dockerfile's instructions, continuation lines joined.
    static func dockerfile() throws -> [String] {
        try text("Dockerfile").replacing("\\\n", with: " ").split(separator: "\n").map(String.init)
            .filter { !$0.hasPrefix("#") && !$0.trimmingCharacters(in: .whitespaces).isEmpty }
    }

    /// The packages of the runtime stage's `apt-get install`.
    static func runtimePackages() throws -> Set<String> {
        let lines = try dockerfile()
        let runtime = try #require(lines.lastIndex { $0.hasPrefix("FROM ") })
        let install = try #require(lines[runtime...].first { $0.contains("apt-get install") })
        let words = install.split(separator: " ").map(String.init)
        let start = try #require(words.firstIndex(of: "install")) + 1
        return Set(words[start...].prefix { $0 != "&&" }.filter { !$0.hasPrefix("-") })
    }

    @Test func rootfsScriptInstallsTheDockerfilesPackages() throws {
        let script = try Self.text("assets/image-rootfs.sh")
        let line = try #require(script.split(separator: "\n").first { $0.hasPrefix("packages=") })
        let listed = Set(
            line.dropFirst("packages=".count).trimmingCharacters(in: ["\""]).split(separator: " ").map(String.init))
        let installed = try Self.runtimePackages()
        #expect(listed == installed)
        #expect(installed.contains("libgit2-1.5"), "the runtime needs the libgit2 the build links (Debian 12's 1.5)")
        #expect(installed.contains("ca-certificates"))
    }

    @Test func bothBuildOnBookworm() throws {
        let lines = try Self.dockerfile()
        let arguments = lines.filter { $0.hasPrefix("ARG ") }
        #expect(arguments.contains("ARG RUNTIME_IMAGE=debian:bookworm-slim"))
        #expect(arguments.contains { $0.hasPrefix("ARG SWIFT_IMAGE=swift:") && $0.hasSuffix("-bookworm") })
        let script = try Self.text("assets/image-rootfs.sh")
        #expect(script.contains("--variant=minbase") && script.contains(" bookworm \"$1\""))
    }

    /// What the image gets is assets/stage.sh's layout, the one `make test-staged` runs the resource suites against.
    @Test func theImageIsTheStagedLayout() throws {
        let lines = try Self.dockerfile()
        #expect(lines.contains { $0.hasPrefix("RUN make stage DESTDIR=/staging") })
        #expect(lines.contains("COPY --from=build /staging/ /"))
        let makefile = try Self.text("Makefile")
        #expect(makefile.contains("assets/stage.sh \"$(DESTDIR)\""))
        #expect(makefile.contains("assets/stage.sh \"$(STAGE_DIR)\""))
        #expect(try Self.text("assets/image-rootfs.sh").contains("assets/stage.sh\" \"$rootfs\""))
    }
}
