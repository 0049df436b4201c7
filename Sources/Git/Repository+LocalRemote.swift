import CLibgit2
import FoundationEssentials
import StringSupport

extension Repository {
    /// Copies `commit` (with the first-parent commits before it that `destination` lacks) and every tree and blob it
    /// needs that `destination` lacks into `destination`'s object
    /// database. Trees already present there are not descended into, and an entry equal to the same entry of the
    /// first parent's tree (when the destination has that parent) is skipped without a lookup, so a lock change in a
    /// pool of 10,000 locks copies a handful of objects and asks about a handful. Calls `git_odb_read` and
    /// `git_odb_write`.
    ///
    /// - Throws: `GitError`.
    public func copyObjects(of commit: ObjectID, to destination: Repository) throws {
        var sourceODB: OpaquePointer?
        try check(git_repository_odb(&sourceODB, pointer), "git_repository_odb")
        defer { git_odb_free(sourceODB) }
        var destinationODB: OpaquePointer?
        try check(git_repository_odb(&destinationODB, destination.pointer), "git_repository_odb")
        defer { git_odb_free(destinationODB) }

        func exists(_ id: ObjectID) -> Bool {
            var oid = id.oid
            return git_odb_exists(destinationODB, &oid) == 1
        }
        func copy(_ id: ObjectID) throws {
            var oid = id.oid
            var object: OpaquePointer?
            try check(git_odb_read(&object, sourceODB, &oid), "git_odb_read")
            defer { git_odb_object_free(object) }
            var written = git_oid()
            try check(
                git_odb_write(
                    &written, destinationODB, git_odb_object_data(object), git_odb_object_size(object),
                    git_odb_object_type(object)),
                "git_odb_write")
        }
        /// `known`: the same directory in a tree the destination has (everything under it is there too).
        func copyTree(_ tree: ObjectID, known: ObjectID?) throws {
            guard tree != known, !exists(tree) else { return }
            let changed = try known.map { try entries(ofTree: tree, differingFrom: $0) } ?? entries(ofTree: tree)
            for entry in changed {
                switch entry.kind {
                case .tree:
                    let knownTree = try known.flatMap { try self.entry(at: entry.name, inTree: $0) }
                    try copyTree(entry.id, known: knownTree?.kind == .tree ? knownTree?.id : nil)
                case .blob where !exists(entry.id): try copy(entry.id)
                default: break
                }
            }
            try copy(tree)
        }
        // The commits the destination lacks, down the first-parent line (one, or a takeover's reap and claim), oldest
        // first, so that every commit written has its parent there.
        var missing: [ObjectID] = []
        var next: ObjectID? = commit
        while let id = next, !exists(id), missing.count < 8 {
            missing.append(id)
            next = try self.commit(id).parents.first
        }
        for id in missing.reversed() {
            let parent = try self.commit(id).parents.first.flatMap { exists($0) ? $0 : nil }
            try copyTree(try treeID(ofCommit: id), known: try parent.map { try treeID(ofCommit: $0) })
            try copy(id)
        }
    }

    /// Moves `name` from `expected` to `target` atomically: fails when the reference is no longer at `expected` (or,
    /// with `expected` nil, when it exists). Uses the reference's lock file, like git.
    /// Calls `git_reference_create_matching` (or `git_reference_create` without force).
    ///
    /// - Returns: false when the reference moved (or is locked by a concurrent writer): a lost race.
    /// - Throws: `GitError` for other failures.
    public func compareAndSwapReference(_ name: String, from expected: ObjectID?, to target: ObjectID, message: String)
        throws -> Bool
    {
        var newOID = target.oid
        var reference: OpaquePointer?
        let status: Int32
        if let expected {
            var current = expected.oid
            status = git_reference_create_matching(&reference, pointer, name, &newOID, 1, &current, message)
        } else {
            status = git_reference_create(&reference, pointer, name, &newOID, 0, message)
        }
        git_reference_free(reference)
        if status == GIT_EMODIFIED.rawValue || status == GIT_ELOCKED.rawValue || status == GIT_EEXISTS.rawValue {
            return false
        }
        // A missing reference when one was expected: the branch was deleted meanwhile.
        if status == GIT_ENOTFOUND.rawValue { return false }
        try check(status, "git_reference_create_matching")
        return true
    }
}

extension Remote {
    /// The repository path of a local remote (a path or `file://` URL), else nil.
    var localPath: String? {
        if url.hasPrefix("file://") {
            let path = String(url.dropFirst("file://".count))
            return path.percentDecoded ?? path
        }
        return url.hasPrefix("/") ? url : nil
    }

    /// Reads the branch of a local repository in place, without libgit2's local transport, which would build, write and
    /// index a pack of the whole history: the repository's object store becomes an alternate of this one
    /// (`objects/info/alternates`, as `git clone --shared` does), and the branch is read from its references. A fetch
    /// then costs the same at any history length (docs/decisions/0009-shallow-cache.md).
    ///
    /// - Returns: the tip, or nil when the repository has no such branch.
    /// - Throws: `GitError` (class `.repository`, `could not find repository at …` when there is none at `path`).
    func fetchLocally(branch: String, into localReference: String, path: String) throws -> ObjectID? {
        let source = try openLocalSource(path)
        guard let tip = try source.referenceTarget("refs/heads/\(branch)") else {
            recordLocalBranches(of: source)
            return nil
        }
        try repository.addAlternate(objectsOf: source, needing: tip)
        try repository.setReference(localReference, to: tip, message: "lockpool: fetch")
        return tip
    }

    /// The local repository at `path`, opened once per remote, or the error libgit2's local transport gives for a
    /// missing one (its words, which `isRepositoryNotFound` reads).
    func openLocalSource(_ path: String) throws -> Repository {
        if let localSource { return localSource }
        do {
            let source = try Repository.open(at: path)
            localSource = source
            return source
        } catch let error as GitError where error.code == .notFound {
            throw GitError(
                code: .notFound, errorClass: .repository, function: "git_repository_open_ext",
                message: "could not find repository at '\(path)'")
        }
    }

    /// Pushes to a local repository without libgit2's local transport, which checks fast-forward against the refs it
    /// listed at connect time and then overwrites the branch unconditionally (two racing pushes could both "win").
    /// Objects are copied, then the branch is moved by compare-and-swap from the commit's first parent.
    ///
    /// The branch must be at `commit`'s parent, or at a nearer first-parent ancestor when the push carries several new
    /// commits (a lease takeover's reap and claim): a fast-forward, as a server allows it.
    func pushLocally(_ commit: ObjectID, toBranch branch: String, path: String) throws {
        let destination = try openLocalSource(path)
        let target = "refs/heads/\(branch)"
        let current = try destination.referenceTarget(target)
        var base = try repository.commit(commit).parents.first
        for _ in 0..<8 {
            guard let ancestor = base, ancestor != current, repository.contains(ancestor) else { break }
            base = try repository.commit(ancestor).parents.first
        }
        guard base == current else {
            throw PushRejected(reference: target, reason: "non-fast-forward (the branch moved)", serverMessages: "")
        }
        try repository.copyObjects(of: commit, to: destination)
        guard try destination.compareAndSwapReference(target, from: base, to: commit, message: "push") else {
            throw PushRejected(reference: target, reason: "non-fast-forward (the branch moved)", serverMessages: "")
        }
    }
}

extension Repository {
    /// Makes the objects of `source` readable here: its object directory is listed in `objects/info/alternates`
    /// (kept for later processes) and, when `needed` is not readable yet, added to this process's object database.
    /// Calls `git_odb_add_disk_alternate`.
    ///
    /// - Throws: `GitError` when the list cannot be written or the alternate added.
    func addAlternate(objectsOf source: Repository, needing needed: ObjectID) throws {
        let objects = FilePaths.join(source.gitDirectory, "objects")
        let list = FilePaths.join(gitDirectory, "objects/info/alternates")
        let listed = FileManager.default.contents(atPath: list).map { String(decoding: $0, as: UTF8.self) } ?? ""
        if !listed.split(whereSeparator: \.isNewline).contains(Substring(objects)) {
            try FileManager.default.createDirectory(
                atPath: FilePaths.join(gitDirectory, "objects/info"), withIntermediateDirectories: true)
            try CacheFile.write(Array((listed + objects + "\n").utf8), to: list)
        }
        guard !contains(needed) else { return }
        var odb: OpaquePointer?
        try check(git_repository_odb(&odb, pointer), "git_repository_odb")
        defer { git_odb_free(odb) }
        try check(git_odb_add_disk_alternate(odb, objects), "git_odb_add_disk_alternate")
    }
}
