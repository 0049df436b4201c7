import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Checks the test infrastructure itself, without the lockpool executables.
@Suite struct SupportSmokeTests {
    @Test func scratchDirectoryIsUniqueAndRemoved() throws {
        var path = ""
        do {
            let first = try Scratch(label: "smoke")
            let second = try Scratch(label: "smoke")
            #expect(first.path != second.path)
            try first.write("x", to: "a/b/c.txt")
            #expect(FileManager.default.fileExists(atPath: first.url("a/b/c.txt").path))
            path = first.path
            #expect(!first.isKept || Scratch.keepRequested)
        }
        if !Scratch.keepRequested {
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }

    @Test func gitCLIReportsFailuresDescriptively() throws {
        let scratch = try Scratch(label: "git-cli")
        let git = try GitCLI(scratch: scratch)
        #expect(try git.output("config", "--global", "--list").isEmpty)
        let error = try #require(throws: GitCLIError.self) { try git.run("rev-parse", "--verify", "nope") }
        #expect(error.status != 0)
        #expect(error.description.contains("git rev-parse --verify nope failed"))
    }

    @Test(arguments: ["master", "feature/locks"])
    func fixtureSeedsPoolsAndReplaysHistory(branch: String) throws {
        let scratch = try Scratch(label: "fixture")
        let repository = try LockRepository.create(
            in: scratch, branch: branch,
            pools: [
                "envs": ["env-1": .unclaimed("one"), "env-2": .claimed("two")],
                "ops/deep": [:],
            ])
        #expect(try repository.locks(in: "envs") == PoolLocks(claimed: ["env-2"], unclaimed: ["env-1"]))
        #expect(try repository.locks(in: "ops/deep") == PoolLocks(claimed: [], unclaimed: []))
        #expect(try repository.locks(in: "missing").exists == false)
        #expect(try repository.file("envs/unclaimed/env-1") == Data("one".utf8))
        #expect(try repository.file("envs/claimed/.gitkeep") == Data())
        #expect(try repository.file("envs/claimed/env-1") == nil)

        let claim = try repository.moveLock("env-1", in: "envs", toClaimed: true)
        let release = try repository.moveLock("env-2", in: "envs", toClaimed: false)
        try repository.writeFile("envs/unclaimed/env-3", content: "three", message: "adding unclaimed: env-3")
        let history = try repository.history()
        #expect(history.count == 4)
        #expect(history[2].id == claim && history[1].id == release)
        #expect(history[2].subject == "claiming: env-1")
        #expect(history.first?.authorName == GitCLI.authorName)
        #expect(try repository.log(format: "%s").last == "seed pools")
        #expect(try repository.isAncestor(claim))

        let report = try repository.replay()
        #expect(report.isConsistent, "\(report)")
        #expect(report.commits.count == 4)
        #expect(report.finalState["envs"] == PoolLocks(claimed: ["env-1"], unclaimed: ["env-2", "env-3"]))
        #expect(report.claimCounts["envs/env-1"] == 1)
        #expect(report.releaseCounts["envs/env-2"] == 1)
    }

    @Test func replayFindsDoubleClaimsDuplicatesAndLostLocks() throws {
        let scratch = try Scratch(label: "replay")
        let repository = try LockRepository.create(
            in: scratch, pools: ["envs": ["a": .claimed("x"), "b": .unclaimed(), "c": .unclaimed()]])
        try repository.writeFile("envs/claimed/a", content: "y", message: "claiming: a")
        try repository.writeFile("envs/claimed/b", content: "", message: "claiming: b")
        try repository.deletePath("envs/unclaimed/c", message: "oops")
        let report = try repository.replay()
        #expect(report.doubleClaims.map(\.lock) == ["a"])
        #expect(report.duplicated.map(\.lock) == ["b"])
        #expect(report.lost.map(\.lock) == ["c"])
        #expect(!report.isConsistent)
    }

    @Test func fixtureAcceptsTuples() throws {
        let scratch = try Scratch(label: "tuples")
        let repository = try LockRepository.create(
            in: scratch, pools: ["p": ["l": (claimed: true, content: "x"), "m": (claimed: false, content: "")]])
        #expect(try repository.locks(in: "p") == PoolLocks(claimed: ["l"], unclaimed: ["m"]))
        #expect(try repository.mode(of: "p/claimed/l") == "100644")
    }

    @Test func trailersAreParsed() throws {
        let scratch = try Scratch(label: "trailers")
        let repository = try LockRepository.create(in: scratch, pools: ["p": ["l": .unclaimed()]])
        try repository.moveLock(
            "l", in: "p", toClaimed: true,
            message:
                "main/deploy/apply build 42 claiming: l\n\nLock-Schema: 1\nLock-Operation: claim\nLock-Pool: p\nLock-Name: l"
        )
        let tip = try repository.commit()
        #expect(tip.trailer("lock-operation") == "claim")
        #expect(tip.trailers.map(\.key) == ["Lock-Schema", "Lock-Operation", "Lock-Pool", "Lock-Name"])
    }

    @Test func stepDirectoriesAndJSONRequests() throws {
        let scratch = try Scratch(label: "json")
        let source = try scratch.directory("source")
        let step = try scratch.writeStepDirectory("lock", in: source, name: "env-1\n", metadata: "m", claimRef: "abc\n")
        #expect(try String(contentsOf: step.appendingPathComponent("name"), encoding: .utf8) == "env-1\n")
        let request: JSONValue = [
            "source": ["uri": "file:///x", "branch": "master", "pool": "p", "retry_delay": "100ms"],
            "params": ["acquire": true, "depth": 1, "x": nil],
        ]
        let text = String(decoding: request.data, as: UTF8.self)
        #expect(
            text
                == #"{"params":{"acquire":true,"depth":1,"x":null},"source":{"branch":"master","pool":"p","retry_delay":"100ms","uri":"file:///x"}}"#
        )
        #expect(request["source"]?["pool"] == "p")
    }
}

/// git daemon over loopback: clone, push and replay with the git CLI.
@Suite(.serialized) struct GitDaemonSmokeTests {
    @Test func cloneAndPushThroughGitDaemon() throws {
        let scratch = try Scratch(label: "daemon")
        let repository = try LockRepository.create(
            in: scratch, branch: "feature/locks", pools: ["envs": ["env-1": .unclaimed("one")]])
        let daemon = try GitDaemon(scratch: scratch)
        let url = daemon.url(for: repository)
        #expect(url == "git://127.0.0.1:\(daemon.port)/origin.git")
        #expect(GitDaemon.acceptsConnection(port: daemon.port))

        let git = try GitCLI(scratch: scratch)
        let clone = scratch.url("clone")
        try git.run(["clone", "--quiet", "--branch", "feature/locks", url, clone.path])
        try git.run(["mv", "envs/unclaimed/env-1", "envs/claimed/env-1"], in: clone)
        try git.run(["commit", "--quiet", "-m", "claiming: env-1"], in: clone)
        try git.run(["push", "--quiet", "origin", "HEAD:refs/heads/feature/locks"], in: clone)

        #expect(try repository.locks(in: "envs") == PoolLocks(claimed: ["env-1"], unclaimed: []))
        let report = try repository.replay()
        #expect(report.isConsistent, "\(report)")
        #expect(report.claimCounts["envs/env-1"] == 1)

        daemon.stop()
        daemon.stop()
        #expect(!GitDaemon.acceptsConnection(port: daemon.port))
    }
}

/// The process runner, with shell scripts standing in for `check`, `in` and `out`.
@Suite struct ExecutablesSmokeTests {
    static let script = """
        #!/bin/sh
        case "$1" in
          env) env | sort ;;
          sleep) echo started >&2; trap 'echo got-term >&2; exit 3' TERM; while :; do sleep 0.05; done ;;
          *) cat; echo "error: args $*" >&2; exit 1 ;;
        esac
        """

    func fakeExecutables(_ scratch: Scratch) throws -> Executables {
        let bin = try scratch.directory("bin")
        for name in ["check", "in", "out"] {
            let file = try scratch.write(Self.script, to: "bin/\(name)")
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: file.path)
        }
        return try Executables(temporaryDirectory: try scratch.temporaryDirectory(), binDirectory: bin)
    }

    @Test func runCapturesStdoutStderrAndStatus() throws {
        let scratch = try Scratch(label: "exec")
        let executables = try fakeExecutables(scratch)
        let result = try executables.run(.out, arguments: ["x", "y"], stdin: Data("{}".utf8))
        #expect(result.status == 1)
        #expect(result.stdoutText == "{}")
        #expect(result.lastStderrLine == "error: args x y")
    }

    @Test func environmentIsExactlyWhatTheTestGivesPlusPathAndTmpdir() throws {
        let scratch = try Scratch(label: "env")
        let executables = try fakeExecutables(scratch)
        let result = try executables.run(.check, arguments: ["env"], environment: ["BUILD_NAME": "42"])
        let names = Set(result.stdoutText.split(separator: "\n").map { String($0.prefix { $0 != "=" }) })
        // sh itself adds PWD (and may add SHLVL, _ and OLDPWD).
        #expect(names.subtracting(["PWD", "SHLVL", "_", "OLDPWD"]) == ["BUILD_NAME", "PATH", "TMPDIR"])
        #expect(result.stdoutText.contains("TMPDIR=\(executables.temporaryDirectory.path)\n"))
    }

    @Test func backgroundProcessReceivesSigterm() async throws {
        let scratch = try Scratch(label: "signal")
        let executables = try fakeExecutables(scratch)
        let handle = try executables.start(.in, arguments: ["sleep"])
        #expect(try await handle.waitForStderr(containing: "started", timeout: .seconds(10)))
        handle.terminate()
        let result = try await handle.wait(timeout: .seconds(10))
        #expect(result.status == 3)
        #expect(result.stderrLines == ["started", "got-term"])
    }

    @Test func timeoutKillsTheProcess() throws {
        let scratch = try Scratch(label: "timeout")
        let executables = try fakeExecutables(scratch)
        let error = try #require(throws: ChildProcessError.self) {
            try executables.run(.in, arguments: ["sleep"], timeout: .milliseconds(300))
        }
        #expect("\(error)".contains("did not finish"))
    }
}
