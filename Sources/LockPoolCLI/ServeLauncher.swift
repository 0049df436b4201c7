import ArgumentParser
import FoundationEssentials
import StringSupport

#if canImport(Glibc)
    import Glibc
#endif

/// `lockpool serve`: runs the `lockpool-serve` executable with the same arguments. The server is a program of its own
/// so that `lockpool` (and the resource image, where it is `/opt/resource/check`, `in` and `out`) carries no HTTP
/// server (docs/decisions/0012-dashboard.md).
struct ServeLauncherCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a read-only web dashboard, JSON API and /metrics of the pools.",
        discussion: """
            Runs lockpool-serve, found next to lockpool or on PATH, with these arguments: `lockpool serve --help` \
            lists its options (--listen, --refresh, --show-metadata, --allow-remote and the connection options).
            """)

    @Argument(parsing: .captureForPassthrough, help: "lockpool-serve's options.") var arguments: [String] = []

    func run() throws {
        let name = "lockpool-serve"
        let argv = [name] + arguments
        if let own = Self.ownPath() {
            let path = FilePaths.join(FilePaths.parent(of: own), name)
            if access(path, X_OK) == 0 { Self.exec(path, argv, search: false) }
        }
        Self.exec(name, argv, search: true)
        throw CLIError.failure(
            "lockpool serve runs \(name), which is neither next to lockpool nor on PATH: build it with "
                + "`swift build -c release --product \(name)` (or `make release`) and install it beside lockpool")
    }

    /// The path of this executable (`/proc/self/exe`).
    private static func ownPath() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Replaces this process with `path`; returns only when that fails.
    private static func exec(_ path: String, _ argv: [String], search: Bool) {
        var cArguments = argv.map { strdup($0) }
        cArguments.append(nil)
        defer { cArguments.forEach { free($0) } }
        _ = search ? execvp(path, &cArguments) : execv(path, &cArguments)
    }
}
