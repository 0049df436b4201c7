import FoundationEssentials
import HTTPClient
import LockPool
import StringSupport

/// Pushes metric groups to a Prometheus Pushgateway, one `PUT` per group (which replaces the group), in the text
/// exposition format.
///
/// The HTTP client is lockpool's `HTTPClient` (libcurl, loaded only when a push is made): two small requests per step
/// need no event loop, and the resource executables start without loading libcurl (FoundationNetworking's
/// `URLSession` linked it into every process, ≈ 12 ms per start) or carrying SwiftNIO and BoringSSL
/// (AsyncHTTPClient). Pushing never throws: metrics must not fail a step whose lock already moved.
public struct Pushgateway: Sendable {
    public let address: PushgatewayAddress
    /// The Pushgateway job.
    public var job: String
    /// Bound on pushing every group, together.
    public var timeout: Duration

    public init(address: PushgatewayAddress, job: String = OperationMetrics.job, timeout: Duration = .seconds(10)) {
        self.address = address
        self.job = job
        self.timeout = timeout
    }

    /// Pushes `groups` in order and stops at the first failure.
    ///
    /// - Returns: nil when every group was accepted (any 2xx answer), else why not: the connection failure, the
    ///   status and the start of the answer, or that `timeout` passed.
    public func push(_ groups: [MetricGroup]) async -> String? {
        // Both requests and the deadline between them run on one thread, which resumes the caller once.
        await HTTPClient.onOwnThread { pushBlocking(groups) }
    }

    /// `push(_:)` on the calling thread.
    func pushBlocking(_ groups: [MetricGroup]) -> String? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        for group in groups {
            let path = group.path(job: job)
            let left = clock.now.duration(to: deadline)
            guard left > .milliseconds(1) else { return "no answer within \(timeout.goDescription)" }
            var headers: [(name: String, value: String)] = [
                ("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            ]
            if let authorization = address.authorization { headers.append(("Authorization", authorization)) }
            let request = HTTPRequest(
                method: "PUT", url: address.url + path, headers: headers, body: group.body, timeout: left,
                maxResponse: 200)
            let response: HTTPResponse
            do {
                response = try HTTPClient.perform(request)
            } catch {
                return error.kind == .timedOut ? "no answer within \(timeout.goDescription)" : error.description
            }
            guard (200..<300).contains(response.status) else {
                let answer =
                    String(decoding: response.body, as: UTF8.self)
                    .split(whereSeparator: \.isNewline).first.map { $0.trimming(.whitespaces) } ?? ""
                return "PUT \(path) answered HTTP \(response.status)\(answer.isEmpty ? "" : ": \(answer)")"
            }
        }
        return nil
    }

    /// Pushes the two groups of `metrics`; a failure becomes the one line `warning: could not push metrics to <url>:
    /// <cause>` given to `warn`, never an error (docs/resource.md#metrics).
    public func push(_ metrics: OperationMetrics, warn: (String) -> Void) async {
        // The cause may quote the gateway's answer, which can echo the request and its credentials.
        if let cause = await push(metrics.groups()) {
            warn(address.redacting("warning: could not push metrics to \(address): \(cause)"))
        }
    }
}
