import Foundation
import TestSupport
import Testing

@testable import Git

#if canImport(Glibc)
    import Glibc
#endif

// Each libgit2 failure the end-to-end suites provoke, provoked here for real, and the one meaning `GitError` gives it
// (GitError+Classification.swift).

private let tester = Signature(
    name: "Lockpool Test", email: "test@lockpool.invalid", time: Date(timeIntervalSince1970: 1_777_730_400))

private let gitIsAvailable = ExternalTool.areAvailable("git")

/// The meanings a `GitError` can have; a real failure should have exactly one.
enum Meaning: String, Sendable, CustomStringConvertible {
    case transient, authentication, repositoryNotFound, serverRefusal, unsupportedURL, unusablePrivateKey,
        certificate, tunnelRefused, staleTip, damagedObjectStore, unknownHost
    var description: String { rawValue }
}

extension GitError {
    /// Every meaning this error has.
    var meanings: Set<Meaning> {
        var meanings: Set<Meaning> = []
        if isTransient { meanings.insert(.transient) }
        if isAuthenticationFailure { meanings.insert(.authentication) }
        if isRepositoryNotFound { meanings.insert(.repositoryNotFound) }
        if serverRefusal != nil { meanings.insert(.serverRefusal) }
        if isUnsupportedURL { meanings.insert(.unsupportedURL) }
        if isUnknownHost { meanings.insert(.unknownHost) }
        if isUnusablePrivateKey { meanings.insert(.unusablePrivateKey) }
        if isCertificateFailure { meanings.insert(.certificate) }
        if isTunnelRefused { meanings.insert(.tunnelRefused) }
        if isStaleTip { meanings.insert(.staleTip) }
        if isDamagedObjectStore { meanings.insert(.damagedObjectStore) }
        return meanings
    }
}

/// An origin with one pool, and a cache to fetch it into.
private struct Fixture {
    let scratch: Scratch
    let origin: LockRepository
    let git: GitCLI

    init(label: String) throws {
        scratch = try Scratch(label: label)
        origin = try LockRepository.create(in: scratch, pools: ["envs": ["env-1": .unclaimed("one\n")]])
        git = try GitCLI(scratch: scratch)
    }

    func cache(_ name: String = "cache") throws -> Repository {
        try Repository.create(at: scratch.url(name).path, bare: true)
    }

    /// The `GitError` a fetch of `master` from `url` into `cache` throws.
    func fetchFailure(from url: String, into cache: Repository? = nil, options: RemoteOptions = RemoteOptions())
        throws -> GitError
    {
        let cache = try cache ?? self.cache("cache-\(UUID().uuidString.prefix(8))")
        return try #require(throws: GitError.self) {
            try cache.fetch(branch: "master", from: url, into: "refs/heads/master", options: options)
        }
    }

    /// A commit on `tip` adding one lock file, as lockpool makes one (not pushed).
    func commit(in repository: Repository, on tip: ObjectID, name: String) throws -> ObjectID {
        let tree = try repository.updatedTree(
            try repository.treeID(ofCommit: tip),
            applying: [.upsert(path: "envs/unclaimed/\(name)", id: try repository.createBlob([]), mode: 0o100644)])
        return try repository.createCommit(
            tree: tree, parents: [tip], message: "add \(name)\n", author: tester, committer: tester)
    }

    /// Installs an executable `hooks/<name>` in the origin.
    func installHook(_ name: String, _ script: String) throws {
        let hook = origin.url.appendingPathComponent("hooks/\(name)")
        try FileManager.default.createDirectory(
            at: hook.deletingLastPathComponent(), withIntermediateDirectories: true)
        try "#!/bin/sh\n\(script)\n".write(to: hook, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: hook.path)
    }
}

// MARK: - URLs and hosts

struct URLCase: Sendable, CustomTestStringConvertible {
    let url: String
    let message: String
    var testDescription: String { url }
}

@Suite struct URLClassificationTests {
    @Test(arguments: [
        URLCase(url: "ftp://127.0.0.1/locks.git", message: "unknown scheme for URL 'ftp://127.0.0.1/locks.git'"),
        URLCase(url: "http://", message: "malformed URL 'http://'"),
        URLCase(url: "https://", message: "malformed URL 'https://'"),
        URLCase(url: "git://", message: "malformed URL 'git://'"),
        URLCase(url: "ssh://", message: "malformed URL 'ssh://'"),
        URLCase(url: "http:///locks.git", message: "malformed URL 'http:///locks.git'"),
    ])
    func anUnknownSchemeOrAMalformedURLIsUnsupported(_ c: URLCase) throws {
        let fixture = try Fixture(label: "url-unsupported")
        let started = ContinuousClock.now
        let error = try fixture.fetchFailure(from: c.url)
        #expect(error.message == c.message)
        #expect(error.meanings == [.unsupportedURL], "\(error)")
        #expect(ContinuousClock.now - started < .seconds(2))
    }

    @Test func anEmptyURLIsUnsupported() throws {
        let fixture = try Fixture(label: "url-empty")
        let error = try fixture.fetchFailure(from: "")
        #expect(error.errorClass == .invalid && error.message == "cannot set empty URL")
        #expect(error.meanings == [.unsupportedURL])
    }

    @Test(arguments: [
        "git://nonexistent.invalid/locks.git", "http://nonexistent.invalid/locks.git",
        "ssh://git@nonexistent.invalid/locks.git",
    ])
    func anUnknownHostIsPermanentWithTheResolversWords(_ url: String) throws {
        let fixture = try Fixture(label: "url-dns")
        let started = ContinuousClock.now
        let error = try fixture.fetchFailure(from: url)
        #expect(ContinuousClock.now - started < .seconds(2))
        #expect(error.isUnresolvableHost && error.isUnknownHost, "\(error)")
        #expect(error.meanings == [.unknownHost], "\(error)")
        #expect(error.message.hasPrefix("failed to resolve address for nonexistent.invalid: "))
        // getaddrinfo's words (gai_strerror), not errno's `Success`.
        #expect(!error.message.hasSuffix(": Success"), "\(error)")
    }

    @Test(arguments: ["git", "http"])
    func aRefusedConnectionIsTransient(_ scheme: String) throws {
        let fixture = try Fixture(label: "url-refused")
        let port = try GitDaemon.freePort()  // nothing listens on it
        let error = try fixture.fetchFailure(from: "\(scheme)://127.0.0.1:\(port)/locks.git")
        #expect(error.message == "failed to connect to 127.0.0.1: Connection refused")
        #expect(error.meanings == [.transient], "\(error)")
        #expect(!error.isUnresolvableHost)
    }

    @Test func aMissingLocalRepositoryIsNotFound() throws {
        let fixture = try Fixture(label: "local-missing")
        let missing = fixture.scratch.url("missing.git").path
        let plainDirectory = try fixture.scratch.directory("plain").path
        for url in [missing, "file://" + missing, plainDirectory] {
            let error = try fixture.fetchFailure(from: url)
            #expect(error.meanings == [.repositoryNotFound], "\(url): \(error)")
        }
    }
}

// MARK: - Refusals and stale tips

@Suite(.serialized, .enabled(if: gitIsAvailable, "needs the git CLI for git daemon"))
struct RefusalClassificationTests {
    @Test func aPreReceiveHookRefusalOverGitDaemonIsARefusedPushNotAStaleTip() throws {
        let fixture = try Fixture(label: "refuse-hook-daemon")
        try fixture.installHook("pre-receive", "echo 'pushes are frozen' >&2\nexit 1")
        let daemon = try GitDaemon(scratch: fixture.scratch)
        defer { daemon.stop() }
        let url = daemon.url(for: fixture.origin)
        let cache = try fixture.cache()
        let tip = try #require(
            try cache.fetch(branch: "master", from: url, into: "refs/heads/master", options: .init()))
        let commit = try fixture.commit(in: cache, on: tip, name: "x")
        let rejected = try #require(throws: PushRejected.self) {
            try cache.push(commit, toBranch: "master", of: url, options: RemoteOptions())
        }
        #expect(rejected.reason == "pre-receive hook declined")
        #expect(!rejected.isStaleTip)
        #expect(rejected.serverMessages.contains("remote: pushes are frozen"))
    }

    @Test(.enabled(if: HTTPSGitServer.isAvailable(tls: false), "needs lighttpd and git-http-backend"))
    func aPreReceiveHookRefusalOverHTTPIsARefusedPushNotAStaleTip() throws {
        let fixture = try Fixture(label: "refuse-hook-http")
        try fixture.installHook("pre-receive", "echo 'pushes are frozen' >&2\nexit 1")
        let server = try HTTPSGitServer(scratch: fixture.scratch, tls: false)
        defer { server.stop() }
        let url = server.url(for: fixture.origin)
        let cache = try fixture.cache()
        let tip = try #require(
            try cache.fetch(branch: "master", from: url, into: "refs/heads/master", options: .init()))
        let commit = try fixture.commit(in: cache, on: tip, name: "x")
        let rejected = try #require(throws: PushRejected.self) {
            try cache.push(commit, toBranch: "master", of: url, options: RemoteOptions())
        }
        #expect(rejected.reason == "pre-receive hook declined")
        #expect(!rejected.isStaleTip)
    }

    @Test(arguments: [false, true])
    func anAccessHookRefusingThePushAfterTheFetchWorkedIsAServerRefusal(informative: Bool) throws {
        let fixture = try Fixture(label: "refuse-access-push")
        let daemon = try GitDaemon(
            serving: fixture.scratch.url, git: fixture.git,
            accessHook: GitDaemon.accessHook(
                in: fixture.scratch.url, refusing: ["receive-pack"], reason: "closed for maintenance"),
            informativeErrors: informative)
        defer { daemon.stop() }
        let url = daemon.url(for: "origin.git")
        let cache = try fixture.cache()
        let tip = try #require(
            try cache.fetch(branch: "master", from: url, into: "refs/heads/master", options: .init()))
        let commit = try fixture.commit(in: cache, on: tip, name: "x")
        let error = try #require(throws: GitError.self) {
            try cache.push(commit, toBranch: "master", of: url, options: RemoteOptions())
        }
        let words = informative ? "closed for maintenance" : "access denied or repository not exported"
        #expect(error.serverRefusal == "\(words): /origin.git", "\(error)")
        #expect(error.meanings == [.serverRefusal], "\(error)")
        #expect(try fixture.origin.commitID() == tip.hex)
    }

    @Test(arguments: [false, true])
    func anAccessHookRefusingTheFetch(informative: Bool) throws {
        let fixture = try Fixture(label: "refuse-access-fetch")
        let daemon = try GitDaemon(
            serving: fixture.scratch.url, git: fixture.git,
            accessHook: GitDaemon.accessHook(
                in: fixture.scratch.url, refusing: ["upload-pack"], reason: "closed for maintenance"),
            informativeErrors: informative)
        defer { daemon.stop() }
        let error = try fixture.fetchFailure(from: daemon.url(for: "origin.git"))
        if informative {
            // The daemon says why: a refusal, in its words.
            #expect(error.serverRefusal == "closed for maintenance: /origin.git", "\(error)")
            #expect(error.meanings == [.serverRefusal], "\(error)")
        } else {
            // All the daemon says for a missing repository too: for a fetch, the repository is not there.
            #expect(error.serverMessage == "access denied or repository not exported: /origin.git", "\(error)")
            #expect(error.meanings == [.repositoryNotFound], "\(error)")
        }
    }

    @Test func aRepositoryTheDaemonDoesNotHaveIsNotFound() throws {
        let fixture = try Fixture(label: "daemon-missing")
        let daemon = try GitDaemon(scratch: fixture.scratch)
        defer { daemon.stop() }
        let error = try fixture.fetchFailure(from: daemon.url(for: "missing.git"))
        #expect(error.serverMessage == "no such repository: /missing.git", "\(error)")
        #expect(error.meanings == [.repositoryNotFound], "\(error)")
    }

    @Test(arguments: [false, true])
    func aPushOfACommitOnAnOldTipIsAStaleTip(knowsNewTip: Bool) throws {
        let fixture = try Fixture(label: "stale-tip")
        let daemon = try GitDaemon(scratch: fixture.scratch)
        defer { daemon.stop() }
        let url = daemon.url(for: fixture.origin)
        let winner = try fixture.cache("winner")
        let loser = try fixture.cache("loser")
        let tip = try #require(
            try winner.fetch(branch: "master", from: url, into: "refs/heads/master", options: .init()))
        #expect(try loser.fetch(branch: "master", from: url, into: "refs/heads/master", options: .init()) == tip)
        let won = try fixture.commit(in: winner, on: tip, name: "a")
        try winner.push(won, toBranch: "master", of: url, options: RemoteOptions())
        if knowsNewTip {
            _ = try loser.fetch(branch: "master", from: url, into: "refs/remotes/seen", options: RemoteOptions())
        }
        let stale = try fixture.commit(in: loser, on: tip, name: "b")
        let rejected = try #require(throws: PushRejected.self) {
            try loser.push(stale, toBranch: "master", of: url, options: RemoteOptions())
        }
        #expect(rejected.isStaleTip, "\(rejected)")
        // libgit2 finds it before sending anything (GIT_ENONFASTFORWARD, `GitError.isStaleTip`), in its words.
        let words =
            knowsNewTip
            ? "cannot push non-fastforwardable reference"
            : "cannot push because a reference that you are trying to update on the remote contains commits that are "
                + "not present locally."
        #expect(rejected.reason == "non-fast-forward (\(words))", "\(rejected)")
        #expect(try fixture.origin.commitID() == won.hex)
    }
}

// MARK: - Authentication

@Suite(.serialized, .enabled(if: HTTPSGitServer.isAvailable(tls: false), "needs lighttpd and git-http-backend"))
struct AuthenticationClassificationTests {
    @Test func aWrongPasswordIsRefusedAndNamed() throws {
        let fixture = try Fixture(label: "auth-wrong")
        let server = try HTTPSGitServer(scratch: fixture.scratch, tls: false, user: "alice", password: "right-pw")
        defer { server.stop() }
        let url = server.url(for: fixture.origin)
        let cache = try fixture.cache()
        let options = RemoteOptions(credentials: .userPassword(user: "alice", password: "wrong-pw"))
        let refused = try #require(throws: AuthenticationRefused.self) {
            try cache.fetch(branch: "master", from: url, into: "refs/heads/master", options: options)
        }
        #expect(refused.tried == "username and password for user 'alice'")
        #expect(!"\(refused)".contains("wrong-pw"))

        // The right password works against the same server: the refusal was about the credential.
        let right = RemoteOptions(credentials: .userPassword(user: "alice", password: "right-pw"))
        #expect(try cache.fetch(branch: "master", from: url, into: "refs/heads/master", options: right) != nil)
    }

    @Test func noCredentialIsSaidSo() throws {
        let fixture = try Fixture(label: "auth-none")
        let server = try HTTPSGitServer(scratch: fixture.scratch, tls: false, user: "alice", password: "right-pw")
        defer { server.stop() }
        let cache = try fixture.cache()
        let refused = try #require(throws: AuthenticationRefused.self) {
            try cache.fetch(
                branch: "master", from: server.url(for: fixture.origin), into: "refs/heads/master", options: .init())
        }
        #expect(refused.tried == nil)
    }

    @Test func aMissingRepositoryOverHTTPIsNotFound() throws {
        let fixture = try Fixture(label: "http-404")
        let server = try HTTPSGitServer(scratch: fixture.scratch, tls: false)
        defer { server.stop() }
        let error = try fixture.fetchFailure(from: server.url(for: "missing.git"))
        #expect(error.httpStatus == 404, "\(error)")
        #expect(error.meanings == [.repositoryNotFound], "\(error)")
    }
}

@Suite(.serialized, .enabled(if: SSHServer.isAvailable && gitIsAvailable, "needs sshd and git"))
struct SSHClassificationTests {
    @Test func aWrongKeyIsRefusedAndNamed() throws {
        let fixture = try Fixture(label: "ssh-wrong-key")
        let server = try SSHServer(scratch: fixture.scratch)
        defer { server.stop() }
        try server.authorize(try SSHKeys.generate(scratch: fixture.scratch))
        let stranger = try SSHKeys.generate(scratch: fixture.scratch)
        let options = RemoteOptions(credentials: .sshKey(user: nil, privateKey: stranger.privateKey, passphrase: nil))
        let cache = try fixture.cache()
        let refused = try #require(throws: AuthenticationRefused.self) {
            try cache.fetch(
                branch: "master", from: server.url(for: fixture.origin), into: "refs/heads/master", options: options)
        }
        #expect(refused.tried == "ssh private key for user '\(server.user)'")
    }

    @Test func aMissingRepositoryIsNotFoundInGitsWords() throws {
        let fixture = try Fixture(label: "ssh-missing")
        let server = try SSHServer(scratch: fixture.scratch)
        defer { server.stop() }
        let key = try SSHKeys.generate(scratch: fixture.scratch)
        try server.authorize(key)
        let options = RemoteOptions(credentials: .sshKey(user: nil, privateKey: key.privateKey, passphrase: nil))
        let missing = fixture.scratch.url("missing.git").path
        let error = try fixture.fetchFailure(from: server.url(for: missing), options: options)
        // git-upload-pack's stderr, passed on by libgit2 as the error.
        #expect(error.serverMessage?.contains("does not appear to be a git repository") == true, "\(error)")
        #expect(error.meanings == [.repositoryNotFound], "\(error)")
    }
}

// MARK: - A damaged object store

@Suite struct DamageClassificationTests {
    /// A cache with the origin's objects in one pack, and the blob of `envs/unclaimed/env-1`.
    private func packedCache(_ fixture: Fixture) throws -> (path: String, tip: ObjectID, blob: ObjectID) {
        let cache = try fixture.cache()
        let tip = try #require(
            try cache.fetch(branch: "master", from: fixture.origin.path, into: "refs/heads/master", options: .init()))
        let blob = try #require(try cache.entry(at: "envs/unclaimed/env-1", inTree: try cache.treeID(ofCommit: tip))).id
        // The local origin is read in place: repack takes its objects in, then the cache stands alone.
        try fixture.git.run(["--git-dir", cache.gitDirectory, "repack", "-a", "-d", "-q"])
        try FileManager.default.removeItem(atPath: cache.gitDirectory + "objects/info/alternates")
        return (cache.gitDirectory, tip, blob)
    }

    @Test func readingFromATruncatedPackIsDamage() throws {
        let fixture = try Fixture(label: "damage-pack")
        let (path, tip, blob) = try packedCache(fixture)
        let packs = URL(fileURLWithPath: path).appendingPathComponent("objects/pack")
        let pack = try #require(
            try FileManager.default.contentsOfDirectory(atPath: packs.path).first { $0.hasSuffix(".pack") })
        let file = packs.appendingPathComponent(pack).path
        let size = try #require(try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int)
        #expect(truncate(file, off_t(size / 2)) == 0)

        let reopened = try Repository.open(at: path)
        let error = try #require(throws: GitError.self) {
            _ = try reopened.blob(blob)
            _ = try reopened.entries(ofTree: try reopened.treeID(ofCommit: tip))
        }
        // libgit2 drops the pack (its size and trailer do not match the index): its objects are not found.
        #expect(error.errorClass == .odb && error.code == .notFound, "\(error)")
        #expect(error.meanings == [.damagedObjectStore], "\(error)")
    }

    @Test func aDeletedLooseObjectIsDamage() throws {
        let fixture = try Fixture(label: "damage-loose")
        let cache = try fixture.cache()
        let blob = try cache.createBlob(Array("doomed\n".utf8))
        let hex = blob.hex
        let file = "\(cache.gitDirectory)objects/\(hex.prefix(2))/\(hex.dropFirst(2))"
        try FileManager.default.removeItem(atPath: file)
        let reopened = try Repository.open(at: cache.gitDirectory)
        let error = try #require(throws: GitError.self) { _ = try reopened.blob(blob) }
        #expect(error.code == .notFound && error.errorClass == .odb, "\(error)")
        #expect(error.meanings == [.damagedObjectStore], "\(error)")
    }

    @Test func aTreeOrCommitNamingAMissingObjectIsDamage() throws {
        let fixture = try Fixture(label: "damage-missing")
        let (path, tip, _) = try packedCache(fixture)
        let cache = try Repository.open(at: path)
        let missing = try #require(ObjectID(hex: String(repeating: "12", count: 20)))
        let tree = try #require(throws: GitError.self) {
            _ = try cache.updatedTree(
                try cache.treeID(ofCommit: tip),
                applying: [.upsert(path: "envs/unclaimed/x", id: missing, mode: 0o100644)])
        }
        #expect(tree.message == "failed to insert entry: invalid object specified - x", "\(tree)")
        #expect(tree.errorClass == .tree)
        #expect(tree.meanings == [.damagedObjectStore], "\(tree)")
        let commit = try #require(throws: GitError.self) {
            _ = try cache.createCommit(
                tree: try cache.treeID(ofCommit: tip), parents: [missing], message: "m\n", author: tester,
                committer: tester)
        }
        #expect(commit.meanings == [.damagedObjectStore], "\(commit)")
    }

    @Test func aStaleLockFileIsDamage() throws {
        let fixture = try Fixture(label: "damage-lock")
        let (path, tip, _) = try packedCache(fixture)
        try Data().write(to: URL(fileURLWithPath: path).appendingPathComponent("refs/heads/master.lock"))
        let cache = try Repository.open(at: path)
        let error = try #require(throws: GitError.self) {
            try cache.setReference("refs/heads/master", to: tip, message: "test")
        }
        #expect(error.code == .locked, "\(error)")
        #expect(error.meanings == [.damagedObjectStore], "\(error)")
    }

    @Test func aCorruptReferenceIsDamage() throws {
        let fixture = try Fixture(label: "damage-ref")
        let (path, _, _) = try packedCache(fixture)
        try Data("not an object id\n".utf8).write(
            to: URL(fileURLWithPath: path).appendingPathComponent("refs/heads/master"))
        let cache = try Repository.open(at: path)
        let error = try #require(throws: GitError.self) { _ = try cache.referenceTarget("refs/heads/master") }
        #expect(error.errorClass == .reference, "\(error)")
        #expect(error.meanings == [.damagedObjectStore], "\(error)")
    }
}
