import Foundation
import LockPool
import TestSupport
import Testing

@testable import PoolMetrics

// MARK: - The gateway URL

struct AddressCase: Sendable, CustomTestStringConvertible {
    let text: String
    let url: String
    let authorization: String?
    var testDescription: String { text }
}

@Suite struct PushgatewayAddressTests {
    @Test(arguments: [
        AddressCase(text: "gateway:9091", url: "http://gateway:9091", authorization: nil),
        AddressCase(text: "http://gateway:9091/", url: "http://gateway:9091", authorization: nil),
        AddressCase(text: "HTTPS://gateway//", url: "https://gateway", authorization: nil),
        AddressCase(text: "https://gw.example.com/prefix/", url: "https://gw.example.com/prefix", authorization: nil),
        AddressCase(text: "http://[::1]:9091", url: "http://[::1]:9091", authorization: nil),
        AddressCase(
            text: "metrics:s3cret@gateway:9091", url: "http://gateway:9091",
            authorization: "Basic " + Data("metrics:s3cret".utf8).base64EncodedString()),
        AddressCase(
            text: "https://me%40corp:p%3Ass@gw", url: "https://gw",
            authorization: "Basic " + Data("me@corp:p:ss".utf8).base64EncodedString()),
        AddressCase(
            text: "http://token@gw", url: "http://gw",
            authorization: "Basic " + Data("token:".utf8).base64EncodedString()),
    ])
    func readsTheURL(_ c: AddressCase) throws {
        let address = try PushgatewayAddress(c.text)
        #expect(address.url == c.url)
        #expect(address.description == c.url)
        #expect(address.authorization == c.authorization)
    }

    @Test(arguments: [
        ("ftp://gateway:21", PushgatewayAddress.Problem.unsupportedScheme("ftp")),
        ("http://", .missingHost), ("http://:9091", .missingHost), ("user:pw@", .missingHost),
        ("http://gateway:9091/?x=1", .queryOrFragment), ("http://gateway#top", .queryOrFragment),
        ("http://gate way:9091", .notAURL), ("http://gateway:port", .notAURL),
    ])
    func refusesWhatIsNotAGateway(_ text: String, _ problem: PushgatewayAddress.Problem) {
        #expect(throws: problem) { try PushgatewayAddress(text) }
    }

    @Test func problemsReadAsMessages() {
        #expect(
            PushgatewayAddress.Problem.unsupportedScheme("ftp").description
                == "uses the scheme 'ftp'; use http or https")
        #expect(
            PushgatewayAddress.Problem.missingHost.description
                == #"names no host; use e.g. "http://pushgateway:9091""#)
        #expect(
            PushgatewayAddress.Problem.queryOrFragment.description == "has a query or fragment; give only the base URL")
    }

    @Test func thePasswordNeverPrints() throws {
        let address = try PushgatewayAddress("https://metrics:pw-77-secret@gw:9091")
        var dumped = ""
        dump(address, to: &dumped)
        for text in [address.description, address.debugDescription, dumped, "\(address)", String(reflecting: address)] {
            #expect(!text.contains("pw-77-secret"), "\(text)")
            #expect(!text.contains("metrics:"), "\(text)")
        }
        #expect(address.debugDescription == "PushgatewayAddress(https://gw:9091, credentials: ****)")
    }
}

// MARK: - Grouping paths

@Suite struct MetricGroupTests {
    @Test(arguments: [
        ("envs", "master", "/metrics/job/concourse_resource_pool/pool/envs/branch/master"),
        (
            "cf-deployment/fresh", "feature/x",
            "/metrics/job/concourse_resource_pool/pool@base64/Y2YtZGVwbG95bWVudC9mcmVzaA/branch@base64/ZmVhdHVyZS94"
        ),
        ("a b", "ü", "/metrics/job/concourse_resource_pool/pool/a%20b/branch/%C3%BC"),
        ("x@y+z%", "", "/metrics/job/concourse_resource_pool/pool/x%40y%2Bz%25/branch@base64/="),
        // base64url, not base64: `?>` encodes to `Pz4` either way, `/?>` to `Lz8-` (not `Lz8+`).
        ("/?>", "a/b?", "/metrics/job/concourse_resource_pool/pool@base64/Lz8-/branch@base64/YS9iPw"),
    ])
    func encodesLabelValues(_ pool: String, _ branch: String, _ path: String) {
        let group = MetricGroup(labels: [.init("pool", pool), .init("branch", branch)], body: [])
        #expect(group.path(job: OperationMetrics.job) == path)
    }
}

// MARK: - The fork's metrics

@Suite struct OperationMetricsTests {
    @Test(arguments: OperationKind.allCases)
    func operationLabelsAreTheForks(_ kind: OperationKind) {
        let expected: [OperationKind: String] = [
            .acquire: "acquire_lock", .claim: "claim_lock", .release: "release_lock", .add: "add_unclaimed_lock",
            .addClaimed: "add_claimed_lock", .remove: "remove_lock", .update: "update_lock", .check: "check_lock",
            .checkUnclaimed: "check_unclaimed_lock", .renew: "renew_lock",
        ]
        #expect(OperationMetrics.operationLabel(kind) == expected[kind])
    }

    @Test func groupsCarryEveryMetricWithItsHelpAndType() throws {
        let metrics = OperationMetrics(
            pool: "cf/fresh", branch: "main", operation: .acquire, executionTime: .milliseconds(30),
            waited: .milliseconds(1500), lostRaces: 2, availableCount: 3, claimedCount: 4)
        let groups = metrics.groups()
        try #require(groups.count == 2)
        #expect(
            groups[0].labels == [
                .init("pool", "cf/fresh"), .init("branch", "main"), .init("operation", "acquire_lock"),
            ])
        #expect(groups[1].labels == [.init("pool", "cf/fresh"), .init("branch", "main")])

        let operationText = String(decoding: groups[0].body, as: UTF8.self)
        let operation = try PrometheusText.samples(in: operationText)
        let buckets = operation.filter { $0.name == "resource_pool_execution_time_bucket" }
        #expect(
            buckets.map { $0.labels["le"] ?? "" } == [
                "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "+Inf",
            ])
        #expect(buckets.map(\.value) == [0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1])
        #expect(value("resource_pool_execution_time_sum", in: operation) == 0.03)
        #expect(value("resource_pool_execution_time_count", in: operation) == 1)
        #expect(value("resource_pool_wait_time", in: operation) == 1.5)
        #expect(value("resource_pool_lost_races", in: operation) == 2)
        #expect(operation.allSatisfy { $0.labels.keys.sorted() == ($0.name.hasSuffix("_bucket") ? ["le"] : []) })
        let descriptions = PrometheusText.descriptions(in: operationText)
        #expect(descriptions["resource_pool_execution_time"]?.type == "histogram")
        #expect(descriptions["resource_pool_execution_time"]?.help == "Execution time of the current operation")
        #expect(descriptions["resource_pool_wait_time"]?.type == "gauge")
        #expect(descriptions["resource_pool_wait_time"]?.help == "Time the current operation spent waiting for a lock")
        #expect(descriptions["resource_pool_lost_races"]?.help == "Number of lost push races in the current operation")

        let poolText = String(decoding: groups[1].body, as: UTF8.self)
        let pool = try PrometheusText.samples(in: poolText)
        #expect(Set(pool.map(\.name)) == ["resource_pool_num_available_locks", "resource_pool_num_claimed_locks"])
        #expect(value("resource_pool_num_available_locks", in: pool) == 3)
        #expect(value("resource_pool_num_claimed_locks", in: pool) == 4)
        let poolDescriptions = PrometheusText.descriptions(in: poolText)
        #expect(
            poolDescriptions["resource_pool_num_available_locks"]?.help
                == "The number of unclaimed locks in the current pool")
        #expect(
            poolDescriptions["resource_pool_num_claimed_locks"]?.help
                == "The number of claimed locks in the current pool")
    }

    @Test func waitersAreSentOnlyWhenKnown() throws {
        var metrics = OperationMetrics(
            pool: "p", branch: "b", operation: .claim, executionTime: .seconds(1), waited: .zero, lostRaces: 0,
            availableCount: 0, claimedCount: 1)
        metrics.waitingCount = 5
        let pool = try PrometheusText.samples(in: String(decoding: metrics.groups()[1].body, as: UTF8.self))
        #expect(value("resource_pool_num_waiting", in: pool) == 5)
    }

    private func value(_ name: String, in samples: [PrometheusText.Sample]) -> Double? {
        samples.first { $0.name == name }?.value
    }
}

// MARK: - Pushing

@Suite(.enabled(if: PushgatewayServer.isAvailable && HTTPResponder.isAvailable))
struct PushgatewayPushTests {
    let metrics = OperationMetrics(
        pool: "cf-deployment/fresh", branch: "feature/x", operation: .release, executionTime: .milliseconds(70),
        waited: .zero, lostRaces: 1, availableCount: 2, claimedCount: 0)

    @Test func aRealGatewayStoresBothGroups() async throws {
        let scratch = try Scratch(label: "push-real")
        let server = try PushgatewayServer(scratch: scratch)
        defer { server.stop() }
        let failure = await Pushgateway(address: try PushgatewayAddress(server.url)).push(metrics.groups())
        #expect(failure == nil)
        let samples = try server.scrape()
        let common = [
            "job": "concourse_resource_pool", "instance": "", "pool": "cf-deployment/fresh", "branch": "feature/x",
        ]
        var operationLabels = common
        operationLabels["operation"] = "release_lock"
        #expect(samples.contains(.init(name: "resource_pool_lost_races", labels: operationLabels, value: 1)))
        #expect(samples.contains(.init(name: "resource_pool_wait_time", labels: operationLabels, value: 0)))
        #expect(samples.contains(.init(name: "resource_pool_execution_time_sum", labels: operationLabels, value: 0.07)))
        #expect(samples.contains(.init(name: "resource_pool_num_available_locks", labels: common, value: 2)))
        #expect(samples.contains(.init(name: "resource_pool_num_claimed_locks", labels: common, value: 0)))
        #expect(server.log.contains("level=info"), "the gateway logs at info level")
    }

    @Test func aServerErrorIsTheCause() async throws {
        let scratch = try Scratch(label: "push-500")
        let responder = try HTTPResponder(scratch: scratch, status: 500, body: "storage full\nmore detail\n")
        defer { responder.stop() }
        let failure = await Pushgateway(address: try PushgatewayAddress(responder.url)).push(metrics.groups())
        #expect(
            failure
                == "PUT /metrics/job/concourse_resource_pool/pool@base64/Y2YtZGVwbG95bWVudC9mcmVzaA/branch@base64/"
                + "ZmVhdHVyZS94/operation/release_lock answered HTTP 500: storage full")
        // The first failure stops the push: the pool group is not sent.
        #expect(responder.requests.count == 1)
    }

    @Test(arguments: [200, 202, 204])
    func any2xxIsSuccess(_ status: Int) async throws {
        let scratch = try Scratch(label: "push-\(status)")
        let responder = try HTTPResponder(scratch: scratch, status: status)
        defer { responder.stop() }
        let address = try PushgatewayAddress("metrics:gw-secret@127.0.0.1:\(responder.port)")
        #expect(await Pushgateway(address: address).push(metrics.groups()) == nil)
        #expect(
            responder.requests == [
                "PUT /metrics/job/concourse_resource_pool/pool@base64/Y2YtZGVwbG95bWVudC9mcmVzaA/branch@base64/"
                    + "ZmVhdHVyZS94/operation/release_lock Basic",
                "PUT /metrics/job/concourse_resource_pool/pool@base64/Y2YtZGVwbG95bWVudC9mcmVzaA/branch@base64/"
                    + "ZmVhdHVyZS94 Basic",
            ])
    }

    @Test func aHungGatewayIsBoundedByTheTimeout() async throws {
        let scratch = try Scratch(label: "push-hang")
        let responder = try HTTPResponder(scratch: scratch, status: 200, delay: .seconds(120))
        defer { responder.stop() }
        // The cause proves the bound fired before the 120 s answer; wall time is asserted end to end (MetricsTests),
        // since parallel tests can keep this process's cooperative threads busy.
        let failure = await Pushgateway(address: try PushgatewayAddress(responder.url), timeout: .seconds(1))
            .push(metrics.groups())
        #expect(failure == "no answer within 1s")
        #expect(responder.requests.count == 1)
    }

    @Test func aClosedPortIsConnectionRefused() async throws {
        let port = try GitDaemon.freePort()
        let failure = await Pushgateway(address: try PushgatewayAddress("127.0.0.1:\(port)")).push(metrics.groups())
        #expect(failure == "connection refused")
    }
}
