import CCurl
import FoundationEssentials
import StringSupport

#if canImport(Glibc)
    import Glibc
#endif

/// One HTTP request: what the Pushgateway client and the reaper's Concourse API client send.
public struct HTTPRequest: Sendable {
    public var method: String
    /// An `http://` or `https://` URL without userinfo (credentials go in `headers`).
    public var url: String
    /// Header fields in order; values may be secrets (`Authorization`) and are never printed.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// Bound on the whole request, connecting included.
    public var timeout: Duration
    /// Bytes of the answer's body to keep; the rest is read and dropped.
    public var maxResponse: Int

    public init(
        method: String = "GET", url: String, headers: [(name: String, value: String)] = [], body: [UInt8] = [],
        timeout: Duration, maxResponse: Int = 1 << 20
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.maxResponse = maxResponse
    }
}

/// An answer, whatever its status.
public struct HTTPResponse: Sendable {
    public let status: Int
    public let body: [UInt8]
}

/// Why a request got no answer.
public struct HTTPError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Kind: Hashable, Sendable {
        let rawValue: UInt32
        /// libcurl is not installed (it is loaded only when a request is made).
        public static let unavailable = Kind(rawValue: LOCKPOOL_HTTP_UNAVAILABLE.rawValue)
        public static let refused = Kind(rawValue: LOCKPOOL_HTTP_REFUSED.rawValue)
        public static let hostNotFound = Kind(rawValue: LOCKPOOL_HTTP_HOST_NOT_FOUND.rawValue)
        public static let timedOut = Kind(rawValue: LOCKPOOL_HTTP_TIMED_OUT.rawValue)
        public static let tls = Kind(rawValue: LOCKPOOL_HTTP_TLS.rawValue)
        public static let connectionLost = Kind(rawValue: LOCKPOOL_HTTP_CONNECTION_LOST.rawValue)
        public static let badURL = Kind(rawValue: LOCKPOOL_HTTP_BAD_URL.rawValue)
        public static let other = Kind(rawValue: LOCKPOOL_HTTP_OTHER.rawValue)
    }

    public let kind: Kind
    /// libcurl's words (host and port at most; never userinfo or headers).
    public let message: String

    /// A short cause, for a message that names the server itself.
    public var description: String {
        switch kind {
        case .refused: "connection refused"
        case .hostNotFound: "host not found"
        case .timedOut: "timed out"
        case .tls: "TLS handshake failed: \(message)"
        case .connectionLost: "connection lost"
        default: message
        }
    }
}

/// HTTP over libcurl, loaded with `dlopen` on the first request: the resource executables do not pay for loading
/// libcurl and its dependencies (≈ 12 ms per process start, docs/decisions/0002-libcurl-through-dlopen.md) unless a
/// step pushes metrics.
///
/// Proxies follow libcurl's environment variables (`http_proxy`, `https_proxy`, `no_proxy`); redirects are not
/// followed; only http and https are spoken.
public enum HTTPClient {
    /// Sends `request` and waits for the answer, blocking the calling thread.
    ///
    /// - Throws: `HTTPError` when there is no answer (any status, 500 included, is an answer).
    public static func perform(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        let lines = request.headers.map { "\($0.name): \($0.value)" }
        var response = lockpool_http_response()
        defer { lockpool_http_response_free(&response) }
        let (seconds, attoseconds) = request.timeout.components
        let milliseconds = max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
        let failure = withCStrings(lines) { headers in
            request.body.withUnsafeBytes { body in
                request.method.withCString { method in
                    request.url.withCString { url in
                        var raw = lockpool_http_request(
                            method: method, url: url, headers: headers.baseAddress, header_count: headers.count,
                            body: body.baseAddress, body_length: body.count, timeout_ms: Int(milliseconds),
                            max_response: request.maxResponse)
                        return lockpool_http_perform(&raw, &response)
                    }
                }
            }
        }
        guard failure == LOCKPOOL_HTTP_OK else {
            let message = withUnsafeBytes(of: response.message) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            let secrets = Self.credentialValues(request.headers) + Self.userinfo(of: request.url)
            throw HTTPError(kind: .init(rawValue: failure.rawValue), message: Self.scrubbed(message, secrets: secrets))
        }
        let body = response.body.map { Array(UnsafeBufferPointer(start: $0, count: response.body_length)) } ?? []
        return HTTPResponse(status: response.status, body: body)
    }

    /// Sends `request` from a thread of its own (`onOwnThread`).
    public static func send(_ request: HTTPRequest) async throws(HTTPError) -> HTTPResponse {
        try await onOwnThread { Result { () throws(HTTPError) in try perform(request) } }.get()
    }

    /// Runs blocking `work` on a new thread and resumes the caller once with its result: a slow server never holds a
    /// thread of the cooperative pool, and a busy pool (every thread blocked elsewhere) can delay only when the
    /// result is seen, never the work or the timeouts inside it. Dispatch's global queue has one thread per core,
    /// which other blocking work can occupy.
    public static func onOwnThread<Value: Sendable>(_ work: @escaping @Sendable () -> Value) async -> Value {
        await withCheckedContinuation { (continuation: CheckedContinuation<Value, Never>) in
            detachThread { continuation.resume(returning: work()) }
        }
    }

    /// Starts a detached POSIX thread running `body` (Foundation's `Thread` is outside FoundationEssentials, and the
    /// image's binary links only that). If no thread can be made, `body` runs on the caller's.
    private static func detachThread(_ body: @escaping @Sendable () -> Void) {
        final class Body: Sendable {
            let run: @Sendable () -> Void
            init(_ run: @escaping @Sendable () -> Void) { self.run = run }
        }
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        var thread = pthread_t()
        let started = pthread_create(
            &thread, nil,
            { context in
                Unmanaged<Body>.fromOpaque(context!).takeRetainedValue().run()
                return nil
            }, context)
        if started == 0 {
            pthread_detach(thread)
        } else {
            Unmanaged<Body>.fromOpaque(context).takeRetainedValue().run()
        }
    }

    /// `message` with every header value and userinfo of the request, and the userinfo of any URL in it (libcurl
    /// may name a proxy from `http_proxy`, credentials included), replaced by `****`.
    static func scrubbed(_ message: String, secrets: [String]) -> String {
        var text = message
        for secret in secrets where secret.count >= 3 { text = text.replacing(secret, with: "****") }
        var result = ""
        var rest = Substring(text)
        while let separator = rest.firstRange(of: "://") {
            result += rest[..<separator.upperBound]
            rest = rest[separator.upperBound...]
            let authority = rest.prefix { !"/?# \t\n'\"".contains($0) }
            if let at = authority.lastIndex(of: "@") {
                result += "****"
                rest = rest[at...]
            }
        }
        return result + rest
    }

    /// The values of headers that carry credentials (`Authorization`, tokens, keys, cookies), whole and without the
    /// scheme word (`Bearer`, `Basic`).
    static func credentialValues(_ headers: [(name: String, value: String)]) -> [String] {
        headers.filter { header in
            let name = header.name.lowercased()
            return ["auth", "token", "key", "cookie", "secret", "password"].contains { name.contains($0) }
        }.flatMap { header in
            [header.value] + (header.value.split(separator: " ").last.map { [String($0)] } ?? [])
        }
    }

    /// The userinfo of `url` and its password part, when it has any.
    static func userinfo(of url: String) -> [String] {
        guard let info = URLUserinfo(in: url) else { return [] }
        return [String(info.userinfo)] + (info.password.map { [String($0)] } ?? [])
    }

    /// Calls `body` with NUL-terminated copies of `strings`, valid for the call.
    private static func withCStrings<R>(
        _ strings: [String], _ body: (UnsafeBufferPointer<UnsafePointer<CChar>?>) -> R
    ) -> R {
        let copies = strings.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        return copies.map { UnsafePointer($0) }.withUnsafeBufferPointer(body)
    }
}
