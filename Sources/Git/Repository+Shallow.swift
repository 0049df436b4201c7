import CLibgit2
import FoundationEssentials
import Glibc
import StringSupport

/// History that stops short of the root: the commit where a walk met the boundary of a shallow repository, whose
/// parents were not fetched (docs/concurrency.md#a-shallow-cache). Whoever holds the repository can fetch deeper and ask
/// again; nothing may be concluded from the history below `commit`.
public struct HistoryTruncated: Error, Sendable, CustomStringConvertible {
    /// The shallow root the walk reached.
    public let commit: ObjectID

    public var description: String { "the fetched history ends at \(commit.short); a deeper fetch is needed" }
}

extension Repository {
    /// The file git and libgit2 keep the shallow roots in: one commit id per line.
    private var shallowFile: String { FilePaths.join(gitDirectory, "shallow") }

    /// The commits whose parents this repository does not have (empty for a full repository).
    ///
    /// Read from `$GIT_DIR/shallow` directly: libgit2 1.8 has no public call that lists them.
    public var shallowRoots: Set<ObjectID> {
        guard let bytes = FileManager.default.contents(atPath: shallowFile) else { return [] }
        let lines = String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline)
        return Set(lines.compactMap { ObjectID(hex: String($0)) })
    }

    /// Whether any reference exists (HEAD aside): a fetch into a repository without one has no `have` to offer. Calls
    /// `git_reference_iterator_new`.
    var hasReferences: Bool {
        var iterator: OpaquePointer?
        guard git_reference_iterator_new(&iterator, pointer) == 0 else { return true }
        defer { git_reference_iterator_free(iterator) }
        var reference: OpaquePointer?
        let status = git_reference_next(&reference, iterator)
        git_reference_free(reference)
        return status != GIT_ITEROVER.rawValue
    }

    /// Whether some history is missing below the fetched commits. Calls `git_repository_is_shallow`.
    public var isShallow: Bool { git_repository_is_shallow(pointer) == 1 }

    /// Writes `roots` as the shallow roots (removes the file when empty), through a temporary file and a rename.
    func writeShallowRoots(_ roots: Set<ObjectID>) throws {
        guard !roots.isEmpty else {
            unlink(shallowFile)
            return
        }
        let text = roots.map(\.hex).sorted().joined(separator: "\n") + "\n"
        let temporary = shallowFile + ".lockpool"
        guard (try? CacheFile.write(Array(text.utf8), to: temporary)) != nil, rename(temporary, shallowFile) == 0 else {
            unlink(temporary)
            throw GitError(
                code: .generic, errorClass: .os, function: "rename",
                message: "could not write \(shallowFile): \(String(cString: strerror(errno)))")
        }
    }

    /// Runs a fetch that must keep the repository's shallow roots. libgit2 1.8.4 replaces `$GIT_DIR/shallow` with the
    /// roots the server announced during this fetch, and a fetch without `depth` announces none, so every earlier root
    /// would be forgotten and the missing parents would read as a damaged object store
    /// (docs/decisions/0009-shallow-cache.md). The roots before and after are merged. libgit2 keeps the roots it wrote
    /// in memory, so a repository object that fetched new commits must be opened again before its history is walked.
    func keepingShallowRoots<T>(_ fetch: () throws -> T) throws -> T {
        let before = shallowRoots
        let result = try fetch()
        guard !before.isEmpty else { return result }
        let after = shallowRoots
        let merged = before.union(after)
        if merged != after { try writeShallowRoots(merged) }
        return result
    }
}
