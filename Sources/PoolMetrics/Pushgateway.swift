import Dispatch
import Foundation
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Pushes metric groups to a Prometheus Pushgateway, one `PUT` per group (which replaces the group), in the text
/// exposition format.
///
/// The HTTP client is FoundationNetworking's `URLSession`: two small requests per step need no event loop, the CLI
/// already uses it for the Concourse API, and it adds no package to the build (AsyncHTTPClient would bring SwiftNIO and
/// BoringSSL into every resource binary). Pushing never throws: metrics must not fail a step whose lock already moved.
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
        let session = URLSession(configuration: Self.sessionConfiguration(timeout))
        defer { session.finishTasksAndInvalidate() }
        let attempt = Attempt()
        // Completion handlers and a Dispatch timer, not async calls and a sleeping task: the push and its bound run
        // even while every thread of the cooperative pool is busy. Whichever finishes first decides; the loser is
        // cancelled and not waited for, so a gateway that keeps the connection open cannot hold the step.
        return await withCheckedContinuation { (continuation: CheckedContinuation<String?, Never>) in
            let finish: @Sendable (String?) -> Void = { failure in
                guard attempt.finish() else { return }
                continuation.resume(returning: failure)
            }
            let seconds = timeout.timeInterval
            let bound = timeout.goDescription
            DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { finish("no answer within \(bound)") }
            send(groups[...], session: session, attempt: attempt, finish: finish)
        }
    }

    /// Pushes the two groups of `metrics`; a failure becomes the one line `warning: could not push metrics to <url>:
    /// <cause>` given to `warn`, never an error (SPEC §9).
    public func push(_ metrics: OperationMetrics, warn: (String) -> Void) async {
        if let cause = await push(metrics.groups()) { warn("warning: could not push metrics to \(address): \(cause)") }
    }

    /// Sends the first of `groups`, then the rest from its completion handler.
    private func send(
        _ groups: ArraySlice<MetricGroup>, session: URLSession, attempt: Attempt,
        finish: @escaping @Sendable (String?) -> Void
    ) {
        guard let group = groups.first else { return finish(nil) }
        let path = group.path(job: job)
        guard let url = URL(string: address.url + path) else { return finish("cannot form the URL of \(path)") }
        var request = URLRequest(url: url)
        request.httpMethod = "PUT"
        request.setValue("text/plain; version=0.0.4; charset=utf-8", forHTTPHeaderField: "Content-Type")
        if let authorization = address.authorization {
            request.setValue(authorization, forHTTPHeaderField: "Authorization")
        }
        let task = session.uploadTask(with: request, from: Data(group.body)) { data, response, error in
            if let error { return finish(Self.cause(of: error)) }
            let status = (response as? HTTPURLResponse)?.statusCode ?? 0
            guard (200..<300).contains(status) else {
                let answer =
                    String(decoding: (data ?? Data()).prefix(200), as: UTF8.self)
                    .split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
                return finish("PUT \(path) answered HTTP \(status)\(answer.isEmpty ? "" : ": \(answer)")")
            }
            send(groups.dropFirst(), session: session, attempt: attempt, finish: finish)
        }
        attempt.start(task)
    }

    /// One push: whether it has finished, and the request in flight (cancelled when the push finishes).
    private final class Attempt: Sendable {
        private let state = Mutex<(finished: Bool, task: URLSessionTask?)>((false, nil))

        /// Starts `task` unless the push has already finished.
        func start(_ task: URLSessionTask) {
            let started = state.withLock { state in
                guard !state.finished else { return false }
                state.task = task
                return true
            }
            if started { task.resume() }
        }

        /// Marks the push finished and cancels its request; false when it had already finished.
        func finish() -> Bool {
            let (first, task) = state.withLock { state in
                defer { state.finished = true }
                return (!state.finished, state.task)
            }
            if first { task?.cancel() }
            return first
        }
    }

    private static func sessionConfiguration(_ timeout: Duration) -> URLSessionConfiguration {
        let configuration = URLSessionConfiguration.ephemeral
        let seconds = timeout.timeInterval
        configuration.timeoutIntervalForRequest = seconds
        configuration.timeoutIntervalForResource = seconds
        configuration.httpCookieStorage = nil
        configuration.urlCache = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        return configuration
    }

    /// A short cause for a transport error; URLs are left out (the gateway is named by the caller).
    static func cause(of error: any Error) -> String {
        guard let error = error as? URLError else { return String(describing: error) }
        switch error.code {
        case .cannotConnectToHost: return "connection refused"
        case .cannotFindHost, .dnsLookupFailed: return "host not found"
        case .timedOut: return "timed out"
        case .networkConnectionLost: return "connection lost"
        case .notConnectedToInternet: return "network unreachable"
        case .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate,
            .serverCertificateNotYetValid, .serverCertificateHasUnknownRoot:
            return "TLS handshake failed"
        case .cancelled: return "cancelled"
        default: return "network error \(error.code.rawValue)"
        }
    }
}
