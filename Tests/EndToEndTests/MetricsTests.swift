import Foundation
import TestSupport
import Testing

/// `prometheus_push_gateway` end to end (docs/resource.md#metrics): the built `out`, a real lock repository and
/// Debian's `prometheus-pushgateway` on 127.0.0.1, scraped after each step.

/// The metric names a push leaves on the gateway (the gateway adds `push_time_seconds` and
/// `push_failure_time_seconds` to every group).
private let operationMetricNames: Set<String> = [
    "resource_pool_execution_time_bucket", "resource_pool_execution_time_sum", "resource_pool_execution_time_count",
    "resource_pool_wait_time", "resource_pool_lost_races", "push_time_seconds", "push_failure_time_seconds",
]
private let poolMetricNames: Set<String> = [
    "resource_pool_num_available_locks", "resource_pool_num_claimed_locks", "push_time_seconds",
    "push_failure_time_seconds",
]
private let buckets = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]

/// What one step should have left on the gateway.
private struct Expected {
    let operation: String
    let available: Int
    let claimed: Int
    var lostRaces = 0
    /// Bounds on the wait time.
    var waited: ClosedRange<Double> = 0...0
}

@Suite(.enabled(if: PushgatewayServer.isAvailable && Executables.areAvailable))
struct MetricsTests {
    /// The samples of one group: every sample whose labels are exactly `labels` (plus `le` for buckets).
    private func group(_ samples: [PrometheusText.Sample], _ labels: [String: String]) -> [PrometheusText.Sample] {
        samples.filter { sample in
            var own = sample.labels
            own["le"] = nil
            return own == labels
        }
    }

    /// Asserts the two groups of `expected` on `gateway`, exactly: names, label sets, values.
    private func expectPushed(
        _ expected: Expected, on gateway: PushgatewayServer, pool: String, branch: String,
        maxSeconds: Double = 120, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let samples = try gateway.scrape()
        let poolLabels = ["job": "concourse_resource_pool", "instance": "", "pool": pool, "branch": branch]
        var operationLabels = poolLabels
        operationLabels["operation"] = expected.operation

        let operation = group(samples, operationLabels)
        #expect(Set(operation.map(\.name)) == operationMetricNames, "\(operation)", sourceLocation: sourceLocation)
        func value(_ name: String, _ in: [PrometheusText.Sample]) -> Double? {
            `in`.first { $0.name == name && $0.labels["le"] == nil }?.value
        }
        #expect(
            value("resource_pool_lost_races", operation) == Double(expected.lostRaces), sourceLocation: sourceLocation)
        let waited = try #require(value("resource_pool_wait_time", operation), sourceLocation: sourceLocation)
        #expect(expected.waited.contains(waited), "wait time \(waited)", sourceLocation: sourceLocation)
        #expect(value("resource_pool_execution_time_count", operation) == 1, sourceLocation: sourceLocation)
        let sum = try #require(value("resource_pool_execution_time_sum", operation), sourceLocation: sourceLocation)
        #expect(sum > 0 && sum < maxSeconds && sum >= waited, "execution time \(sum)", sourceLocation: sourceLocation)
        let histogram = operation.filter { $0.name == "resource_pool_execution_time_bucket" }
        #expect(histogram.map { $0.labels["le"] ?? "" } == buckets, sourceLocation: sourceLocation)
        for sample in histogram {
            let bound = sample.labels["le"] == "+Inf" ? Double.infinity : Double(sample.labels["le"] ?? "") ?? 0
            #expect(sample.value == (sum <= bound ? 1 : 0), "\(sample)", sourceLocation: sourceLocation)
        }
        #expect(value("push_failure_time_seconds", operation) == 0, sourceLocation: sourceLocation)

        let counts = group(samples, poolLabels)
        #expect(Set(counts.map(\.name)) == poolMetricNames, "\(counts)", sourceLocation: sourceLocation)
        #expect(
            value("resource_pool_num_available_locks", counts) == Double(expected.available),
            sourceLocation: sourceLocation)
        #expect(
            value("resource_pool_num_claimed_locks", counts) == Double(expected.claimed), sourceLocation: sourceLocation
        )
    }

    private func expectQuietPush(
        _ result: ExecutableResult, gateway: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(result.status == 0, "\(result)", sourceLocation: sourceLocation)
        #expect(
            result.stderrLines.first == "Setting up prometheus client, pushgateway=\(gateway)", "\(result)",
            sourceLocation: sourceLocation)
        #expect(
            result.stderrLines.last == "Pushing prometheus metrics...", "\(result)", sourceLocation: sourceLocation)
        #expect(!result.stderr.lowercased().contains("warning"), "\(result)", sourceLocation: sourceLocation)
    }

    @Test func everyOperationPushesTheForksMetrics() throws {
        let harness = try makeHarness(
            "metrics-all", locks: ["env-1": .unclaimed("one"), "env-2": .claimed("two")])
        let gateway = try PushgatewayServer(scratch: harness.scratch)
        defer { gateway.stop() }
        let source: [String: JSONValue] = ["prometheus_push_gateway": .string("127.0.0.1:\(gateway.port)/")]
        @discardableResult func run(_ params: JSONValue) throws -> ExecutableResult {
            let result = try harness.out(params, source: source)
            expectQuietPush(result, gateway: gateway.url)
            return result
        }

        let acquired = try expectSuccess(run(["acquire": true]), lock: "env-1", pool: "envs")
        try expectPushed(
            .init(operation: "acquire_lock", available: 0, claimed: 2), on: gateway, pool: "envs", branch: "master")

        try harness.stepDirectory("held", lock: "env-1", claimRef: acquired.version.ref)
        try run(["release": "held"])
        try expectPushed(
            .init(operation: "release_lock", available: 1, claimed: 1), on: gateway, pool: "envs", branch: "master")

        try run(["claim": "env-1"])
        try expectPushed(
            .init(operation: "claim_lock", available: 0, claimed: 2), on: gateway, pool: "envs", branch: "master")

        try harness.stepDirectory("new", lock: "env-3", metadata: "three")
        try run(["add": "new"])
        try expectPushed(
            .init(operation: "add_unclaimed_lock", available: 1, claimed: 2), on: gateway, pool: "envs",
            branch: "master")

        try harness.stepDirectory("taken", lock: "env-4", metadata: "four")
        try run(["add_claimed": "taken"])
        try expectPushed(
            .init(operation: "add_claimed_lock", available: 1, claimed: 3), on: gateway, pool: "envs", branch: "master")

        try harness.stepDirectory("changed", lock: "env-3", metadata: "three, resized")
        try run(["update": "changed"])
        try expectPushed(
            .init(operation: "update_lock", available: 1, claimed: 3), on: gateway, pool: "envs", branch: "master")

        try harness.stepDirectory("gone", lock: "env-4")
        try run(["remove": "gone"])
        try expectPushed(
            .init(operation: "remove_lock", available: 1, claimed: 2), on: gateway, pool: "envs", branch: "master")

        try harness.stepDirectory("free", lock: "env-3")
        try run(["check": "free"])
        try expectPushed(
            .init(operation: "check_lock", available: 1, claimed: 2), on: gateway, pool: "envs", branch: "master")

        try harness.stepDirectory("busy", lock: "env-2")
        try run(["check_unclaimed": "busy"])
        try expectPushed(
            .init(operation: "check_unclaimed_lock", available: 1, claimed: 2), on: gateway, pool: "envs",
            branch: "master")

        // Each operation has its own group; the pool group holds the last counts.
        let operations = Set(try gateway.scrape().compactMap { $0.labels["operation"] })
        #expect(
            operations == [
                "acquire_lock", "release_lock", "claim_lock", "add_unclaimed_lock", "add_claimed_lock", "update_lock",
                "remove_lock", "check_lock", "check_unclaimed_lock",
            ])
        #expect(
            try harness.repository.locks(in: "envs") == PoolLocks(claimed: ["env-1", "env-2"], unclaimed: ["env-3"]))

        // Types and help texts as the fork sends them.
        let descriptions = try gateway.descriptions()
        #expect(descriptions["resource_pool_execution_time"]?.type == "histogram")
        #expect(descriptions["resource_pool_execution_time"]?.help == "Execution time of the current operation")
        #expect(descriptions["resource_pool_num_available_locks"]?.type == "gauge")
        #expect(
            descriptions["resource_pool_num_available_locks"]?.help
                == "The number of unclaimed locks in the current pool")
        #expect(descriptions["resource_pool_num_claimed_locks"]?.type == "gauge")
        #expect(
            descriptions["resource_pool_num_claimed_locks"]?.help == "The number of claimed locks in the current pool")
        #expect(descriptions["resource_pool_wait_time"]?.type == "gauge")
        #expect(descriptions["resource_pool_wait_time"]?.help == "Time the current operation spent waiting for a lock")
        #expect(descriptions["resource_pool_lost_races"]?.type == "gauge")
        #expect(descriptions["resource_pool_lost_races"]?.help == "Number of lost push races in the current operation")
    }

    @Test func poolAndBranchWithSlashesAreBase64Labels() throws {
        let harness = try makeHarness(
            "metrics-slash", branch: "feature/x", pool: "cf-deployment/fresh", locks: ["env-1": .unclaimed()])
        let gateway = try PushgatewayServer(scratch: harness.scratch)
        defer { gateway.stop() }
        let result = try harness.out(["acquire": true], source: ["prometheus_push_gateway": .string(gateway.url)])
        expectQuietPush(result, gateway: gateway.url)
        try expectPushed(
            .init(operation: "acquire_lock", available: 0, claimed: 1), on: gateway, pool: "cf-deployment/fresh",
            branch: "feature/x")
    }

    @Test func aFairPoolReportsItsWaiters() throws {
        let harness = try makeHarness("metrics-fair", locks: ["env-1": .unclaimed(), "env-2": .unclaimed()])
        let gateway = try PushgatewayServer(scratch: harness.scratch)
        defer { gateway.stop() }
        let result = try harness.out(
            ["acquire": true], source: ["prometheus_push_gateway": .string(gateway.url), "fair": true])
        expectQuietPush(result, gateway: gateway.url)
        let pool = ["job": "concourse_resource_pool", "instance": "", "pool": "envs", "branch": "master"]
        #expect(try gateway.scrape().contains(.init(name: "resource_pool_num_waiting", labels: pool, value: 0)))
        let descriptions = try gateway.descriptions()
        #expect(descriptions["resource_pool_num_waiting"]?.help == "The number of clients queued for the current pool")
    }

    @Test func waitTimeIsMeasuredAndRecordedInTheClaim() async throws {
        let harness = try makeHarness("metrics-wait", locks: ["env-1": .claimed("one")])
        let gateway = try PushgatewayServer(scratch: harness.scratch)
        defer { gateway.stop() }
        let started = ContinuousClock.now
        let waiter = try harness.startOut(
            ["claim": "env-1", "timeout": "120s"], source: ["prometheus_push_gateway": .string(gateway.url)])
        #expect(try await waiter.waitForStderr(containing: "waiting for lock", timeout: .seconds(90)))
        try await Task.sleep(for: .seconds(1))
        try harness.repository.moveLock("env-1", in: "envs", toClaimed: false, message: "unclaiming: env-1")
        let result = try await waiter.wait(timeout: .seconds(120))
        let elapsed = ContinuousClock.now - started
        try expectSuccess(result, lock: "env-1", pool: "envs")
        expectQuietPush(result, gateway: gateway.url)
        let bound = Double(elapsed.components.seconds) + 1
        try expectPushed(
            .init(operation: "claim_lock", available: 0, claimed: 1, waited: 0.9...bound), on: gateway, pool: "envs",
            branch: "master")
        let claim = try harness.repository.commit()
        let recorded = try #require(claim.trailer("Lock-Waited"))
        #expect(recorded.hasSuffix("s") && recorded != "0s", "Lock-Waited: \(recorded)")
    }

    @Test func lostRacesAreCounted() throws {
        let harness = try makeHarness("metrics-race", locks: ["env-1": .unclaimed(), "env-2": .unclaimed()])
        // The first push finds the branch moved under it: the hook commits on top (outside the push's quarantine),
        // so receive-pack's ref update fails and the client loses a race.
        let hook = harness.repository.url.appendingPathComponent("hooks/pre-receive")
        try Data(
            """
            #!/bin/sh
            unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
            if mkdir "$GIT_DIR/raced" 2>/dev/null; then
              parent=$(git rev-parse refs/heads/master)
              tree=$(git rev-parse "refs/heads/master^{tree}")
              commit=$(GIT_AUTHOR_NAME=hook GIT_AUTHOR_EMAIL=hook@localhost GIT_COMMITTER_NAME=hook \\
                GIT_COMMITTER_EMAIL=hook@localhost git commit-tree -p "$parent" -m "interloper" "$tree")
              git update-ref refs/heads/master "$commit" "$parent"
            fi
            exit 0

            """.utf8
        ).write(to: hook)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: hook.path)
        let daemon = try GitDaemon(scratch: harness.scratch)
        defer { daemon.stop() }
        let gateway = try PushgatewayServer(scratch: harness.scratch)
        defer { gateway.stop() }
        let result = try harness.out(
            ["acquire": true],
            source: [
                "uri": .string(daemon.url(for: harness.repository)), "prometheus_push_gateway": .string(gateway.url),
            ])
        #expect(result.status == 0, "\(result)")
        try expectPushed(
            .init(operation: "acquire_lock", available: 1, claimed: 1, lostRaces: 1), on: gateway, pool: "envs",
            branch: "master")
        #expect(try harness.repository.history().map(\.subject).prefix(2).last == "interloper")
    }

    // MARK: - A gateway that fails never fails the step

    /// Asserts a successful step with exactly one warning line, the last line of stderr.
    private func expectOneWarning(
        _ result: ExecutableResult, _ warning: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(result.status == 0, "\(result)", sourceLocation: sourceLocation)
        #expect(result.lastStderrLine == warning, "\(result)", sourceLocation: sourceLocation)
        #expect(
            result.stderrLines.filter { $0.lowercased().contains("warning") || $0.contains("error") }.count == 1,
            "\(result)", sourceLocation: sourceLocation)
    }

    @Test func aStoppedGatewayIsOneWarning() throws {
        let harness = try makeHarness("metrics-down", locks: ["env-1": .unclaimed()])
        let port = try GitDaemon.freePort()
        let result = try harness.out(
            ["acquire": true], source: ["prometheus_push_gateway": .string("127.0.0.1:\(port)")])
        try expectSuccess(result, lock: "env-1", pool: "envs")
        expectOneWarning(
            result, "warning: could not push metrics to http://127.0.0.1:\(port): connection refused")
        #expect(try harness.repository.locks(in: "envs").claimed == ["env-1"])
    }

    @Test(.enabled(if: HTTPResponder.isAvailable))
    func aGatewayAnswering500IsOneWarning() throws {
        let harness = try makeHarness("metrics-500", locks: ["env-1": .claimed()])
        let responder = try HTTPResponder(scratch: harness.scratch, status: 500, body: "pushgateway exploded")
        defer { responder.stop() }
        try harness.stepDirectory("held", lock: "env-1")
        let result = try harness.out(["release": "held"], source: ["prometheus_push_gateway": .string(responder.url)])
        try expectSuccess(result, lock: "env-1", pool: "envs")
        expectOneWarning(
            result,
            "warning: could not push metrics to \(responder.url): PUT /metrics/job/concourse_resource_pool/pool/envs/"
                + "branch/master/operation/release_lock answered HTTP 500: pushgateway exploded")
        #expect(try harness.repository.locks(in: "envs").unclaimed == ["env-1"])
    }

    @Test(.enabled(if: HTTPResponder.isAvailable))
    func aHungGatewayIsBoundedAndOneWarning() throws {
        let harness = try makeHarness("metrics-hang", locks: ["env-1": .unclaimed()])
        let responder = try HTTPResponder(scratch: harness.scratch, status: 200, delay: .seconds(60))
        defer { responder.stop() }
        let started = ContinuousClock.now
        let result = try harness.out(
            ["acquire": true], source: ["prometheus_push_gateway": .string(responder.url)], timeout: .seconds(50))
        let elapsed = ContinuousClock.now - started
        try expectSuccess(result, lock: "env-1", pool: "envs")
        expectOneWarning(result, "warning: could not push metrics to \(responder.url): no answer within 10s")
        #expect(elapsed < .seconds(40), "\(elapsed)")
    }

    @Test(.enabled(if: HTTPResponder.isAvailable))
    func userinfoIsBasicAuthenticationAndNeverShown() throws {
        let harness = try makeHarness("metrics-auth", locks: ["env-1": .unclaimed()])
        let responder = try HTTPResponder(scratch: harness.scratch, status: 202)
        defer { responder.stop() }
        let secret = "gw-pass-5150"
        let result = try harness.out(
            ["acquire": true],
            source: ["prometheus_push_gateway": .string("http://metrics:\(secret)@127.0.0.1:\(responder.port)/")])
        expectQuietPush(result, gateway: responder.url)
        #expect(responder.requests.count == 2)
        #expect(
            responder.requests.allSatisfy { $0.hasPrefix("PUT ") && $0.hasSuffix(" Basic") }, "\(responder.requests)")
        #expect(!result.stderr.contains(secret) && !result.stdoutText.contains(secret))
        for commit in try harness.repository.history() { #expect(!commit.message.contains(secret)) }
    }

    @Test(.enabled(if: HTTPResponder.isAvailable))
    func aFailedOperationPushesNothing() throws {
        let harness = try makeHarness("metrics-fail", locks: ["env-1": .unclaimed()])
        let responder = try HTTPResponder(scratch: harness.scratch, status: 200)
        defer { responder.stop() }
        try harness.stepDirectory("held", lock: "env-1")
        let result = try harness.out(["release": "held"], source: ["prometheus_push_gateway": .string(responder.url)])
        expectFailure(result, "lock 'env-1' in pool 'envs' is not claimed", exact: false)
        #expect(responder.requests.isEmpty)
        #expect(!result.stderr.contains("Pushing prometheus metrics"))
    }

    @Test(arguments: [
        ("ftp://gateway:21", #""ftp://gateway:21" uses the scheme 'ftp'; use http or https"#),
        ("http://:9091", #""http://:9091" names no host; use e.g. "http://pushgateway:9091""#),
        ("user:pw-7@gateway:9091/?q=1", #""gateway:9091/?q=1" has a query or fragment; give only the base URL"#),
    ])
    func aBadGatewayURLIsAValidationError(_ url: String, _ message: String) throws {
        let harness = try makeHarness("metrics-bad-url", locks: ["env-1": .unclaimed()])
        let before = try harness.repository.commitID()
        let result = try harness.out(["acquire": true], source: ["prometheus_push_gateway": .string(url)])
        expectFailure(result, "invalid payload (source.prometheus_push_gateway: \(message))")
        #expect(!result.stderr.contains("pw-7"))
        #expect(try harness.repository.commitID() == before)
    }
}

/// `lockpool` operations push the same metrics when a gateway is set (`--pushgateway`, `LOCKPOOL_PUSHGATEWAY` or
/// the `--source` file), quietly unless pushing fails.
@Suite(.enabled(if: PushgatewayServer.isAvailable && Executables.areAvailable))
struct CLIMetricsTests {
    @Test func operationsPushTheirMetrics() throws {
        let cli = try CLIHarness("cli-metrics", locks: ["env-1": .unclaimed(), "env-2": .unclaimed()])
        let gateway = try PushgatewayServer(scratch: cli.scratch)
        defer { gateway.stop() }
        let acquired = try cli.run(["acquire", "envs", "--pushgateway", gateway.url])
        #expect(acquired.status == 0, "\(acquired)")
        #expect(!acquired.stderr.lowercased().contains("warning"), "\(acquired)")
        let lock = acquired.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        let released = try cli.run(
            ["release", "envs", lock], environment: ["LOCKPOOL_PUSHGATEWAY": gateway.url])
        #expect(released.status == 0, "\(released)")

        let samples = try gateway.scrape()
        let pool = ["job": "concourse_resource_pool", "instance": "", "pool": "envs", "branch": "master"]
        for operation in ["acquire_lock", "release_lock"] {
            var labels = pool
            labels["operation"] = operation
            #expect(samples.contains(.init(name: "resource_pool_execution_time_count", labels: labels, value: 1)))
            #expect(samples.contains(.init(name: "resource_pool_lost_races", labels: labels, value: 0)))
            #expect(samples.contains(.init(name: "resource_pool_wait_time", labels: labels, value: 0)))
        }
        #expect(samples.contains(.init(name: "resource_pool_num_available_locks", labels: pool, value: 2)))
        #expect(samples.contains(.init(name: "resource_pool_num_claimed_locks", labels: pool, value: 0)))
    }

    @Test func credentialsOnTheCommandLineAreRefused() throws {
        let cli = try CLIHarness("cli-metrics-argv", locks: ["env-1": .unclaimed()])
        let result = try cli.run(["acquire", "envs", "--pushgateway", "http://metrics:pw-31@127.0.0.1:9"])
        #expect(result.status == 64, "\(result)")
        #expect(result.stderr.contains("--pushgateway must not carry credentials"), "\(result)")
        #expect(!result.stderr.contains("pw-31"))
        #expect(try cli.repository.locks(in: "envs").unclaimed == ["env-1"])
    }

    @Test(.enabled(if: HTTPResponder.isAvailable))
    func credentialsFromTheEnvironmentAreUsedAndNeverShown() throws {
        let cli = try CLIHarness("cli-metrics-env", locks: ["env-1": .unclaimed()])
        let responder = try HTTPResponder(scratch: cli.scratch, status: 500, body: "nope")
        defer { responder.stop() }
        let result = try cli.run(
            ["acquire", "envs"],
            environment: ["LOCKPOOL_PUSHGATEWAY": "http://metrics:pw-32@127.0.0.1:\(responder.port)"])
        #expect(result.status == 0, "\(result)")
        #expect(
            result.stderrLines.last
                == "warning: could not push metrics to \(responder.url): PUT /metrics/job/concourse_resource_pool/"
                + "pool/envs/branch/master/operation/acquire_lock answered HTTP 500: nope", "\(result)")
        #expect(!result.stderr.contains("pw-32") && !result.stdoutText.contains("pw-32"))
        #expect(responder.requests.first?.hasSuffix(" Basic") == true, "\(responder.requests)")
    }
}
