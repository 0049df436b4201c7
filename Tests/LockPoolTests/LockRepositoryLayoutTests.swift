import Foundation
import Git
import Logging
import TestSupport
import Testing

@testable import LockPool

private let silent = Logger(label: "lockpool.tests") { _ in SwiftLogNoOpLogHandler() }
private let tool = "lockpool 0.0.0-test (cli)"
/// The id of the empty blob, which every `.gitkeep` is.
private let emptyBlob = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"

private func configuration(_ scratch: Scratch, remote: String, branch: String) -> PoolConfiguration {
    PoolConfiguration(
        remoteURL: remote, branch: branch, pool: "", cacheRoot: scratch.url("cache").path, tool: tool)
}

/// `<mode> <object> <path>` of every file at `ref` in the bare repository at `path`.
private func files(_ git: GitCLI, _ path: String, _ ref: String) throws -> [String] {
    try git.output("--git-dir", path, "ls-tree", "-r", "--full-tree", ref).split(separator: "\n").map {
        String($0).replacing("\t", with: " ").replacing(" blob ", with: " ")
    }
}

@Suite struct LockRepositoryLayoutTests {
    @Test func initializeCreatesABareRepositoryBranchAndPools() throws {
        let scratch = try Scratch(label: "layout-new")
        let git = try GitCLI(scratch: scratch)
        let path = scratch.url("nested/locks.git").path
        let outcome = try LockRepositoryLayout.initialize(
            configuration: configuration(scratch, remote: path, branch: "locks"), pools: ["envs", "ops/eu"],
            logger: silent)
        #expect(outcome.createdRepository)
        #expect(outcome.createdBranch)
        #expect(outcome.createdPools == ["envs", "ops/eu"])
        let commit = try #require(outcome.commit)

        #expect(try git.output("--git-dir", path, "rev-parse", "--is-bare-repository") == "true")
        #expect(try git.output("--git-dir", path, "symbolic-ref", "HEAD") == "refs/heads/locks")
        #expect(try git.output("--git-dir", path, "rev-parse", "refs/heads/locks") == commit.hex)
        #expect(try git.output("--git-dir", path, "rev-list", "--count", "locks") == "1")
        #expect(
            try files(git, path, "locks") == [
                "100644 \(emptyBlob) envs/claimed/.gitkeep", "100644 \(emptyBlob) envs/unclaimed/.gitkeep",
                "100644 \(emptyBlob) ops/eu/claimed/.gitkeep", "100644 \(emptyBlob) ops/eu/unclaimed/.gitkeep",
            ])
        #expect(
            try git.output("--git-dir", path, "log", "-1", "--format=%s", "locks") == "initializing pools: envs, ops/eu"
        )
        #expect(
            try git.output("--git-dir", path, "log", "-1", "--format=%cn <%ce>|%an <%ae>", "locks")
                == "CI Pool Resource <ci-pool@localhost>|CI Pool Resource <ci-pool@localhost>")
        let trailers = try git.output(
            "--git-dir", path, "log", "-1", "--format=%(trailers:key=Lock-Tool,key=Lock-Nonce,valueonly)", "locks")
        let values = trailers.split(separator: "\n").map(String.init)
        #expect(values.count == 2 && values.first == tool)
        #expect(values.last?.count == 32 && values.last?.allSatisfy(\.isHexDigit) == true)

        let repository = try Repository.open(at: path)
        #expect(try PoolCatalog.pools(in: repository, at: commit) == ["envs", "ops/eu"])
        let snapshot = try PoolSnapshot(repository: repository, commit: commit, pool: "ops/eu")
        #expect(snapshot.exists && snapshot.claimed.isEmpty && snapshot.unclaimed.isEmpty)
        #expect(try RepositoryHealth(repository: repository).check(tip: commit).problems == [])
    }

    @Test(arguments: ["file-url", "empty-directory"])
    func initializeAcceptsAFileURLAndAnEmptyDirectory(_ form: String) throws {
        let scratch = try Scratch(label: "layout-\(form)")
        let git = try GitCLI(scratch: scratch)
        let path = form == "empty-directory" ? try scratch.directory("locks.git").path : scratch.url("locks.git").path
        let remote = form == "file-url" ? "file://" + path : path
        let outcome = try LockRepositoryLayout.initialize(
            configuration: configuration(scratch, remote: remote, branch: "master"), pools: ["envs"], logger: silent)
        #expect(outcome.createdRepository && outcome.createdBranch && outcome.createdPools == ["envs"])
        #expect(try git.output("--git-dir", path, "rev-parse", "master") == outcome.commit?.hex)
    }

    @Test func rerunMakesNoCommit() throws {
        let scratch = try Scratch(label: "layout-rerun")
        let git = try GitCLI(scratch: scratch)
        let path = scratch.url("locks.git").path
        let config = configuration(scratch, remote: path, branch: "master")
        let first = try LockRepositoryLayout.initialize(configuration: config, pools: ["envs"], logger: silent)
        let again = try LockRepositoryLayout.initialize(configuration: config, pools: ["envs"], logger: silent)
        #expect(
            again
                == LockRepositoryLayout.Outcome(
                    createdRepository: false, createdBranch: false, createdPools: [], commit: nil))
        #expect(try git.output("--git-dir", path, "rev-parse", "master") == first.commit?.hex)

        // The same from a fresh cache, as another machine would run it.
        var elsewhere = config
        elsewhere.cacheRoot = scratch.url("other-cache").path
        let third = try LockRepositoryLayout.initialize(configuration: elsewhere, pools: ["envs"], logger: silent)
        #expect(third.commit == nil && third.createdPools.isEmpty && !third.createdBranch)
        #expect(try git.output("--git-dir", path, "rev-list", "--count", "master") == "1")
    }

    @Test func addingAPoolToAnExistingBranchKeepsEverythingElse() throws {
        let scratch = try Scratch(label: "layout-add")
        let origin = try LockRepository.create(
            in: scratch, branch: "feature/locks",
            pools: ["envs": ["a": .claimed("A"), "b": .unclaimed("B")], "ops/eu": [:]])
        // A pool with only claimed/: init completes it.
        try origin.writeFile("half/claimed/c", content: "C", message: "half a pool")
        let before = try origin.commitID()
        let beforeFiles = try files(origin.git, origin.path, "feature/locks")

        let outcome = try LockRepositoryLayout.initialize(
            configuration: configuration(scratch, remote: origin.path, branch: "feature/locks"),
            pools: ["envs", "db", "half", "ops/eu"], logger: silent)
        #expect(!outcome.createdRepository)
        #expect(!outcome.createdBranch)
        #expect(outcome.createdPools == ["db", "half"])
        let commit = try #require(outcome.commit)
        #expect(try origin.commitID() == commit.hex)
        #expect(try origin.commit().parents == [before])
        #expect(try origin.commit().subject == "initializing pools: db, half")

        let after = try files(origin.git, origin.path, "feature/locks")
        #expect(Set(beforeFiles).isSubset(of: after))
        #expect(
            Set(after).subtracting(beforeFiles) == [
                "100644 \(emptyBlob) db/claimed/.gitkeep", "100644 \(emptyBlob) db/unclaimed/.gitkeep",
                "100644 \(emptyBlob) half/unclaimed/.gitkeep",
            ])
        #expect(try origin.file("envs/claimed/a") == Data("A".utf8))
        #expect(try origin.file("half/claimed/c") == Data("C".utf8))

        let repository = try Repository.open(at: origin.path)
        #expect(try PoolCatalog.pools(in: repository, at: commit) == ["db", "envs", "half", "ops/eu"])
    }

    @Test func aNewBranchInAnExistingRepositoryStartsWithoutParents() throws {
        let scratch = try Scratch(label: "layout-branch")
        let origin = try LockRepository.create(in: scratch, pools: ["envs": ["a": .unclaimed()]])
        let outcome = try LockRepositoryLayout.initialize(
            configuration: configuration(scratch, remote: origin.path, branch: "pools"), pools: ["ops"],
            logger: silent)
        #expect(!outcome.createdRepository && outcome.createdBranch && outcome.createdPools == ["ops"])
        #expect(try origin.commit("pools").parents.isEmpty)
        #expect(
            try files(origin.git, origin.path, "pools") == [
                "100644 \(emptyBlob) ops/claimed/.gitkeep", "100644 \(emptyBlob) ops/unclaimed/.gitkeep",
            ])
        #expect(try origin.commit("master").subject == "seed pools")
    }

    // MARK: PoolCatalog

    struct CatalogCase: Sendable, CustomTestStringConvertible {
        let name: String
        let paths: [String]
        var depth = 6
        let expected: [String]
        var testDescription: String { name }
    }

    @Test(arguments: [
        CatalogCase(
            name: "top-level and nested pools in byte order",
            paths: ["envs/claimed/.gitkeep", "ops/eu/unclaimed/.gitkeep", "ops/us/claimed/x", "B/claimed/.gitkeep"],
            expected: ["B", "envs", "ops/eu", "ops/us"]),
        CatalogCase(
            name: "non-ASCII names sort by bytes", paths: ["é/claimed/.gitkeep", "z/unclaimed/.gitkeep"],
            expected: ["z", "é"]),
        CatalogCase(
            name: "one of the two directories is enough", paths: ["a/claimed/x", "b/unclaimed/y"],
            expected: ["a", "b"]),
        CatalogCase(
            name: "no search inside a pool", paths: ["ops/claimed/.gitkeep", "ops/eu/claimed/.gitkeep"],
            expected: ["ops"]),
        CatalogCase(
            name: "claimed as a file or at the root is no pool",
            paths: ["claimed/x", "files/claimed", "files/unclaimed", "README"], expected: []),
        CatalogCase(
            name: "dot directories are skipped", paths: [".github/claimed/x", "envs/.old/claimed/x"], expected: []),
        CatalogCase(
            name: "depth limit", paths: ["a/b/c/claimed/x", "a/b/d/e/claimed/x"], depth: 3, expected: ["a/b/c"]),
        CatalogCase(
            name: "default depth", paths: ["a/b/c/claimed/x", "a/b/d/e/claimed/x"],
            expected: ["a/b/c", "a/b/d/e"]),
    ])
    func poolCatalog(_ c: CatalogCase) throws {
        let history = try HandBuiltHistory(label: "catalog", pools: [:])
        try history.commit("layout") {
            for path in c.paths { try history.write(path, "") }
        }
        let (repository, tip) = try history.open()
        #expect(try PoolCatalog.pools(in: repository, at: tip, depth: c.depth) == c.expected)
    }
}
