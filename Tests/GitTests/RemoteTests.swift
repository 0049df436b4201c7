import Foundation
import Synchronization
import TestSupport
import Testing

@testable import Git

#if canImport(Glibc)
    import Glibc
#endif

/// Whether a `git` executable is on `PATH` (the daemon suite needs one).
private let gitIsAvailable: Bool = {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    return path.split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/git") }
}()

private let tester = Signature(
    name: "Lockpool Test", email: "test@lockpool.invalid", time: Date(timeIntervalSince1970: 1_777_730_400))

/// How a test names a local origin.
enum LocalURLKind: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case path, fileURL = "file:// URL"
    var testDescription: String { rawValue }

    func url(of origin: LockRepository) -> String {
        switch self {
        case .path: origin.path
        case .fileURL: origin.fileURL
        }
    }
}

/// An origin with one pool and helpers to make caches and commits the way lockpool does.
private struct RemoteFixture {
    let scratch: Scratch
    let origin: LockRepository
    let git: GitCLI

    init(label: String, branch: String = "master") throws {
        scratch = try Scratch(label: label)
        origin = try LockRepository.create(
            in: scratch, branch: branch,
            pools: ["envs": ["env-1": .unclaimed("one\n"), "env-2": .claimed("two\n")]])
        git = try GitCLI(scratch: scratch)
    }

    /// A fresh bare repository standing in for lockpool's cache.
    func cache(_ name: String = "cache") throws -> Repository {
        try Repository.create(at: scratch.url(name).path, bare: true)
    }

    /// Fetches the branch into `refs/heads/<branch>` of `repository`.
    @discardableResult
    func fetch(into repository: Repository, from url: String? = nil) throws -> ObjectID? {
        try repository.fetch(
            branch: origin.branch, from: url ?? origin.path, into: "refs/heads/\(origin.branch)",
            options: RemoteOptions())
    }

    /// A commit on `tip` writing `content` to `path`, as lockpool makes one (not pushed).
    func commit(in repository: Repository, on tip: ObjectID, writing content: String, to path: String) throws
        -> ObjectID
    {
        let tree = try repository.updatedTree(
            try repository.treeID(ofCommit: tip),
            applying: [.upsert(path: path, id: try repository.createBlob(Array(content.utf8)), mode: 0o100644)])
        return try repository.createCommit(
            tree: tree, parents: [tip], message: "write \(path)\n\nLock-Nonce: \(UUID())\n", author: tester,
            committer: tester)
    }

    /// Installs `hooks/pre-receive` in the origin: prints `reason` on stderr and exits 1.
    func refuseEveryPush(reason: String) throws {
        let hook = origin.url.appendingPathComponent("hooks/pre-receive")
        try FileManager.default.createDirectory(
            at: hook.deletingLastPathComponent(), withIntermediateDirectories: true)
        try "#!/bin/sh\necho '\(reason)' >&2\nexit 1\n".write(to: hook, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: hook.path)
    }

    /// Every file below `objects/` of `repository`, relative paths.
    func objectFiles(of repository: Repository) -> Set<String> {
        let objects = URL(fileURLWithPath: repository.gitDirectory).appendingPathComponent("objects").path
        let files = FileManager.default.enumerator(atPath: objects)?.compactMap { $0 as? String } ?? []
        return Set(
            files.filter { path in
                var isDirectory: ObjCBool = false
                return FileManager.default.fileExists(atPath: objects + "/" + path, isDirectory: &isDirectory)
                    && !isDirectory.boolValue
            })
    }
}

@Suite struct FetchTests {
    @Test(arguments: LocalURLKind.allCases)
    func fetchReturnsTheTipAndPointsTheLocalReference(_ kind: LocalURLKind) throws {
        let fixture = try RemoteFixture(label: "fetch")
        let cache = try fixture.cache()
        let tip = try #require(try fixture.fetch(into: cache, from: kind.url(of: fixture.origin)))
        #expect(tip.hex == (try fixture.origin.commitID()))
        #expect(try cache.referenceTarget("refs/heads/master") == tip)
        let tree = try cache.treeID(ofCommit: tip)
        let entry = try #require(try cache.entry(at: "envs/unclaimed/env-1", inTree: tree))
        #expect(try cache.blob(entry.id) == Array("one\n".utf8))
        // No FETCH_HEAD and no remote configuration are written.
        #expect(!FileManager.default.fileExists(atPath: cache.gitDirectory + "FETCH_HEAD"))
        let config = try String(contentsOfFile: cache.gitDirectory + "config", encoding: .utf8)
        #expect(!config.contains("[remote"))
    }

    @Test(arguments: LocalURLKind.allCases)
    func missingBranchGivesNilAndLeavesTheLocalReference(_ kind: LocalURLKind) throws {
        let fixture = try RemoteFixture(label: "fetch-missing")
        let cache = try fixture.cache()
        let tip = try #require(try fixture.fetch(into: cache))
        try cache.setReference("refs/heads/gone", to: tip)
        let fetched = try cache.fetch(
            branch: "gone", from: kind.url(of: fixture.origin), into: "refs/heads/gone", options: RemoteOptions())
        #expect(fetched == nil)
        #expect(try cache.referenceTarget("refs/heads/gone") == tip)
    }

    @Test func branchNamesWithSlashesAreFetched() throws {
        let fixture = try RemoteFixture(label: "fetch-slash", branch: "feature/locks")
        let cache = try fixture.cache()
        let tip = try #require(
            try cache.fetch(
                branch: "feature/locks", from: fixture.origin.path, into: "refs/heads/feature/locks",
                options: RemoteOptions()))
        #expect(tip.hex == (try fixture.origin.commitID()))
        #expect(
            try cache.fetch(branch: "feature", from: fixture.origin.path, into: "refs/x", options: RemoteOptions())
                == nil)
    }

    /// Over git daemon: a local repository is read in place (`ShallowFetchTests.aLocalRepositoryIsReadInPlace`).
    @Test(.enabled(if: gitIsAvailable)) func secondFetchOfAnUnchangedTipDownloadsNothing() throws {
        let fixture = try RemoteFixture(label: "fetch-twice")
        let daemon = try GitDaemon(scratch: fixture.scratch)
        defer { shutDown(daemon) }
        let url = daemon.url(for: fixture.origin)
        let cache = try fixture.cache()
        let first = try fixture.fetch(into: cache, from: url)
        let afterFirst = fixture.objectFiles(of: cache)
        #expect(!afterFirst.isEmpty)
        let second = try fixture.fetch(into: cache, from: url)
        #expect(second == first)
        #expect(fixture.objectFiles(of: cache) == afterFirst)

        // The measure is meaningful: a new commit on the origin does bring objects.
        let moved = try fixture.origin.moveLock("env-1", in: "envs", toClaimed: true)
        let third = try fixture.fetch(into: cache, from: url)
        #expect(third?.hex == moved)
        #expect(fixture.objectFiles(of: cache).isStrictSuperset(of: afterFirst))
    }

    @Test(arguments: LocalURLKind.allCases)
    func forcePushedBranchIsFollowed(_ kind: LocalURLKind) throws {
        let fixture = try RemoteFixture(label: "fetch-force")
        let url = kind.url(of: fixture.origin)
        try fixture.origin.moveLock("env-1", in: "envs", toClaimed: true)
        let cache = try fixture.cache()
        let before = try #require(try fixture.fetch(into: cache, from: url))

        // Rewrite the branch: drop the last commit and push another one with --force.
        let work = try fixture.scratch.uniqueDirectory("rewrite")
        let workGit = fixture.git.inDirectory(work)
        try workGit.run(["clone", "--quiet", fixture.origin.path, "."])
        try workGit.run(["reset", "--quiet", "--hard", "HEAD~1"])
        try "rewritten\n".write(to: work.appendingPathComponent("README"), atomically: true, encoding: .utf8)
        try workGit.run(["commit", "--quiet", "-am", "rewrite history"])
        try workGit.run(["push", "--quiet", "--force", "origin", "HEAD:refs/heads/master"])
        let rewritten = try fixture.origin.commitID()

        let after = try #require(try fixture.fetch(into: cache, from: url))
        #expect(after.hex == rewritten)
        #expect(after != before)
        #expect(try !cache.isSameOrDescendant(after, of: before))
        #expect(try cache.referenceTarget("refs/heads/master") == after)
    }

    @Test func fetchFromAMissingRepositoryThrows() throws {
        let fixture = try RemoteFixture(label: "fetch-none")
        let cache = try fixture.cache()
        #expect(throws: GitError.self) {
            try cache.fetch(
                branch: "master", from: fixture.scratch.url("nothing.git").path, into: "refs/heads/master",
                options: RemoteOptions())
        }
        #expect(try cache.referenceTarget("refs/heads/master") == nil)
    }
}

@Suite struct PushTests {
    @Test(arguments: LocalURLKind.allCases)
    func pushOfACommitOnTheTipWins(_ kind: LocalURLKind) throws {
        let fixture = try RemoteFixture(label: "push-wins")
        let url = kind.url(of: fixture.origin)
        let cache = try fixture.cache()
        let tip = try #require(try fixture.fetch(into: cache, from: url))
        let commit = try fixture.commit(in: cache, on: tip, writing: "three\n", to: "envs/unclaimed/env-3")
        try cache.push(commit, toBranch: "master", of: url, options: RemoteOptions())
        #expect(try fixture.origin.commitID() == commit.hex)
        #expect(try fixture.origin.file("envs/unclaimed/env-3") == Data("three\n".utf8))
        #expect(try fixture.git.inDirectory(fixture.origin.url).run(["fsck", "--no-dangling"]).status == 0)
    }

    @Test(arguments: LocalURLKind.allCases, [false, true])
    func pushOfAStaleCommitIsAStaleTipRejection(_ kind: LocalURLKind, knowsNewTip: Bool) throws {
        let fixture = try RemoteFixture(label: "push-stale")
        let url = kind.url(of: fixture.origin)
        let winner = try fixture.cache("winner")
        let loser = try fixture.cache("loser")
        let tip = try #require(try fixture.fetch(into: winner, from: url))
        #expect(try fixture.fetch(into: loser, from: url) == tip)

        let won = try fixture.commit(in: winner, on: tip, writing: "a", to: "envs/unclaimed/a")
        try winner.push(won, toBranch: "master", of: url, options: RemoteOptions())
        if knowsNewTip {
            // The loser has seen the new tip but still pushes a commit made on the old one.
            _ = try loser.fetch(branch: "master", from: url, into: "refs/remotes/seen", options: RemoteOptions())
            #expect(loser.contains(won))
        }
        let stale = try fixture.commit(in: loser, on: tip, writing: "b", to: "envs/unclaimed/b")
        let rejected = try #require(throws: PushRejected.self) {
            try loser.push(stale, toBranch: "master", of: url, options: RemoteOptions())
        }
        #expect(rejected.isStaleTip, "\(rejected)")
        #expect(rejected.reference == "refs/heads/master")
        #expect(rejected.description.hasPrefix("push of refs/heads/master was rejected: "))
        #expect(try fixture.origin.commitID() == won.hex)
    }

    @Test func pushToALocalBareRepositoryWithARefusingHook() throws {
        // libgit2's local transport writes objects and references itself; it does not run the origin's hooks.
        let fixture = try RemoteFixture(label: "push-local-hook")
        try fixture.refuseEveryPush(reason: "pushes are frozen until Monday")
        let cache = try fixture.cache()
        let tip = try #require(try fixture.fetch(into: cache))
        let commit = try fixture.commit(in: cache, on: tip, writing: "x", to: "envs/unclaimed/x")
        try cache.push(commit, toBranch: "master", of: fixture.origin.path, options: RemoteOptions())
        #expect(try fixture.origin.commitID() == commit.hex)
        // The git CLI pushing to the same path does run the hook.
        let work = try fixture.scratch.uniqueDirectory("cli")
        let workGit = fixture.git.inDirectory(work)
        try workGit.run(["clone", "--quiet", fixture.origin.path, "."])
        try workGit.run(["commit", "--quiet", "--allow-empty", "-m", "empty"])
        let refused = try workGit.result(["push", "origin", "HEAD:refs/heads/master"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("pushes are frozen until Monday"))
    }

    struct ReasonCase: Sendable, CustomTestStringConvertible {
        let reason: String, isStale: Bool
        var testDescription: String { "\(reason) → \(isStale ? "stale tip" : "refused")" }
    }

    @Test(arguments: [
        ReasonCase(reason: "non-fast-forward", isStale: true), ReasonCase(reason: "fetch first", isStale: true),
        ReasonCase(reason: "stale info", isStale: true), ReasonCase(reason: "failed to lock", isStale: true),
        ReasonCase(reason: "cannot lock ref 'refs/heads/master'", isStale: true),
        ReasonCase(reason: "Non-Fast-Forward (cannot push)", isStale: true),
        ReasonCase(reason: "pre-receive hook declined", isStale: false),
        ReasonCase(reason: "protected branch hook declined", isStale: false),
        ReasonCase(reason: "permission denied", isStale: false), ReasonCase(reason: "", isStale: false),
    ])
    func pushRejectedClassifiesReasons(_ c: ReasonCase) {
        let rejected = PushRejected(reference: "refs/heads/master", reason: c.reason, serverMessages: "")
        #expect(rejected.isStaleTip == c.isStale)
    }
}

/// Every live descendant of `root` (children first), read from `/proc`.
private func descendants(of root: pid_t) -> [pid_t] {
    var parents: [pid_t: pid_t] = [:]
    for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let pid = pid_t(name), let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { continue }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        if fields.count > 1, let parent = pid_t(fields[1]) { parents[pid] = parent }
    }
    var result: [pid_t] = []
    var frontier = [root]
    while let next = frontier.popLast() {
        let children = parents.filter { $0.value == next }.map(\.key)
        result += children
        frontier += children
    }
    return result
}

/// Stops a daemon this test started without relying on SIGTERM or on its connection children exiting: the daemon
/// can inherit a signal mask blocking SIGTERM from the test thread, and a stuck connection child keeps
/// `GitDaemon.stop()` waiting forever (seen in this environment). Only the daemon's own process tree is killed.
private func shutDown(_ daemon: GitDaemon) {
    for pid in descendants(of: daemon.pid).reversed() { kill(pid, SIGKILL) }
    kill(daemon.pid, SIGKILL)
    daemon.stop()
}

/// Pushes and fetches over `git daemon --enable=receive-pack` on 127.0.0.1, where the origin's hooks run.
@Suite(.serialized, .enabled(if: gitIsAvailable, "needs the git CLI for git daemon"))
struct DaemonRemoteTests {
    @Test func hookRefusalIsNotAStaleTip() throws {
        let fixture = try RemoteFixture(label: "daemon-hook")
        try fixture.refuseEveryPush(reason: "pushes are frozen until Monday")
        let daemon = try GitDaemon(scratch: fixture.scratch)
        defer { shutDown(daemon) }
        let url = daemon.url(for: fixture.origin)
        let cache = try fixture.cache()
        let tip = try #require(try fixture.fetch(into: cache, from: url))
        #expect(tip.hex == (try fixture.origin.commitID()))
        let commit = try fixture.commit(in: cache, on: tip, writing: "x", to: "envs/unclaimed/x")
        let rejected = try #require(throws: PushRejected.self) {
            try cache.push(commit, toBranch: "master", of: url, options: RemoteOptions())
        }
        #expect(!rejected.isStaleTip, "\(rejected)")
        #expect(rejected.reference == "refs/heads/master")
        #expect(rejected.reason == "pre-receive hook declined")
        #expect(
            rejected.serverMessages.contains("remote: pushes are frozen until Monday"), "\(rejected.serverMessages)")
        #expect(try fixture.origin.commitID() == tip.hex)
    }

    @Test func pushWinsAndStalePushLosesOverGitDaemon() throws {
        let fixture = try RemoteFixture(label: "daemon-race")
        let daemon = try GitDaemon(scratch: fixture.scratch)
        defer { shutDown(daemon) }
        let url = daemon.url(for: fixture.origin)
        let winner = try fixture.cache("winner")
        let loser = try fixture.cache("loser")
        let tip = try #require(try fixture.fetch(into: winner, from: url))
        #expect(try fixture.fetch(into: loser, from: url) == tip)
        let won = try fixture.commit(in: winner, on: tip, writing: "a", to: "envs/unclaimed/a")
        try winner.push(won, toBranch: "master", of: url, options: RemoteOptions())
        #expect(try fixture.origin.commitID() == won.hex)

        let stale = try fixture.commit(in: loser, on: tip, writing: "b", to: "envs/unclaimed/b")
        let rejected = try #require(throws: PushRejected.self) {
            try loser.push(stale, toBranch: "master", of: url, options: RemoteOptions())
        }
        #expect(rejected.isStaleTip, "\(rejected)")
        #expect(try fixture.origin.commitID() == won.hex)

        // After a fresh fetch the loser's next commit wins.
        let fresh = try #require(try fixture.fetch(into: loser, from: url))
        #expect(fresh == won)
        let retry = try fixture.commit(in: loser, on: fresh, writing: "b", to: "envs/unclaimed/b")
        try loser.push(retry, toBranch: "master", of: url, options: RemoteOptions())
        #expect(try fixture.origin.commitID() == retry.hex)
    }
}

@Suite struct WorkTreeTests {
    @Test func checkoutDetachedWritesFilesAndDetachesHead() throws {
        let fixture = try RemoteFixture(label: "checkout")
        try fixture.origin.commit(message: "add an executable") { work in
            let file = work.appendingPathComponent("tools/run.sh")
            try FileManager.default.createDirectory(
                at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try "#!/bin/sh\n".write(to: file, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: file.path)
        }
        let destination = fixture.scratch.url("destination")
        let repository = try Repository.create(at: destination.path, bare: false)
        try repository.setRemote("origin", url: fixture.origin.path)
        let tip = try #require(
            try repository.fetch(
                branch: "master", from: fixture.origin.path, into: "refs/remotes/origin/master",
                options: RemoteOptions()))
        try repository.checkoutDetached(tip)

        let read = { (path: String) in try String(contentsOf: destination.appendingPathComponent(path), encoding: .utf8)
        }
        #expect(try read("envs/unclaimed/env-1") == "one\n")
        #expect(try read("envs/claimed/env-2") == "two\n")
        #expect(try read("envs/claimed/.gitkeep") == "")
        #expect(FileManager.default.isExecutableFile(atPath: destination.appendingPathComponent("tools/run.sh").path))
        let git = fixture.git.inDirectory(destination)
        #expect(try git.output("rev-parse", "HEAD") == tip.hex)
        #expect(try git.result(["symbolic-ref", "-q", "HEAD"]).status != 0)
        #expect(try git.output("status", "--porcelain").isEmpty)

        // Local changes are overwritten and deleted files come back.
        try "changed".write(
            to: destination.appendingPathComponent("envs/unclaimed/env-1"), atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(at: destination.appendingPathComponent("envs/claimed/env-2"))
        try repository.checkoutDetached(tip)
        #expect(try read("envs/unclaimed/env-1") == "one\n")
        #expect(try read("envs/claimed/env-2") == "two\n")
    }

    @Test func checkoutInABareRepositoryFails() throws {
        let fixture = try RemoteFixture(label: "checkout-bare")
        let cache = try fixture.cache()
        let tip = try #require(try fixture.fetch(into: cache))
        #expect(throws: GitError.self) { try cache.checkoutDetached(tip) }
    }

    @Test func setRemoteAddsAndReplaces() throws {
        let fixture = try RemoteFixture(label: "set-remote")
        let repository = try Repository.create(at: fixture.scratch.url("work").path, bare: false)
        let git = fixture.git.inDirectory(fixture.scratch.url("work"))
        try repository.setRemote("origin", url: "/srv/first.git")
        #expect(try git.output("remote", "get-url", "origin") == "/srv/first.git")
        try repository.setRemote("origin", url: "https://git.example.com/ops/locks.git")
        #expect(try git.output("remote", "get-url", "origin") == "https://git.example.com/ops/locks.git")
        #expect(try git.output("remote") == "origin")
    }
}

@Suite struct CredentialsTests {
    static let secret = "hunter2-S3cret!"
    static let credentials = Credentials.userPassword(user: "deploy-bot", password: secret)

    @Test func descriptionsNeverShowTheSecret() {
        let c = Self.credentials
        var dumped = ""
        dump(c, to: &dumped)
        var dumpedOptions = ""
        dump(RemoteOptions(credentials: c), to: &dumpedOptions)
        let texts: [String: String] = [
            "description": c.description, "debugDescription": c.debugDescription, "interpolation": "\(c)",
            "String(describing:)": String(describing: c), "String(reflecting:)": String(reflecting: c),
            "dump": dumped, "dump of RemoteOptions": dumpedOptions,
            "interpolated RemoteOptions": "\(RemoteOptions(credentials: c))",
            "optional": "\(Optional(c) as Any)", "array": "\([c])",
        ]
        for (name, text) in texts {
            #expect(!text.contains(Self.secret), "\(name): \(text)")
            #expect(!text.contains("S3cret"), "\(name): \(text)")
        }
        #expect(c.description == "Credentials(username and password for user 'deploy-bot', ****)")
        #expect(c.debugDescription == c.description)
        #expect(Mirror(reflecting: c).children.isEmpty)
        #expect(c.kindDescription == "username and password for user 'deploy-bot'")
    }

    @Test func secretsAreListedForRedaction() {
        #expect(Self.credentials.secrets == [Self.secret])
        #expect(
            redact("fatal: \(Self.secret) rejected; again \(Self.secret)", Self.credentials.secrets)
                == "fatal: **** rejected; again ****")
        #expect(redact("unchanged", ["", "x-not-there"]) == "unchanged")
    }
}

@Suite struct LocalPushAtomicityTests {
    /// Two caches push commits made on the same tip at the same moment: exactly one may win.
    @Test func concurrentPushesToALocalPathHaveOneWinner() throws {
        let fixture = try RemoteFixture(label: "push-atomic")
        let url = fixture.origin.path
        let caches = [try fixture.cache("one"), try fixture.cache("two")]
        var bothWon = 0
        for round in 0..<25 {
            let tip = try #require(try fixture.fetch(into: caches[0], from: url))
            #expect(try fixture.fetch(into: caches[1], from: url) == tip)
            let commits = try caches.enumerated().map { index, cache in
                try fixture.commit(in: cache, on: tip, writing: "\(round)-\(index)", to: "round/\(index)")
            }
            let outcomes = Mutex<[Int: Bool]>([:])
            // Each cache is used from one thread only.
            let paths = caches.map(\.gitDirectory)
            DispatchQueue.concurrentPerform(iterations: 2) { index in
                let won: Bool
                do {
                    let repository = try Repository.open(at: paths[index])
                    try repository.push(commits[index], toBranch: "master", of: url, options: RemoteOptions())
                    won = true
                } catch {
                    won = false
                }
                outcomes.withLock { $0[index] = won }
            }
            let winners = outcomes.withLock { $0 }.filter(\.value).map(\.key)
            if winners.count == 2 { bothWon += 1 }
            #expect(winners.count >= 1)
        }
        // libgit2's local transport would force-update the ref; Remote pushes locally by compare-and-swap instead.
        #expect(bothWon == 0, "rounds where both pushes reported success (one commit lost): \(bothWon) of 25")
    }
}

/// Shallow fetches and a shallow repository's history (docs/concurrency.md#a-shallow-cache,
/// docs/decisions/0009-shallow-cache.md), over `git daemon` where libgit2 1.8.4 needs lockpool's stream to repair the
/// request.
@Suite(.enabled(if: gitIsAvailable)) struct ShallowFetchTests {
    /// An origin with `extra` commits after its first, served by a daemon; a fresh cache; the daemon's URL.
    private func served(_ label: String, extra: Int) throws -> (RemoteFixture, GitDaemon, Repository, String) {
        let fixture = try RemoteFixture(label: label)
        for index in 1...extra { try fixture.origin.writeFile("notes", content: "\(index)\n") }
        let daemon = try GitDaemon(scratch: fixture.scratch)
        return (fixture, daemon, try fixture.cache(), daemon.url(for: fixture.origin))
    }

    private func revisionCount(_ fixture: RemoteFixture, _ repository: Repository, _ ref: String = "master") throws
        -> Int
    {
        let git = fixture.git.inDirectory(URL(fileURLWithPath: repository.gitDirectory))
        try git.run(["fsck", "--no-dangling"])
        return Int(try git.output("rev-list", "--count", ref)) ?? -1
    }

    @Test func aShallowFetchOverGitDaemonBringsTheTipAndItsParent() throws {
        let (fixture, daemon, cache, url) = try served("shallow-daemon", extra: 20)
        defer { shutDown(daemon) }
        let remote = try Remote(repository: cache, url: url, options: RemoteOptions())
        #expect(remote.fetchesShallow)
        let tip = try #require(try remote.fetch(branch: "master", into: "refs/heads/master", depth: 2))
        #expect(tip.hex == (try fixture.origin.commitID()))
        let parent = try #require(try cache.commit(tip).parents.first)
        #expect(cache.isShallow)
        #expect(cache.shallowRoots == [parent])
        #expect(try revisionCount(fixture, cache) == 2)

        // A walk shows the tip, then stops at the boundary: the root's parents are not here to compare with.
        var seen: [ObjectID] = []
        let truncated = try #require(throws: HistoryTruncated.self) {
            try cache.walkFirstParents(from: tip) { id in
                seen.append(id)
                return true
            }
        }
        #expect(seen == [tip])
        #expect(truncated.commit == parent)
        // An id-only walk shows the root too.
        var ids: [ObjectID] = []
        #expect(throws: HistoryTruncated.self) {
            try cache.walkFirstParentIDs(from: tip) { id in
                ids.append(id)
                return true
            }
        }
        #expect(ids == [tip, parent])
        #expect(try cache.isSameOrDescendant(tip, of: parent))
        let first = try #require(ObjectID(hex: try fixture.origin.commitID("master~20")))
        #expect(throws: HistoryTruncated.self) { try cache.isSameOrDescendant(tip, of: first) }
    }

    /// Over HTTP the repetition of the request is the protocol (stateless): nothing is repaired, and it works.
    @Test(.enabled(if: HTTPSGitServer.isAvailable(tls: false)))
    func aShallowFetchAndPushOverSmartHTTP() throws {
        let fixture = try RemoteFixture(label: "shallow-http")
        for index in 1...20 { try fixture.origin.writeFile("notes", content: "\(index)\n") }
        let server = try HTTPSGitServer(scratch: fixture.scratch, tls: false)
        defer { server.stop() }
        let cache = try fixture.cache()
        let remote = try Remote(repository: cache, url: server.url(for: fixture.origin), options: RemoteOptions())
        #expect(remote.fetchesShallow)
        let tip = try #require(try remote.fetch(branch: "master", into: "refs/heads/master", depth: 2))
        #expect(tip.hex == (try fixture.origin.commitID()))
        #expect(cache.shallowRoots == [try #require(try cache.commit(tip).parents.first)])
        #expect(try revisionCount(fixture, cache) == 2)
        let commit = try fixture.commit(in: cache, on: tip, writing: "x", to: "envs/unclaimed/x")
        try remote.push(commit, toBranch: "master")
        #expect(try fixture.origin.commitID() == commit.hex)
        try fixture.origin.writeFile("more", content: "1\n")
        #expect(try remote.fetch(branch: "master", into: "refs/heads/master")?.hex == (try fixture.origin.commitID()))
        #expect(try revisionCount(fixture, cache) == 4)
    }

    @Test func aFetchWithoutDepthKeepsTheShallowRoots() throws {
        let (fixture, daemon, cache, url) = try served("shallow-keep", extra: 10)
        defer { shutDown(daemon) }
        let remote = try Remote(repository: cache, url: url, options: RemoteOptions())
        _ = try remote.fetch(branch: "master", into: "refs/heads/master", depth: 2)
        let roots = cache.shallowRoots
        try #require(roots.count == 1)
        for index in 1...5 { try fixture.origin.writeFile("more", content: "\(index)\n") }

        // libgit2 1.8.4 alone would forget the root here, and the history would read as damaged.
        let tip = try #require(try remote.fetch(branch: "master", into: "refs/heads/master"))
        #expect(tip.hex == (try fixture.origin.commitID()))
        #expect(cache.shallowRoots == roots)
        #expect(try revisionCount(fixture, cache) == 7)
        // Opened again, libgit2 walks down to the same boundary.
        var walked = 0
        #expect(throws: HistoryTruncated.self) {
            try Repository.open(at: cache.gitDirectory).walkFirstParents(from: tip) { _ in
                walked += 1
                return true
            }
        }
        #expect(walked == 6)
    }

    @Test func aShallowRepositoryPushesOverGitDaemon() throws {
        let (fixture, daemon, cache, url) = try served("shallow-push", extra: 10)
        defer { shutDown(daemon) }
        let remote = try Remote(repository: cache, url: url, options: RemoteOptions())
        let tip = try #require(try remote.fetch(branch: "master", into: "refs/heads/master", depth: 2))
        let commit = try fixture.commit(in: cache, on: tip, writing: "x", to: "envs/unclaimed/x")
        try remote.push(commit, toBranch: "master")
        #expect(try fixture.origin.commitID() == commit.hex)
        try fixture.git.inDirectory(fixture.origin.url).run(["fsck", "--no-dangling"])
    }

    @Test func sharedObjectsCarryTheShallowRoots() throws {
        let (fixture, daemon, cache, url) = try served("shallow-share", extra: 5)
        defer { shutDown(daemon) }
        let tip = try #require(
            try Remote(repository: cache, url: url, options: RemoteOptions()).fetch(
                branch: "master", into: "refs/heads/master", depth: 2))
        let copy = try Repository.create(at: fixture.scratch.url("copy").path, bare: true)
        try copy.shareObjects(of: cache)
        try copy.setReference("refs/heads/master", to: tip)
        #expect(copy.shallowRoots == cache.shallowRoots)
        #expect(try revisionCount(fixture, copy) == 2)
    }

    @Test func networkRemotesFetchShallowLocalOnesNot() throws {
        let fixture = try RemoteFixture(label: "shallow-which")
        let cache = try fixture.cache()
        func shallow(_ url: String) throws -> Bool {
            try Remote(repository: cache, url: url, options: RemoteOptions()).fetchesShallow
        }
        #expect(try shallow("git://127.0.0.1/locks.git"))
        #expect(try shallow("https://127.0.0.1/locks.git"))
        #expect(try shallow("http://127.0.0.1/locks.git"))
        // lockpool's ssh transport repairs libgit2 1.8.4's repeated request as its git:// stream does.
        #expect(try shallow("ssh://git@127.0.0.1/locks.git"))
        #expect(try shallow("git@127.0.0.1:locks.git"))
        #expect(!(try shallow(fixture.origin.path)))
        #expect(!(try shallow(fixture.origin.fileURL)))
    }

    @Test(arguments: LocalURLKind.allCases)
    func aLocalRepositoryIsReadInPlace(_ kind: LocalURLKind) throws {
        let fixture = try RemoteFixture(label: "local-in-place")
        for index in 1...5 { try fixture.origin.writeFile("notes", content: "\(index)\n") }
        let cache = try fixture.cache()
        let tip = try #require(try fixture.fetch(into: cache, from: kind.url(of: fixture.origin)))
        #expect(tip.hex == (try fixture.origin.commitID()))
        // No object copied: the origin's object directory is an alternate.
        #expect(fixture.objectFiles(of: cache) == ["info/alternates"])
        let alternates = try String(contentsOfFile: cache.gitDirectory + "objects/info/alternates", encoding: .utf8)
        #expect(alternates.trimmingCharacters(in: .newlines).hasSuffix("/objects"))
        #expect(try revisionCount(fixture, cache) == 6)
        // A second fetch after new commits lists the alternate once.
        try fixture.origin.writeFile("notes", content: "six\n")
        #expect(
            try fixture.fetch(into: cache, from: kind.url(of: fixture.origin))?.hex == (try fixture.origin.commitID()))
        let again = try String(contentsOfFile: cache.gitDirectory + "objects/info/alternates", encoding: .utf8)
        #expect(again == alternates)
    }
}

/// The push connection opened while the fetch runs (PreparedConnection, docs/decisions/0009-shallow-cache.md).
@Suite(.serialized, .enabled(if: gitIsAvailable)) struct PreparedConnectionTests {
    @Test func gitURLsAreSplitAndOthersRefused() {
        #expect(
            PreparedConnection.gitURLParts("git://127.0.0.1:9000/locks.git")! == ("127.0.0.1", "9000", "/locks.git"))
        #expect(PreparedConnection.gitURLParts("git://example.com/a/b.git")! == ("example.com", "9418", "/a/b.git"))
        for url in [
            "ssh://git@host/locks.git", "https://host/locks.git", "/srv/locks.git", "git://host", "git://:1/x",
            "git://[::1]:9418/x", "git://u@host/x",
        ] {
            #expect(PreparedConnection.gitURLParts(url) == nil, "\(url)")
        }
    }

    @Test func thePreparedConnectionCarriesThePush() throws {
        let fixture = try RemoteFixture(label: "prepared-push")
        let daemon = try GitDaemon(scratch: fixture.scratch)
        defer { shutDown(daemon) }
        let url = daemon.url(for: fixture.origin)
        let (host, port, _) = try #require(PreparedConnection.gitURLParts(url))
        let cache = try fixture.cache()
        let remote = try Remote(repository: cache, url: url, options: RemoteOptions())
        remote.preparePush()
        let tip = try #require(try remote.fetch(branch: "master", into: "refs/heads/master", depth: 2))
        let commit = try fixture.commit(in: cache, on: tip, writing: "x", to: "envs/unclaimed/x")
        try remote.push(commit, toBranch: "master")
        #expect(try fixture.origin.commitID() == commit.hex)
        // Taken by the push, whatever the order the fetch and the preparing thread met in.
        #expect(PreparedConnection.claiming { PreparedConnection.take(host: host, port: port) } == nil)
    }

    @Test func aPushOnAListOlderThanTheFetchLosesTheRace() throws {
        let fixture = try RemoteFixture(label: "prepared-stale")
        let daemon = try GitDaemon(scratch: fixture.scratch)
        defer { shutDown(daemon) }
        let url = daemon.url(for: fixture.origin)
        let (host, port, _) = try #require(PreparedConnection.gitURLParts(url))
        let cache = try fixture.cache()
        let remote = try Remote(repository: cache, url: url, options: RemoteOptions())
        remote.preparePush()
        // The server has sent the prepared connection its reference list before the branch moves.
        let deadline = ContinuousClock.now + .seconds(20)
        while !PreparedConnection.hasAnswer(host: host, port: port), ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.01)
        }
        try #require(PreparedConnection.hasAnswer(host: host, port: port))
        // Another writer moves the branch; our fetch sees it, the prepared connection's list does not.
        let moved = try fixture.origin.writeFile("elsewhere", content: "1\n")
        let tip = try #require(try remote.fetch(branch: "master", into: "refs/heads/master", depth: 2))
        #expect(tip.hex == moved)
        let commit = try fixture.commit(in: cache, on: tip, writing: "x", to: "envs/unclaimed/x")
        let rejected = try #require(throws: PushRejected.self) { try remote.push(commit, toBranch: "master") }
        #expect(rejected.isStaleTip, "\(rejected)")
        #expect(try fixture.origin.commitID() == moved)
        // The next attempt, on a fresh connection, wins.
        try remote.push(commit, toBranch: "master")
        #expect(try fixture.origin.commitID() == commit.hex)
        try fixture.git.inDirectory(fixture.origin.url).run(["fsck", "--no-dangling"])
    }

    @Test func anUnusedPreparedConnectionIsClosed() throws {
        let fixture = try RemoteFixture(label: "prepared-unused")
        let daemon = try GitDaemon(scratch: fixture.scratch)
        defer { shutDown(daemon) }
        let url = daemon.url(for: fixture.origin)
        let (host, port, _) = try #require(PreparedConnection.gitURLParts(url))
        let remote = try Remote(repository: try fixture.cache(), url: url, options: RemoteOptions())
        remote.preparePush()
        // Outside a push, even a prepared connection is not handed over (the fetch's stream must not take it).
        #expect(PreparedConnection.take(host: host, port: port) == nil)
        remote.discardPreparedPush()
        #expect(PreparedConnection.claiming { PreparedConnection.take(host: host, port: port) } == nil)
    }
}
