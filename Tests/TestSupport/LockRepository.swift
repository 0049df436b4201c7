import Foundation

/// One lock of a fixture pool: its state and the bytes of its file.
public struct LockSeed: Sendable, Hashable {
    /// Whether the lock starts in `claimed/`.
    public var isClaimed: Bool
    /// The lock file's content (its metadata).
    public var content: String

    /// Creates a seed.
    public init(claimed: Bool, content: String = "") {
        self.isClaimed = claimed
        self.content = content
    }

    /// An unclaimed lock with `content`.
    public static func unclaimed(_ content: String = "") -> LockSeed { LockSeed(claimed: false, content: content) }
    /// A claimed lock with `content`.
    public static func claimed(_ content: String = "") -> LockSeed { LockSeed(claimed: true, content: content) }
}

/// A commit on the lock branch, as `git log` reports it.
public struct LockCommit: Sendable, Hashable, CustomStringConvertible {
    /// The full lower-case commit id.
    public let id: String
    /// The parent ids, first parent first.
    public let parents: [String]
    /// The subject line.
    public let subject: String
    /// The whole message (`%B`).
    public let message: String
    /// Author name and email.
    public let authorName: String, authorEmail: String
    /// Committer name and email.
    public let committerName: String, committerEmail: String
    /// Committer date, strict ISO 8601 (`%cI`).
    public let committerDate: String

    /// The `Key: value` lines of the message's last paragraph, in order (keys as written).
    public var trailers: [(key: String, value: String)] {
        let paragraphs = message.trimmingCharacters(in: .whitespacesAndNewlines).components(separatedBy: "\n\n")
        guard paragraphs.count > 1, let last = paragraphs.last else { return [] }
        return last.split(separator: "\n").compactMap { line in
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else { return nil }
            let key = line[..<colon]
            guard key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else { return nil }
            return (String(key), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
    }

    /// The value of trailer `key` (compared case-insensitively), if present.
    public func trailer(_ key: String) -> String? {
        trailers.first { $0.key.lowercased() == key.lowercased() }?.value
    }

    /// The abbreviated id (first 7 hex digits).
    public var shortID: String { String(id.prefix(7)) }

    public var description: String { "\(shortID) \(subject)" }
}

/// The locks of one pool at one commit.
public struct PoolLocks: Sendable, Hashable, CustomStringConvertible {
    /// Whether `<pool>/claimed` or `<pool>/unclaimed` exists.
    public var exists: Bool
    /// Names of claimed locks, sorted; names starting with `.` are left out.
    public var claimed: [String]
    /// Names of unclaimed locks, sorted; names starting with `.` are left out.
    public var unclaimed: [String]

    /// Creates a listing.
    public init(exists: Bool = true, claimed: [String], unclaimed: [String]) {
        self.exists = exists
        self.claimed = claimed.sorted()
        self.unclaimed = unclaimed.sorted()
    }

    /// Every lock name in either state, sorted, each once.
    public var all: [String] { Set(claimed + unclaimed).sorted() }

    public var description: String {
        exists ? "claimed: \(claimed), unclaimed: \(unclaimed)" : "pool missing"
    }
}

/// A problem found by `LockRepository.replay()`.
public struct ReplayIssue: Sendable, Hashable, CustomStringConvertible {
    /// What kind of problem.
    public enum Kind: String, Sendable, Hashable {
        /// A commit claimed a lock that its first parent already had claimed.
        case doubleClaim = "double claim"
        /// A commit put a lock in both `claimed/` and `unclaimed/` (reported once, where it starts).
        case duplicated = "duplicated"
        /// A commit deleted a lock without a `removing` subject or `Lock-Operation: remove` trailer.
        case lost = "lost"
        /// A commit created a lock without an adding/updating subject or trailer.
        case appeared = "appeared"
    }

    /// The kind of problem.
    public let kind: Kind
    /// The commit showing it.
    public let commit: String
    /// The pool and lock concerned.
    public let pool: String, lock: String

    public var description: String { "\(kind.rawValue): \(pool)/\(lock) in \(commit.prefix(7))" }
}

/// The result of replaying the branch's first-parent history.
public struct ReplayReport: Sendable, CustomStringConvertible {
    /// The commits replayed, oldest first.
    public let commits: [LockCommit]
    /// Every problem found, in history order.
    public let issues: [ReplayIssue]
    /// Each pool's locks at the tip (pools found anywhere in history).
    public let finalState: [String: PoolLocks]
    /// How many commits claimed each lock (`"pool/lock"` → count): a move from unclaimed to claimed or an add of a
    /// claimed lock.
    public let claimCounts: [String: Int]
    /// How many commits released each lock (`"pool/lock"` → count): a move from claimed to unclaimed.
    public let releaseCounts: [String: Int]

    /// Issues of one kind.
    public func issues(_ kind: ReplayIssue.Kind) -> [ReplayIssue] { issues.filter { $0.kind == kind } }
    /// Double claims found.
    public var doubleClaims: [ReplayIssue] { issues(.doubleClaim) }
    /// Locks found in both states.
    public var duplicated: [ReplayIssue] { issues(.duplicated) }
    /// Locks that disappeared without a remove.
    public var lost: [ReplayIssue] { issues(.lost) }
    /// Whether no problem was found.
    public var isConsistent: Bool { issues.isEmpty }

    public var description: String {
        var lines = ["\(commits.count) commits, \(issues.count) issues"]
        lines += issues.map { "  \($0)" }
        lines += finalState.sorted { $0.key < $1.key }.map { "  \($0.key): \($0.value)" }
        return lines.joined(separator: "\n")
    }
}

/// A bare lock repository ("origin") in a scratch directory, built and inspected with the git CLI.
///
/// The repository is only changed through temporary work clones and `git push`, as a real client would.
public struct LockRepository: Sendable {
    /// The bare repository.
    public let url: URL
    /// The branch holding the pools.
    public let branch: String
    /// The git runner (working directory: the bare repository).
    public let git: GitCLI
    /// Where temporary work clones go.
    let workRoot: URL

    /// The bare repository's path.
    public var path: String { url.path }
    /// The `file://` URL of the bare repository.
    public var fileURL: String { "file://" + url.path }

    /// Creates a bare repository `name` in `scratch` whose `branch` holds `pools`.
    ///
    /// Each pool gets `claimed/.gitkeep` and `unclaimed/.gitkeep` and its locks, all in one root commit
    /// (`seed pools`) made through a work clone and pushed. With no pools the branch still gets a root commit
    /// (`README`). `HEAD` of the bare repository names `branch`.
    ///
    /// - Parameters:
    ///   - scratch: the test's scratch directory.
    ///   - name: the directory name of the bare repository, e.g. `origin.git`.
    ///   - branch: any branch name, e.g. `master` or `feature/locks`.
    ///   - pools: pool → lock → seed.
    /// - Throws: `GitCLIError` or a file-system error.
    public static func create(
        in scratch: Scratch, name: String = "origin.git", branch: String = "master",
        pools: [String: [String: LockSeed]]
    ) throws -> LockRepository {
        let git = try GitCLI(scratch: scratch)
        let url = scratch.url.appendingPathComponent(name, isDirectory: true)
        try git.run(["init", "--quiet", "--bare", "--initial-branch=\(branch)", url.path])
        let repository = LockRepository(
            url: url, branch: branch, git: git.inDirectory(url),
            workRoot: try scratch.directory("work-clones"))
        let work = try scratch.uniqueDirectory("seed")
        let workGit = git.inDirectory(work)
        try workGit.run(["init", "--quiet", "--initial-branch=\(branch)"])
        try "lock repository for lockpool tests\n".write(
            to: work.appendingPathComponent("README"), atomically: true, encoding: .utf8)
        for (pool, locks) in pools {
            try writePool(pool, locks: locks, in: work)
        }
        try workGit.run(["add", "--all"])
        try workGit.run(["commit", "--quiet", "-m", "seed pools"])
        try workGit.run(["push", "--quiet", url.path, "HEAD:refs/heads/\(branch)"])
        try? FileManager.default.removeItem(at: work)
        return repository
    }

    /// Convenience form taking `(claimed:content:)` tuples.
    ///
    /// Disfavoured so that literals such as `["envs": [:]]` pick the `LockSeed` form instead of being ambiguous.
    ///
    /// - Throws: `GitCLIError` or a file-system error.
    @_disfavoredOverload
    public static func create(
        in scratch: Scratch, name: String = "origin.git", branch: String = "master",
        pools: [String: [String: (claimed: Bool, content: String)]]
    ) throws -> LockRepository {
        try create(
            in: scratch, name: name, branch: branch,
            pools: pools.mapValues { $0.mapValues { LockSeed(claimed: $0.claimed, content: $0.content) } })
    }

    static func writePool(_ pool: String, locks: [String: LockSeed], in work: URL) throws {
        let fileManager = FileManager.default
        for state in ["claimed", "unclaimed"] {
            let directory = work.appendingPathComponent(pool).appendingPathComponent(state)
            try fileManager.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data().write(to: directory.appendingPathComponent(".gitkeep"))
        }
        for (lock, seed) in locks {
            let file = work.appendingPathComponent(pool).appendingPathComponent(
                seed.isClaimed ? "claimed" : "unclaimed"
            )
            .appendingPathComponent(lock)
            try Data(seed.content.utf8).write(to: file)
        }
    }

    // MARK: Reading

    /// The id of the branch tip (or of `ref`).
    ///
    /// - Throws: `GitCLIError` when the ref does not resolve.
    public func commitID(_ ref: String? = nil) throws -> String {
        try git.output("rev-parse", "--verify", "--quiet", "\(ref ?? branch)^{commit}")
    }

    /// The branch's first-parent history, newest first (as `git log`).
    ///
    /// - Parameters:
    ///   - ref: where to start; the branch when `nil`.
    ///   - paths: when given, only commits touching these paths (e.g. a pool directory).
    /// - Throws: `GitCLIError`.
    public func history(from ref: String? = nil, paths: [String] = []) throws -> [LockCommit] {
        let fields = ["%H", "%P", "%an", "%ae", "%cn", "%ce", "%cI", "%s", "%B"].joined(separator: "%x1f")
        var arguments = ["log", "--first-parent", "--format=%x1e\(fields)", ref ?? branch]
        if !paths.isEmpty { arguments += ["--"] + paths }
        let text = String(decoding: try git.run(arguments).stdout, as: UTF8.self)
        return text.split(separator: "\u{1e}").compactMap { Self.parseCommit(Substring($0)) }
    }

    /// `git log --first-parent --format=FORMAT` lines of the branch, newest first.
    ///
    /// - Throws: `GitCLIError`.
    public func log(format: String, from ref: String? = nil, paths: [String] = []) throws -> [String] {
        var arguments = ["log", "--first-parent", "--format=\(format)", ref ?? branch]
        if !paths.isEmpty { arguments += ["--"] + paths }
        let output = try git.run(arguments).output
        return output.isEmpty ? [] : output.components(separatedBy: "\n")
    }

    /// The commit `ref` (default: the tip).
    ///
    /// - Throws: `GitCLIError`.
    public func commit(_ ref: String? = nil) throws -> LockCommit {
        let fields = ["%H", "%P", "%an", "%ae", "%cn", "%ce", "%cI", "%s", "%B"].joined(separator: "%x1f")
        let text = String(
            decoding: try git.run(["log", "-1", "--format=\(fields)", ref ?? branch]).stdout, as: UTF8.self)
        guard let commit = Self.parseCommit(Substring(text)) else {
            throw GitCLIError(
                arguments: ["log", "-1", ref ?? branch], directory: path, status: 0, stdout: text,
                stderr: "unparsable commit")
        }
        return commit
    }

    static func parseCommit(_ record: Substring) -> LockCommit? {
        let fields = record.split(separator: "\u{1f}", maxSplits: 8, omittingEmptySubsequences: false)
        guard fields.count == 9 else { return nil }
        var message = String(fields[8])
        while message.hasSuffix("\n") { message.removeLast() }
        return LockCommit(
            id: String(fields[0]).trimmingCharacters(in: .whitespacesAndNewlines),
            parents: fields[1].split(separator: " ").map(String.init),
            subject: String(fields[7]), message: message, authorName: String(fields[2]),
            authorEmail: String(fields[3]), committerName: String(fields[4]), committerEmail: String(fields[5]),
            committerDate: String(fields[6]))
    }

    /// The locks of `pool` at `ref` (default: the tip). Dot names (`.gitkeep`) and subdirectories are left out.
    ///
    /// - Throws: `GitCLIError`.
    public func locks(in pool: String, at ref: String? = nil) throws -> PoolLocks {
        let entries = try treeEntries(at: ref ?? branch, under: pool)
        var exists = false
        var claimed: [String] = []
        var unclaimed: [String] = []
        for entry in entries {
            let relative = entry.path.dropFirst(pool.count + 1)
            let parts = relative.split(separator: "/", omittingEmptySubsequences: false)
            guard let state = parts.first, state == "claimed" || state == "unclaimed" else { continue }
            exists = true
            guard parts.count == 2, entry.type == "blob", !parts[1].hasPrefix("."),
                entry.mode == "100644" || entry.mode == "100755"
            else { continue }
            if state == "claimed" { claimed.append(String(parts[1])) } else { unclaimed.append(String(parts[1])) }
        }
        return PoolLocks(exists: exists, claimed: claimed, unclaimed: unclaimed)
    }

    struct TreeEntry: Hashable {
        let mode: String, type: String, object: String, path: String
    }

    /// The names of the files directly in `directory` (e.g. `envs/waiting`) at `ref` (default: the branch tip).
    ///
    /// - Throws: `GitError` when `git ls-tree` fails.
    public func fileNames(in directory: String, at ref: String? = nil) throws -> [String] {
        try treeEntries(at: ref ?? branch, under: directory).map { String($0.path.dropFirst(directory.count + 1)) }
            .filter { !$0.contains("/") }
    }

    /// Recursive tree entries (blobs, links, submodules) at `ref`, optionally below `directory`.
    func treeEntries(at ref: String, under directory: String? = nil) throws -> [TreeEntry] {
        var arguments = ["ls-tree", "-r", "-z", "--full-tree", ref]
        if let directory { arguments += ["--", directory + "/"] }
        let data = try git.run(arguments).stdout
        return data.split(separator: 0).compactMap { raw in
            let line = String(decoding: raw, as: UTF8.self)
            guard let tab = line.firstIndex(of: "\t") else { return nil }
            let meta = line[..<tab].split(separator: " ")
            guard meta.count == 3 else { return nil }
            return TreeEntry(
                mode: String(meta[0]), type: String(meta[1]), object: String(meta[2]),
                path: String(line[line.index(after: tab)...]))
        }
    }

    /// The bytes of `path` at `ref` (default: the tip), or `nil` when there is no such file.
    ///
    /// - Throws: `GitCLIError` when `ref` does not resolve.
    public func file(_ path: String, at ref: String? = nil) throws -> Data? {
        let revision = ref ?? branch
        _ = try commitID(revision)
        let result = try git.result(["cat-file", "blob", "\(revision):\(path)"])
        return result.status == 0 ? result.stdout : nil
    }

    /// The file mode of `path` at `ref` (`100644`, `100755`, …), or `nil` when absent.
    ///
    /// - Throws: `GitCLIError`.
    public func mode(of path: String, at ref: String? = nil) throws -> String? {
        try treeEntries(at: ref ?? branch).first { $0.path == path }?.mode
    }

    /// Whether `ancestor` is reachable from `descendant` (default: the tip).
    ///
    /// - Throws: `GitCLIError` when a ref does not resolve.
    public func isAncestor(_ ancestor: String, of descendant: String? = nil) throws -> Bool {
        try git.result(["merge-base", "--is-ancestor", ancestor, descendant ?? branch]).status == 0
    }

    // MARK: Writing by hand

    /// Makes one commit on the branch through a fresh work clone and pushes it.
    ///
    /// - Parameters:
    ///   - message: the full commit message.
    ///   - change: edits the work tree (its root is the argument); every change is committed (`git add --all`).
    /// - Returns: the new commit's id.
    /// - Throws: `GitCLIError`, a file-system error, or what `change` throws.
    @discardableResult
    public func commit(message: String, allowEmpty: Bool = false, _ change: (URL) throws -> Void) throws -> String {
        let work = workRoot.appendingPathComponent("work-\(UUID().uuidString.prefix(8))", isDirectory: true)
        defer { try? FileManager.default.removeItem(at: work) }
        try git.run(["clone", "--quiet", "--branch", branch, path, work.path])
        try change(work)
        let workGit = git.inDirectory(work)
        try workGit.run(["add", "--all"])
        try workGit.run(["commit", "--quiet", "-m", message] + (allowEmpty ? ["--allow-empty"] : []))
        try workGit.run(["push", "--quiet", "origin", "HEAD:refs/heads/\(branch)"])
        return try workGit.output("rev-parse", "HEAD")
    }

    /// Moves `lock` of `pool` to claimed (`toClaimed`) or unclaimed with `git mv`, in one pushed commit.
    ///
    /// - Parameter message: the commit message; defaults to `claiming: L` or `unclaiming: L`.
    /// - Returns: the new commit's id.
    /// - Throws: `GitCLIError` (also when the lock is not in the other state).
    @discardableResult
    public func moveLock(_ lock: String, in pool: String, toClaimed: Bool, message: String? = nil) throws -> String {
        let from = "\(pool)/\(toClaimed ? "unclaimed" : "claimed")/\(lock)"
        let to = "\(pool)/\(toClaimed ? "claimed" : "unclaimed")/\(lock)"
        let workGit = git
        return try commit(message: message ?? "\(toClaimed ? "claiming" : "unclaiming"): \(lock)") { work in
            try workGit.inDirectory(work).run(["mv", from, to])
        }
    }

    /// Writes `content` to `path` (relative to the repository root) in one pushed commit.
    ///
    /// - Returns: the new commit's id.
    /// - Throws: `GitCLIError` or a file-system error.
    @discardableResult
    public func writeFile(_ path: String, content: Data, message: String? = nil) throws -> String {
        try commit(message: message ?? "add \(path)") { work in
            let file = work.appendingPathComponent(path)
            try FileManager.default.createDirectory(
                at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try content.write(to: file)
        }
    }

    /// Writes the UTF-8 `content` to `path` in one pushed commit.
    ///
    /// - Returns: the new commit's id.
    /// - Throws: `GitCLIError` or a file-system error.
    @discardableResult
    public func writeFile(_ path: String, content: String, message: String? = nil) throws -> String {
        try writeFile(path, content: Data(content.utf8), message: message)
    }

    /// Deletes `path` (a file or directory) in one pushed commit.
    ///
    /// - Returns: the new commit's id.
    /// - Throws: `GitCLIError`.
    @discardableResult
    public func deletePath(_ path: String, message: String? = nil) throws -> String {
        let workGit = git
        return try commit(message: message ?? "remove \(path)") { work in
            try workGit.inDirectory(work).run(["rm", "-r", "--quiet", path])
        }
    }

    /// Adds a pool (both `.gitkeep` files and `locks`) in one pushed commit.
    ///
    /// - Returns: the new commit's id.
    /// - Throws: `GitCLIError` or a file-system error.
    @discardableResult
    public func addPool(_ pool: String, locks: [String: LockSeed] = [:], message: String? = nil) throws -> String {
        try commit(message: message ?? "add pool \(pool)") { work in
            try Self.writePool(pool, locks: locks, in: work)
        }
    }

    // MARK: Replay

    /// Replays the branch's first-parent history oldest → newest and reports what went wrong.
    ///
    /// Per commit, against its first parent: a lock whose `claimed/` entry is added or modified while the parent
    /// already had it claimed, or whose subject is `…claiming: L` / trailer `Lock-Operation: acquire|claim` while the
    /// parent had it claimed, is a **double claim**; a lock in both states is **duplicated**; a lock that vanishes
    /// from both states without a `removing` subject or `remove` operation is **lost**; one that appears without an
    /// adding/updating subject or operation (or in the root commit) is **appeared**. Pools are discovered from the
    /// trees, so hand-made pools count too.
    ///
    /// - Throws: `GitCLIError`.
    public func replay(from ref: String? = nil) throws -> ReplayReport {
        let commits = Array(try history(from: ref).reversed())
        var issues: [ReplayIssue] = []
        var claimCounts: [String: Int] = [:]
        var releaseCounts: [String: Int] = [:]
        var previous: [String: PoolState] = [:]
        for (index, commit) in commits.enumerated() {
            let current = try poolStates(at: commit.id)
            let operation = commit.trailer("Lock-Operation")?.lowercased()
            let subject = commit.subject
            for (pool, state) in current {
                let before = previous[pool] ?? PoolState()
                let duplicatedBefore = Set(before.claimed.keys).intersection(before.unclaimed.keys)
                for lock in Set(state.claimed.keys).intersection(state.unclaimed.keys).subtracting(duplicatedBefore)
                    .sorted()
                {
                    issues.append(ReplayIssue(kind: .duplicated, commit: commit.id, pool: pool, lock: lock))
                }
                for (lock, blob) in state.claimed.sorted(by: { $0.key < $1.key }) {
                    let key = "\(pool)/\(lock)"
                    if let old = before.claimed[lock] {
                        let namedClaim =
                            (subject.hasSuffix("claiming: \(lock)") && !subject.hasSuffix("unclaiming: \(lock)"))
                            || ((operation == "acquire" || operation == "claim")
                                && commit.trailer("Lock-Name") == lock && commit.trailer("Lock-Pool") == pool)
                        if old != blob || namedClaim {
                            issues.append(ReplayIssue(kind: .doubleClaim, commit: commit.id, pool: pool, lock: lock))
                        }
                    } else {
                        claimCounts[key, default: 0] += index == 0 ? 0 : 1
                    }
                }
                for lock in state.unclaimed.keys where before.claimed[lock] != nil && state.claimed[lock] == nil {
                    releaseCounts["\(pool)/\(lock)", default: 0] += 1
                }
                let appeared = state.all.subtracting(before.all)
                let adding =
                    ["add", "add_claimed", "update"].contains(operation ?? "")
                    || subject.contains("adding ") || subject.contains("updating: ")
                if index > 0 {
                    for lock in appeared.sorted() where !adding && !(previous[pool] == nil) {
                        issues.append(ReplayIssue(kind: .appeared, commit: commit.id, pool: pool, lock: lock))
                    }
                }
            }
            for (pool, before) in previous {
                let after = current[pool] ?? PoolState()
                let removing = operation == "remove" || commit.subject.contains("removing: ")
                for lock in before.all.subtracting(after.all).sorted() where !removing {
                    issues.append(ReplayIssue(kind: .lost, commit: commit.id, pool: pool, lock: lock))
                }
            }
            previous = current
        }
        var finalState: [String: PoolLocks] = [:]
        for (pool, state) in previous {
            finalState[pool] = PoolLocks(
                exists: true, claimed: Array(state.claimed.keys), unclaimed: Array(state.unclaimed.keys))
        }
        return ReplayReport(
            commits: commits, issues: issues, finalState: finalState, claimCounts: claimCounts,
            releaseCounts: releaseCounts)
    }

    /// Lock name → blob id, per state.
    struct PoolState {
        var claimed: [String: String] = [:]
        var unclaimed: [String: String] = [:]
        var all: Set<String> { Set(claimed.keys).union(unclaimed.keys) }
    }

    /// Every pool at `commit` (a directory holding `claimed/` or `unclaimed/`) with its locks.
    func poolStates(at commit: String) throws -> [String: PoolState] {
        var pools: [String: PoolState] = [:]
        for entry in try treeEntries(at: commit) {
            let components = entry.path.split(separator: "/").map(String.init)
            guard components.count >= 3 else { continue }
            let state = components[components.count - 2]
            guard state == "claimed" || state == "unclaimed" else { continue }
            let pool = components.dropLast(2).joined(separator: "/")
            let lock = components[components.count - 1]
            var poolState = pools[pool] ?? PoolState()
            if !lock.hasPrefix("."), entry.type == "blob", entry.mode != "120000" {
                if state == "claimed" {
                    poolState.claimed[lock] = entry.object
                } else {
                    poolState.unclaimed[lock] = entry.object
                }
            }
            pools[pool] = poolState
        }
        return pools
    }
}
