import Foundation

/// Planted secrets and every place one could end up (docs/transports.md#secrets): process output, the lock repository's
/// objects and history, and the files below the directories a run may write to. `leaks()` names each secret found
/// somewhere.
public struct SecretScan: Sendable {
    /// Each planted value and what it is (for the failure message only).
    public private(set) var planted: [(what: String, value: String)] = []
    /// Each searched text and where it came from.
    public private(set) var haystacks: [(place: String, text: String)] = []

    public init() {}

    /// Plants `value` (described as `what`): it must appear nowhere searched.
    public mutating func plant(_ what: String, _ value: String) {
        planted.append((what, value))
    }

    /// Adds a finished run's stdout and stderr, labelled `label`.
    public mutating func record(_ label: String, _ result: ExecutableResult) {
        haystacks.append(("stdout of \(label)", result.stdoutText))
        haystacks.append(("stderr of \(label)", result.stderr))
    }

    /// Adds any text, labelled `place`.
    public mutating func add(_ place: String, _ text: String) {
        haystacks.append((place, text))
    }

    /// Adds every object of `repository` (commits, trees, blobs of the whole history) and its patch log.
    ///
    /// - Throws: `GitCLIError`.
    public mutating func addRepository(_ repository: LockRepository) throws {
        let objects = try repository.git.result(
            ["cat-file", "--batch-all-objects", "--batch"], in: repository.url, timeout: .seconds(30))
        haystacks.append(
            ("objects of \(repository.url.lastPathComponent)", String(decoding: objects.stdout, as: UTF8.self)))
        let log = try repository.git.result(["log", "--all", "-p", "--format=%H%n%B"], in: repository.url)
        haystacks.append(("log of \(repository.url.lastPathComponent)", String(decoding: log.stdout, as: UTF8.self)))
    }

    /// Adds the name and content of every file below `directory` (git objects are compressed: their repository is
    /// searched with `addRepository` or, for a cache, with `addGitDirectories(below:)`).
    public mutating func addFiles(below directory: URL) {
        haystacks += Self.filesBelow(directory)
    }

    /// Adds every object of each git directory (bare or `.git`) below `directory`: caches and `in` destinations.
    public mutating func addGitDirectories(below directory: URL) {
        for gitDirectory in Self.gitDirectories(below: directory) {
            let result = try? ExternalTool.result(
                "git", ["--git-dir", gitDirectory.path, "cat-file", "--batch-all-objects", "--batch"],
                environment: ExternalTool.baseEnvironment())
            haystacks.append(("objects of \(gitDirectory.path)", result?.stdout ?? ""))
        }
    }

    /// The planted secrets found, as `the <what> appears in <place>` lines.
    public func leaks() -> [String] {
        var found: [String] = []
        for (what, value) in planted where !value.isEmpty {
            for (place, text) in haystacks where text.contains(value) {
                found.append("the \(what) appears in \(place)")
            }
        }
        return found
    }

    /// Every file below `directory` (names and contents).
    public static func filesBelow(_ directory: URL) -> [(place: String, text: String)] {
        var result: [(String, String)] = []
        guard let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil) else {
            return result
        }
        for case let url as URL in walker {
            result.append(("file name \(url.path)", url.path))
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue,
                let data = FileManager.default.contents(atPath: url.path)
            else { continue }
            result.append(("file \(url.path)", String(decoding: data, as: UTF8.self)))
        }
        return result
    }

    /// The git directories below `directory`: bare repositories (`HEAD` and `objects/`) and `.git` directories.
    public static func gitDirectories(below directory: URL) -> [URL] {
        var found: [URL] = []
        guard let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil) else {
            return found
        }
        for case let url as URL in walker {
            let manager = FileManager.default
            if manager.fileExists(atPath: url.appendingPathComponent("HEAD").path),
                manager.fileExists(atPath: url.appendingPathComponent("objects").path)
            {
                found.append(url)
                walker.skipDescendants()
            }
        }
        return found
    }

    /// Files and directories below `directory` that are group- or world-writable, or (for files named in
    /// `privateNames`, such as `*.lock`) readable by others, as `path mode` lines. Symbolic links are skipped.
    public static func unsafePermissions(below directory: URL, privateSuffixes: [String] = [".lock"]) -> [String] {
        var found: [String] = []
        guard let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil) else {
            return found
        }
        for case let url as URL in walker {
            var info = stat()
            guard lstat(url.path, &info) == 0, info.st_mode & S_IFMT != S_IFLNK else { continue }
            let mode = info.st_mode & 0o7777
            let isPrivate = privateSuffixes.contains { url.lastPathComponent.hasSuffix($0) }
            if mode & 0o022 != 0 || (isPrivate && info.st_mode & S_IFMT == S_IFREG && mode & 0o077 != 0) {
                found.append("\(url.path) \(String(mode, radix: 8))")
            }
        }
        return found
    }
}
