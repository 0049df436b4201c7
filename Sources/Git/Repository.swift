import CLibgit2

/// An open repository. Not `Sendable`: libgit2 objects are used from one thread at a time.
public final class Repository {
    let pointer: OpaquePointer  // owned

    private init(owning pointer: OpaquePointer) { self.pointer = pointer }
    deinit { git_repository_free(pointer) }

    /// Opens the repository at `path` (bare, or a work tree's `.git`). Calls `git_repository_open_ext`.
    ///
    /// - Throws: `GitError` (`.notFound` when there is no repository there).
    public static func open(at path: String) throws -> Repository {
        Libgit2.initializeOnce()
        var raw: OpaquePointer?
        try check(
            git_repository_open_ext(&raw, path, GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue, nil),
            "git_repository_open_ext")
        return Repository(owning: raw!)
    }

    /// Creates (or reopens) a repository at `path`. Calls `git_repository_init`.
    ///
    /// - Parameters:
    ///   - path: the directory; created if missing.
    ///   - bare: whether to create a bare repository.
    /// - Throws: `GitError`.
    public static func create(at path: String, bare: Bool) throws -> Repository {
        Libgit2.initializeOnce()
        var raw: OpaquePointer?
        try check(git_repository_init(&raw, path, bare ? 1 : 0), "git_repository_init")
        return Repository(owning: raw!)
    }

    /// The path of the repository's git directory. Calls `git_repository_path`.
    public var gitDirectory: String { String(cString: git_repository_path(pointer)) }

    // MARK: References

    /// The commit a reference points at (peeled), or nil when the reference does not exist.
    /// Calls `git_reference_name_to_id`.
    ///
    /// - Throws: `GitError` for anything but a missing reference.
    public func referenceTarget(_ name: String) throws -> ObjectID? {
        var oid = git_oid()
        let status = git_reference_name_to_id(&oid, pointer, name)
        if status == GIT_ENOTFOUND.rawValue { return nil }
        try check(status, "git_reference_name_to_id")
        return ObjectID(oid)
    }

    /// Points `name` at `target`, creating or overwriting it. Calls `git_reference_create`.
    ///
    /// - Throws: `GitError`.
    public func setReference(_ name: String, to target: ObjectID, message: String = "lockpool") throws {
        var oid = target.oid
        var ref: OpaquePointer?
        try check(git_reference_create(&ref, pointer, name, &oid, 1, message), "git_reference_create")
        git_reference_free(ref)
    }

    /// Deletes `name` if it exists. Calls `git_reference_remove`.
    ///
    /// - Throws: `GitError`.
    public func removeReference(_ name: String) throws {
        let status = git_reference_remove(pointer, name)
        if status == GIT_ENOTFOUND.rawValue { return }
        try check(status, "git_reference_remove")
    }

    /// Points HEAD at `reference` (e.g. `refs/heads/master`), which need not exist yet.
    /// Calls `git_repository_set_head`.
    ///
    /// - Throws: `GitError`.
    public func setHead(_ reference: String) throws {
        try check(git_repository_set_head(pointer, reference), "git_repository_set_head")
    }

    /// Resolves a revision expression (a full or abbreviated id, a ref name) to a commit id, or nil.
    /// Calls `git_revparse_single` and `git_object_peel`.
    public func resolveCommit(_ revision: String) -> ObjectID? {
        var object: OpaquePointer?
        guard git_revparse_single(&object, pointer, revision) == 0, let object else { return nil }
        defer { git_object_free(object) }
        var commit: OpaquePointer?
        guard git_object_peel(&commit, object, GIT_OBJECT_COMMIT) == 0, let commit else { return nil }
        defer { git_object_free(commit) }
        return ObjectID(git_object_id(commit))
    }

    /// Whether an object with this id exists in the object database. Calls `git_odb_exists`.
    public func contains(_ id: ObjectID) -> Bool {
        var odb: OpaquePointer?
        guard git_repository_odb(&odb, pointer) == 0, let odb else { return false }
        defer { git_odb_free(odb) }
        var oid = id.oid
        return git_odb_exists(odb, &oid) == 1
    }

    // MARK: Blobs

    /// The bytes of a blob. Calls `git_blob_lookup`.
    ///
    /// - Throws: `GitError`.
    public func blob(_ id: ObjectID) throws -> [UInt8] {
        var oid = id.oid
        var blob: OpaquePointer?
        try check(git_blob_lookup(&blob, pointer, &oid), "git_blob_lookup")
        defer { git_blob_free(blob) }
        let size = Int(git_blob_rawsize(blob))
        guard size > 0, let raw = git_blob_rawcontent(blob) else { return [] }
        return Array(UnsafeRawBufferPointer(start: raw, count: size))
    }

    /// Writes `bytes` as a blob. Calls `git_blob_create_from_buffer`.
    ///
    /// - Throws: `GitError`.
    public func createBlob(_ bytes: [UInt8]) throws -> ObjectID {
        var oid = git_oid()
        _ = try bytes.withUnsafeBytes { buffer in
            try check(
                git_blob_create_from_buffer(&oid, pointer, buffer.baseAddress, buffer.count),
                "git_blob_create_from_buffer")
        }
        return ObjectID(oid)
    }

    /// The id git gives `bytes` as a blob, without writing it. Calls `git_odb_hash`.
    public static func hashBlob(_ bytes: [UInt8]) -> ObjectID {
        Libgit2.initializeOnce()
        var oid = git_oid()
        bytes.withUnsafeBytes { buffer in _ = git_odb_hash(&oid, buffer.baseAddress, buffer.count, GIT_OBJECT_BLOB) }
        return ObjectID(oid)
    }
}
