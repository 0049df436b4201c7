import FoundationEssentials
import StringSupport

#if canImport(Glibc)
    import Glibc
#endif
// Git's certificate verifier (swift-certificates) loads CoreFoundation, whose module then owns `struct stat`.
#if canImport(CoreFoundation)
    import CoreFoundation
#endif

/// Directories lockpool keeps state in below a shared `TMPDIR` (the cache root, the HOME it makes up), which must be
/// its own: on a shared `/tmp`, another user could otherwise pre-create them and plant a repository whose `config`
/// chooses a proxy, `objects/info/alternates`, or a symbolic link to somewhere else (security review, findings 12 and
/// 13).
public enum PrivateDirectory {
    /// Creates `path` (mode 0700; missing parents with the umask's mode) unless it exists, then checks that it is a
    /// real directory, not a symbolic link, owned by this process's effective user and not writable by group or others.
    ///
    /// - Returns: nil when `path` is such a directory, else why not (`belongs to uid 1001`).
    public static func problem(_ path: String) -> String? {
        let parent = FilePaths.parent(of: path)
        if !parent.isEmpty && access(parent, F_OK) != 0 {
            try? FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        }
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            return "cannot be created (\(String(cString: strerror(errno))))"
        }
        var status = stat()
        guard lstat(path, &status) == 0 else { return "cannot be examined (\(String(cString: strerror(errno))))" }
        switch status.st_mode & S_IFMT {
        case S_IFDIR: break
        case S_IFLNK: return "is a symbolic link"
        default: return "is not a directory"
        }
        if status.st_uid != geteuid() { return "belongs to uid \(status.st_uid), not \(geteuid())" }
        if status.st_mode & 0o022 != 0 {
            return "is writable by " + (status.st_mode & 0o002 != 0 ? "others" : "its group")
                + " (mode \(String(status.st_mode & 0o7777, radix: 8)))"
        }
        return nil
    }

    /// `path` if it is a private directory (see `problem(_:)`), else `path-<uid>` if that one is: on a shared machine
    /// every user gets a directory of their own while the usual name stays the first choice.
    ///
    /// - Throws: `LockPoolError.notPrivate` when neither is.
    public static func ensure(_ path: String) throws(LockPoolError) -> String {
        guard let problem = problem(path) else { return path }
        let own = "\(path)-\(geteuid())"
        guard let ownProblem = Self.problem(own) else { return own }
        throw .notPrivate(path: path, problem: problem, fallback: own, fallbackProblem: ownProblem)
    }
}
