import Foundation
import Testing

@testable import LockPool

private let nonce = "0123456789abcdef0123456789abcdef"
private let tool = "lockpool 0.1.0 (resource)"
private let apply42 = BuildInfo(
    team: "main", pipeline: "deploy", job: "apply", name: "42", id: "1234",
    url: "https://ci.example.com/teams/main/pipelines/deploy/jobs/apply/builds/42")
/// 2026-05-02T14:00:00Z.
private let twoPM = Date(timeIntervalSince1970: 1_777_730_400)

struct RenderCase: Sendable, CustomTestStringConvertible {
    let name: String
    let message: CommitMessage
    let expected: String
    var testDescription: String { name }
}

private let renderCases: [RenderCase] = [
    RenderCase(
        name: "pipeline claim with lease and URL",
        message: CommitMessage(
            operation: .acquire, pool: "envs", lock: "env-3", leaseExpires: twoPM, waited: .milliseconds(90_250),
            build: apply42, tool: tool, nonce: nonce),
        expected: """
            main/deploy/apply build 42 claiming: env-3

            Build URL: https://ci.example.com/teams/main/pipelines/deploy/jobs/apply/builds/42

            Lock-Schema: 1
            Lock-Operation: acquire
            Lock-Pool: envs
            Lock-Name: env-3
            Lock-State: claimed
            Lease-Expires: 2026-05-02T14:00:00Z
            Lock-Waited: 1m30.25s
            Build-Team: main
            Build-Pipeline: deploy
            Build-Job: apply
            Build-Name: 42
            Build-Id: 1234
            Build-URL: https://ci.example.com/teams/main/pipelines/deploy/jobs/apply/builds/42
            Lock-Tool: lockpool 0.1.0 (resource)
            Lock-Nonce: 0123456789abcdef0123456789abcdef

            """),
    RenderCase(
        name: "release with claim commit and instance vars",
        message: CommitMessage(
            operation: .release, pool: "ops/envs", lock: "env-1",
            claimCommit: "89abcdef0123456789abcdef0123456789abcdef",
            build: BuildInfo(
                team: "main", pipeline: "deploy", job: "apply", name: "7.1", id: "99",
                instanceVars: #"{"branch":"main"}"#), tool: tool, nonce: nonce),
        expected: """
            main/deploy/apply build 7.1 unclaiming: env-1

            Lock-Schema: 1
            Lock-Operation: release
            Lock-Pool: ops/envs
            Lock-Name: env-1
            Lock-State: unclaimed
            Lock-Claim: 89abcdef0123456789abcdef0123456789abcdef
            Build-Team: main
            Build-Pipeline: deploy
            Build-Job: apply
            Build-Name: 7.1
            Build-Id: 99
            Build-Pipeline-Instance-Vars: {"branch":"main"}
            Lock-Tool: lockpool 0.1.0 (resource)
            Lock-Nonce: 0123456789abcdef0123456789abcdef

            """),
    RenderCase(
        name: "one-off remove",
        message: CommitMessage(
            operation: .remove, pool: "envs", lock: "env-2", claimCommit: "0000000000000000000000000000000000000001",
            build: BuildInfo(id: "77", url: "https://ci.example.com/builds/77"), tool: tool, nonce: nonce),
        expected: """
            one-off build 77 removing: env-2

            Build URL: https://ci.example.com/builds/77

            Lock-Schema: 1
            Lock-Operation: remove
            Lock-Pool: envs
            Lock-Name: env-2
            Lock-State: removed
            Lock-Claim: 0000000000000000000000000000000000000001
            Build-Id: 77
            Build-URL: https://ci.example.com/builds/77
            Lock-Tool: lockpool 0.1.0 (resource)
            Lock-Nonce: 0123456789abcdef0123456789abcdef

            """),
    RenderCase(
        name: "CLI add without a build",
        message: CommitMessage(
            operation: .add, pool: "envs", lock: "env-9", tool: "lockpool 0.1.0 (cli)", nonce: nonce),
        expected: """
            adding unclaimed: env-9

            Lock-Schema: 1
            Lock-Operation: add
            Lock-Pool: envs
            Lock-Name: env-9
            Lock-State: unclaimed
            Lock-Tool: lockpool 0.1.0 (cli)
            Lock-Nonce: 0123456789abcdef0123456789abcdef

            """),
    RenderCase(
        name: "update of an absent lock says adding unclaimed",
        message: CommitMessage(
            verb: "adding unclaimed", operation: .update, pool: "envs", lock: "env-4",
            build: BuildInfo(pipeline: "deploy", job: "apply", name: "3", id: "5"), tool: tool, nonce: nonce),
        expected: """
            one-off build 5 adding unclaimed: env-4

            Lock-Schema: 1
            Lock-Operation: update
            Lock-Pool: envs
            Lock-Name: env-4
            Lock-State: unclaimed
            Build-Pipeline: deploy
            Build-Job: apply
            Build-Name: 3
            Build-Id: 5
            Lock-Tool: lockpool 0.1.0 (resource)
            Lock-Nonce: 0123456789abcdef0123456789abcdef

            """),
    RenderCase(
        name: "add_claimed with empty values counted as unknown",
        message: CommitMessage(
            operation: .addClaimed, pool: "envs", lock: "env-5", claimCommit: "",
            build: BuildInfo(team: "", pipeline: "deploy", job: "apply", name: "1", id: "", url: ""), tool: tool,
            nonce: nonce),
        expected: """
            adding claimed: env-5

            Lock-Schema: 1
            Lock-Operation: add_claimed
            Lock-Pool: envs
            Lock-Name: env-5
            Lock-State: claimed
            Build-Pipeline: deploy
            Build-Job: apply
            Build-Name: 1
            Lock-Tool: lockpool 0.1.0 (resource)
            Lock-Nonce: 0123456789abcdef0123456789abcdef

            """),
    RenderCase(
        name: "verbatim specials; control characters become spaces",
        message: CommitMessage(
            operation: .claim, pool: "envs", lock: "env-é",
            build: BuildInfo(
                team: "t%s{0}\"q'#", pipeline: "pipé 100%", job: "job\nname\twith\u{7F}controls", name: "#1",
                id: "%d", url: "https://ci/x?a=%20&b={c}\r\n"), tool: tool, nonce: nonce),
        expected: """
            t%s{0}"q'#/pipé 100%/job name with controls build #1 claiming: env-é

            Build URL: https://ci/x?a=%20&b={c}\u{20}\u{20}

            Lock-Schema: 1
            Lock-Operation: claim
            Lock-Pool: envs
            Lock-Name: env-é
            Lock-State: claimed
            Build-Team: t%s{0}"q'#
            Build-Pipeline: pipé 100%
            Build-Job: job name with controls
            Build-Name: #1
            Build-Id: %d
            Build-URL: https://ci/x?a=%20&b={c}
            Lock-Tool: lockpool 0.1.0 (resource)
            Lock-Nonce: 0123456789abcdef0123456789abcdef

            """),
]

@Test(arguments: renderCases)
func renderedMessageIsExact(_ c: RenderCase) {
    #expect(c.message.rendered() == c.expected)
}

@Test(arguments: renderCases)
func subjectIsOneLineFollowedByABlankLine(_ c: RenderCase) {
    let lines = c.message.rendered().split(separator: "\n", omittingEmptySubsequences: false)
    #expect(lines[0] == c.message.subject)
    #expect(lines[1].isEmpty)
    #expect(c.message.rendered().hasSuffix("\n") && !c.message.rendered().hasSuffix("\n\n"))
}

@Test(arguments: renderCases)
func ownTrailerParserReadsBackEveryTrailer(_ c: RenderCase) {
    let parsed = Trailers.parse(c.message.rendered())
    #expect(parsed.map(\.key) == c.message.trailers.map(\.key))
    #expect(parsed.map(\.value) == c.message.trailers.map(\.value))
}

@Test func operationsHaveTheirVerbsAndStates() {
    let table = LockOperation.allCases.map { "\($0.rawValue) \($0.verb) \($0.stateAfter)" }
    #expect(
        table == [
            "acquire claiming claimed", "claim claiming claimed", "release unclaiming unclaimed",
            "add adding unclaimed unclaimed", "add_claimed adding claimed claimed", "remove removing removed",
            "update updating unclaimed", "queue queueing waiting", "renew renewing claimed",
            "dequeue leaving the queue gone",
        ])
}

@Test func freshNoncesAre32LowerCaseHexDigitsAndDiffer() {
    let nonces = (0..<100).map { _ in CommitMessage.freshNonce() }
    for nonce in nonces {
        #expect(nonce.count == 32)
        #expect(nonce.allSatisfy { "0123456789abcdef".contains($0) })
    }
    #expect(Set(nonces).count == nonces.count)
    let a = CommitMessage(operation: .claim, pool: "p", lock: "l", tool: tool)
    let b = CommitMessage(operation: .claim, pool: "p", lock: "l", tool: tool)
    #expect(a.rendered() != b.rendered())
}

@Test func leaseTimestampIsUTCToTheSecond() {
    #expect(CommitMessage.timestamp(twoPM) == "2026-05-02T14:00:00Z")
    #expect(CommitMessage.timestamp(twoPM.addingTimeInterval(59.999)) == "2026-05-02T14:00:59Z")
}

// MARK: - Trailers

struct TrailerCase: Sendable, CustomTestStringConvertible {
    let name: String
    let message: String
    let expected: [String]  // "key=value"
    var testDescription: String { name }
}

@Test(arguments: [
    TrailerCase(name: "subject only", message: "claiming: env-1\n", expected: []),
    TrailerCase(
        name: "upstream message: Build URL directly below the subject",
        message: "claiming: env-1\nBuild URL: https://ci/builds/1\n", expected: []),
    TrailerCase(
        name: "Build URL paragraph is not a trailer", message: "claiming: env-1\n\nBuild URL: https://ci/builds/1\n",
        expected: []),
    TrailerCase(
        name: "any order, unknown keys kept", message: "s\n\nbody\n\nX-Other: 1\nLock-Name: a\nLock-Schema:1\n",
        expected: ["X-Other=1", "Lock-Name=a", "Lock-Schema=1"]),
    TrailerCase(
        name: "only the last paragraph", message: "s\n\nLock-Name: old\n\nLock-Name: new\n", expected: ["Lock-Name=new"]
    ),
    TrailerCase(
        name: "a non-trailer line spoils the block", message: "s\n\nLock-Name: a\njust text\n", expected: []),
    TrailerCase(
        name: "a quarter is enough with Signed-off-by",
        message: "s\n\ntext one\ntext two\ntext three\nSigned-off-by: A <a@b>\n",
        expected: ["Signed-off-by=A <a@b>"]),
    TrailerCase(
        name: "continuation lines are unfolded", message: "s\n\nKey: one\n  two\n\tthree\nOther: x\n",
        expected: ["Key=one two three", "Other=x"]),
    TrailerCase(
        name: "CRLF, trailing blank lines, whitespace before the colon",
        message: "s\r\n\r\nKey : v \r\nB-2:\r\n\r\n\r\n", expected: ["Key=v", "B-2="]),
    TrailerCase(name: "comment lines are skipped", message: "s\n\n# note\nKey: v\n", expected: ["Key=v"]),
    TrailerCase(name: "key must be a token", message: "s\n\nBad key: v\n", expected: []),
])
func trailersParseLikeGit(_ c: TrailerCase) {
    #expect(Trailers.parse(c.message).map { "\($0.key)=\($0.value)" } == c.expected)
}

@Test func trailerValueIgnoresKeyCase() {
    let message = "s\n\nLock-Claim: abc\nlease-expires: 2026-05-02T14:00:00Z\n"
    #expect(Trailers.value("lock-claim", in: message) == "abc")
    #expect(Trailers.value("Lease-Expires", in: message) == "2026-05-02T14:00:00Z")
    #expect(Trailers.value("Lock-Nonce", in: message) == nil)
}

// MARK: - Real git

private let gitAvailable = executableInPath("git") != nil
private let pythonAvailable = executableInPath("python3") != nil

struct PoolBoyCase: Sendable, CustomTestStringConvertible {
    let team: String, pipeline: String, job: String, name: String, lock: String
    var testDescription: String { "\(team)/\(pipeline)/\(job) build \(name) claiming: \(lock)" }
}

@Test(
    .enabled(if: gitAvailable && pythonAvailable, "needs git and python3"),
    arguments: [
        PoolBoyCase(team: "main", pipeline: "deploy", job: "apply", name: "42", lock: "env-3"),
        PoolBoyCase(team: "ops-team", pipeline: "infra_prod", job: "terraform.apply", name: "1234.1", lock: "db 1"),
        PoolBoyCase(team: "équipe", pipeline: "déploiement", job: "appliquer", name: "7", lock: "lock-ü"),
    ])
func poolBoyPatternFindsTheBuildInGitLog(_ c: PoolBoyCase) throws {
    let message = CommitMessage(
        operation: .acquire, pool: "envs", lock: c.lock,
        build: BuildInfo(team: c.team, pipeline: c.pipeline, job: c.job, name: c.name, id: "9", url: "https://ci/b/9"),
        tool: tool)
    try withScratchRepository { git in
        try git.commitMoving("envs/unclaimed/\(c.lock)", to: "envs/claimed/\(c.lock)", message: message.rendered())
        let oneline = try git.run(["log", "--pretty=oneline", "-1", "--", "envs/claimed/\(c.lock)"])
        let script = """
            import json, re, sys
            m = re.match(r"[0-9a-f]+\\s+(?P<team>.*)/(?P<pipeline>.*)/(?P<job>.*)\\s+build\\s+(?P<build>.*)\\s+claiming:\\s+.*", sys.argv[1].rstrip())
            print(json.dumps(m.groupdict() if m else None))
            """
        let output = try git.runTool(["python3", "-c", script, oneline])
        let groups = try JSONDecoder().decode([String: String]?.self, from: Data(output.utf8))
        #expect(groups == ["team": c.team, "pipeline": c.pipeline, "job": c.job, "build": c.name])
        #expect(try git.run(["log", "-1", "--format=%B"]) == message.rendered() + "\n")
        #expect(try git.run(["log", "-1", "--format=%s"]) == message.subject + "\n")
    }
}

@Test(.enabled(if: gitAvailable, "needs git"), arguments: renderCases)
func gitInterpretTrailersGivesBackEveryValue(_ c: RenderCase) throws {
    try withScratchRepository { git in
        let file = git.directory.appendingPathComponent("message")
        try Data(c.message.rendered().utf8).write(to: file)
        let parsed = try git.run(["interpret-trailers", "--parse", file.path])
        let expected = c.message.trailers.map { "\($0.key): \($0.value)\n" }.joined()
        #expect(parsed == expected)
        #expect(Trailers.parse(c.message.rendered()).map { "\($0.key): \($0.value)\n" }.joined() == expected)
    }
}

@Test(.enabled(if: gitAvailable, "needs git"))
func specialCharactersSurviveACommit() throws {
    let message = CommitMessage(
        operation: .claim, pool: "envs", lock: "env-%s",
        build: BuildInfo(
            team: "t%n{x}\"'#ü", pipeline: "p", job: "multi\nline\r\njob", name: "%d", id: "1", url: "https://ci/#{x}%"),
        tool: tool)
    try withScratchRepository { git in
        try git.commitMoving("envs/unclaimed/env-%s", to: "envs/claimed/env-%s", message: message.rendered())
        #expect(
            try git.run(["log", "-1", "--format=%s"]) == "t%n{x}\"'#ü/p/multi line  job build %d claiming: env-%s\n")
        #expect(try git.run(["log", "-1", "--format=%B"]) == message.rendered() + "\n")
        let trailers = try git.run(["log", "-1", "--format=%(trailers:only,unfold)"])
        #expect(trailers.contains("Build-Team: t%n{x}\"'#ü\nBuild-Pipeline: p\nBuild-Job: multi line  job\n"))
        #expect(trailers.contains("Build-URL: https://ci/#{x}%\n"))
    }
}

// MARK: - Helpers

/// A scratch git repository in a temporary directory, with git's global and system configuration pointed at an
/// empty file and a fixed identity.
private struct ScratchRepository {
    let directory: URL
    let environment: [String: String]

    @discardableResult
    func run(_ arguments: [String]) throws -> String { try runTool(["git"] + arguments) }

    @discardableResult
    func runTool(_ arguments: [String]) throws -> String {
        try runProcess(arguments, in: directory, environment: environment)
    }

    /// Commits `from` as an unclaimed lock, then moves it to `to` with `message` kept verbatim.
    func commitMoving(_ from: String, to: String, message: String) throws {
        let source = directory.appendingPathComponent(from)
        try FileManager.default.createDirectory(
            at: source.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent(to).deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("metadata\n".utf8).write(to: source)
        try run(["add", "--", from])
        try run(["commit", "-q", "-m", "adding unclaimed: \(source.lastPathComponent)"])
        try run(["mv", "--", from, to])
        let file = directory.appendingPathComponent(".git/lockpool-message")
        try Data(message.utf8).write(to: file)
        try run(["commit", "-q", "--cleanup=verbatim", "-F", file.path])
    }
}

private func withScratchRepository(_ body: (ScratchRepository) throws -> Void) throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("lockpool-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: root) }
    let emptyConfig = root.appendingPathComponent("empty.gitconfig")
    try Data().write(to: emptyConfig)
    let repository = root.appendingPathComponent("repo")
    try FileManager.default.createDirectory(at: repository, withIntermediateDirectories: true)
    let environment = [
        "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": root.path,
        "LC_ALL": "C.UTF-8", "GIT_CONFIG_GLOBAL": emptyConfig.path, "GIT_CONFIG_SYSTEM": emptyConfig.path,
        "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "CI Pool Resource", "GIT_AUTHOR_EMAIL": "ci-pool@localhost",
        "GIT_COMMITTER_NAME": "CI Pool Resource", "GIT_COMMITTER_EMAIL": "ci-pool@localhost",
        "GIT_AUTHOR_DATE": "2026-05-02T10:04:11Z", "GIT_COMMITTER_DATE": "2026-05-02T10:04:11Z",
    ]
    let git = ScratchRepository(directory: repository, environment: environment)
    try git.run(["init", "-q", "-b", "main"])
    try body(git)
}

private struct ProcessFailed: Error, CustomStringConvertible {
    let arguments: [String]
    let status: Int32
    let standardError: String
    var description: String { "\(arguments.first ?? "?") exited \(status): \(standardError)" }
}

private func runProcess(_ arguments: [String], in directory: URL, environment: [String: String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.currentDirectoryURL = directory
    process.environment = environment
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    let errorData = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw ProcessFailed(
            arguments: arguments, status: process.terminationStatus,
            standardError: String(decoding: errorData, as: UTF8.self))
    }
    return String(decoding: data, as: UTF8.self)
}

private func executableInPath(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
}

@Suite struct LockWaitedTests {
    @Test(arguments: [
        (Duration.zero, "0s"), (.nanoseconds(999_999), "0s"), (.nanoseconds(1_999_999), "1ms"),
        (.milliseconds(850), "850ms"), (.milliseconds(90_250), "1m30.25s"), (.seconds(7200), "2h0m0s"),
        (.seconds(-3), "0s"),
    ])
    func waitsAreWholeMillisecondsInGoSyntax(_ waited: Duration, _ text: String) throws {
        #expect(CommitMessage.milliseconds(waited) == text)
        #expect(try GoDuration.parse(text) <= max(waited, .zero))
    }

    @Test func onlyAGivenWaitIsWritten() {
        let message = CommitMessage(operation: .release, pool: "envs", lock: "a", tool: tool, nonce: nonce)
        #expect(!message.rendered().contains("Lock-Waited"))
    }
}
