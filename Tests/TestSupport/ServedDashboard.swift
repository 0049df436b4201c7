import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A `lockpool serve` started by a test on 127.0.0.1 and an ephemeral port: started through `lockpool serve` (so the
/// launcher that runs `lockpool-serve` is exercised too), ready once it prints the address it serves, stopped by PID.
public final class ServedDashboard: Sendable {
    public let process: RunningExecutable
    public let port: Int

    /// `http://127.0.0.1:PORT`.
    public var url: String { "http://127.0.0.1:\(port)" }

    /// Starts `lockpool serve --listen 127.0.0.1:0 arguments…` and waits until it serves.
    ///
    /// - Throws: `ServedDashboardError.notServing` with stderr when it exits or prints no address in `startTimeout`.
    public init(
        executables: Executables, arguments: [String], environment: [String: String] = [:],
        startTimeout: Duration = .seconds(30)
    ) async throws {
        process = try executables.startLockpool(
            ["serve", "--listen", "127.0.0.1:0"] + arguments, environment: environment)
        _ = try await process.waitForStderr(containing: "serving http://127.0.0.1:", timeout: startTimeout)
        if let port = Self.port(in: process.stderrSoFar) {
            self.port = port
            return
        }
        let stderr = process.stderrSoFar
        process.send(SIGKILL)
        throw ServedDashboardError.notServing(stderr: stderr)
    }

    /// The port of `serving http://127.0.0.1:PORT/` in the server's stderr.
    static func port(in stderr: String) -> Int? {
        guard let range = stderr.range(of: "serving http://127.0.0.1:") else { return nil }
        return Int(stderr[range.upperBound...].prefix { $0.isNumber })
    }

    /// One request (GET unless `method` says otherwise) of `path` with its query: the status, the headers (lower-cased
    /// names) and the body.
    ///
    /// - Throws: when the server does not answer.
    public func get(_ path: String, method: String = "GET") throws -> (
        status: Int, headers: [String: String], body: String
    ) {
        let response = try RawHTTP.exchange(
            host: "127.0.0.1", port: port,
            request: "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n")
        guard let headerEnd = response.range(of: "\r\n\r\n") else {
            throw ServedDashboardError.badResponse(response)
        }
        let lines = response[..<headerEnd.lowerBound].split(separator: "\r\n")
        let status = lines.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        var body = String(response[headerEnd.upperBound...])
        if headers["transfer-encoding"] == "chunked" { body = Self.unchunked(body) }
        return (status, headers, body)
    }

    /// GET `path`, which must answer 200 with JSON.
    public func json(_ path: String) throws -> Any {
        let (status, _, body) = try get(path)
        guard status == 200 else { throw ServedDashboardError.status(path: path, status: status, body: body) }
        return try JSONSerialization.jsonObject(with: Data(body.utf8), options: [.fragmentsAllowed])
    }

    /// Polls `path` until `predicate` holds for its body; the last body otherwise.
    public func waitFor(
        _ path: String, timeout: Duration = .seconds(20), _ predicate: (String) -> Bool
    ) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        var last = ""
        while ContinuousClock.now < deadline {
            last = (try? get(path).body) ?? ""
            if predicate(last) { return last }
            try await Task.sleep(for: .milliseconds(100))
        }
        // Checked once more: on a busy machine the task may be resumed only after the deadline.
        last = (try? get(path).body) ?? ""
        if predicate(last) { return last }
        throw ServedDashboardError.timedOut(path: path, lastBody: last)
    }

    /// SIGTERM, then the exit status and output.
    public func stop() throws -> ExecutableResult {
        process.terminate()
        return try process.waitUntilExit(timeout: .seconds(10))
    }

    private static func unchunked(_ text: String) -> String {
        var body = ""
        var rest = Substring(text)
        while let lineEnd = rest.range(of: "\r\n"), let size = Int(rest[..<lineEnd.lowerBound], radix: 16), size > 0 {
            let chunk = rest.utf8[lineEnd.upperBound...].prefix(size)
            body += String(decoding: chunk, as: UTF8.self)
            rest = Substring(rest.utf8[chunk.endIndex...]).dropFirst(2)
        }
        return body
    }
}

public enum ServedDashboardError: Error, CustomStringConvertible {
    case notServing(stderr: String)
    case badResponse(String)
    case status(path: String, status: Int, body: String)
    case timedOut(path: String, lastBody: String)

    public var description: String {
        switch self {
        case .notServing(let stderr): "lockpool serve did not start serving; stderr:\n\(stderr)"
        case .badResponse(let response): "not an HTTP response: \(response.prefix(200))"
        case .status(let path, let status, let body): "GET \(path): HTTP \(status): \(body.prefix(300))"
        case .timedOut(let path, let body): "GET \(path) never matched; last body: \(body.prefix(500))"
        }
    }
}
