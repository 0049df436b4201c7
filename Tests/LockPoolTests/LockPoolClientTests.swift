import Foundation
import Git
import Logging
import Synchronization
import TestSupport
import Testing

@testable import LockPool

#if canImport(Glibc)
    import Glibc
#endif

/// Collects events from any thread, in order.
final class EventCollector: Sendable {
    private let storage = Mutex<[PoolEvent]>([])
    var events: [PoolEvent] { storage.withLock { $0 } }
    func record(_ event: PoolEvent) { storage.withLock { $0.append(event) } }
    func contains(_ event: PoolEvent) -> Bool { events.contains(event) }
    var statusLines: [String] {
        events.compactMap { if case .waitingStatus(let text) = $0 { text } else { nil } }
    }
}

private let silent = Logger(label: "lockpool.tests") { _ in SwiftLogNoOpLogHandler() }
private let tool = "lockpool 0.0.0-test (cli)"
private let apply42 = BuildInfo(
    team: "main", pipeline: "deploy", job: "apply", name: "42", id: "1234",
    url: "https://ci.example.com/teams/main/pipelines/deploy/jobs/apply/builds/42")
private let apply43 = BuildInfo(team: "main", pipeline: "deploy", job: "apply", name: "43")
/// The holder of locks seeded or moved with the git CLI.
private let cliHolder = "\(GitCLI.authorName) <\(GitCLI.authorEmail)>"

/// An origin with pools and clients that each have their own cache in the scratch directory.
struct PoolFixture {
    let scratch: Scratch
    let origin: LockRepository
    let pool: String

    init(
        label: String, pool: String = "envs", locks: [String: LockSeed], otherPools: [String: [String: LockSeed]] = [:]
    )
        throws
    {
        scratch = try Scratch(label: label)
        var pools = otherPools
        pools[pool] = locks
        origin = try LockRepository.create(in: scratch, pools: pools)
        self.pool = pool
    }

    func client(
        cache: String = "cache", pool: String? = nil, retryDelay: Duration = .milliseconds(50),
        build: BuildInfo = .none, remoteURL: String? = nil
    ) -> LockPoolClient {
        LockPoolClient(
            configuration: PoolConfiguration(
                remoteURL: remoteURL ?? origin.path, branch: origin.branch, pool: pool ?? self.pool,
                cacheRoot: scratch.url(cache).path, retryDelay: retryDelay, build: build, tool: tool))
    }

    /// Runs `operation` on a client with its own cache and returns the result and the events.
    @discardableResult
    func perform(
        _ operation: PoolOperation, cache: String = "cache", pool: String? = nil,
        retryDelay: Duration = .milliseconds(50), build: BuildInfo = .none, timeout: Duration? = .seconds(20),
        remoteURL: String? = nil, collector: EventCollector = EventCollector()
    ) async throws -> OperationResult {
        try await client(cache: cache, pool: pool, retryDelay: retryDelay, build: build, remoteURL: remoteURL).perform(
            operation, timeout: timeout, clock: ContinuousClock(), events: collector.record, logger: silent)
    }

    /// Runs `operation` expecting a `LockPoolError`; returns it.
    func failure(
        _ operation: PoolOperation, pool: String? = nil, retryDelay: Duration = .seconds(10),
        timeout: Duration = .seconds(5), collector: EventCollector = EventCollector()
    ) async throws -> LockPoolError {
        do {
            let result = try await perform(
                operation, pool: pool, retryDelay: retryDelay, timeout: timeout, collector: collector)
            Issue.record("expected a failure, got \(result)")
            throw CancellationError()
        } catch let error as LockPoolError {
            return error
        }
    }

    func path(_ lock: String, claimed: Bool) -> String { "\(pool)/\(claimed ? "claimed" : "unclaimed")/\(lock)" }
}

// MARK: - Acquire

struct AcquireCase: Sendable, CustomTestStringConvertible {
    let locks: [String: Bool]  // lock name → claimed
    /// The locks acquire may choose; empty: it waits.
    let choices: Set<String>
    var testDescription: String {
        "\(locks.sorted { $0.key < $1.key }.map { "\($0.key)\($0.value ? "*" : "")" }) → "
            + (choices.isEmpty ? "waits" : choices.sorted().joined(separator: "|"))
    }
}

@Suite struct AcquireTests {
    @Test(arguments: [
        AcquireCase(locks: ["a": false], choices: ["a"]),
        AcquireCase(locks: ["a": true, "b": false], choices: ["b"]),
        AcquireCase(locks: ["a": false, "b": false, "c": true], choices: ["a", "b"]),
        AcquireCase(locks: ["a": true], choices: []),
        AcquireCase(locks: ["a": true, "b": true], choices: []),
        AcquireCase(locks: [:], choices: []),
    ])
    func acquireTakesAnUnclaimedLockOrWaits(_ c: AcquireCase) async throws {
        let fixture = try PoolFixture(
            label: "acquire", locks: c.locks.mapValues { LockSeed(claimed: $0, content: "meta\n") })
        let before = try fixture.origin.commitID()
        let collector = EventCollector()
        if c.choices.isEmpty {
            let error = try await fixture.failure(
                .acquire(lease: nil), retryDelay: .milliseconds(50), timeout: .milliseconds(300), collector: collector)
            #expect(error.description == "timed out after 300ms: no unclaimed lock in pool 'envs'")
            #expect(collector.contains(.waitingStarted(.acquire)))
            #expect(try fixture.origin.commitID() == before)
            return
        }
        let result = try await fixture.perform(.acquire(lease: nil), collector: collector)
        #expect(c.choices.contains(result.lock))
        #expect(result.committed)
        #expect(result.version.hex == (try fixture.origin.commitID()))
        #expect(result.tip == result.version)
        #expect(try fixture.origin.commit().parents == [before])
        let locks = try fixture.origin.locks(in: "envs")
        #expect(locks.claimed == (c.locks.filter { $0.value }.map(\.key) + [result.lock]).sorted())
        #expect(result.availableCount == locks.unclaimed.count)
        #expect(result.claimedCount == locks.claimed.count)
        #expect(try fixture.origin.file(fixture.path(result.lock, claimed: true)) == Data("meta\n".utf8))
        #expect(
            collector.events == [.started(.acquire, lock: nil, pool: "envs", claimed: false), .succeeded(.acquire)])
    }

    @Test func acquireNeverPicksDotFilesDirectoriesSymlinksOrDoubleLocks() async throws {
        let fixture = try PoolFixture(label: "acquire-skip", locks: ["dup": .claimed()])
        try fixture.origin.commit(message: "adding unclaimed: odd entries") { work in
            let unclaimed = work.appendingPathComponent("envs/unclaimed")
            try Data("x".utf8).write(to: unclaimed.appendingPathComponent(".hidden"))
            try FileManager.default.createDirectory(
                at: unclaimed.appendingPathComponent("sub"), withIntermediateDirectories: true)
            try Data("x".utf8).write(to: unclaimed.appendingPathComponent("sub/inner"))
            try FileManager.default.createSymbolicLink(
                atPath: unclaimed.appendingPathComponent("link").path, withDestinationPath: "../claimed/dup")
            try Data("d".utf8).write(to: unclaimed.appendingPathComponent("dup"))
        }
        let collector = EventCollector()
        let error = try await fixture.failure(
            .acquire(lease: nil), retryDelay: .milliseconds(50), timeout: .milliseconds(300), collector: collector)
        #expect(error.description == "timed out after 300ms: no unclaimed lock in pool 'envs'")
        let warnings = collector.events.filter { if case .warning = $0 { true } else { false } }
        #expect(warnings == [.warning("lock 'dup' is both claimed and unclaimed in pool 'envs'; skipping it")])
    }

    @Test func acquireKeepsBlobAndMode() async throws {
        let fixture = try PoolFixture(label: "acquire-mode", locks: [:])
        try fixture.origin.commit(message: "adding unclaimed: exec") { work in
            let file = work.appendingPathComponent("envs/unclaimed/exec")
            try Data("#!/bin/sh\n".utf8).write(to: file)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: file.path)
        }
        let result = try await fixture.perform(.acquire(lease: nil))
        #expect(result.lock == "exec")
        #expect(try fixture.origin.mode(of: "envs/claimed/exec") == "100755")
        #expect(try fixture.origin.file("envs/claimed/exec") == Data("#!/bin/sh\n".utf8))
    }
}

// MARK: - Named operations

@Suite struct NamedOperationTests {
    @Test func claimTakesTheNamedUnclaimedLock() async throws {
        let fixture = try PoolFixture(label: "claim", locks: ["a": .unclaimed("A\n"), "b": .unclaimed()])
        let collector = EventCollector()
        let result = try await fixture.perform(.claim(lock: "a", lease: nil), collector: collector)
        #expect(result.lock == "a" && result.committed)
        #expect(try fixture.origin.locks(in: "envs") == PoolLocks(claimed: ["a"], unclaimed: ["b"]))
        #expect(try fixture.origin.file("envs/claimed/a") == Data("A\n".utf8))
        #expect(collector.events == [.started(.claim, lock: "a", pool: "envs", claimed: false), .succeeded(.claim)])
    }

    @Test func claimOfAClaimedLockWaitsAndTimesOutNamingTheHolder() async throws {
        let fixture = try PoolFixture(label: "claim-wait", locks: ["a": .claimed()])
        let collector = EventCollector()
        let error = try await fixture.failure(
            .claim(lock: "a", lease: nil), retryDelay: .milliseconds(50), timeout: .milliseconds(300),
            collector: collector)
        #expect(error.description == "timed out after 300ms: lock 'a' in pool 'envs' is still claimed by \(cliHolder)")
        #expect(
            collector.events.prefix(2) == [
                .started(.claim, lock: "a", pool: "envs", claimed: false), .waitingStarted(.claim),
            ])
        let status = try #require(collector.statusLines.first)
        #expect(status.hasPrefix("waiting 0s: a claimed by \(cliHolder) since "))
    }

    @Test func releaseMovesTheLockBackKeepingBlobAndMode() async throws {
        let fixture = try PoolFixture(label: "release", locks: [:])
        try fixture.origin.commit(message: "adding unclaimed: a") { work in
            let file = work.appendingPathComponent("envs/unclaimed/a")
            try Data("payload\n".utf8).write(to: file)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: file.path)
        }
        let blob = try fixture.origin.git.output("rev-parse", "master:envs/unclaimed/a")
        let claim = try await fixture.perform(.claim(lock: "a", lease: nil), build: apply42)
        let collector = EventCollector()
        let release = try await fixture.perform(.release(lock: "a", fence: nil), collector: collector)
        #expect(release.committed && release.lock == "a")
        #expect(try fixture.origin.commit().parents == [claim.version.hex])
        #expect(try fixture.origin.git.output("rev-parse", "master:envs/unclaimed/a") == blob)
        #expect(try fixture.origin.mode(of: "envs/unclaimed/a") == "100755")
        #expect(try fixture.origin.file("envs/claimed/a") == nil)
        let message = try fixture.origin.commit().message
        #expect(Trailers.value("Lock-Claim", in: message) == claim.version.hex)
        #expect(collector.events.last == .succeeded(.release))
    }

    @Test func releaseWithAHoldingFenceSucceeds() async throws {
        let fixture = try PoolFixture(label: "release-fence", locks: ["a": .unclaimed()])
        let claim = try await fixture.perform(.claim(lock: "a", lease: nil))
        try fixture.origin.writeFile("README", content: "unrelated\n")
        let release = try await fixture.perform(.release(lock: "a", fence: claim.version))
        #expect(release.committed)
        #expect(try fixture.origin.locks(in: "envs") == PoolLocks(claimed: [], unclaimed: ["a"]))
    }

    @Test func removeDeletesTheClaimedLock() async throws {
        let fixture = try PoolFixture(label: "remove", locks: ["a": .unclaimed(), "b": .unclaimed()])
        let claim = try await fixture.perform(.claim(lock: "a", lease: nil))
        let collector = EventCollector()
        let removed = try await fixture.perform(.remove(lock: "a", fence: claim.version), collector: collector)
        #expect(removed.committed && removed.lock == "a")
        #expect(try fixture.origin.locks(in: "envs") == PoolLocks(claimed: [], unclaimed: ["b"]))
        #expect(Trailers.value("Lock-Claim", in: try fixture.origin.commit().message) == claim.version.hex)
        #expect(
            collector.events == [
                .started(.remove, lock: "a", pool: "envs", claimed: false), .succeeded(.remove),
            ])
    }

    @Test(arguments: [false, true])
    func addWritesANewLockWithMode100644(claimed: Bool) async throws {
        let fixture = try PoolFixture(label: "add", locks: ["a": .unclaimed()])
        let before = try fixture.origin.commitID()
        let content: [UInt8] = Array("owner: ops\n".utf8) + [0, 0xFF]
        let collector = EventCollector()
        let result = try await fixture.perform(
            .add(lock: "new", content: content, claimed: claimed, lease: nil), collector: collector)
        #expect(result.committed && result.lock == "new")
        #expect(try fixture.origin.commit().parents == [before])
        #expect(try fixture.origin.file(fixture.path("new", claimed: claimed)).map(Array.init) == content)
        #expect(try fixture.origin.mode(of: fixture.path("new", claimed: claimed)) == "100644")
        #expect(try fixture.origin.file(fixture.path("new", claimed: !claimed)) == nil)
        let kind: OperationKind = claimed ? .addClaimed : .add
        #expect(collector.events == [.started(kind, lock: "new", pool: "envs", claimed: claimed), .succeeded(kind)])
    }

    struct NoOpCase: Sendable, CustomTestStringConvertible {
        let name: String
        let seed: LockSeed
        let executable: Bool
        let operation: PoolOperation
        var testDescription: String { name }
    }

    @Test(arguments: [
        NoOpCase(
            name: "add of an identical unclaimed lock", seed: .unclaimed("same\n"), executable: false,
            operation: .add(lock: "l", content: Array("same\n".utf8), claimed: false, lease: nil)),
        NoOpCase(
            name: "add_claimed of an identical claimed lock", seed: .claimed("same\n"), executable: false,
            operation: .add(lock: "l", content: Array("same\n".utf8), claimed: true, lease: nil)),
        NoOpCase(
            name: "update with identical bytes", seed: .unclaimed("same\n"), executable: false,
            operation: .update(lock: "l", content: Array("same\n".utf8))),
        NoOpCase(
            name: "update with identical bytes, mode not compared", seed: .unclaimed("same\n"), executable: true,
            operation: .update(lock: "l", content: Array("same\n".utf8))),
    ])
    func identicalContentIsANoOpReturningTheLastChange(_ c: NoOpCase) async throws {
        let fixture = try PoolFixture(label: "noop", locks: ["other": .unclaimed()])
        let lockPath = fixture.path("l", claimed: c.seed.isClaimed)
        let change = try fixture.origin.commit(message: "adding: l") { work in
            let file = work.appendingPathComponent(lockPath)
            try Data(c.seed.content.utf8).write(to: file)
            if c.executable {
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: file.path)
            }
        }
        // Later commits that do not touch the lock: the version must still name the lock's last change.
        try fixture.origin.moveLock("other", in: "envs", toClaimed: true)
        try fixture.origin.writeFile("README", content: "later\n")
        let tip = try fixture.origin.commitID()
        let collector = EventCollector()
        let result = try await fixture.perform(c.operation, collector: collector)
        #expect(!result.committed)
        #expect(result.version.hex == change)
        #expect(result.tip.hex == tip)
        #expect(result.lock == "l")
        #expect(try fixture.origin.commitID() == tip)
        #expect(
            collector.events.dropFirst() == [.nothingToCommit(lock: "l", pool: "envs"), .succeeded(c.operation.kind)])
    }

    struct ConflictCase: Sendable, CustomTestStringConvertible {
        let name: String
        let seed: LockSeed
        let claimed: Bool
        let message: String
        var testDescription: String { name }
    }

    @Test(arguments: [
        ConflictCase(
            name: "add over unclaimed with other bytes", seed: .unclaimed("old"), claimed: false,
            message:
                "lock 'l' already exists in pool 'envs' as unclaimed with different content; use update to change it"),
        ConflictCase(
            name: "add over a claimed lock", seed: .claimed("new"), claimed: false,
            message: "lock 'l' already exists in pool 'envs' as claimed"),
        ConflictCase(
            name: "add_claimed over claimed with other bytes", seed: .claimed("old"), claimed: true,
            message: "lock 'l' already exists in pool 'envs' as claimed"),
        ConflictCase(
            name: "add_claimed over an unclaimed lock", seed: .unclaimed("new"), claimed: true,
            message: "lock 'l' already exists in pool 'envs' as unclaimed; use claim to take it"),
    ])
    func conflictingAddsFail(_ c: ConflictCase) async throws {
        let fixture = try PoolFixture(label: "add-conflict", locks: ["l": c.seed])
        let before = try fixture.origin.commitID()
        let error = try await fixture.failure(
            .add(lock: "l", content: Array("new".utf8), claimed: c.claimed, lease: nil))
        #expect(error.description == c.message)
        #expect(try fixture.origin.commitID() == before)
    }

    @Test func updateReplacesAnUnclaimedLock() async throws {
        let fixture = try PoolFixture(label: "update", locks: [:])
        try fixture.origin.commit(message: "adding unclaimed: l") { work in
            let file = work.appendingPathComponent("envs/unclaimed/l")
            try Data("old\n".utf8).write(to: file)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: file.path)
        }
        let collector = EventCollector()
        let result = try await fixture.perform(.update(lock: "l", content: Array("new\n".utf8)), collector: collector)
        #expect(result.committed)
        #expect(try fixture.origin.file("envs/unclaimed/l") == Data("new\n".utf8))
        #expect(try fixture.origin.mode(of: "envs/unclaimed/l") == "100644")
        #expect(try fixture.origin.commit().subject == "updating: l")
        #expect(
            collector.events == [
                .started(.update, lock: "l", pool: "envs", claimed: false), .succeeded(.update),
            ])
    }

    @Test func updateOfAnAbsentLockAddsItUnclaimed() async throws {
        let fixture = try PoolFixture(label: "update-add", locks: [:])
        let result = try await fixture.perform(.update(lock: "l", content: Array("x".utf8)))
        #expect(result.committed)
        #expect(try fixture.origin.locks(in: "envs") == PoolLocks(claimed: [], unclaimed: ["l"]))
        let commit = try fixture.origin.commit()
        #expect(commit.subject == "adding unclaimed: l")
        #expect(commit.trailer("Lock-Operation") == "update")
    }

    @Test func updateOfAClaimedLockWaits() async throws {
        let fixture = try PoolFixture(label: "update-wait", locks: ["l": .claimed("x")])
        let collector = EventCollector()
        let error = try await fixture.failure(
            .update(lock: "l", content: Array("y".utf8)), retryDelay: .milliseconds(50), timeout: .milliseconds(300),
            collector: collector)
        #expect(error.description == "timed out after 300ms: lock 'l' in pool 'envs' is still claimed by \(cliHolder)")
        #expect(collector.contains(.waitingStarted(.update)))
    }

    struct CheckCase: Sendable, CustomTestStringConvertible {
        let operation: PoolOperation
        let claimed: Bool
        let waits: Bool
        var testDescription: String { "\(operation.kind.rawValue) on a \(claimed ? "claimed" : "unclaimed") lock" }
    }

    @Test(arguments: [
        CheckCase(operation: .check(lock: "l"), claimed: false, waits: false),
        CheckCase(operation: .check(lock: "l"), claimed: true, waits: true),
        CheckCase(operation: .checkUnclaimed(lock: "l"), claimed: true, waits: false),
        CheckCase(operation: .checkUnclaimed(lock: "l"), claimed: false, waits: true),
    ])
    func checksReturnTheLastChangeOrWait(_ c: CheckCase) async throws {
        let fixture = try PoolFixture(label: "check", locks: ["l": .unclaimed(), "m": .unclaimed()])
        let change =
            c.claimed ? try fixture.origin.moveLock("l", in: "envs", toClaimed: true) : try fixture.origin.commitID()
        try fixture.origin.moveLock("m", in: "envs", toClaimed: true)
        let tip = try fixture.origin.commitID()
        let collector = EventCollector()
        if c.waits {
            let error = try await fixture.failure(
                c.operation, retryDelay: .milliseconds(50), timeout: .milliseconds(300), collector: collector)
            let expected =
                c.claimed
                ? "timed out after 300ms: lock 'l' in pool 'envs' is still claimed by \(cliHolder)"
                : "timed out after 300ms: lock 'l' in pool 'envs' is still unclaimed"
            #expect(error.description == expected)
            #expect(collector.contains(.waitingStarted(c.operation.kind)))
            if !c.claimed {
                #expect(collector.statusLines.first?.hasPrefix("waiting 0s: l unclaimed since ") == true)
            }
            return
        }
        let result = try await fixture.perform(c.operation, collector: collector)
        #expect(!result.committed)
        #expect(result.version.hex == change)
        #expect(result.tip.hex == tip)
        #expect(try fixture.origin.commitID() == tip)
        #expect(
            collector.events == [
                .started(c.operation.kind, lock: "l", pool: "envs", claimed: false), .succeeded(c.operation.kind),
            ])
    }
}

// MARK: - Permanent failures

struct FailureCase: Sendable, CustomTestStringConvertible {
    let name: String
    let operation: PoolOperation
    let pool: String?
    let message: String
    var testDescription: String { name }
}

@Suite struct PermanentFailureTests {
    /// Pool `envs`: `free` unclaimed, `held` claimed, `dup` in both states.
    static func fixture() throws -> PoolFixture {
        let fixture = try PoolFixture(label: "fail", locks: ["free": .unclaimed(), "held": .claimed()])
        try fixture.origin.commit(message: "adding unclaimed: dup") { work in
            try Data("1".utf8).write(to: work.appendingPathComponent("envs/claimed/dup"))
            try Data("2".utf8).write(to: work.appendingPathComponent("envs/unclaimed/dup"))
        }
        return fixture
    }

    static let missingPool = "pool 'nope' does not exist on branch 'master' (expected nope/claimed and nope/unclaimed)"
    static let both = "lock 'dup' is both claimed and unclaimed in pool 'envs'; fix the repository by hand"

    @Test(arguments: [
        FailureCase(
            name: "acquire in a missing pool", operation: .acquire(lease: nil), pool: "nope", message: missingPool),
        FailureCase(
            name: "claim in a missing pool", operation: .claim(lock: "free", lease: nil), pool: "nope",
            message: missingPool),
        FailureCase(
            name: "update in a missing pool", operation: .update(lock: "x", content: []), pool: "nope",
            message: missingPool),
        FailureCase(
            name: "add in a missing pool", operation: .add(lock: "x", content: [], claimed: false, lease: nil),
            pool: "nope", message: missingPool),
        FailureCase(
            name: "claim of an absent lock", operation: .claim(lock: "zz", lease: nil), pool: nil,
            message: "lock 'zz' does not exist in pool 'envs'"),
        FailureCase(
            name: "release of an absent lock", operation: .release(lock: "zz", fence: nil), pool: nil,
            message: "lock 'zz' does not exist in pool 'envs'"),
        FailureCase(
            name: "remove of an absent lock", operation: .remove(lock: "zz", fence: nil), pool: nil,
            message: "lock 'zz' does not exist in pool 'envs'"),
        FailureCase(
            name: "check of an absent lock", operation: .check(lock: "zz"), pool: nil,
            message: "lock 'zz' does not exist in pool 'envs'"),
        FailureCase(
            name: "check_unclaimed of an absent lock", operation: .checkUnclaimed(lock: "zz"), pool: nil,
            message: "lock 'zz' does not exist in pool 'envs'"),
        FailureCase(
            name: "claim of a lock in both states", operation: .claim(lock: "dup", lease: nil), pool: nil, message: both
        ),
        FailureCase(
            name: "release of a lock in both states", operation: .release(lock: "dup", fence: nil), pool: nil,
            message: both),
        FailureCase(name: "check of a lock in both states", operation: .check(lock: "dup"), pool: nil, message: both),
        FailureCase(
            name: "update of a lock in both states", operation: .update(lock: "dup", content: []), pool: nil,
            message: both),
        FailureCase(
            name: "add of a lock in both states", operation: .add(lock: "dup", content: [], claimed: false, lease: nil),
            pool: nil, message: both),
        FailureCase(
            name: "release of a never-claimed lock", operation: .release(lock: "free", fence: nil), pool: nil,
            message: "lock 'free' in pool 'envs' is not claimed"),
        FailureCase(
            name: "remove of an unclaimed lock", operation: .remove(lock: "free", fence: nil), pool: nil,
            message: "lock 'free' in pool 'envs' is not claimed: only claimed locks can be removed; claim it first"),
    ])
    func failsAtOnceWithTheExactMessage(_ c: FailureCase) async throws {
        let fixture = try Self.fixture()
        let before = try fixture.origin.commitID()
        let collector = EventCollector()
        // retry_delay 10s and timeout 5s: a wait would end as a timeout, not as the expected failure.
        let error = try await fixture.failure(c.operation, pool: c.pool, collector: collector)
        #expect(error.description == c.message)
        #expect(!collector.events.contains { if case .waitingStarted = $0 { true } else { false } })
        #expect(try fixture.origin.commitID() == before)
    }

    @Test func releaseOfAReleasedLockNamesWhoReleasedIt() async throws {
        let fixture = try PoolFixture(label: "released", locks: ["a": .unclaimed()])
        try await fixture.perform(.claim(lock: "a", lease: nil), build: apply42)
        let release = try await fixture.perform(.release(lock: "a", fence: nil), build: apply42)
        let error = try await fixture.failure(.release(lock: "a", fence: nil))
        #expect(
            error.description
                == "lock 'a' in pool 'envs' is not claimed (released by main/deploy/apply build 42 in \(release.version.short))"
        )
    }

    @Test func brokenFenceRefusesToRelease() async throws {
        let fixture = try PoolFixture(label: "fence", locks: ["a": .unclaimed()])
        let first = try await fixture.perform(.claim(lock: "a", lease: nil), build: apply42)
        try await fixture.perform(.release(lock: "a", fence: nil), build: apply42)
        let second = try await fixture.perform(.claim(lock: "a", lease: nil), build: apply43)
        let before = try fixture.origin.commitID()
        for operation in [
            PoolOperation.release(lock: "a", fence: first.version), .remove(lock: "a", fence: first.version),
        ] {
            let error = try await fixture.failure(operation)
            #expect(
                error.description
                    == "lock 'a' in pool 'envs' was claimed again by main/deploy/apply build 43 in \(second.version.short) after this job's claim \(first.version.short); not releasing it"
            )
        }
        #expect(try fixture.origin.commitID() == before)
    }

    @Test func timeoutIsALockPoolErrorCarryingTheDuration() async throws {
        let fixture = try PoolFixture(label: "timeout", locks: ["a": .claimed()])
        let start = ContinuousClock.now
        let error = try await fixture.failure(
            .acquire(lease: nil), retryDelay: .milliseconds(50), timeout: .milliseconds(300))
        let elapsed = ContinuousClock.now - start
        guard case .timedOut(let after, let reason) = error else {
            Issue.record("expected .timedOut, got \(error)")
            return
        }
        #expect(after == .milliseconds(300))
        #expect(reason == "no unclaimed lock in pool 'envs'")
        // No upper bound: on a loaded machine a sleeping task may resume late.
        #expect(elapsed >= .milliseconds(300))
    }
}

// MARK: - Races and waiting

@Suite struct ConcurrencyTests {
    @Test func lostRaceIsRetriedOnAFreshTip() async throws {
        // `dup` makes acquire warn while deciding, between its fetch and its push; the handler pushes a claim with
        // the git CLI at that moment, so the first push is stale.
        let fixture = try PoolFixture(
            label: "lost-race", locks: ["a": .unclaimed(), "b": .unclaimed(), "dup": .claimed()])
        try fixture.origin.writeFile("envs/unclaimed/dup", content: "d", message: "adding unclaimed: dup")
        let origin = fixture.origin
        let interloper = Mutex<String?>(nil)
        let collector = EventCollector()
        let result = try await fixture.client(cache: "loser").perform(
            // Generous: on a loaded 2-core machine the parallel suites can starve the cooperative pool for a minute.
            .acquire(lease: nil), timeout: .seconds(300), clock: ContinuousClock(),
            events: { event in
                collector.record(event)
                if case .warning = event, interloper.withLock({ $0 == nil }) {
                    let id = try? origin.moveLock("a", in: "envs", toClaimed: true)
                    interloper.withLock { $0 = id }
                }
            }, logger: silent)
        let interloperCommit = try #require(interloper.withLock { $0 })
        #expect(collector.contains(.lostRace))
        #expect(result.lostRaces == 1)
        #expect(result.lock == "b")
        #expect(result.committed)
        #expect(try fixture.origin.commit().parents == [interloperCommit])
        #expect(try fixture.origin.locks(in: "envs").claimed == ["a", "b", "dup"])
        let report = try fixture.origin.replay()
        #expect(report.doubleClaims.isEmpty, "\(report)")
    }

    @Test func waitingEndsWhenAnotherClientReleases() async throws {
        let fixture = try PoolFixture(label: "wait-release", locks: ["a": .claimed()])
        let collector = EventCollector()
        let waiter = Task {
            try await fixture.perform(
                .claim(lock: "a", lease: nil), cache: "waiter", build: apply43, collector: collector)
        }
        // Generous: on 2 cores the parallel suites can keep the cooperative pool busy for many seconds.
        let deadline = ContinuousClock.now + .seconds(90)
        while !collector.contains(.waitingStarted(.claim)), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(collector.contains(.waitingStarted(.claim)))
        let release = try await fixture.perform(.release(lock: "a", fence: nil), cache: "releaser", build: apply42)
        let result = try await waiter.value
        #expect(result.committed && result.lock == "a")
        #expect(try fixture.origin.commit().parents == [release.version.hex])
        #expect(result.waited > .zero)
        let events = collector.events
        #expect(events.first == .started(.claim, lock: "a", pool: "envs", claimed: false))
        #expect(events.last == .succeeded(.claim))
        let status = try #require(collector.statusLines.first)
        #expect(status.hasPrefix("waiting 0s: "), "\(status)")
        #expect(status.hasPrefix("waiting 0s: a claimed by \(cliHolder) since "), "\(status)")
        #expect(events.firstIndex(of: .waitingStarted(.claim))! < events.firstIndex(of: .waitingStatus(status))!)
    }
}

/// 4 tasks × 5 acquire/release cycles on a 2-lock pool, each task with its own cache, then a replay of the history.
///
/// Besides the replay, every commit a client reported as pushed must be on the branch: a push that "won" but was
/// overwritten would leave a client believing it holds a lock that the repository shows as free.
private func runConcurrentCycles(_ fixture: PoolFixture, remoteURL: String) async throws {
    let tasks = 4
    let cycles = 5
    let reported = try await withThrowingTaskGroup(of: [ObjectID].self) { group in
        for task in 0..<tasks {
            group.addTask {
                var pushed: [ObjectID] = []
                for cycle in 0..<cycles {
                    let build = BuildInfo(team: "t", pipeline: "p", job: "worker-\(task)", name: "\(cycle)")
                    let acquired = try await fixture.perform(
                        .acquire(lease: nil), cache: "cache-\(task)", retryDelay: .milliseconds(20), build: build,
                        remoteURL: remoteURL)
                    pushed.append(acquired.version)
                    try await Task.sleep(for: .milliseconds(5))
                    let released = try await fixture.perform(
                        .release(lock: acquired.lock, fence: acquired.version), cache: "cache-\(task)",
                        retryDelay: .milliseconds(20), build: build, remoteURL: remoteURL)
                    pushed.append(released.version)
                }
                return pushed
            }
        }
        return try await group.reduce([], +)
    }
    let report = try fixture.origin.replay()
    #expect(report.isConsistent, "\(report)")
    #expect(report.doubleClaims.isEmpty)
    let onBranch = Set(report.commits.map(\.id))
    let lost = reported.filter { !onBranch.contains($0.hex) }
    #expect(lost.isEmpty, "commits reported as pushed but missing from the branch: \(lost.map(\.short))")
    #expect(report.commits.count == 1 + 2 * tasks * cycles)
    #expect(report.claimCounts.values.reduce(0, +) == tasks * cycles)
    #expect(report.releaseCounts.values.reduce(0, +) == tasks * cycles)
    #expect(report.finalState["envs"] == PoolLocks(claimed: [], unclaimed: ["x", "y"]))
    // Every release ends the claim made just before it on that lock, by the same worker.
    for commit in report.commits where commit.trailer("Lock-Operation") == "release" {
        let claim = try #require(commit.trailer("Lock-Claim"))
        let claimCommit = try fixture.origin.commit(claim)
        #expect(claimCommit.trailer("Lock-Name") == commit.trailer("Lock-Name"))
        #expect(claimCommit.trailer("Build-Job") == commit.trailer("Build-Job"))
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

/// Stops a daemon this test started without relying on SIGTERM or on its connection children exiting (the daemon
/// can inherit a signal mask blocking SIGTERM, and `GitDaemon.stop()` then waits forever). Only its own tree is killed.
private func shutDown(_ daemon: GitDaemon) {
    for pid in descendants(of: daemon.pid).reversed() { kill(pid, SIGKILL) }
    kill(daemon.pid, SIGKILL)
    daemon.stop()
}

@Suite(.serialized) struct ReplayTests {
    @Test func concurrentCyclesOverGitDaemonNeverDoubleClaim() async throws {
        let fixture = try PoolFixture(label: "replay-daemon", locks: ["x": .unclaimed(), "y": .unclaimed()])
        let daemon = try GitDaemon(scratch: fixture.scratch)
        defer { shutDown(daemon) }
        try await runConcurrentCycles(fixture, remoteURL: daemon.url(for: fixture.origin))
    }

    @Test func concurrentCyclesOnALocalPathNeverDoubleClaim() async throws {
        let fixture = try PoolFixture(label: "replay-local", locks: ["x": .unclaimed(), "y": .unclaimed()])
        // libgit2's local transport force-updates the remote ref; Remote pushes locally by compare-and-swap instead.
        try await runConcurrentCycles(fixture, remoteURL: fixture.origin.path)
    }
}

// MARK: - Commit messages

struct MessageCase: Sendable, CustomTestStringConvertible {
    let name: String
    let seed: [String: LockSeed]
    /// Run first with the same build (e.g. the claim a release ends).
    let setup: PoolOperation?
    let operation: PoolOperation
    let subject: String
    let lockOperation: String
    let state: String
    let hasClaim: Bool
    var testDescription: String { name }
}

@Suite struct CommitMessageTests {
    static let prefix = "main/deploy/apply build 42 "

    @Test(arguments: [
        MessageCase(
            name: "acquire", seed: ["a": .unclaimed()], setup: nil, operation: .acquire(lease: nil),
            subject: prefix + "claiming: a", lockOperation: "acquire", state: "claimed", hasClaim: false),
        MessageCase(
            name: "claim", seed: ["a": .unclaimed()], setup: nil, operation: .claim(lock: "a", lease: nil),
            subject: prefix + "claiming: a", lockOperation: "claim", state: "claimed", hasClaim: false),
        MessageCase(
            name: "release", seed: ["a": .unclaimed()], setup: .claim(lock: "a", lease: nil),
            operation: .release(lock: "a", fence: nil), subject: prefix + "unclaiming: a", lockOperation: "release",
            state: "unclaimed", hasClaim: true),
        MessageCase(
            name: "remove", seed: ["a": .unclaimed()], setup: .claim(lock: "a", lease: nil),
            operation: .remove(lock: "a", fence: nil), subject: prefix + "removing: a", lockOperation: "remove",
            state: "removed", hasClaim: true),
        MessageCase(
            name: "add", seed: [:], setup: nil, operation: .add(lock: "a", content: [1], claimed: false, lease: nil),
            subject: prefix + "adding unclaimed: a", lockOperation: "add", state: "unclaimed", hasClaim: false),
        MessageCase(
            name: "add_claimed", seed: [:], setup: nil,
            operation: .add(lock: "a", content: [1], claimed: true, lease: nil), subject: prefix + "adding claimed: a",
            lockOperation: "add_claimed", state: "claimed", hasClaim: false),
        MessageCase(
            name: "update", seed: ["a": .unclaimed("old")], setup: nil,
            operation: .update(lock: "a", content: [1]), subject: prefix + "updating: a", lockOperation: "update",
            state: "unclaimed", hasClaim: false),
        MessageCase(
            name: "update of an absent lock", seed: [:], setup: nil, operation: .update(lock: "a", content: [1]),
            subject: prefix + "adding unclaimed: a", lockOperation: "update", state: "unclaimed", hasClaim: false),
    ])
    func subjectAndTrailersOfEachOperation(_ c: MessageCase) async throws {
        let fixture = try PoolFixture(label: "message", locks: c.seed)
        let setup = try await c.setup.asyncMap { try await fixture.perform($0, build: apply42) }
        let result = try await fixture.perform(c.operation, build: apply42)
        let commit = try fixture.origin.commit()
        #expect(commit.id == result.version.hex)
        #expect(commit.subject == c.subject)
        #expect(commit.message.hasPrefix(c.subject + "\n\nBuild URL: \(apply42.url!)\n\n"))
        #expect("\(commit.authorName) <\(commit.authorEmail)>" == "CI Pool Resource <ci-pool@localhost>")
        #expect("\(commit.committerName) <\(commit.committerEmail)>" == "CI Pool Resource <ci-pool@localhost>")

        let trailers = Trailers.parse(try fixture.origin.git.output("log", "-1", "--format=%B"))
        var expected: [(String, String)] = [
            ("Lock-Schema", "1"), ("Lock-Operation", c.lockOperation), ("Lock-Pool", "envs"), ("Lock-Name", "a"),
            ("Lock-State", c.state),
        ]
        if c.hasClaim { expected.append(("Lock-Claim", try #require(setup?.version.hex))) }
        // acquire and claim record their wait, here none.
        if ["acquire", "claim"].contains(c.lockOperation) { expected.append(("Lock-Waited", "0s")) }
        expected += [
            ("Build-Team", "main"), ("Build-Pipeline", "deploy"), ("Build-Job", "apply"), ("Build-Name", "42"),
            ("Build-Id", "1234"), ("Build-URL", apply42.url!), ("Lock-Tool", tool),
        ]
        #expect(trailers.dropLast().map { "\($0.key): \($0.value)" } == expected.map { "\($0.0): \($0.1)" })
        let nonce = try #require(trailers.last)
        #expect(nonce.key == "Lock-Nonce")
        #expect(nonce.value.count == 32 && nonce.value.allSatisfy { $0.isHexDigit && !$0.isUppercase })

        // git itself reads the same trailers.
        let parsed = try fixture.origin.git.run(
            ["interpret-trailers", "--parse"], stdin: Data(commit.message.utf8)
        ).output
        #expect(parsed == trailers.map { "\($0.key): \($0.value)" }.joined(separator: "\n"))
    }

    @Test func leaseIsRecordedAsCommitterTimePlusLease() async throws {
        let fixture = try PoolFixture(label: "lease", locks: ["a": .unclaimed()])
        try await fixture.perform(.acquire(lease: .seconds(5400)))
        let commit = try fixture.origin.commit()
        let committed = try fixture.origin.git.output("log", "-1", "--format=%ct")
        let expiry = Date(timeIntervalSince1970: try #require(TimeInterval(committed)) + 5400)
        #expect(commit.trailer("Lease-Expires") == CommitMessage.timestamp(expiry))
    }

    @Test func twoIdenticalOperationsNeverProduceIdenticalCommits() async throws {
        let fixture = try PoolFixture(label: "nonce", locks: ["a": .unclaimed()])
        let first = try await fixture.perform(.claim(lock: "a", lease: nil))
        try await fixture.perform(.release(lock: "a", fence: nil))
        let second = try await fixture.perform(.claim(lock: "a", lease: nil))
        let nonces = try [first.version, second.version].map {
            try fixture.origin.commit($0.hex).trailer("Lock-Nonce")
        }
        #expect(nonces[0] != nonces[1])
    }
}

extension Optional {
    fileprivate func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}
