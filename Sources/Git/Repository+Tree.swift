import CLibgit2
import Glibc

/// One entry of a tree: a name, the object it points at, and its file mode.
public struct TreeEntry: Sendable, Hashable {
    /// The kind of object an entry names.
    public enum Kind: Sendable, Hashable { case blob, tree, commit, other }

    public let name: String
    public let id: ObjectID
    /// The git file mode, e.g. `0o100644`, `0o100755`, `0o120000` (symlink), `0o040000` (tree), `0o160000` (submodule).
    public let mode: UInt32
    public let kind: Kind

    /// Whether the entry is a regular file (mode 100644 or 100755), not a symlink or submodule.
    public var isRegularFile: Bool { kind == .blob && (mode == 0o100644 || mode == 0o100755) }
}

/// A change to apply to a tree: write a blob at a path, or remove the path.
public enum TreeUpdate: Sendable, Hashable {
    /// Writes the blob `id` at `path` (slash-separated) with `mode`, creating directories as needed.
    case upsert(path: String, id: ObjectID, mode: UInt32)
    /// Removes the entry at `path`.
    case remove(path: String)
}

extension Repository {
    /// The tree id of a commit. Calls `git_commit_lookup`.
    ///
    /// - Throws: `GitError`.
    public func treeID(ofCommit commit: ObjectID) throws -> ObjectID {
        var oid = commit.oid
        var raw: OpaquePointer?
        try check(git_commit_lookup(&raw, pointer, &oid), "git_commit_lookup")
        defer { git_commit_free(raw) }
        return ObjectID(git_commit_tree_id(raw))
    }

    /// The entry at `path` (slash-separated) below the tree `tree`, or nil when there is none.
    /// Calls `git_tree_entry_bypath`.
    ///
    /// - Throws: `GitError` for anything but a missing path.
    public func entry(at path: String, inTree tree: ObjectID) throws -> TreeEntry? {
        var oid = tree.oid
        var raw: OpaquePointer?
        try check(git_tree_lookup(&raw, pointer, &oid), "git_tree_lookup")
        defer { git_tree_free(raw) }
        var entry: OpaquePointer?
        let status = git_tree_entry_bypath(&entry, raw, path)
        if status == GIT_ENOTFOUND.rawValue { return nil }
        try check(status, "git_tree_entry_bypath")
        defer { git_tree_entry_free(entry) }
        return Self.treeEntry(entry!)
    }

    /// The entries of the tree `tree`, in git's order. Calls `git_tree_lookup`.
    ///
    /// - Throws: `GitError`.
    public func entries(ofTree tree: ObjectID) throws -> [TreeEntry] {
        var oid = tree.oid
        var raw: OpaquePointer?
        try check(git_tree_lookup(&raw, pointer, &oid), "git_tree_lookup")
        defer { git_tree_free(raw) }
        let count = git_tree_entrycount(raw)
        var result: [TreeEntry] = []
        result.reserveCapacity(count)
        for index in 0..<count {
            guard let entry = git_tree_entry_byindex(raw, index) else { continue }
            result.append(Self.treeEntry(entry))
        }
        return result
    }

    /// The entries of `tree` that `other` does not have with the same name, id and mode: added or changed ones, in
    /// git's order. A merge walk over both trees in libgit2's order, so the names of equal entries (nearly all, when
    /// one lock of a large pool moved) are never copied. Calls `git_tree_lookup` and `git_tree_entry_cmp`.
    ///
    /// - Throws: `GitError`.
    public func entries(ofTree tree: ObjectID, differingFrom other: ObjectID) throws -> [TreeEntry] {
        var mineOID = tree.oid
        var theirsOID = other.oid
        var mine: OpaquePointer?
        try check(git_tree_lookup(&mine, pointer, &mineOID), "git_tree_lookup")
        defer { git_tree_free(mine) }
        var theirs: OpaquePointer?
        try check(git_tree_lookup(&theirs, pointer, &theirsOID), "git_tree_lookup")
        defer { git_tree_free(theirs) }
        let (mineCount, theirsCount) = (git_tree_entrycount(mine), git_tree_entrycount(theirs))
        var result: [TreeEntry] = []
        var (index, otherIndex) = (0, 0)
        while index < mineCount {
            guard let entry = git_tree_entry_byindex(mine, index) else { break }
            guard otherIndex < theirsCount, let known = git_tree_entry_byindex(theirs, otherIndex) else {
                result.append(Self.treeEntry(entry))
                index += 1
                continue
            }
            let order = git_tree_entry_cmp(entry, known)
            if order > 0 {
                otherIndex += 1
                continue
            }
            if order < 0 || git_oid_equal(git_tree_entry_id(entry), git_tree_entry_id(known)) == 0
                || git_tree_entry_filemode(entry) != git_tree_entry_filemode(known)
            {
                result.append(Self.treeEntry(entry))
            }
            index += 1
            if order == 0 { otherIndex += 1 }
        }
        return result
    }

    /// A new tree: `base` with `updates` applied, written to the object database. Calls `git_tree_create_updated`.
    ///
    /// - Throws: `GitError`.
    public func updatedTree(_ base: ObjectID, applying updates: [TreeUpdate]) throws -> ObjectID {
        var baseOID = base.oid
        var baseTree: OpaquePointer?
        try check(git_tree_lookup(&baseTree, pointer, &baseOID), "git_tree_lookup")
        defer { git_tree_free(baseTree) }
        // The C paths must outlive the call: duplicate them and free afterwards.
        var cPaths: [UnsafeMutablePointer<CChar>] = []
        defer { cPaths.forEach { free($0) } }
        var cUpdates: [git_tree_update] = []
        for update in updates {
            var item = git_tree_update()
            switch update {
            case .upsert(let path, let id, let mode):
                let cPath = strdup(path)!
                cPaths.append(cPath)
                item.action = GIT_TREE_UPDATE_UPSERT
                item.id = id.oid
                item.filemode = git_filemode_t(rawValue: mode)
                item.path = UnsafePointer(cPath)
            case .remove(let path):
                let cPath = strdup(path)!
                cPaths.append(cPath)
                item.action = GIT_TREE_UPDATE_REMOVE
                item.path = UnsafePointer(cPath)
            }
            cUpdates.append(item)
        }
        var out = git_oid()
        try check(
            git_tree_create_updated(&out, pointer, baseTree, cUpdates.count, &cUpdates), "git_tree_create_updated")
        return ObjectID(out)
    }

    /// Writes a tree holding exactly `entries`. Calls `git_treebuilder_new`.
    ///
    /// - Throws: `GitError`.
    public func createTree(_ entries: [(name: String, id: ObjectID, mode: UInt32)]) throws -> ObjectID {
        var builder: OpaquePointer?
        try check(git_treebuilder_new(&builder, pointer, nil), "git_treebuilder_new")
        defer { git_treebuilder_free(builder) }
        for entry in entries {
            var oid = entry.id.oid
            try check(
                git_treebuilder_insert(nil, builder, entry.name, &oid, git_filemode_t(rawValue: entry.mode)),
                "git_treebuilder_insert")
        }
        var out = git_oid()
        try check(git_treebuilder_write(&out, builder), "git_treebuilder_write")
        return ObjectID(out)
    }

    static func treeEntry(_ entry: OpaquePointer) -> TreeEntry {
        let kind: TreeEntry.Kind =
            switch git_tree_entry_type(entry) {
            case GIT_OBJECT_BLOB: .blob
            case GIT_OBJECT_TREE: .tree
            case GIT_OBJECT_COMMIT: .commit
            default: .other
            }
        return TreeEntry(
            name: String(cString: git_tree_entry_name(entry)),
            id: ObjectID(git_tree_entry_id(entry)),
            mode: git_tree_entry_filemode_raw(entry).rawValue,
            kind: kind)
    }
}
