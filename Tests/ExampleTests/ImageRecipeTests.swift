import ArgumentParser
import Foundation
import LockPoolCLI
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
        // libgit2 is linked into the executables; Kerberos' GSSAPI library, which it calls, is only shared
        // (docs/decisions/0013-cold-process.md).
        #expect(!installed.contains { $0.hasPrefix("libgit2") }, "\(installed)")
        #expect(installed.contains("libgssapi-krb5-2"))
        #expect(installed.contains("ca-certificates"))
        #expect(installed.contains("openssh-client"), "the ssh transport runs OpenSSH's ssh")
    }

    @Test func bothBuildOnBookworm() throws {
        let lines = try Self.dockerfile()
        let arguments = lines.filter { $0.hasPrefix("ARG ") }
        #expect(arguments.contains("ARG RUNTIME_IMAGE=debian:bookworm-slim"))
        #expect(arguments.contains { $0.hasPrefix("ARG SWIFT_IMAGE=swift:") && $0.hasSuffix("-bookworm") })
        let script = try Self.text("assets/image-rootfs.sh")
        #expect(script.contains("--variant=minbase") && script.contains(" bookworm \"$1\""))
    }

    /// libgit2 1.8 is only in bookworm-backports: the build takes libgit2-dev (and the static archive it links) from
    /// it (docs/decisions/0004-libgit2-version.md); the runtime stages and the rootfs script need nothing from it, since
    /// libgit2 is linked in (docs/decisions/0013-cold-process.md).
    @Test func onlyTheBuildTakesLibgit2FromBookwormBackports() throws {
        let lines = try Self.dockerfile()
        let backports = "deb http://deb.debian.org/debian bookworm-backports main"
        let stages = lines.enumerated().filter { $0.element.hasPrefix("FROM ") }.map(\.offset)
        // The build, the dashboard's build (FROM build: nothing to install), the dashboard image, the resource image.
        #expect(stages.count == 4)
        for (index, start) in stages.enumerated() where !lines[start].hasPrefix("FROM build ") {
            let end = index + 1 < stages.count ? stages[index + 1] : lines.count
            let install = lines[start..<end].first { $0.contains("apt-get install") }
            let isBuild = index == 0
            #expect(install?.contains(backports) == isBuild, "stage \(index + 1): \(install ?? "no apt-get install")")
        }
        #expect(lines.contains { $0.contains("libgit2-dev/bookworm-backports") })
        let script = try Self.text("assets/image-rootfs.sh")
        #expect(!script.contains("bookworm-backports"))
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

    /// The page `make manual` writes (swift-argument-parser's generate-manual plugin).
    static let manual = root.appendingPathComponent(".build-man/lockpool.1")

    /// The image ships lockpool(1): the build stage makes it before staging, and stage.sh installs it.
    @Test func theImageShipsTheManPage() throws {
        let lines = try Self.dockerfile()
        let manual = try #require(lines.firstIndex(of: "RUN make manual"))
        let stage = try #require(lines.firstIndex { $0.hasPrefix("RUN make stage DESTDIR=/staging") })
        #expect(manual < stage, "the page must exist when stage.sh runs")
        let makefile = try Self.text("Makefile")
        #expect(makefile.contains("plugin generate-manual"))
        #expect(makefile.contains("MANUAL_DIR ?= $(CURDIR)/.build-man"))
        let stageScript = try Self.text("assets/stage.sh")
        #expect(stageScript.contains("manual=\"${MANUAL:-$root/.build-man/lockpool.1}\""))
        #expect(stageScript.contains("\"$destination/usr/local/share/man/man1/lockpool.1\""))
    }

    /// The generated page renders, and documents every subcommand `lockpool` has.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: manual.path), "make manual writes .build-man/lockpool.1"))
    func theManPageRendersEverySubcommand() throws {
        let groff = try #require(
            ["/usr/bin/groff", "/bin/groff"].first { FileManager.default.isExecutableFile(atPath: $0) },
            "groff (groff-base) renders the page")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: groff)
        process.arguments = ["-mandoc", "-Tutf8", "-P-cbou", Self.manual.path]
        process.environment = ["PATH": "/usr/bin:/bin", "LC_ALL": "C"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let page = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(page.contains("LOCKPOOL(1)"))
        #expect(page.contains("\nNAME\n") && page.contains("lockpool — Git-backed lock pools"))
        let names = LockPoolCommand.configuration.subcommands.map { $0._commandName }
        #expect(names.count >= 14, "init, status, acquire, claim, release, … run-step")
        for name in names {
            // Each subcommand is an item of the page's list: its name first on a line indented by 5 (the list's tag).
            let item = page.split(separator: "\n").contains {
                $0.prefix { $0 == " " }.count == 5 && $0.split(separator: " ").first == Substring(name)
            }
            #expect(item, "\(name) is not an item of the page")
        }
    }
}
