import Foundation
import Git
import TestSupport
import Testing

@testable import LockPool

/// The directories lockpool keeps state in below a shared TMPDIR must be its own (security review, findings 12, 13).
@Suite struct PrivateDirectoryTests {
    func mode(_ path: String) throws -> Int {
        try (FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
    }

    @Test func aMissingDirectoryIsCreatedPrivate() throws {
        let scratch = try Scratch(label: "private-new")
        let path = scratch.url("a/b/lockpool-cache").path
        #expect(PrivateDirectory.problem(path) == nil)
        #expect(try mode(path) == 0o700)
        #expect(PrivateDirectory.problem(path) == nil)  // and accepted when it exists
        #expect(try PrivateDirectory.ensure(path) == path)
    }

    @Test func anExistingDirectoryOfTheUsersOwnIsKept() throws {
        let scratch = try Scratch(label: "private-own")
        let path = try scratch.directory("lockpool-cache").path
        chmod(path, 0o755)  // made with the usual umask by an earlier lockpool
        #expect(PrivateDirectory.problem(path) == nil)
        #expect(try PrivateDirectory.ensure(path) == path)
    }

    @Test func unsafeDirectoriesAreRefusedAndThePerUserOneIsUsed() throws {
        let scratch = try Scratch(label: "private-unsafe")
        let writable = try scratch.directory("world").path
        chmod(writable, 0o777)
        #expect(PrivateDirectory.problem(writable) == "is writable by others (mode 777)")
        let group = try scratch.directory("group").path
        chmod(group, 0o770)
        #expect(PrivateDirectory.problem(group) == "is writable by its group (mode 770)")
        let target = try scratch.directory("elsewhere").path
        let link = scratch.url("link").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        #expect(PrivateDirectory.problem(link) == "is a symbolic link")
        let file = try scratch.write(Data("x".utf8), to: "file").path
        #expect(PrivateDirectory.problem(file) == "is not a directory")

        // The usual name is taken: `<name>-<uid>` is made and used instead.
        #expect(try PrivateDirectory.ensure(writable) == "\(writable)-\(geteuid())")
        #expect(try mode("\(writable)-\(geteuid())") == 0o700)

        // Both taken: a clear error naming both and what to do.
        try FileManager.default.createSymbolicLink(atPath: "\(link)-\(geteuid())", withDestinationPath: target)
        #expect {
            try PrivateDirectory.ensure(link)
        } throws: { error in
            "\(error)"
                == "the cache directory \(link) is a symbolic link, and \(link)-\(geteuid()) is a symbolic link; "
                + "remove them or set TMPDIR to a directory of your own"
        }
    }

    /// Only root can give a directory to another user; CI runs as root.
    @Test(.enabled(if: geteuid() == 0)) func anotherUsersDirectoryIsRefused() throws {
        let scratch = try Scratch(label: "private-other")
        let path = try scratch.directory("lockpool-cache").path
        chmod(path, 0o700)
        #expect(chown(path, 65534, 65534) == 0)
        #expect(PrivateDirectory.problem(path) == "belongs to uid 65534, not 0")
        #expect(try PrivateDirectory.ensure(path) == "\(path)-0")
    }

    /// A planted cache root (here: world-writable, so anyone could have put a repository in it) is not used.
    @Test func theCacheMovesOutOfAPlantedRoot() throws {
        let scratch = try Scratch(label: "private-cache")
        let origin = try LockRepository.create(in: scratch, pools: ["envs": ["env-1": .unclaimed()]])
        let root = try scratch.directory("lockpool-cache").path
        chmod(root, 0o777)
        let cache = try LockRepositoryCache(
            root: root, remoteURL: origin.path, branch: origin.branch, options: RemoteOptions())
        #expect(cache.path.hasPrefix("\(root)-\(geteuid())/"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: root).isEmpty)
    }
}
