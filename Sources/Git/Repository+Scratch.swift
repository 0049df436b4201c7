import Glibc

extension Repository {
    /// Creates an empty bare repository at `path` with only what git and libgit2 read: `HEAD`, a `config` saying it
    /// is bare, `objects/{info,pack}` and `refs/{heads,tags}`; then opens it (`git_repository_open_ext`). For lockpool's
    /// own caches, where nobody reads a description or hook samples.
    ///
    /// `git_repository_init` also writes `description`, `hooks/README.sample` and `info/exclude`, rewrites `config`
    /// three times through a lock file, probes the file system for symbolic links and reads the global configuration:
    /// about 170 system calls and 0.8 ms, where this takes 0.15 ms of a cold `out` that costs 11 ms in all
    /// (docs/decisions/0013-cold-process.md). `git fsck` accepts the result.
    ///
    /// - Parameter path: a directory that does not exist yet; its parent must.
    /// - Throws: `GitError` (class `.os`) when a directory or file cannot be made, or the one `open` throws.
    public static func createScratch(at path: String) throws -> Repository {
        for directory in ["", "/objects", "/objects/info", "/objects/pack", "/refs", "/refs/heads", "/refs/tags"] {
            guard mkdir(path + directory, 0o755) == 0 else {
                throw GitError(
                    code: .generic, errorClass: .os, function: "mkdir",
                    message: "could not create \(path + directory): \(String(cString: strerror(errno)))")
            }
        }
        try CacheFile.write(Array("[core]\n\trepositoryformatversion = 0\n\tbare = true\n".utf8), to: path + "/config")
        // Written last: a directory without HEAD is no repository, so a process killed before here leaves one that
        // fails to open and is made again.
        try CacheFile.write(Array("ref: refs/heads/master\n".utf8), to: path + "/HEAD")
        return try open(at: path)
    }
}
