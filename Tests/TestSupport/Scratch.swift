import Foundation

/// A unique temporary directory for one test, removed when the last reference goes away.
///
/// Set `LOCKPOOL_KEEP_SCRATCH` to a non-empty value other than `0` to keep every scratch directory for inspection; its
/// path is then printed on stderr. Create one per test (`let scratch = try Scratch()`) and keep it alive for the
/// whole test, since everything the test creates (repositories, clones, `TMPDIR`, step directories) lives inside it.
public final class Scratch: Sendable {
    /// The directory, an absolute path with symbolic links resolved.
    public let url: URL
    /// Whether the directory survives the end of the test.
    public let isKept: Bool

    /// The directory as a file-system path.
    public var path: String { url.path }

    /// Creates a fresh directory under the system temporary directory.
    ///
    /// - Parameter label: a short word included in the directory name, e.g. the test name.
    /// - Throws: the file-system error when the directory cannot be created.
    public init(label: String = "test", keep: Bool = Scratch.keepRequested) throws {
        let base = URL(fileURLWithPath: NSTemporaryDirectory(), isDirectory: true)
        let safeLabel = String(label.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "-" }.prefix(40))
        let name = "lockpool-\(safeLabel)-\(UUID().uuidString.prefix(8).lowercased())"
        let created = base.appendingPathComponent(name, isDirectory: true)
        try FileManager.default.createDirectory(at: created, withIntermediateDirectories: true)
        // /tmp may be a symbolic link (macOS: /private/tmp); git prints resolved paths, so compare against those.
        self.url = created.resolvingSymlinksInPath()
        self.isKept = keep
        if keep {
            FileHandle.standardError.write(Data("scratch directory kept: \(url.path)\n".utf8))
        }
    }

    deinit {
        guard !isKept else { return }
        try? FileManager.default.removeItem(at: url)
    }

    /// Whether `LOCKPOOL_KEEP_SCRATCH` asks to keep scratch directories.
    public static var keepRequested: Bool {
        let value = ProcessInfo.processInfo.environment["LOCKPOOL_KEEP_SCRATCH"] ?? ""
        return !value.isEmpty && value != "0" && value.lowercased() != "false"
    }

    /// The URL of `relativePath` inside the scratch directory; nothing is created.
    public func url(_ relativePath: String) -> URL {
        url.appendingPathComponent(relativePath)
    }

    /// Creates (if needed) and returns the directory `relativePath` inside the scratch directory.
    ///
    /// - Throws: the file-system error when the directory cannot be created.
    @discardableResult
    public func directory(_ relativePath: String) throws -> URL {
        let directory = url.appendingPathComponent(relativePath, isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// A new, empty directory inside the scratch directory with a unique name starting with `prefix`.
    ///
    /// - Throws: the file-system error when the directory cannot be created.
    public func uniqueDirectory(_ prefix: String = "dir") throws -> URL {
        try directory("\(prefix)-\(UUID().uuidString.prefix(8).lowercased())")
    }

    /// Writes `contents` to `relativePath` inside the scratch directory, creating parent directories.
    ///
    /// - Returns: the file's URL.
    /// - Throws: the file-system error when the file cannot be written.
    @discardableResult
    public func write(_ contents: Data, to relativePath: String) throws -> URL {
        let file = url.appendingPathComponent(relativePath)
        try FileManager.default.createDirectory(
            at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try contents.write(to: file)
        return file
    }

    /// Writes the UTF-8 bytes of `contents` to `relativePath` inside the scratch directory.
    ///
    /// - Returns: the file's URL.
    /// - Throws: the file-system error when the file cannot be written.
    @discardableResult
    public func write(_ contents: String, to relativePath: String) throws -> URL {
        try write(Data(contents.utf8), to: relativePath)
    }

    /// An empty file inside the scratch directory, for `GIT_CONFIG_GLOBAL` and `GIT_CONFIG_SYSTEM`.
    ///
    /// - Throws: the file-system error when the file cannot be written.
    public func emptyGitConfig() throws -> URL {
        let file = url.appendingPathComponent(".empty-gitconfig")
        if !FileManager.default.fileExists(atPath: file.path) {
            try Data().write(to: file)
        }
        return file
    }

    /// The per-test `TMPDIR` handed to the executables under test (created if needed).
    ///
    /// - Throws: the file-system error when the directory cannot be created.
    public func temporaryDirectory() throws -> URL {
        try directory("tmp")
    }
}
