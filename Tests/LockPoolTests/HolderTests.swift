import Foundation
import Testing

@testable import LockPool

struct HolderCase: Sendable, CustomTestStringConvertible {
    let name: String
    let message: String
    var committer = ("CI Pool Resource", "ci-pool@localhost")
    let description: String
    let build: BuildInfo?
    var testDescription: String { name }
}

private func rendered(_ build: BuildInfo, _ operation: LockOperation = .acquire) -> String {
    CommitMessage(
        operation: operation, pool: "envs", lock: "env-3", build: build, tool: "lockpool 0.1.0 (resource)",
        nonce: "0123456789abcdef0123456789abcdef"
    ).rendered()
}

private let fullBuild = BuildInfo(
    team: "main", pipeline: "deploy", job: "apply", name: "42", id: "1234", instanceVars: #"{"branch":"main"}"#,
    url: "https://ci/teams/main/pipelines/deploy/jobs/apply/builds/42?vars.branch=%22main%22")

@Test(arguments: [
    // Schema-1 trailers.
    HolderCase(
        name: "schema 1, pipeline build", message: rendered(fullBuild), description: "main/deploy/apply build 42",
        build: fullBuild),
    HolderCase(
        name: "schema 1, one-off build", message: rendered(BuildInfo(id: "77", url: "https://ci/builds/77"), .release),
        description: "one-off build 77", build: BuildInfo(id: "77", url: "https://ci/builds/77")),
    HolderCase(
        name: "schema 1, CLI commit names its committer", message: rendered(.none),
        committer: ("Alice Doe", "alice@example.com"), description: "Alice Doe <alice@example.com>", build: nil),
    HolderCase(
        name: "schema 1, trailers in any order with unknown keys",
        message:
            "whatever\n\nX-Note: hi\nBuild-Name: 9\nBuild-Job: j\nBuild-Pipeline: p\nLock-Schema: 1\nbuild-team: t\n",
        description: "t/p/j build 9", build: BuildInfo(team: "t", pipeline: "p", job: "j", name: "9")),
    HolderCase(
        name: "schema 1, only a Build-URL trailer",
        message: "claiming: env-1\n\nLock-Schema: 1\nBuild-URL: https://ci/builds/5\n",
        description: "https://ci/builds/5", build: BuildInfo(url: "https://ci/builds/5")),
    // Subject prefixes.
    HolderCase(
        name: "Pix4D T/P/J build N", message: "main/deploy/apply build 42 claiming: env-3",
        description: "main/deploy/apply build 42",
        build: BuildInfo(team: "main", pipeline: "deploy", job: "apply", name: "42")),
    HolderCase(
        name: "Pix4D T/P/V/J build N with instance vars",
        message: #"main/deploy/{"branch":"feature/x"}/apply build 42.1 claiming: env-3"#,
        description: #"main/deploy/{"branch":"feature/x"}/apply build 42.1"#,
        build: BuildInfo(
            team: "main", pipeline: "deploy", job: "apply", name: "42.1", instanceVars: #"{"branch":"feature/x"}"#)),
    HolderCase(
        name: "P/J build N", message: "deploy/apply build 42 unclaiming: env-1", description: "deploy/apply build 42",
        build: BuildInfo(pipeline: "deploy", job: "apply", name: "42")),
    HolderCase(
        name: "P/J #N", message: "deploy/apply #42 removing: env-1", description: "deploy/apply build 42",
        build: BuildInfo(pipeline: "deploy", job: "apply", name: "42")),
    HolderCase(
        name: "P/J `#N`", message: "deploy/apply `#42` adding unclaimed: env-1", description: "deploy/apply build 42",
        build: BuildInfo(pipeline: "deploy", job: "apply", name: "42")),
    HolderCase(
        name: "one-off build N", message: "one-off build 77 adding claimed: env-1", description: "one-off build 77",
        build: BuildInfo(id: "77")),
    HolderCase(
        name: "one-off #N", message: "one-off #77 updating: env-1\n", description: "one-off build 77",
        build: BuildInfo(id: "77")),
    HolderCase(
        name: "prefix plus Build URL paragraph",
        message: "main/deploy/apply build 42 claiming: env-3\n\nBuild URL: https://ci/b/42\n",
        description: "main/deploy/apply build 42",
        build: BuildInfo(team: "main", pipeline: "deploy", job: "apply", name: "42", url: "https://ci/b/42")),
    HolderCase(
        name: "a job named like a verb", message: "main/deploy/claiming: build 4 claiming: env-1",
        description: "main/deploy/claiming: build 4",
        build: BuildInfo(team: "main", pipeline: "deploy", job: "claiming:", name: "4")),
    HolderCase(
        name: "a lock named like a verb", message: "main/deploy/apply build 42 claiming: env updating: x",
        description: "main/deploy/apply build 42",
        build: BuildInfo(team: "main", pipeline: "deploy", job: "apply", name: "42")),
    // Upstream bare subjects, Build URL lines, Pool Boy, hand-made commits.
    HolderCase(
        name: "upstream bare subject with Build URL below",
        message: "claiming: env-1\nBuild URL: https://ci/builds/5\n",
        description: "https://ci/builds/5", build: BuildInfo(url: "https://ci/builds/5")),
    HolderCase(
        name: "upstream 2026 job build URL below a bare subject",
        message: "claiming: env-1\nBuild URL: https://ci/teams/main/pipelines/deploy%20x/jobs/apply/builds/42.1\n",
        description: "main/deploy x/apply build 42.1",
        build: BuildInfo(
            team: "main", pipeline: "deploy x", job: "apply", name: "42.1",
            url: "https://ci/teams/main/pipelines/deploy%20x/jobs/apply/builds/42.1")),
    HolderCase(
        name: "job build URL with instance vars stays a URL",
        message: "claiming: env-1\nBuild URL: https://ci/teams/main/pipelines/deploy/jobs/apply/builds/42?vars.b=1\n",
        description: "https://ci/teams/main/pipelines/deploy/jobs/apply/builds/42?vars.b=1",
        build: BuildInfo(url: "https://ci/teams/main/pipelines/deploy/jobs/apply/builds/42?vars.b=1")),
    HolderCase(
        name: "upstream bare subject with empty Build URL", message: "unclaiming: env-1\nBuild URL: \n",
        committer: ("git", "git@localhost"), description: "git <git@localhost>", build: nil),
    HolderCase(
        name: "Pool Boy", message: "Freshening up the pool with 3 changes\n", committer: ("Pool Boy", "pb@x"),
        description: "Pool Boy", build: nil),
    HolderCase(
        name: "hand-made commit", message: "put env-1 back by hand\n\nit was stuck\n",
        committer: ("Bob", "bob@example.com"), description: "Bob <bob@example.com>", build: nil),
    HolderCase(
        name: "unknown prefix before a verb", message: "some text claiming: env-1", committer: ("Bob", ""),
        description: "Bob", build: nil),
    HolderCase(
        name: "committer without a name", message: "x", committer: ("", "ci@x"), description: "<ci@x>", build: nil),
])
func holderFromMessage(_ c: HolderCase) {
    let holder = Holder.from(message: c.message, committerName: c.committer.0, committerEmail: c.committer.1)
    #expect(holder.description == c.description)
    #expect(holder.build == c.build)
    #expect("\(holder)" == c.description)
}

struct LeaseCase: Sendable, CustomTestStringConvertible {
    let trailer: String?
    let expected: Date?
    var testDescription: String { trailer ?? "no trailer" }
}

@Test(arguments: [
    LeaseCase(trailer: "2026-05-02T14:00:00Z", expected: Date(timeIntervalSince1970: 1_777_730_400)),
    LeaseCase(trailer: "2026-05-02T16:00:00+02:00", expected: Date(timeIntervalSince1970: 1_777_730_400)),
    LeaseCase(trailer: "2026-05-02T14:00:00.500Z", expected: Date(timeIntervalSince1970: 1_777_730_400.5)),
    LeaseCase(trailer: "tomorrow", expected: nil),
    LeaseCase(trailer: nil, expected: nil),
])
func leaseExpiryIsRead(_ c: LeaseCase) {
    let message = "s\n\nLock-Schema: 1\n" + (c.trailer.map { "Lease-Expires: \($0)\n" } ?? "")
    #expect(Holder.leaseExpiry(in: message) == c.expected)
}

@Test func leaseExpiryRoundTripsThroughTheMessage() {
    let expiry = Date(timeIntervalSince1970: 1_777_730_400)
    let message = CommitMessage(operation: .claim, pool: "p", lock: "l", leaseExpires: expiry, tool: "t")
    #expect(Holder.leaseExpiry(in: message.rendered()) == expiry)
}

@Test func claimCommitIsRead() {
    let claim = "89abcdef0123456789abcdef0123456789abcdef"
    let release = CommitMessage(operation: .release, pool: "p", lock: "l", claimCommit: claim, tool: "t")
    #expect(Holder.claimCommit(in: release.rendered()) == claim)
    #expect(Holder.claimCommit(in: "s\n\nlock-claim: abc\n") == "abc")
    #expect(Holder.claimCommit(in: "unclaiming: l\n") == nil)
    #expect(Holder.claimCommit(in: "s\n\nLock-Claim:\n") == nil)
}

// MARK: - Hand-made commits in a real repository

struct HandMadeCase: Sendable, CustomTestStringConvertible {
    let message: String
    let author: (name: String, email: String)
    let description: String
    var testDescription: String { "\(message.prefix { $0 != "\n" }) → \(description)" }
}

private let gitAvailable = ProcessInfo.processInfo.environment["PATH", default: "/usr/bin:/bin"]
    .split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/git") }

@Test(
    .enabled(if: gitAvailable, "needs git"),
    arguments: [
        HandMadeCase(
            message: "main/deploy/apply build 42 claiming: env-1", author: ("CI Pool Resource", "ci-pool@localhost"),
            description: "main/deploy/apply build 42"),
        HandMadeCase(
            message: "claiming: env-1\nBuild URL: https://ci.example.com/builds/9",
            author: ("git", "git@localhost"), description: "https://ci.example.com/builds/9"),
        HandMadeCase(
            message: "deploy/apply #12 unclaiming: env-1", author: ("CI Pool Resource", "ci-pool@localhost"),
            description: "deploy/apply build 12"),
        HandMadeCase(
            message: "Freshening up the pool with 2 changes", author: ("Pool Boy", "poolboy@example.com"),
            description: "Pool Boy"),
        HandMadeCase(
            message: "Release env-1 by hand\n\nThe build was aborted.", author: ("Alice Doe", "alice@example.com"),
            description: "Alice Doe <alice@example.com>"),
        HandMadeCase(
            message: rendered(BuildInfo(id: "77")), author: ("CI Pool Resource", "ci-pool@localhost"),
            description: "one-off build 77"),
    ])
func holderOfAHandMadeCommit(_ c: HandMadeCase) throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("lockpool-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: root) }
    let emptyConfig = root.appendingPathComponent("empty.gitconfig")
    try Data().write(to: emptyConfig)
    let environment = [
        "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": root.path,
        "LC_ALL": "C.UTF-8", "GIT_CONFIG_GLOBAL": emptyConfig.path, "GIT_CONFIG_SYSTEM": emptyConfig.path,
        "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": c.author.name, "GIT_AUTHOR_EMAIL": c.author.email,
        "GIT_COMMITTER_NAME": c.author.name, "GIT_COMMITTER_EMAIL": c.author.email,
    ]
    func git(_ arguments: String...) throws -> String { try runGit(arguments, in: root, environment: environment) }
    _ = try git("init", "-q", "-b", "main", ".")
    try FileManager.default.createDirectory(
        at: root.appendingPathComponent("envs/claimed"), withIntermediateDirectories: true)
    try Data().write(to: root.appendingPathComponent("envs/claimed/env-1"))
    _ = try git("add", "envs")
    _ = try git("commit", "-q", "-m", c.message)

    let body = try git("log", "-1", "--format=%B")
    let name = try git("log", "-1", "--format=%cn").dropLast()
    let email = try git("log", "-1", "--format=%ce").dropLast()
    let holder = Holder.from(message: body, committerName: String(name), committerEmail: String(email))
    #expect(holder.description == c.description)
}

private struct GitFailed: Error, CustomStringConvertible {
    let description: String
}

private func runGit(_ arguments: [String], in directory: URL, environment: [String: String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["git"] + arguments
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
        throw GitFailed(description: "git \(arguments.first ?? ""): \(String(decoding: errorData, as: UTF8.self))")
    }
    return String(decoding: data, as: UTF8.self)
}

/// `Holder.occurrences` finds what the standard library's `ranges(of:)` finds: non-overlapping matches from the left,
/// Character by Character, on ASCII texts (searched by bytes) and on others.
@Test(arguments: [
    "main/deploy/apply build 7 claiming: a", "a/b build build 5 claiming: x", " build  build build ", "", "build",
    "claiming:claiming:unclaiming: x", "é build 3 claiming: é", "x build\u{301} 3 claiming: a", "e\u{301} build 3",
    "team/pipe/job `#12` claiming: a\r", "p/j #3 #4 unclaiming: z", "日本 build 2 adding claimed: ロック", "👩‍👩‍👧 build 1",
    "aaa", "\r\n build \r\n",
])
func occurrencesAreThoseOfRangesOf(_ text: String) {
    for needle in [" build ", "claiming:", " #", " `#", "a", "aa", " "] {
        let expected = text[...].ranges(of: needle)
        #expect(Holder.occurrences(of: needle, in: text[...]) == expected, "\(needle) in \(text.debugDescription)")
        let tail = text.dropFirst()
        #expect(Holder.occurrences(of: needle, in: tail) == tail.ranges(of: needle), "\(needle) in the tail")
    }
}
