import Foundation

/// A real Prometheus Pushgateway (Debian's `prometheus-pushgateway`) on 127.0.0.1, on a free port, for the metrics
/// tests. Runs as `LoopbackServerProcess` explains (own process group, waited for until the port answers, stopped by
/// PID); nothing is persisted.
public final class PushgatewayServer: Sendable {
    /// The TCP port on 127.0.0.1.
    public let port: Int
    private let server: LoopbackServerProcess
    private let logURL: URL

    /// The base URL to give as `prometheus_push_gateway`.
    public var url: String { "http://127.0.0.1:\(port)" }

    /// The gateway's process id.
    public var pid: Int32 { server.pid }

    /// Whether the tests can run: the gateway is installed, or this is CI (where a missing gateway must fail the
    /// tests, not skip them).
    public static var isAvailable: Bool {
        ExternalTool.areAvailable("prometheus-pushgateway") || ProcessInfo.processInfo.environment["CI"] == "true"
    }

    /// Starts a gateway with its log in `directory` and waits until its port accepts connections.
    ///
    /// - Throws: `ChildProcessError.notFound` without the gateway, `LoopbackServerError`, or a file-system error.
    public init(directory: URL, startTimeout: Duration = .seconds(20)) throws {
        guard let executable = ExternalTool.locate("prometheus-pushgateway") else {
            throw ChildProcessError.notFound("prometheus-pushgateway")
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let logURL = directory.appendingPathComponent("pushgateway.log")
        server = try LoopbackServerProcess.start(
            name: "prometheus-pushgateway", environment: ExternalTool.baseEnvironment(home: directory),
            startTimeout: startTimeout
        ) { port in
            LoopbackServerProcess.Launch(
                executable: executable,
                arguments: ["--web.listen-address=127.0.0.1:\(port)", "--log.level=info"], logURL: logURL)
        }
        port = server.port
        self.logURL = logURL
    }

    /// Starts a gateway with its files in a new directory of `scratch`.
    public convenience init(scratch: Scratch) throws {
        try self.init(directory: try scratch.uniqueDirectory("pushgateway"))
    }

    deinit { stop() }

    /// Stops the gateway (SIGTERM to its process group, SIGKILL after 5 s). Safe to call more than once.
    public func stop() { server.stop() }

    /// The gateway's log, for diagnostics.
    public var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    /// The pushed samples as `GET /metrics` shows them, without the gateway's own metrics (`go_*`, `process_*`,
    /// `pushgateway_*`, `promhttp_*`).
    ///
    /// - Throws: `PrometheusText.ParseError`, or a transport error.
    public func scrape() throws -> [PrometheusText.Sample] {
        let text = try HTTPGet.text("\(url)/metrics")
        return try PrometheusText.samples(in: text).filter { sample in
            !["go_", "process_", "pushgateway_", "promhttp_"].contains { sample.name.hasPrefix($0) }
        }
    }

    /// The `# HELP` and `# TYPE` lines of the pushed metrics: name → (type, help).
    public func descriptions() throws -> [String: (type: String, help: String)] {
        PrometheusText.descriptions(in: try HTTPGet.text("\(url)/metrics"))
    }
}

/// A plain `GET` with `curl`-free Foundation, for test servers on 127.0.0.1.
enum HTTPGet {
    struct Failed: Error, CustomStringConvertible {
        let url: String
        let reason: String
        var description: String { "GET \(url) failed: \(reason)" }
    }

    static func text(_ url: String) throws -> String {
        // A raw HTTP/1.0 request over a socket: the test support links no networking library.
        guard let components = URLComponents(string: url), let host = components.host, let port = components.port
        else { throw Failed(url: url, reason: "not a URL with a port") }
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        let response = try RawHTTP.exchange(
            host: host, port: port, request: "GET \(path) HTTP/1.0\r\nHost: \(host)\r\nConnection: close\r\n\r\n")
        guard let headerEnd = response.range(of: "\r\n\r\n") else { throw Failed(url: url, reason: "no headers") }
        let statusLine = response[..<headerEnd.lowerBound].split(separator: "\r\n").first ?? ""
        guard statusLine.split(separator: " ").dropFirst().first == "200" else {
            throw Failed(url: url, reason: String(statusLine))
        }
        return String(response[headerEnd.upperBound...])
    }
}

/// One TCP exchange on 127.0.0.1: send the request, read until the server closes.
enum RawHTTP {
    struct Failed: Error, CustomStringConvertible {
        let description: String
    }

    static func exchange(host: String, port: Int, request: String, timeout: TimeInterval = 10) throws -> String {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failed(description: "socket: errno \(errno)") }
        defer { close(descriptor) }
        var limit = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host, &address.sin_addr) == 1 else {
            throw Failed(description: "not an IPv4 address: \(host)")
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw Failed(description: "connect to \(host):\(port): errno \(errno)") }
        let bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { throw Failed(description: "send: errno \(errno)") }
            sent += count
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count == 0 { break }
            guard count > 0 else { throw Failed(description: "recv: errno \(errno)") }
            received += buffer[0..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }
}

/// A reader of the Prometheus text exposition format (0.0.4), enough for asserting on scrapes.
public enum PrometheusText {
    /// One sample line: `name{labels} value`.
    public struct Sample: Sendable, Equatable, CustomStringConvertible {
        public let name: String
        public let labels: [String: String]
        public let value: Double

        public init(name: String, labels: [String: String], value: Double) {
            self.name = name
            self.labels = labels
            self.value = value
        }

        public var description: String {
            let rendered = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }
            return "\(name){\(rendered.joined(separator: ","))} \(value)"
        }
    }

    /// A line that is not a comment, a blank line or a sample.
    public struct ParseError: Error, CustomStringConvertible {
        public let line: String
        public var description: String { "not a sample line: \(line)" }
    }

    /// The samples of `text`, in order.
    ///
    /// - Throws: `ParseError` for a malformed line.
    public static func samples(in text: String) throws -> [Sample] {
        var samples: [Sample] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("#") { continue }
            samples.append(try sample(String(line)))
        }
        return samples
    }

    /// `# HELP` and `# TYPE` of every metric in `text`: name → (type, help).
    public static func descriptions(in text: String) -> [String: (type: String, help: String)] {
        var help: [String: String] = [:]
        var type: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
            guard parts.count >= 3, parts[0] == "#" else { continue }
            let rest = parts.count > 3 ? String(parts[3]) : ""
            if parts[1] == "HELP" { help[String(parts[2])] = rest }
            if parts[1] == "TYPE" { type[String(parts[2])] = rest }
        }
        var result: [String: (type: String, help: String)] = [:]
        for (name, kind) in type { result[name] = (kind, help[name] ?? "") }
        return result
    }

    static func sample(_ line: String) throws -> Sample {
        let scalars = Array(line.unicodeScalars)
        var index = 0
        var name = ""
        while index < scalars.count, scalars[index] != "{", scalars[index] != " " {
            name.unicodeScalars.append(scalars[index])
            index += 1
        }
        var labels: [String: String] = [:]
        if index < scalars.count, scalars[index] == "{" {
            index += 1
            while index < scalars.count, scalars[index] != "}" {
                var key = ""
                while index < scalars.count, scalars[index] != "=" {
                    if scalars[index] != "," { key.unicodeScalars.append(scalars[index]) }
                    index += 1
                }
                index += 1
                guard index < scalars.count, scalars[index] == "\"" else { throw ParseError(line: line) }
                index += 1
                var value = ""
                while index < scalars.count, scalars[index] != "\"" {
                    if scalars[index] == "\\", index + 1 < scalars.count {
                        index += 1
                        value.unicodeScalars.append(scalars[index] == "n" ? "\n" : scalars[index])
                    } else {
                        value.unicodeScalars.append(scalars[index])
                    }
                    index += 1
                }
                guard index < scalars.count else { throw ParseError(line: line) }
                index += 1
                labels[key] = value
            }
            index += 1
        }
        let rest = String(String.UnicodeScalarView(scalars[min(index, scalars.count)...]))
            .trimmingCharacters(in: .whitespaces)
        let valueText = rest.split(separator: " ").first.map(String.init) ?? ""
        let value: Double? =
            switch valueText {
            case "+Inf": .infinity
            case "-Inf": -.infinity
            case "NaN": .nan
            default: Double(valueText)
            }
        guard !name.isEmpty, let value else { throw ParseError(line: line) }
        return Sample(name: name, labels: labels, value: value)
    }
}
