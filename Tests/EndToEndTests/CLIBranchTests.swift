import Foundation
import TestSupport
import Testing

/// The branch when none is given (README, "The lockpool command"): the one the remote's HEAD names, over a local path
/// and over git daemon; a missing branch lists those that exist; new repositories get `main`, from `lockpool init`
/// and from `examples/create-lock-repo.sh` alike.
@Suite(.timeLimit(.minutes(3)))
struct CLIBranchTests {
    @Test(arguments: ["master", "trunk"])
    func withoutABranchTheRemoteHeadDecides(_ branch: String) throws {
        let cli = try CLIHarness("cli-default-\(branch)", branch: branch, locks: ["env-1": .unclaimed("x\n")])
        let local = ["--repo", cli.repository.path]
        let acquired = try cli.run(["acquire", "envs"] + local, connect: false)
        #expect(acquired.status == 0 && acquired.stdoutText == "env-1\n", "\(acquired)")
        #expect(try cli.repository.locks(in: "envs") == PoolLocks(claimed: ["env-1"], unclaimed: []))

        let daemon = try GitDaemon(scratch: cli.scratch)
        let remote = ["--repo", daemon.url(for: cli.repository)]
        let status = try cli.run(["status", "envs"] + remote, connect: false)
        #expect(status.status == 0 && status.stdoutText.contains("env-1  claimed"), "\(status)")
        let released = try cli.run(["release", "envs", "env-1"] + remote, connect: false)
        #expect(released.status == 0, "\(released)")
        #expect(try cli.repository.locks(in: "envs") == PoolLocks(claimed: [], unclaimed: ["env-1"]))
    }

    @Test func aMissingBranchListsTheBranchesThatExist() throws {
        let cli = try CLIHarness("cli-missing-branch", branch: "trunk", locks: ["env-1": .unclaimed()])
        _ = try cli.repository.git.output("--git-dir", cli.repository.path, "branch", "release-1", "trunk")
        let missing = try cli.run(["status", "--repo", cli.repository.path, "--branch", "main"], connect: false)
        #expect(missing.status == 1, "\(missing)")
        #expect(
            missing.lastStderrLine
                == "Error: branch 'main' not found in \(cli.repository.path) (its branches: release-1, trunk)",
            "\(missing)")
        let daemon = try GitDaemon(scratch: cli.scratch)
        let url = daemon.url(for: cli.repository)
        let remote = try cli.run(["status", "--repo", url, "--branch", "main"], connect: false)
        #expect(
            remote.lastStderrLine == "Error: branch 'main' not found in \(url) (its branches: release-1, trunk)",
            "\(remote)")
    }

    /// `lockpool init` on a path that does not exist, and the bootstrap script, without `--branch`: `main`.
    @Test func newRepositoriesGetMain() throws {
        let scratch = try Scratch(label: "cli-new-main")
        let executables = try Executables(scratch: scratch)
        let git = try GitCLI(scratch: scratch)
        let path = scratch.url("locks.git").path
        let result = try executables.lockpool(["init", "envs", "--repo", path])
        #expect(result.status == 0 && result.stdoutText.contains("created branch 'main'"), "\(result)")
        #expect(try git.output("--git-dir", path, "symbolic-ref", "HEAD") == "refs/heads/main")

        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/create-lock-repo.sh")
        let made = scratch.url("made.git").path
        let bootstrap = try git.runScript(script, [made, "--pool", "envs", "--lock", "env-1"])
        #expect(bootstrap.status == 0, "\(bootstrap.stderr)")
        #expect(try git.output("--git-dir", made, "symbolic-ref", "HEAD") == "refs/heads/main")
        // An existing repository whose HEAD names another branch keeps it.
        let trunk = try LockRepository.create(in: scratch, name: "trunk.git", branch: "trunk", pools: ["envs": [:]])
        let again = try git.runScript(script, [trunk.path, "--pool", "dbs"])
        #expect(again.status == 0 && again.output.contains("branch 'trunk'"), "\(again.output) \(again.stderr)")
    }
}
