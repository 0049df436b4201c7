import Foundation
import TestSupport
import Testing

/// `examples/create-lock-repo.sh`, the README's way to bootstrap a lock repository: what it creates is a repository
/// lockpool works on, running it again changes nothing, and bad names create nothing.
@Suite struct BootstrapScriptTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples/create-lock-repo.sh")

    static let arguments = [
        "--branch", "master", "--pool", "envs", "--lock", "env-1=address: 10.0.0.1", "--lock", "env-2",
        "--pool", "builds/linux", "--claimed", "box-1",
    ]

    @Test func createsARepositoryLockpoolWorksOn() throws {
        let scratch = try Scratch(label: "bootstrap")
        let git = try GitCLI(scratch: scratch)
        let target = scratch.url("locks.git")
        let created = try git.runScript(Self.script, [target.path] + Self.arguments)
        #expect(created.status == 0, "\(created.stderr)")
        #expect(created.output.contains("envs: claimed [] unclaimed [env-1 env-2]"), "\(created.output)")
        #expect(created.output.contains("builds/linux: claimed [box-1] unclaimed []"), "\(created.output)")

        let files = try git.output("--git-dir", target.path, "ls-tree", "-r", "--name-only", "master")
        #expect(
            files.split(separator: "\n") == [
                "builds/linux/claimed/.gitkeep", "builds/linux/claimed/box-1", "builds/linux/unclaimed/.gitkeep",
                "envs/claimed/.gitkeep", "envs/unclaimed/.gitkeep", "envs/unclaimed/env-1", "envs/unclaimed/env-2",
            ])
        #expect(try git.output("--git-dir", target.path, "show", "master:envs/unclaimed/env-1") == "address: 10.0.0.1")
        #expect(try git.output("--git-dir", target.path, "symbolic-ref", "HEAD") == "refs/heads/master")

        // lockpool finds it healthy and takes a lock from it.
        let executables = try Executables(scratch: scratch)
        let environment = ["HOME": try scratch.directory("home").path]
        let connection = ["--repo", target.path, "--branch", "master"]
        let verify = try executables.lockpool(["verify"] + connection, environment: environment)
        #expect(verify.status == 0 && verify.stdoutText.hasPrefix("healthy: 2 pools"), "\(verify)")
        let acquired = try executables.lockpool(["acquire", "envs"] + connection, environment: environment)
        #expect(acquired.status == 0 && ["env-1\n", "env-2\n"].contains(acquired.stdoutText), "\(acquired)")

        // Again: every lock exists (one of them claimed now), so nothing is committed.
        let tip = try git.output("--git-dir", target.path, "rev-parse", "master")
        let again = try git.runScript(Self.script, [target.path] + Self.arguments)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.output.contains("lock 'env-1' already exists in pool 'envs'; left as it is"))
        #expect(again.output.contains("nothing to change on branch 'master'"))
        #expect(try git.output("--git-dir", target.path, "rev-parse", "master") == tip)

        // A new lock later is one more commit on top.
        let extended = try git.runScript(Self.script, [target.path, "--pool", "envs", "--lock", "env-3"])
        #expect(extended.status == 0, "\(extended.stderr)")
        #expect(try git.output("--git-dir", target.path, "rev-parse", "master~1") == tip)
        #expect(try git.output("--git-dir", target.path, "show", "master:envs/unclaimed/env-3") == "")
    }

    @Test(arguments: [
        (["--pool", "../envs"], "invalid pool name '../envs': segment '..' is not allowed"),
        (["--pool", "/envs"], "invalid pool name '/envs'"),
        (["--pool", "envs", "--lock", ".hidden"], "invalid lock name '.hidden'"),
        (["--pool", "envs", "--lock", "a/b"], "invalid lock name 'a/b'"),
        (["--lock", "env-1"], "--lock env-1: give --pool first"),
        (["--branch", "master"], "give at least one --pool"),
    ])
    func badNamesCreateNothing(_ arguments: [String], _ message: String) throws {
        let scratch = try Scratch(label: "bootstrap-bad")
        let git = try GitCLI(scratch: scratch)
        let target = scratch.url("locks.git")
        let result = try git.runScript(Self.script, [target.path] + arguments)
        #expect(result.status == 1, "\(result.output) \(result.stderr)")
        #expect(result.stderr.contains("create-lock-repo.sh: \(message)"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: target.path))
    }
}
