import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Writes a whole file so that a reader sees the old file or the new one, never half of it, and never with more
/// permission than `mode`: the bytes go to a new file beside it, made with `mode` from the start, which is then renamed
/// over `path`.
public enum FileReplacement {
    /// Why a file could not be written: the path and `strerror`'s text.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// Replaces `path` with `bytes`, mode `mode` (0600 for a file that may hold secrets).
    ///
    /// - Throws: `Failure` when the file cannot be made, written or renamed; `path` is then unchanged.
    public static func replace(_ path: String, with bytes: [UInt8], mode: mode_t) throws(Failure) {
        let temporary = "\(path).\(getpid()).tmp"
        unlink(temporary)
        do {
            let file = try FileDescriptor.open(
                FilePath(temporary), .writeOnly, options: [.create, .exclusiveCreate, .closeOnExec],
                permissions: FilePermissions(rawValue: mode))
            try file.closeAfter {
                _ = try file.writeAll(bytes)
                // The mode asked for, whatever the umask took away.
                fchmod(file.rawValue, mode)
            }
        } catch {
            unlink(temporary)
            throw Failure(path: path, reason: "\(error)")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw Failure(path: path, reason: reason)
        }
    }
}
