import FoundationEssentials
import Glibc
import SystemPackage

extension Repository {
    /// Gives this repository every object of `source` by linking its packs and loose objects into this object store,
    /// or copying a file where a link is impossible (another file system). The object stores `source` reads in place
    /// (`objects/info/alternates`) and its shallow roots come along, so this repository holds the same history.
    ///
    /// Objects are immutable and named by their content, so a linked file can never change under either repository;
    /// deleting `source` later leaves this one whole. Linking costs no CPU and no space, where a local fetch would build,
    /// write and index a new pack of the whole history (docs/decisions/0008-in-shares-the-cache-objects.md).
    ///
    /// - Returns: how many files were linked and how many copied.
    /// - Throws: `GitError` (class `.os`) when a file can be neither linked nor copied.
    @discardableResult
    public func shareObjects(of source: Repository) throws -> (linked: Int, copied: Int) {
        let from = FilePath(source.gitDirectory).appending("objects")
        let to = FilePath(gitDirectory).appending("objects")
        var counts = (linked: 0, copied: 0)
        for relative in try Self.objectFiles(below: from) {
            let target = to.pushing(relative)
            if FileManager.default.fileExists(atPath: target.string) { continue }
            try FileManager.default.createDirectory(
                atPath: target.removingLastComponent().string, withIntermediateDirectories: true)
            if link(from.pushing(relative).string, target.string) == 0 {
                counts.linked += 1
            } else {
                try Self.copy(from.pushing(relative), to: target)
                counts.copied += 1
            }
        }
        let alternates = FilePath("info/alternates")
        if FileManager.default.fileExists(atPath: from.pushing(alternates).string) {
            try FileManager.default.createDirectory(
                atPath: to.appending("info").string, withIntermediateDirectories: true)
            try Self.copy(from.pushing(alternates), to: to.pushing(alternates))
        }
        try writeShallowRoots(shallowRoots.union(source.shallowRoots))
        return counts
    }

    /// The files of an object store, relative to it: packs with their indexes first (a pack is usable once its index
    /// is there), then loose objects. Temporary files of a writer in progress are left out.
    private static func objectFiles(below objects: FilePath) throws -> [FilePath] {
        let names = (try? FileManager.default.subpathsOfDirectory(atPath: objects.string)) ?? []
        let packs = names.filter { $0.hasPrefix("pack/") && ($0.hasSuffix(".pack") || $0.hasSuffix(".idx")) }
            .sorted { $0.hasSuffix(".pack") && !$1.hasSuffix(".pack") }
        let loose = names.filter { name in
            let parts = name.split(separator: "/")
            return parts.count == 2 && parts[0].count == 2 && parts[1].count == 38
                && name.allSatisfy { $0.isHexDigit || $0 == "/" }
        }
        return (packs + loose).map { FilePath($0) }
    }

    private static func copy(_ source: FilePath, to target: FilePath) throws {
        guard let bytes = FileManager.default.contents(atPath: source.string) else {
            throw GitError(
                code: .generic, errorClass: .os, function: "link",
                message: "could not link or copy \(source.string) to \(target.string)")
        }
        try CacheFile.write(Array(bytes), to: target.string)
    }
}
