import Foundation
import TestSupport
import Testing

/// The resource on a lock repository whose history is deeper than a cold cache fetches (docs/concurrency.md#a-shallow-cache):
/// over `git daemon`, every cold step fetches the tip and its parent, and fetches deeper only when its walk needs to.
/// Fencing with an old `claim_ref`, `in` and `check` at a deep version, a force-pushed branch and a warm cache all
/// behave as on a full clone.
@Suite(.serialized, .enabled(if: Executables.areAvailable && ExternalTool.areAvailable("git")))
struct ShallowCacheTests {
    typealias Server = FaultInjectionTests.Server
    static let filler = 300

    /// A server whose pool `p` holds `a` and `b` unclaimed.
    private func server(_ label: String) throws -> Server {
        try Server(label, locks: ["a": .unclaimed("alpha\n"), "b": .unclaimed("beta\n")])
    }

    /// `count` commits on the branch that change no lock (`git fast-import`, a second each).
    private func addFiller(_ count: Int = filler, to server: Server) throws {
        let repository = server.repository
        let tip = try repository.commitID()
        let start = Int(try repository.git.output("log", "-1", "--format=%ct", "master")) ?? 1_700_000_000
        var stream = ""
        for index in 1...count {
            let content = "note \(index)\n"
            stream += "commit refs/heads/master\ncommitter Filler <filler@example.invalid> \(start + index) +0000\n"
            stream += "data 7\nfiller\n" + (index == 1 ? "from \(tip)\n" : "")
            stream += "M 100644 inline notes.txt\ndata \(content.utf8.count)\n\(content)\n"
        }
        try repository.git.run(["fast-import", "--quiet"], stdin: Data(stream.utf8))
    }

    /// The commits of the client's cache (`git rev-list --count` on its branch), after `git fsck` found it whole.
    private func cacheCommits(_ client: FaultInjectionTests.Client, server: Server) throws -> Int {
        let git = try GitCLI(scratch: server.scratch).inDirectory(client.cacheDirectory)
        try git.run(["fsck", "--no-dangling"])
        return Int(try git.output("rev-list", "--count", "master")) ?? -1
    }

    private func isShallow(_ client: FaultInjectionTests.Client) -> Bool {
        FileManager.default.fileExists(atPath: client.cacheDirectory.appendingPathComponent("shallow").path)
    }

    @Test func aColdAcquireFetchesTheTipAndItsParentAndAWarmOneWhatIsNew() throws {
        let server = try server("shallow-acquire")
        try addFiller(to: server)
        let client = try server.client("one")
        let acquired = try expectSuccess(try client.out(["claim": "a"]), lock: "a", pool: "p")
        #expect(isShallow(client))
        #expect(try cacheCommits(client, server: server) == 3)  // the fetched tip, its parent, and the claim

        try addFiller(20, to: server)
        let second = try expectSuccess(try client.out(["claim": "b"]), lock: "b", pool: "p")
        #expect(isShallow(client))
        let commits = try cacheCommits(client, server: server)
        #expect(commits == 3 + 20 + 1, "\(commits)")
        #expect(try server.repository.isAncestor(acquired.version.ref, of: second.version.ref))
        try FaultInjectionTests.expectVerified(server)
    }

    @Test func aFencedReleaseFindsAClaimBelowTheFirstFetch() throws {
        let server = try server("shallow-fence")
        let acquired = try expectSuccess(try server.client("holder").out(["claim": "a"]), lock: "a", pool: "p")
        try addFiller(to: server)
        let releaser = try server.client("releaser")
        try expectSuccess(try releaser.release("a", claim: acquired.version.ref), lock: "a", pool: "p")
        #expect(try server.repository.locks(in: "p").unclaimed.contains("a"))
        #expect(try server.repository.commit().trailer("Lock-Claim") == acquired.version.ref)
        #expect(try cacheCommits(releaser, server: server) > 300)
    }

    @Test func aStaleFenceBelowTheFirstFetchIsRefused() throws {
        let server = try server("shallow-stale-fence")
        let old = try expectSuccess(try server.client("old").out(["claim": "a"]), lock: "a", pool: "p")
        try expectSuccess(try server.client("mid").release("a", claim: old.version.ref), lock: "a", pool: "p")
        let current = try expectSuccess(try server.client("new").out(["claim": "a"]), lock: "a", pool: "p")
        try addFiller(to: server)
        let before = try server.repository.commitID()
        let result = try server.client("late").release("a", claim: old.version.ref)
        #expect(result.status != 0, "\(result)")
        #expect(result.stderr.contains(String(current.version.ref.prefix(7))), "\(result)")
        #expect(result.stderr.contains("not releasing it"), "\(result)")
        #expect(try server.repository.commitID() == before)
    }

    @Test func inAtAVersionBelowTheFirstFetch() throws {
        let server = try server("shallow-in")
        let acquired = try expectSuccess(try server.client("holder").out(["claim": "a"]), lock: "a", pool: "p")
        try addFiller(to: server)
        let reader = try server.client("reader")
        let destination = try server.scratch.directory("get")
        try expectSuccess(try reader.get(version: acquired.version.ref, into: destination), lock: "a", pool: "p")
        #expect(readFile(destination, "name") == "a\n")
        #expect(readFile(destination, "claim_ref") == acquired.version.ref + "\n")
        #expect(readFile(destination, "metadata") == "alpha\n")
        // The destination is a repository git can read, holding the version and what came after it.
        let git = try GitCLI(scratch: server.scratch).inDirectory(destination)
        try git.run(["fsck", "--no-dangling"])
        #expect(try git.output("rev-parse", "HEAD") == acquired.version.ref)
        #expect(try git.output("rev-parse", "refs/remotes/origin/master") == (try server.repository.commitID()))
    }

    @Test func checkFromAVersionBelowTheFirstFetch() throws {
        let server = try server("shallow-check")
        let acquired = try expectSuccess(try server.client("holder").out(["claim": "a"]), lock: "a", pool: "p")
        try addFiller(to: server)
        let released = try expectSuccess(
            try server.client("releaser").release("a", claim: acquired.version.ref), lock: "a", pool: "p")
        let result = try server.client("checker").check(version: acquired.version.ref)
        #expect(result.status == 0, "\(result)")
        let versions = try result.decode([[String: String]].self).compactMap { $0["ref"] }
        #expect(versions == [acquired.version.ref, released.version.ref], "\(result)")
    }

    @Test func aForcePushedBranchIsFollowedByAWarmShallowCache() throws {
        let server = try server("shallow-force")
        try addFiller(to: server)
        let client = try server.client("one")
        let first = try expectSuccess(try client.out(["claim": "a"]), lock: "a", pool: "p")
        #expect(isShallow(client))
        // The branch is rewritten: the claim and the filler are gone, and new history is there.
        let rewound = try server.repository.commitID("master~\(Self.filler + 1)")
        try server.repository.git.run("update-ref", "refs/heads/master", rewound)
        try addFiller(30, to: server)
        let second = try expectSuccess(try client.out(["claim": "a"]), lock: "a", pool: "p")
        #expect(try !server.repository.isAncestor(first.version.ref, of: second.version.ref))
        let result = try client.get(version: first.version.ref, into: try server.scratch.directory("get"))
        expectFailure(result, "version \(first.version.ref) is not on branch 'master'")
        try FaultInjectionTests.expectVerified(server)
    }

    @Test func statusAndVerifyReadOnlyTheHistoryTheyNeed() throws {
        let server = try server("shallow-cli")
        let held = try expectSuccess(try server.client("holder").out(["claim": "a"]), lock: "a", pool: "p")
        try addFiller(to: server)
        let home = try server.scratch.directory("home")
        let tmp = try server.scratch.directory("cli-tmp")
        func lockpool(_ arguments: [String]) throws -> ExecutableResult {
            try server.executables.lockpool(
                arguments + ["--repo", server.uri, "--branch", "master"],
                environment: ["HOME": home.path, "TMPDIR": tmp.path], timeout: .seconds(120))
        }
        // status walks back to the claim, 300 commits below the first fetch, and names it.
        let status = try lockpool(["status", "p", "--json"])
        #expect(status.status == 0, "\(status)")
        let lock = try #require(try status.decodeSnakeCase(StatusJSON.self).lock("a", in: "p"))
        #expect(lock.state == "claimed" && lock.commit == held.version.ref, "\(status.stdoutText)")
        // verify --since replays only the recent commits; without it, the whole history.
        let since = try lockpool(["verify", "p", "--since", "2000-01-01", "--json"])
        #expect(since.status == 0, "\(since)")
        // The filler's committer times are a second apart: from the 50th commit below the tip on.
        let seconds = try #require(Double(try server.repository.git.output("log", "-1", "--format=%ct", "master~50")))
        let bound = Date(timeIntervalSince1970: seconds).ISO8601Format()
        let recent = try lockpool(["verify", "p", "--since", bound, "--json"])
        #expect(recent.status == 0, "\(recent)")
        let all = try since.decodeSnakeCase(VerifyJSON.self)
        #expect(all.healthy && all.commitsReplayed == Self.filler + 2, "\(since.stdoutText)")
        #expect(try recent.decodeSnakeCase(VerifyJSON.self).commitsReplayed == 51, "\(recent.stdoutText)")
    }
}
