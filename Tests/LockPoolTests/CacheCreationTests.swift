import Foundation
import Git
import Logging
import TestSupport
import Testing

@testable import LockPool

private let silent = Logger(label: "lockpool.tests") { _ in SwiftLogNoOpLogHandler() }

/// An empty cache is made by hand, with only what git reads, and one left half made by a killed process is made again
/// (docs/concurrency.md#the-cache, docs/decisions/0013-cold-process.md).
@Suite struct CacheCreationTests {
    @Test func aNewCacheHoldsOnlyWhatGitReadsAndFetchesIntoIt() throws {
        let scratch = try Scratch(label: "cache-new")
        let origin = try LockRepository.create(in: scratch, pools: ["envs": ["env-1": .unclaimed()]])
        let root = try scratch.directory("lockpool-cache").path
        let cache = try LockRepositoryCache(
            root: root, remoteURL: origin.path, branch: origin.branch, options: RemoteOptions())
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: cache.path).sorted() == [
                "HEAD", "config", "objects", "refs",
            ])
        #expect(try cache.fetchTip(logger: silent).hex == origin.commitID())
        let git = try GitCLI(scratch: scratch).inDirectory(URL(fileURLWithPath: cache.path))
        #expect(try git.output("rev-parse", "--is-bare-repository") == "true")
        #expect(try git.output("rev-parse", cache.tipReference) == origin.commitID())
    }

    /// A process killed between the directories and `HEAD` (written last) leaves a directory that is no repository.
    @Test(arguments: [false, true]) func aCacheLeftHalfMadeIsMadeAgain(withConfig: Bool) throws {
        let scratch = try Scratch(label: "cache-half")
        let origin = try LockRepository.create(in: scratch, pools: ["envs": ["env-1": .unclaimed()]])
        let root = try scratch.directory("lockpool-cache").path
        let path = LockRepositoryCache.directory(root: root, remoteURL: origin.path, branch: origin.branch)
        for directory in ["objects/info", "objects/pack", "refs/heads"] {
            try FileManager.default.createDirectory(
                atPath: "\(path)/\(directory)", withIntermediateDirectories: true)
        }
        if withConfig { try Data("[core]\n\trepositoryformatv".utf8).write(to: URL(fileURLWithPath: "\(path)/config")) }
        let cache = try LockRepositoryCache(
            root: root, remoteURL: origin.path, branch: origin.branch, options: RemoteOptions())
        #expect(FileManager.default.fileExists(atPath: "\(path)/HEAD"))
        #expect(try cache.fetchTip(logger: silent).hex == origin.commitID())
    }
}
