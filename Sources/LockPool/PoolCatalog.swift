import Git

/// Finding the pools of a lock repository.
public enum PoolCatalog {
    /// The pools at `commit`: every directory, up to `depth` levels deep, that holds `claimed/` or `unclaimed/`
    /// (docs/resource.md#names), in byte order of their names. Pools are not searched for inside other pools.
    ///
    /// - Throws: `GitError` when the tree cannot be read.
    public static func pools(in repository: Repository, at commit: ObjectID, depth: Int = 6) throws -> [String] {
        var found: [String] = []
        func visit(_ tree: ObjectID, prefix: String, level: Int) throws {
            let entries = try repository.entries(ofTree: tree)
            let directories = entries.filter { $0.kind == .tree }
            if !prefix.isEmpty, directories.contains(where: { $0.name == "claimed" || $0.name == "unclaimed" }) {
                found.append(prefix)
                return
            }
            guard level < depth else { return }
            for entry in directories where !entry.name.hasPrefix(".") {
                try visit(entry.id, prefix: prefix.isEmpty ? entry.name : "\(prefix)/\(entry.name)", level: level + 1)
            }
        }
        try visit(try repository.treeID(ofCommit: commit), prefix: "", level: 0)
        return found.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }
}
