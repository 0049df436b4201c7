import Foundation
import Git
import TestSupport
import Testing

/// 2026-05-02T14:00:00Z, a whole second, so it survives git's one-second resolution.
private let twoPM = Date(timeIntervalSince1970: 1_777_730_400)
private let tester = Signature(name: "Lockpool Test", email: "test@lockpool.invalid", time: twoPM, offsetMinutes: 120)

/// A bare repository made by `Repository.create` in a fresh scratch directory, with the git CLI pointed at it.
private struct BareRepository {
    let scratch: Scratch
    let repository: Repository
    let git: GitCLI

    init(label: String) throws {
        scratch = try Scratch(label: label)
        let path = scratch.url("repo.git").path
        repository = try Repository.create(at: path, bare: true)
        git = try GitCLI(scratch: scratch).inDirectory(scratch.url("repo.git"))
    }

    /// A tree from `files` (path → bytes and mode), built on the empty tree with `updatedTree`.
    func tree(_ files: [String: (bytes: String, mode: UInt32)]) throws -> ObjectID {
        let empty = try repository.createTree([])
        let updates = try files.sorted { $0.key < $1.key }.map { path, file in
            TreeUpdate.upsert(path: path, id: try repository.createBlob(Array(file.bytes.utf8)), mode: file.mode)
        }
        return try repository.updatedTree(empty, applying: updates)
    }

    /// A commit of `tree` with `parents`, made by `tester` with a message naming it.
    func commit(_ tree: ObjectID, parents: [ObjectID] = [], message: String = "commit") throws -> ObjectID {
        try repository.createCommit(tree: tree, parents: parents, message: message, author: tester, committer: tester)
    }

    /// `git ls-tree -r` of `tree` as path → "mode type".
    func listing(_ tree: ObjectID) throws -> [String: String] {
        let output = try git.output("ls-tree", "-r", "-t", tree.hex)
        var result: [String: String] = [:]
        for line in output.split(separator: "\n") {
            let parts = line.split(separator: "\t", maxSplits: 1)
            let meta = parts[0].split(separator: " ")
            result[String(parts[1])] = "\(meta[0]) \(meta[1])"
        }
        return result
    }
}

@Suite struct RepositoryOpenTests {
    @Test func openingAMissingPathIsNotFound() throws {
        let scratch = try Scratch(label: "open-missing")
        let error = try #require(throws: GitError.self) {
            try Repository.open(at: scratch.url("does-not-exist").path)
        }
        #expect(error.code == .notFound)
        #expect(error.function == "git_repository_open_ext")
        #expect(error.description.hasPrefix("git_repository_open_ext failed: "))
    }

    @Test func openingAPlainDirectoryIsNotFoundAndDoesNotSearchUpwards() throws {
        let scratch = try Scratch(label: "open-plain")
        _ = try Repository.create(at: scratch.path, bare: false)
        let inner = try scratch.directory("inner/dir")
        let error = try #require(throws: GitError.self) { try Repository.open(at: inner.path) }
        #expect(error.code == .notFound)
    }

    @Test(arguments: [true, false])
    func createdRepositoryReopens(bare: Bool) throws {
        let scratch = try Scratch(label: "create")
        let path = scratch.url("repo").path
        let created = try Repository.create(at: path, bare: bare)
        let expected = bare ? path + "/" : path + "/.git/"
        #expect(created.gitDirectory == expected)
        let reopened = try Repository.open(at: path)
        #expect(reopened.gitDirectory == expected)
        let git = try GitCLI(scratch: scratch)
        #expect(try git.output("-C", path, "rev-parse", "--is-bare-repository") == "\(bare)")
    }

    @Test func creatingOverAFileFails() throws {
        let scratch = try Scratch(label: "create-file")
        let file = try scratch.write("not a directory", to: "file")
        #expect(throws: GitError.self) { try Repository.create(at: file.path, bare: true) }
    }

    @Test func aScratchRepositoryIsBareAndWholeForGitAndLibgit2() throws {
        let scratch = try Scratch(label: "create-scratch")
        let path = scratch.url("cache").path
        let created = try Repository.createScratch(at: path)
        #expect(created.gitDirectory == path + "/")
        #expect(try created.referenceTarget("HEAD") == nil)  // unborn, as a new repository's
        // Objects and references written through libgit2 land where git looks for them.
        let blob = try created.createBlob(Array("lock\n".utf8))
        let tree = try created.createTree([(name: "lock", id: blob, mode: 0o100644)])
        let commit = try created.createCommit(
            tree: tree, parents: [], message: "scratch", author: tester, committer: tester)
        try created.setReference("refs/heads/main", to: commit)
        let reopened = try Repository.open(at: path)
        #expect(try reopened.referenceTarget("refs/heads/main") == commit)
        let git = try GitCLI(scratch: scratch).inDirectory(scratch.url("cache"))
        #expect(try git.output("rev-parse", "--is-bare-repository") == "true")
        #expect(try git.output("rev-parse", "refs/heads/main") == commit.hex)
        _ = try git.output("fsck", "--full", "--strict")
        // Only what git reads: no description, hook samples or info/exclude.
        let names = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
        #expect(names == ["HEAD", "config", "objects", "refs"])
    }

    @Test func aScratchRepositoryIsNotMadeOverAnExistingPath() throws {
        let scratch = try Scratch(label: "create-scratch-exists")
        let existing = try scratch.directory("taken")
        let error = try #require(throws: GitError.self) { try Repository.createScratch(at: existing.path) }
        #expect(error.errorClass == .os)
        #expect(error.message.contains("taken") && error.message.contains("File exists"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: existing.path).isEmpty)
    }

    @Test func referencesAreSetReadAndRemoved() throws {
        let bare = try BareRepository(label: "refs")
        let repository = bare.repository
        #expect(try repository.referenceTarget("refs/heads/master") == nil)
        let commit = try bare.commit(try bare.tree(["a": ("a", 0o100644)]))
        try repository.setReference("refs/heads/master", to: commit)
        #expect(try repository.referenceTarget("refs/heads/master") == commit)
        #expect(try bare.git.output("rev-parse", "refs/heads/master") == commit.hex)
        #expect(repository.resolveCommit("refs/heads/master") == commit)
        #expect(repository.resolveCommit(commit.short) == commit)
        #expect(repository.resolveCommit("refs/heads/none") == nil)
        #expect(repository.contains(commit))
        #expect(!repository.contains(ObjectID(hex: String(repeating: "ab", count: 20))!))
        try repository.removeReference("refs/heads/master")
        try repository.removeReference("refs/heads/master")
        #expect(try repository.referenceTarget("refs/heads/master") == nil)
    }
}

struct BlobCase: Sendable, CustomTestStringConvertible {
    let name: String
    let bytes: [UInt8]
    var testDescription: String { name }
}

@Suite struct BlobTests {
    static let cases: [BlobCase] = [
        BlobCase(name: "empty", bytes: []),
        BlobCase(name: "text with newline", bytes: Array("owner: main/deploy\n".utf8)),
        BlobCase(name: "no final newline", bytes: Array("env-1".utf8)),
        BlobCase(name: "NUL and high bytes", bytes: [0, 1, 2, 0xFF, 0xFE, 0x80, 0, 10]),
        BlobCase(name: "CRLF and non-ASCII", bytes: Array("é ✓ 日本\r\n%s %d {x}\r\n".utf8)),
        BlobCase(name: "64 KiB", bytes: (0..<65_536).map { UInt8(truncatingIfNeeded: $0 &* 31) }),
    ]

    @Test(arguments: cases)
    func blobRoundTripsAndHashesLikeGit(_ c: BlobCase) throws {
        let bare = try BareRepository(label: "blob")
        let id = try bare.repository.createBlob(c.bytes)
        #expect(try bare.repository.blob(id) == c.bytes)
        #expect(Repository.hashBlob(c.bytes) == id)
        let hashed = try bare.git.run(["hash-object", "--stdin"], stdin: Data(c.bytes)).output
        #expect(id.hex == hashed)
        let stored = try bare.git.run(["cat-file", "blob", id.hex]).stdout
        #expect(Array(stored) == c.bytes)
    }

    @Test func missingBlobIsNotFound() throws {
        let bare = try BareRepository(label: "blob-missing")
        let error = try #require(throws: GitError.self) {
            try bare.repository.blob(Repository.hashBlob(Array("never written".utf8)))
        }
        #expect(error.code == .notFound)
    }

    @Test(arguments: [
        ("0123456789abcdef0123456789abcdef01234567", true), ("0123456789ABCDEF0123456789ABCDEF01234567", true),
        ("0123456", false), ("0123456789abcdef0123456789abcdef0123456g", false), ("", false),
    ])
    func objectIDParsesOnlyFullHex(_ text: String, _ valid: Bool) {
        let id = ObjectID(hex: text)
        #expect((id != nil) == valid)
        if let id {
            #expect(id.hex == text.lowercased())
            #expect(id.short == String(text.lowercased().prefix(7)))
        }
    }
}

struct TreeUpdateCase: Sendable, CustomTestStringConvertible {
    let name: String
    /// Updates: path → new content (upsert with mode) or nil (remove).
    let updates: [(path: String, change: (bytes: String, mode: UInt32)?)]
    /// Expected `git ls-tree -r -t` listing, path → "mode type"; only the paths listed here and in the base matter.
    let expected: [String: String]
    var testDescription: String { name }
}

@Suite struct UpdatedTreeTests {
    /// The base tree every case starts from.
    static let base: [String: (bytes: String, mode: UInt32)] = [
        "README": ("readme\n", 0o100644),
        "envs/claimed/.gitkeep": ("", 0o100644),
        "envs/unclaimed/.gitkeep": ("", 0o100644),
        "envs/unclaimed/env-1": ("one\n", 0o100755),
        "envs/unclaimed/env-2": ("two\n", 0o100644),
        "tools/run.sh": ("#!/bin/sh\n", 0o100755),
    ]

    static let baseListing: [String: String] = [
        "README": "100644 blob", "envs": "040000 tree", "envs/claimed": "040000 tree",
        "envs/claimed/.gitkeep": "100644 blob", "envs/unclaimed": "040000 tree",
        "envs/unclaimed/.gitkeep": "100644 blob", "envs/unclaimed/env-1": "100755 blob",
        "envs/unclaimed/env-2": "100644 blob", "tools": "040000 tree", "tools/run.sh": "100755 blob",
    ]

    static let cases: [TreeUpdateCase] = [
        TreeUpdateCase(name: "no updates", updates: [], expected: baseListing),
        TreeUpdateCase(
            name: "add a file in an existing directory",
            updates: [("envs/unclaimed/env-3", ("three\n", 0o100644))],
            expected: baseListing.merging(["envs/unclaimed/env-3": "100644 blob"]) { $1 }),
        TreeUpdateCase(
            name: "add a file in new directories", updates: [("ops/deep/claimed/x", ("x", 0o100644))],
            expected: baseListing.merging([
                "ops": "040000 tree", "ops/deep": "040000 tree", "ops/deep/claimed": "040000 tree",
                "ops/deep/claimed/x": "100644 blob",
            ]) { $1 }),
        TreeUpdateCase(
            name: "replace content and mode", updates: [("envs/unclaimed/env-2", ("TWO\n", 0o100755))],
            expected: baseListing.merging(["envs/unclaimed/env-2": "100755 blob"]) { $1 }),
        TreeUpdateCase(
            name: "remove a file", updates: [("envs/unclaimed/env-2", nil)],
            expected: baseListing.filter { $0.key != "envs/unclaimed/env-2" }),
        TreeUpdateCase(
            name: "remove the only file of a directory drops the directory", updates: [("tools/run.sh", nil)],
            expected: baseListing.filter { !$0.key.hasPrefix("tools") }),
        TreeUpdateCase(
            name: "move an executable lock keeping its mode",
            updates: [("envs/unclaimed/env-1", nil), ("envs/claimed/env-1", ("one\n", 0o100755))],
            expected: baseListing.filter { $0.key != "envs/unclaimed/env-1" }.merging([
                "envs/claimed/env-1": "100755 blob"
            ]) { $1 }),
    ]

    @Test(arguments: cases)
    func updatedTreeKeepsOtherEntriesAndModes(_ c: TreeUpdateCase) throws {
        let bare = try BareRepository(label: "tree")
        let repository = bare.repository
        let base = try bare.tree(Self.base)
        #expect(try bare.listing(base) == Self.baseListing)
        let updates = try c.updates.map { update in
            guard let change = update.change else { return TreeUpdate.remove(path: update.path) }
            return TreeUpdate.upsert(
                path: update.path, id: try repository.createBlob(Array(change.bytes.utf8)), mode: change.mode)
        }
        let updated = try repository.updatedTree(base, applying: updates)
        #expect(try bare.listing(updated) == c.expected)
        // Untouched entries keep their exact blobs.
        let touched = Set(c.updates.map(\.path))
        for (path, file) in Self.base where !touched.contains(path) && c.expected[path] != nil {
            let entry = try #require(try repository.entry(at: path, inTree: updated))
            #expect(entry.id == Repository.hashBlob(Array(file.bytes.utf8)), "\(path)")
            #expect(entry.mode == file.mode, "\(path)")
        }
        for update in c.updates {
            let entry = try repository.entry(at: update.path, inTree: updated)
            if let change = update.change {
                #expect(entry?.id == Repository.hashBlob(Array(change.bytes.utf8)))
                #expect(entry?.mode == change.mode)
                #expect(entry?.isRegularFile == true)
            } else {
                #expect(entry == nil)
            }
        }
        #expect(try bare.git.run(["fsck", "--no-dangling"]).status == 0)
    }

    @Test func entriesAndEntryLookup() throws {
        let bare = try BareRepository(label: "entries")
        let repository = bare.repository
        let tree = try bare.tree(Self.base)
        let top = try repository.entries(ofTree: tree)
        #expect(top.map(\.name) == ["README", "envs", "tools"])
        #expect(top.map(\.kind) == [.blob, .tree, .tree])
        #expect(top.map(\.mode) == [0o100644, 0o040000, 0o040000])
        #expect(top.first?.isRegularFile == true && top.last?.isRegularFile == false)
        #expect(try repository.entry(at: "envs/unclaimed/env-9", inTree: tree) == nil)
        #expect(try repository.entry(at: "nowhere/at/all", inTree: tree) == nil)
        let directory = try #require(try repository.entry(at: "envs/unclaimed", inTree: tree))
        #expect(try repository.entries(ofTree: directory.id).map(\.name) == [".gitkeep", "env-1", "env-2"])
    }

    @Test func symlinksAndSubmodulesAreNotRegularFiles() throws {
        let bare = try BareRepository(label: "special")
        let repository = bare.repository
        let target = try repository.createBlob(Array("env-1".utf8))
        let commit = try bare.commit(try bare.tree(["x": ("x", 0o100644)]))
        let tree = try repository.createTree([
            (name: "link", id: target, mode: 0o120000), (name: "module", id: commit, mode: 0o160000),
            (name: "plain", id: target, mode: 0o100644),
        ])
        let entries = try repository.entries(ofTree: tree)
        #expect(entries.map(\.name) == ["link", "module", "plain"])
        #expect(entries.map(\.kind) == [.blob, .commit, .blob])
        #expect(entries.map(\.isRegularFile) == [false, false, true])
    }
}

@Suite struct CommitTests {
    @Test(arguments: [
        "claiming: env-1\n",
        "50% off: %s %d %n {pool} \"quoted\" #hash\n\nbody line\n",
        "ünïcödé ✓ 日本語 🔒: lock-é\n\nLock-Name: lock-é\n",
        "no final newline",
        "  leading spaces and trailing blank lines\n\n\n",
    ])
    func messageIsStoredVerbatim(_ message: String) throws {
        let bare = try BareRepository(label: "message")
        let tree = try bare.tree(["a": ("a", 0o100644)])
        let id = try bare.commit(tree, message: message)
        let commit = try bare.repository.commit(id)
        #expect(commit.message == message)
        #expect(commit.subject == String(message.prefix { $0 != "\n" }))
        let raw = try bare.git.run(["cat-file", "commit", id.hex]).stdout
        let text = String(decoding: raw, as: UTF8.self)
        #expect(text.hasSuffix("\n\n" + message))
    }

    @Test func signatureAndParentsAreReadBack() throws {
        let bare = try BareRepository(label: "signature")
        let tree = try bare.tree(["a": ("a", 0o100644)])
        let root = try bare.commit(tree)
        let author = Signature(
            name: "Ünïcode Author", email: "author@example.com", time: twoPM.addingTimeInterval(-3600),
            offsetMinutes: -330)
        let committer = Signature(
            name: "CI Pool Resource", email: "ci-pool@localhost", time: twoPM.addingTimeInterval(0.75),
            offsetMinutes: 0)
        let id = try bare.repository.createCommit(
            tree: tree, parents: [root], message: "m\n", author: author, committer: committer)
        let commit = try bare.repository.commit(id)
        #expect(commit.id == id)
        #expect(commit.tree == tree)
        #expect(commit.parents == [root])
        #expect(commit.author == author)
        // Fractions of a second are dropped.
        #expect(commit.committer == Signature(name: "CI Pool Resource", email: "ci-pool@localhost", time: twoPM))
        #expect(
            try bare.git.output("log", "-1", "--format=%an <%ae> %aI|%cn <%ce> %cI", id.hex)
                == "Ünïcode Author <author@example.com> 2026-05-02T07:30:00-05:30|CI Pool Resource <ci-pool@localhost> 2026-05-02T14:00:00+00:00"
        )
        #expect(try bare.repository.commit(root).parents.isEmpty)
        #expect(try bare.repository.treeID(ofCommit: id) == tree)
    }

    @Test func identicalInputsGiveIdenticalCommits() throws {
        // Why the nonce exists (docs/commits.md#rules): same tree, parent, message and time give the same id.
        let bare = try BareRepository(label: "identical")
        let tree = try bare.tree(["a": ("a", 0o100644)])
        #expect(try bare.commit(tree, message: "x\n") == bare.commit(tree, message: "x\n"))
        #expect(try bare.commit(tree, message: "x\n") != bare.commit(tree, message: "y\n"))
    }

    @Test func missingCommitIsNotFound() throws {
        let bare = try BareRepository(label: "commit-missing")
        let error = try #require(throws: GitError.self) {
            try bare.repository.commit(ObjectID(hex: String(repeating: "1", count: 40))!)
        }
        #expect(error.code == .notFound)
    }
}

/// A small history made with `createCommit`: main line A ← B ← M (merge of S) ← C, side line A ← S.
private struct MergeHistory {
    let bare: BareRepository
    let a: ObjectID, b: ObjectID, s: ObjectID, m: ObjectID, c: ObjectID

    init() throws {
        bare = try BareRepository(label: "history")
        let base = try bare.tree(["pool/claimed/.gitkeep": ("", 0o100644), "pool/unclaimed/x": ("x", 0o100644)])
        a = try bare.commit(base, message: "A")
        let treeB = try bare.repository.updatedTree(
            base, applying: [.upsert(path: "README", id: try bare.repository.createBlob([1]), mode: 0o100644)])
        b = try bare.commit(treeB, parents: [a], message: "B")
        let treeS = try bare.repository.updatedTree(
            base,
            applying: [.upsert(path: "pool/unclaimed/x", id: try bare.repository.createBlob([2]), mode: 0o100644)])
        s = try bare.commit(treeS, parents: [a], message: "S")
        m = try bare.commit(treeB, parents: [b, s], message: "M")
        let treeC = try bare.repository.updatedTree(
            treeB,
            applying: [
                .upsert(path: "pool/unclaimed/x", id: try bare.repository.createBlob(Array("x".utf8)), mode: 0o100755)
            ])
        c = try bare.commit(treeC, parents: [m], message: "C")
    }

    func names(_ ids: [ObjectID]) -> [String] {
        ids.map { id in [a: "A", b: "B", s: "S", m: "M", c: "C"][id] ?? id.short }
    }
}

@Suite struct HistoryTests {
    @Test func walkFirstParentsIgnoresSecondParents() throws {
        let history = try MergeHistory()
        var seen: [ObjectID] = []
        try history.bare.repository.walkFirstParents(from: history.c) { id in
            seen.append(id)
            return true
        }
        #expect(history.names(seen) == ["C", "M", "B", "A"])
        let git = try history.bare.git.output("rev-list", "--first-parent", history.c.hex)
        #expect(seen.map(\.hex) == git.split(separator: "\n").map(String.init))
    }

    @Test func walkStopsWhenTheBodySaysSo() throws {
        let history = try MergeHistory()
        var seen: [ObjectID] = []
        try history.bare.repository.walkFirstParents(from: history.c) { id in
            seen.append(id)
            return seen.count < 2
        }
        #expect(history.names(seen) == ["C", "M"])
    }

    @Test func walkRethrowsTheBodysError() throws {
        struct Stop: Error {}
        let history = try MergeHistory()
        #expect(throws: Stop.self) {
            try history.bare.repository.walkFirstParents(from: history.c) { _ in throw Stop() }
        }
    }

    @Test func firstParentCommitsTouchingAPath() throws {
        let history = try MergeHistory()
        let repository = history.bare.repository
        // C changes only the mode of x; M brings S's change in through a second parent, which does not count.
        #expect(
            history.names(try repository.firstParentCommits(touching: "pool/unclaimed/x", from: history.c))
                == ["C", "A"])
        #expect(history.names(try repository.firstParentCommits(touching: "pool", from: history.c)) == ["C", "A"])
        #expect(history.names(try repository.firstParentCommits(touching: "README", from: history.c)) == ["B"])
        #expect(
            history.names(try repository.firstParentCommits(touching: "pool/unclaimed/x", from: history.c, limit: 1))
                == ["C"])
        #expect(try repository.firstParentCommits(touching: "nothing/here", from: history.c).isEmpty)
        #expect(
            history.names(try repository.firstParentCommits(touching: "pool/unclaimed/x", from: history.s))
                == ["S", "A"])
    }

    struct DescendantCase: Sendable, CustomTestStringConvertible {
        let commit: String, ancestor: String, expected: Bool
        var testDescription: String { "\(commit) same or descendant of \(ancestor): \(expected)" }
    }

    @Test(arguments: [
        DescendantCase(commit: "C", ancestor: "C", expected: true),
        DescendantCase(commit: "C", ancestor: "A", expected: true),
        DescendantCase(commit: "C", ancestor: "S", expected: true),
        DescendantCase(commit: "M", ancestor: "B", expected: true),
        DescendantCase(commit: "A", ancestor: "C", expected: false),
        DescendantCase(commit: "B", ancestor: "S", expected: false),
        DescendantCase(commit: "S", ancestor: "B", expected: false),
    ])
    func isSameOrDescendant(_ c: DescendantCase) throws {
        let history = try MergeHistory()
        let ids = ["A": history.a, "B": history.b, "S": history.s, "M": history.m, "C": history.c]
        #expect(try history.bare.repository.isSameOrDescendant(ids[c.commit]!, of: ids[c.ancestor]!) == c.expected)
    }
}

@Suite struct TreeDifferenceTests {
    @Test func differingEntriesAreTheAddedAndChangedOnes() throws {
        let bare = try BareRepository(label: "tree-difference")
        var files: [String: (bytes: String, mode: UInt32)] = [:]
        for index in 0..<300 { files["env-\(index)"] = ("same", 0o100644) }
        files["dir/inner"] = ("x", 0o100644)
        let before = try bare.tree(files)
        files["env-7"] = ("changed", 0o100644)
        files["env-250"] = ("same", 0o100755)
        files["env-a-new"] = ("new", 0o100644)
        files["dir/inner"] = ("y", 0o100644)
        files["env-9"] = nil
        let after = try bare.tree(files)
        let changed = try bare.repository.entries(ofTree: after, differingFrom: before).map(\.name)
        #expect(changed == ["dir", "env-250", "env-7", "env-a-new"])
        #expect(try bare.repository.entries(ofTree: before, differingFrom: before).isEmpty)
        #expect(
            try bare.repository.entries(ofTree: before, differingFrom: after).map(\.name) == [
                "dir", "env-250", "env-7", "env-9",
            ])
    }
}
