import LockPool
import TestSupport
import Testing

@testable import LockPoolCLI

/// How `ConcourseAPI.liveness(of:)` reads the server's answer about a build (a real HTTP server on 127.0.0.1).
@Suite(.enabled(if: HTTPResponder.isAvailable, "needs python3"))
struct ConcourseAPIAnswerTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let body: String
        /// The expected liveness; `URL` in a reason stands for the responder's base URL.
        let expected: BuildLiveness
        var testDescription: String { body }
    }

    static let cases: [Case] = [
        Case(body: #"{"id": 7, "name": "42", "status": "started"}"#, expected: .running(status: "started")),
        Case(body: #"{"status": "pending"}"#, expected: .running(status: "pending")),
        Case(body: #"{"id": 7, "status": "succeeded"}"#, expected: .finished(status: "succeeded")),
        Case(body: #"{"status": "aborted", "extra": [1, {"x": null}]}"#, expected: .finished(status: "aborted")),
        Case(body: #"{"status": "paused"}"#, expected: .unavailable(reason: #"unknown build status "paused""#)),
        Case(
            body: #"{"status": 3}"#,
            expected: .unavailable(reason: "GET URL/api/v1/builds/7: the answer names no build status")),
        Case(
            body: #"{"id": 7}"#,
            expected: .unavailable(reason: "GET URL/api/v1/builds/7: the answer names no build status")),
        Case(
            body: "<html>bad gateway</html>",
            expected: .unavailable(reason: "GET URL/api/v1/builds/7: the answer names no build status")),
    ]

    @Test(arguments: cases) func answerGivesLiveness(_ c: Case) async throws {
        let scratch = try Scratch(label: "concourse-answer")
        let responder = try HTTPResponder(scratch: scratch, status: 200, body: c.body)
        defer { responder.stop() }
        let api = ConcourseAPI(baseURL: responder.url + "/", token: "t0ken")
        let liveness = try await api.liveness(of: BuildInfo(team: "main", pipeline: "p", job: "j", name: "42", id: "7"))
        let expected: BuildLiveness =
            switch c.expected {
            case .unavailable(let reason): .unavailable(reason: reason.replacing("URL", with: responder.url))
            default: c.expected
            }
        #expect(liveness == expected)
        #expect(responder.requests == ["GET /api/v1/builds/7 Bearer"])
    }
}
