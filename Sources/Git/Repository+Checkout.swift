import CLibgit2

extension Repository {
    /// Adds or replaces the remote `name` with `url` in this repository's configuration.
    /// Calls `git_remote_create` (after `git_remote_delete` when it exists).
    ///
    /// - Throws: `GitError`.
    public func setRemote(_ name: String, url: String) throws {
        var existing: OpaquePointer?
        if git_remote_lookup(&existing, pointer, name) == 0 {
            git_remote_free(existing)
            try check(git_remote_delete(pointer, name), "git_remote_delete")
        }
        var remote: OpaquePointer?
        try check(git_remote_create(&remote, pointer, name, url), "git_remote_create")
        git_remote_free(remote)
    }

    /// Detaches HEAD at `commit` and writes its tree into the work directory, overwriting what is there.
    /// Calls `git_checkout_tree` with `GIT_CHECKOUT_FORCE` and `git_repository_set_head_detached`.
    ///
    /// - Throws: `GitError` (`GIT_EBAREREPO` for a bare repository).
    public func checkoutDetached(_ commit: ObjectID) throws {
        var oid = commit.oid
        var object: OpaquePointer?
        try check(git_object_lookup(&object, pointer, &oid, GIT_OBJECT_COMMIT), "git_object_lookup")
        defer { git_object_free(object) }
        var options = git_checkout_options()
        git_checkout_options_init(&options, UInt32(GIT_CHECKOUT_OPTIONS_VERSION))
        options.checkout_strategy = GIT_CHECKOUT_FORCE.rawValue | GIT_CHECKOUT_RECREATE_MISSING.rawValue
        try check(git_checkout_tree(pointer, object, &options), "git_checkout_tree")
        try check(git_repository_set_head_detached(pointer, &oid), "git_repository_set_head_detached")
    }
}
