import Foundation
import Git
import Logging
import TestSupport
import Testing

@testable import LockPool

#if canImport(Glibc)
    import Glibc
#endif

// The domain errors lockpool maps real remote failures to (RemoteFailure.swift), provoked through
// `LockRepositoryLayout.initialize`, which fetches, commits and pushes once without retrying transient failures.

private let silent = Logger(label: "lockpool.tests") { _ in SwiftLogNoOpLogHandler() }
private let gitIsAvailable = ExternalTool.areAvailable("git")

private struct Fixture {
    let scratch: Scratch
    let origin: LockRepository
    let git: GitCLI

    init(label: String) throws {
        scratch = try Scratch(label: label)
        origin = try LockRepository.create(in: scratch, pools: ["envs": ["env-1": .unclaimed("one\n")]])
        git = try GitCLI(scratch: scratch)
    }

    func configuration(_ remote: String, options: RemoteOptions = RemoteOptions()) -> PoolConfiguration {
        PoolConfiguration(
            remoteURL: remote, branch: "master", pool: "", remoteOptions: options,
            cacheRoot: scratch.url("cache").path, tool: "lockpool 0.0.0-test (cli)")
    }

    /// What creating pool `ops` (a fetch, then a push) throws, and how long it took.
    func initializeFailure(_ remote: String, options: RemoteOptions = RemoteOptions()) throws -> (
        error: any Error, elapsed: Duration
    ) {
        let started = ContinuousClock.now
        let error = try #require(throws: (any Error).self) {
            try LockRepositoryLayout.initialize(
                configuration: configuration(remote, options: options), pools: ["ops"], logger: silent)
        }
        return (error, ContinuousClock.now - started)
    }
}

@Suite struct RemoteFailureURLTests {
    @Test(arguments: ["ftp://127.0.0.1/locks.git", "http://", "http:///locks.git"])
    func anUnsupportedURLFailsAtOnceNamingTheURL(_ url: String) throws {
        let fixture = try Fixture(label: "map-url")
        let (error, elapsed) = try fixture.initializeFailure(url)
        guard case LockPoolError.unsupportedURL(let uri) = error else {
            Issue.record("expected unsupportedURL, got \(error)")
            return
        }
        #expect(uri == url)
        #expect(
            "\(error)"
                == "unsupported repository URL: \(url) (use a path, or a file://, git://, ssh://, http:// or https:// "
                + "URL with a host, or user@host:path)")
        #expect(elapsed < .seconds(2))
    }

    @Test func anUnknownHostFailsAtOnceWithTheResolversWords() throws {
        let fixture = try Fixture(label: "map-dns")
        let (error, elapsed) = try fixture.initializeFailure("git://nonexistent.invalid/locks.git")
        guard case LockPoolError.unknownHost(let message) = error else {
            Issue.record("expected unknownHost, got \(error)")
            return
        }
        #expect(message == "failed to resolve address for nonexistent.invalid: Name or service not known")
        #expect("\(error)" == "unknown host: \(message)")
        #expect(elapsed < .seconds(2))
    }

    @Test func aRefusedConnectionIsTransient() throws {
        let fixture = try Fixture(label: "map-refused")
        let port = try GitDaemon.freePort()
        let (error, _) = try fixture.initializeFailure("git://127.0.0.1:\(port)/locks.git")
        let transient = try #require(error as? TransientError, "\(error)")
        #expect(transient.cause == "failed to connect to 127.0.0.1: Connection refused")
    }
}

@Suite(.serialized, .enabled(if: gitIsAvailable, "needs the git CLI for git daemon"))
struct RemoteFailureServerTests {
    @Test func aPreReceiveHookRefusalIsARefusedPushWithTheServersReason() throws {
        let fixture = try Fixture(label: "map-hook")
        let hook = fixture.origin.url.appendingPathComponent("hooks/pre-receive")
        try "#!/bin/sh\necho 'pushes are frozen' >&2\nexit 1\n".write(to: hook, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: hook.path)
        let daemon = try GitDaemon(scratch: fixture.scratch)
        defer { daemon.stop() }
        let tip = try fixture.origin.commitID()
        let (error, elapsed) = try fixture.initializeFailure(daemon.url(for: fixture.origin))
        guard case LockPoolError.pushRefused(let branch, let reason) = error else {
            Issue.record("expected pushRefused, got \(error)")
            return
        }
        #expect(branch == "master" && reason == "pre-receive hook declined")
        #expect("\(error)" == "push to branch 'master' was refused by the server: pre-receive hook declined")
        #expect(elapsed < .seconds(5))
        #expect(try fixture.origin.commitID() == tip)
    }

    @Test func anAccessHookRefusingThePushIsARefusalInTheServersWordsNotAMissingRepository() throws {
        let fixture = try Fixture(label: "map-access")
        let daemon = try GitDaemon(
            serving: fixture.scratch.url, git: fixture.git,
            accessHook: GitDaemon.accessHook(
                in: fixture.scratch.url, refusing: ["receive-pack"], reason: "closed for maintenance"),
            informativeErrors: false)
        defer { daemon.stop() }
        let url = daemon.url(for: "origin.git")
        let tip = try fixture.origin.commitID()
        let (error, elapsed) = try fixture.initializeFailure(url)
        guard case LockPoolError.refusedByServer(let operation, let uri, let message) = error else {
            Issue.record("expected refusedByServer, got \(error)")
            return
        }
        #expect(operation == "push" && uri == url)
        #expect(message == "access denied or repository not exported: /origin.git")
        #expect(
            "\(error)"
                == "push to \(url) was refused by the server: access denied or repository not exported: /origin.git")
        #expect(elapsed < .seconds(5))
        #expect(try fixture.origin.commitID() == tip)
    }

    @Test func aRepositoryTheDaemonDoesNotServeIsNotFound() throws {
        let fixture = try Fixture(label: "map-missing")
        let daemon = try GitDaemon(
            serving: fixture.scratch.url, git: fixture.git,
            accessHook: GitDaemon.accessHook(in: fixture.scratch.url, refusing: [], reason: "closed for maintenance"),
            informativeErrors: false)
        defer { daemon.stop() }
        let url = daemon.url(for: "missing.git")
        let (error, _) = try fixture.initializeFailure(url)
        guard case LockPoolError.repositoryNotFound(let uri) = error else {
            Issue.record("expected repositoryNotFound, got \(error)")
            return
        }
        #expect(uri == url)
        #expect("\(error)" == "repository not found: \(url)")
    }

    @Test(.enabled(if: HTTPSGitServer.isAvailable(tls: false), "needs lighttpd and git-http-backend"))
    func aWrongPasswordIsAnAuthenticationFailureThatNeverShowsThePassword() throws {
        let fixture = try Fixture(label: "map-auth")
        let server = try HTTPSGitServer(scratch: fixture.scratch, tls: false, user: "alice", password: "right-pw")
        defer { server.stop() }
        let url = server.url(for: fixture.origin)
        let options = RemoteOptions(credentials: .userPassword(user: "alice", password: "wrong-pw-S3cret"))
        let (error, elapsed) = try fixture.initializeFailure(url, options: options)
        guard case LockPoolError.authenticationFailed(let uri, _) = error else {
            Issue.record("expected authenticationFailed, got \(error)")
            return
        }
        #expect(uri == url)
        #expect("\(error)" == "authentication failed for \(url) (username and password for user 'alice' refused)")
        #expect(!"\(error)".contains("wrong-pw-S3cret"))
        #expect(elapsed < .seconds(5))
    }
}

@Suite struct CacheDamageTests {
    @Test func aTruncatedPackAndAMissingObjectAreCorruptionOfTheCache() throws {
        let fixture = try Fixture(label: "map-damage")
        let configuration = fixture.configuration(fixture.origin.path)
        func openCache() throws -> LockRepositoryCache {
            try LockRepositoryCache(
                root: configuration.cacheRoot, remoteURL: configuration.remoteURL, branch: "master",
                options: RemoteOptions())
        }
        // Filled and closed first: libgit2 keeps an open pack's mapping for the process, by path.
        let (path, tip, tree, blob) = try { () throws -> (String, ObjectID, ObjectID, ObjectID) in
            let cache = try openCache()
            let tip = try cache.fetchTip(logger: silent)
            let tree = try cache.repository.treeID(ofCommit: tip)
            let blob = try #require(try cache.repository.entry(at: "envs/unclaimed/env-1", inTree: tree)).id
            return (cache.path, tip, tree, blob)
        }()
        // The local origin is read in place: repack takes its objects in, then the cache stands alone.
        try fixture.git.run(["--git-dir", path, "repack", "-a", "-d", "-q"])
        try FileManager.default.removeItem(atPath: path + "/objects/info/alternates")
        let packs = path + "/objects/pack"
        let pack = try #require(
            try FileManager.default.contentsOfDirectory(atPath: packs).first { $0.hasSuffix(".pack") })
        let size = try #require(try FileManager.default.attributesOfItem(atPath: "\(packs)/\(pack)")[.size] as? Int)
        #expect(truncate("\(packs)/\(pack)", off_t(size / 2)) == 0)

        let cache = try openCache()
        let truncated = try #require(throws: GitError.self) {
            _ = try cache.repository.blob(blob)
            _ = try cache.repository.entries(ofTree: tree)
        }
        #expect(LockRepositoryCache.isCorruption(truncated), "\(truncated)")
        let missing = try #require(ObjectID(hex: String(repeating: "ab", count: 20)))
        let lookup = try #require(throws: GitError.self) { _ = try cache.repository.blob(missing) }
        #expect(LockRepositoryCache.isCorruption(lookup), "\(lookup)")

        // The remedy: a rebuilt cache reads the same objects again.
        try cache.rebuild(cause: truncated, logger: silent)
        #expect(try cache.fetchTip(logger: silent) == tip)
        #expect(try cache.repository.blob(blob) == Array("one\n".utf8))
    }

    @Test func aNetworkFailureIsNotCorruption() throws {
        let fixture = try Fixture(label: "map-not-damage")
        let cache = try Repository.create(at: fixture.scratch.url("plain").path, bare: true)
        let port = try GitDaemon.freePort()
        let error = try #require(throws: GitError.self) {
            _ = try cache.fetch(
                branch: "master", from: "git://127.0.0.1:\(port)/x.git", into: "refs/heads/master", options: .init())
        }
        #expect(!LockRepositoryCache.isCorruption(error))
        #expect(RemoteFailure.classify(error, uri: "git://127.0.0.1:\(port)/x.git", step: "fetch") is TransientError)
    }
}
