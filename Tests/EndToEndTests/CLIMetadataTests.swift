import Foundation
import TestSupport
import Testing

/// Lock contents for people and scripts (README, "The lockpool command"): `show`, `acquire`/`claim --json` with the
/// content, `--output DIR` then `release --from DIR`, and `status --json --content`, on UTF-8 and on binary content.
@Suite(.timeLimit(.minutes(3)))
struct CLIMetadataTests {
    /// Not UTF-8: a NUL, a lone continuation byte and an invalid lead byte.
    static let binary = Data([0x00, 0x80, 0xFF, 0x41, 0x0A])

    static func harness(_ label: String) throws -> CLIHarness {
        let cli = try CLIHarness(label, locks: ["ci-1": .unclaimed("domain: ci-1.example.com\ntoken: t-1\n")])
        _ = try cli.repository.writeFile("envs/unclaimed/blob-1", content: binary)
        return cli
    }

    @Test func showPrintsTheContentExactlyAndAsJSON() throws {
        let cli = try Self.harness("cli-show")
        let text = try cli.run(["show", "envs", "ci-1"])
        #expect(text.status == 0 && text.stdoutText == "domain: ci-1.example.com\ntoken: t-1\n", "\(text)")
        let binary = try cli.run(["show", "envs", "blob-1"])
        #expect(binary.status == 0 && binary.stdout == Self.binary, "\(binary)")

        let json = try cli.run(["show", "envs", "blob-1", "--json"])
        let object = try #require(try json.json() as? [String: Any], "\(json)")
        #expect(object["lock"] as? String == "blob-1" && object["state"] as? String == "unclaimed")
        #expect(object["content_encoding"] as? String == "base64")
        #expect(object["content"] as? String == Self.binary.base64EncodedString())

        let missing = try cli.run(["show", "envs", "nope"])
        #expect(
            missing.status == 1 && missing.stderr.contains("lock 'nope' does not exist in pool 'envs'"), "\(missing)")
        let noPool = try cli.run(["show", "dbs", "ci-1"])
        #expect(noPool.status == 1 && noPool.stderr.contains("pool 'dbs' does not exist"), "\(noPool)")
    }

    @Test func claimJSONCarriesTheContentUTF8OrBase64() throws {
        let cli = try Self.harness("cli-claim-json")
        let text = try cli.run(["claim", "envs", "ci-1", "--json"])
        let report = try #require(try text.json() as? [String: Any], "\(text)")
        #expect(report["content"] as? String == "domain: ci-1.example.com\ntoken: t-1\n")
        #expect(report["content_encoding"] as? String == "utf-8")
        let binary = try cli.run(["claim", "envs", "blob-1", "--json"])
        let binaryReport = try #require(try binary.json() as? [String: Any], "\(binary)")
        #expect(binaryReport["content"] as? String == Self.binary.base64EncodedString())
        #expect(binaryReport["content_encoding"] as? String == "base64")
        let contents = try #require(binaryReport["contents"] as? [[String: Any]])
        #expect(contents.count == 1 && contents[0]["lock"] as? String == "blob-1")
        // A release report has no content.
        let released = try cli.run(["release", "envs", "ci-1", "--json"])
        let releaseReport = try #require(try released.json() as? [String: Any], "\(released)")
        #expect(releaseReport["content"] == nil && releaseReport["contents"] == nil)
    }

    /// `acquire --json` reports the content of the lock it took, base64 for binary content.
    @Test func acquireJSONCarriesTheContent() throws {
        let cli = try CLIHarness("cli-acquire-json", locks: [:])
        _ = try cli.repository.writeFile("envs/unclaimed/blob-1", content: Self.binary)
        let acquired = try cli.run(["acquire", "envs", "--json"])
        let report = try #require(try acquired.json() as? [String: Any], "\(acquired)")
        #expect(report["lock"] as? String == "blob-1" && report["operation"] as? String == "acquire")
        #expect(report["content"] as? String == Self.binary.base64EncodedString())
        #expect(report["content_encoding"] as? String == "base64")
    }

    /// `acquire --output DIR` writes what `in` writes; `release --from DIR` releases fenced by its claim_ref, so a
    /// claim taken over meanwhile is not released.
    @Test func outputThenReleaseFromIsFenced() throws {
        let cli = try CLIHarness("cli-output", locks: ["ci-1": .unclaimed("domain: ci-1.example.com\n")])
        let directory = cli.scratch.url("lock")
        let acquired = try cli.run(["acquire", "envs", "--output", directory.path])
        #expect(acquired.status == 0 && acquired.stdoutText == "ci-1\n", "\(acquired)")
        let claim = try cli.repository.commitID()
        #expect(try String(contentsOf: directory.appendingPathComponent("name"), encoding: .utf8) == "ci-1\n")
        #expect(
            try String(contentsOf: directory.appendingPathComponent("metadata"), encoding: .utf8)
                == "domain: ci-1.example.com\n")
        #expect(try String(contentsOf: directory.appendingPathComponent("claim_ref"), encoding: .utf8) == claim + "\n")
        let mode =
            try FileManager.default.attributesOfItem(
                atPath: directory.appendingPathComponent("metadata").path)[.posixPermissions] as? Int
        #expect(mode == 0o600)

        let released = try cli.run(["release", "envs", "--from", directory.path])
        #expect(released.status == 0, "\(released)")
        #expect(try cli.repository.locks(in: "envs") == PoolLocks(claimed: [], unclaimed: ["ci-1"]))

        // Claimed again by someone else: the old directory's fence no longer holds.
        let again = try cli.run(["claim", "envs", "ci-1"])
        #expect(again.status == 0, "\(again)")
        let stale = try cli.run(["release", "envs", "--from", directory.path])
        #expect(stale.status == 1 && stale.stderr.contains("after this job's claim \(claim.prefix(7))"), "\(stale)")
        #expect(try cli.repository.locks(in: "envs") == PoolLocks(claimed: ["ci-1"], unclaimed: []))

        let both = try cli.run(["release", "envs", "ci-1", "--from", directory.path])
        #expect(both.status == 64 && both.stderr.contains("give no LOCK and no --claim with it"), "\(both)")
        let nowhere = try cli.run(["release", "envs", "--from", cli.scratch.url("nowhere").path])
        #expect(nowhere.status == 64 && nowhere.stderr.contains("could not read the name file"), "\(nowhere)")
    }

    @Test func statusJSONShowsContentOnlyWhenAsked() throws {
        let cli = try Self.harness("cli-status-content")
        let plain = try cli.run(["status", "--json"])
        #expect(plain.status == 0 && !plain.stdoutText.contains("token: t-1"), "\(plain)")
        #expect(!plain.stdoutText.contains("\"content\""))
        let withContent = try cli.run(["status", "--json", "--content"])
        let report = try #require(try withContent.json() as? [String: Any], "\(withContent)")
        let locks = try #require((report["pools"] as? [[String: Any]])?.first?["locks"] as? [[String: Any]])
        let byName = Dictionary(uniqueKeysWithValues: locks.map { ($0["lock"] as? String ?? "", $0) })
        #expect(byName["ci-1"]?["content"] as? String == "domain: ci-1.example.com\ntoken: t-1\n")
        #expect(byName["ci-1"]?["content_encoding"] as? String == "utf-8")
        #expect(byName["blob-1"]?["content"] as? String == Self.binary.base64EncodedString())
        #expect(byName["blob-1"]?["content_encoding"] as? String == "base64")
        let table = try cli.run(["status", "--content"])
        #expect(table.status == 64 && table.stderr.contains("--content applies to --json"), "\(table)")
    }
}
