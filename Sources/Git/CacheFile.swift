import SystemPackage

/// Small files of a repository that lockpool writes itself (`objects/info/alternates`, `shallow`), written with one
/// `open` and one `write`, without `fsync`.
///
/// FoundationEssentials' `FileManager.createFile` writes through a temporary file and `fsync`s it: on ext4 that was about
/// 1 ms of a 15 ms cold `out` on a local repository (docs/decisions/0013-cold-process.md). A cache is rebuilt from its
/// remote when damaged, so durability buys nothing here; where a reader must never see half a file, the caller writes a
/// temporary name and renames it.
enum CacheFile {
    /// Creates or truncates `path` and writes `bytes` to it, mode 0644 before the umask.
    ///
    /// - Throws: `GitError` (class `.os`) naming the path and the system's reason.
    static func write(_ bytes: [UInt8], to path: String) throws {
        do {
            let file = try FileDescriptor.open(
                FilePath(path), .writeOnly, options: [.create, .truncate, .closeOnExec],
                permissions: [.ownerReadWrite, .groupRead, .otherRead])
            try file.closeAfter { _ = try file.writeAll(bytes) }
        } catch {
            throw GitError(
                code: .generic, errorClass: .os, function: "write", message: "could not write \(path): \(error)")
        }
    }
}
