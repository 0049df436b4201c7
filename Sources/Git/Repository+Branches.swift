import CLibgit2

extension Repository {
    /// The names of the branches (`refs/heads/*`, without the prefix), in byte order. Calls
    /// `git_reference_iterator_glob_new`.
    public func branchNames() throws -> [String] {
        var iterator: OpaquePointer?
        let status = git_reference_iterator_glob_new(&iterator, pointer, "refs/heads/*")
        try check(status, "git_reference_iterator_glob_new")
        defer { git_reference_iterator_free(iterator) }
        var names: [String] = []
        var name: UnsafePointer<CChar>?
        while git_reference_next_name(&name, iterator) == 0, let name {
            names.append(String(String(cString: name).dropFirst("refs/heads/".count)))
        }
        return names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    /// The branch HEAD names (`refs/heads/<branch>`), whether or not it exists yet; nil when HEAD is detached or not
    /// a branch. Calls `git_reference_lookup` and `git_reference_symbolic_target`.
    public func headBranch() -> String? {
        var head: OpaquePointer?
        guard git_reference_lookup(&head, pointer, "HEAD") == 0, let head else { return nil }
        defer { git_reference_free(head) }
        guard let target = git_reference_symbolic_target(head).map({ String(cString: $0) }),
            target.hasPrefix("refs/heads/")
        else { return nil }
        return String(target.dropFirst("refs/heads/".count))
    }
}
