import Foundation
import HTTPClient
import TestSupport
import Testing

/// `HTTPClient` against real servers on 127.0.0.1: libcurl loaded on the first request, statuses, bodies, headers and
/// every kind of failure the Pushgateway and Concourse clients turn into messages.
@Suite(.enabled(if: HTTPResponder.isAvailable, "needs python3"))
struct HTTPClientTests {
    @Test func anAnswerKeepsItsStatusAndBody() async throws {
        let scratch = try Scratch(label: "http-500")
        let responder = try HTTPResponder(scratch: scratch, status: 500, body: "storage full\n")
        defer { responder.stop() }
        let response = try await HTTPClient.send(
            HTTPRequest(
                method: "PUT", url: responder.url + "/metrics/job/x", body: Array("a 1\n".utf8), timeout: .seconds(10)))
        #expect(response.status == 500)
        #expect(String(decoding: response.body, as: UTF8.self) == "storage full\n")
        #expect(responder.requests == ["PUT /metrics/job/x -"])
    }

    @Test func headersAreSentAndGETHasNoBody() throws {
        let scratch = try Scratch(label: "http-headers")
        let responder = try HTTPResponder(scratch: scratch, status: 200, body: "{}")
        defer { responder.stop() }
        let response = try HTTPClient.perform(
            HTTPRequest(
                url: responder.url + "/api/v1/builds/7", headers: [("Authorization", "Bearer s3cret")],
                timeout: .seconds(10)))
        #expect(response.status == 200)
        #expect(response.body == Array("{}".utf8))
        #expect(responder.requests == ["GET /api/v1/builds/7 Bearer"])
    }

    @Test func theKeptBodyIsBounded() throws {
        let scratch = try Scratch(label: "http-bounded")
        let responder = try HTTPResponder(scratch: scratch, status: 200, body: String(repeating: "x", count: 100_000))
        defer { responder.stop() }
        let response = try HTTPClient.perform(HTTPRequest(url: responder.url, timeout: .seconds(10), maxResponse: 10))
        #expect(response.status == 200)
        #expect(response.body == Array(repeating: UInt8(ascii: "x"), count: 10))
    }

    @Test func aSilentServerTimesOut() throws {
        let scratch = try Scratch(label: "http-hang")
        let responder = try HTTPResponder(scratch: scratch, status: 200, delay: .seconds(120))
        defer { responder.stop() }
        // `perform` on this thread: the figure is libcurl's bound, not when a busy cooperative pool resumes a task.
        let clock = ContinuousClock()
        let started = clock.now
        let error = #expect(throws: HTTPError.self) {
            try HTTPClient.perform(HTTPRequest(url: responder.url, timeout: .milliseconds(500)))
        }
        #expect(error?.kind == .timedOut)
        #expect(error?.description == "timed out")
        #expect(clock.now - started < .seconds(30), "bounded by the timeout, not by the 120 s answer")
    }

    @Test func sendReportsTheTimeoutToo() async throws {
        let scratch = try Scratch(label: "http-hang-async")
        let responder = try HTTPResponder(scratch: scratch, status: 200, delay: .seconds(120))
        defer { responder.stop() }
        let error = await #expect(throws: HTTPError.self) {
            try await HTTPClient.send(HTTPRequest(url: responder.url, timeout: .milliseconds(500)))
        }
        #expect(error?.kind == .timedOut)
    }

    @Test func aClosedPortIsRefused() throws {
        let port = try GitDaemon.freePort()
        let error = #expect(throws: HTTPError.self) {
            try HTTPClient.perform(HTTPRequest(url: "http://127.0.0.1:\(port)/", timeout: .seconds(10)))
        }
        #expect(error?.kind == .refused)
        #expect(error?.description == "connection refused")
    }

    @Test(arguments: ["ftp://127.0.0.1/x", "file:///etc/passwd", "not a url"])
    func onlyHTTPIsSpoken(_ url: String) throws {
        let error = #expect(throws: HTTPError.self) {
            try HTTPClient.perform(HTTPRequest(url: url, timeout: .seconds(5)))
        }
        #expect(error?.kind == .badURL, "\(String(describing: error))")
    }

    @Test func concurrentFirstRequestsLoadLibcurlOnce() async throws {
        let scratch = try Scratch(label: "http-concurrent")
        let responder = try HTTPResponder(scratch: scratch, status: 204)
        defer { responder.stop() }
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<8 {
                group.addTask {
                    try await HTTPClient.send(HTTPRequest(url: responder.url + "/\(index)", timeout: .seconds(20)))
                        .status
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses == Array(repeating: 204, count: 8))
        #expect(Set(responder.requests) == Set((0..<8).map { "GET /\($0) -" }))
    }
}
