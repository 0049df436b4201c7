import Foundation

/// A small stand-in for the Concourse API on 127.0.0.1, for the reaper tests: a Python 3 `http.server` script that
/// answers the two build endpoints `lockpool reap` asks.
///
/// - `GET /api/v1/builds/<id>` looks up the key `<id>`;
/// - `GET /api/v1/teams/<t>/pipelines/<p>/jobs/<j>/builds/<n>` looks up `<t>/<p>/<j>/<n>` (segments
///   percent-decoded; a query such as `?vars=…` is recorded but not part of the key).
///
/// A known build answers `200` with `{"id": …, "name": …, "status": …}`; an unknown one or any other path `404`; a
/// build in `failing` `500`. Every request whose `Authorization` is not exactly `Bearer <token>` gets `401` first.
/// The table lives in a JSON file re-read on every request, so `setBuilds(_:failing:)` takes effect at once. Each
/// request is appended to a log as one JSON line (method, path, query, whether the token matched, the status sent)
/// before the answer is sent; the token itself is never logged. Runs as `LoopbackServerProcess` explains (own process
/// group, waited for until the port answers); stopped by `stop()` or when the last reference goes away.
public final class ConcourseStandIn: Sendable {
    /// A Concourse build status.
    public enum BuildStatus: String, Sendable, CaseIterable, Codable {
        case pending, started, succeeded, failed, errored, aborted

        /// Whether Concourse still runs (or will run) the build.
        public var isRunning: Bool { self == .pending || self == .started }
    }

    /// One request the stand-in answered, from its log.
    public struct Request: Sendable, Equatable, Decodable, CustomStringConvertible {
        public let method: String
        /// The path, still percent-encoded as sent.
        public let path: String
        /// The query string without `?`; empty when there was none.
        public let query: String
        /// Whether `Authorization: Bearer <token>` matched.
        public let authorized: Bool
        /// The status code sent.
        public let status: Int

        /// Creates a request record, for comparing with `requests`.
        public init(method: String = "GET", path: String, query: String = "", authorized: Bool, status: Int) {
            self.method = method
            self.path = path
            self.query = query
            self.authorized = authorized
            self.status = status
        }

        public var description: String { "\(method) \(path)\(query.isEmpty ? "" : "?" + query) → \(status)" }
    }

    /// Where the script, its table, its stderr and the request log live.
    public let directory: URL
    /// The TCP port on 127.0.0.1.
    public let port: Int
    /// The bearer token the stand-in accepts (a test secret).
    public let token: String
    /// The request log: one JSON object per line.
    public let requestLogURL: URL
    private let tableURL: URL
    private let stderrURL: URL
    private let server: LoopbackServerProcess

    /// The base URL to pass as `--concourse-url`.
    public var url: String { "http://127.0.0.1:\(port)" }

    /// The stand-in's process id.
    public var pid: Int32 { server.pid }

    /// Whether `python3` can be found (for `.enabled(if:)`).
    public static var isAvailable: Bool { ExternalTool.areAvailable("python3") }

    /// The table key of a build asked for by id (`/api/v1/builds/<id>`).
    public static func key(id: String) -> String { id }

    /// The table key of a build asked for by team, pipeline, job and build name.
    public static func key(team: String, pipeline: String, job: String, name: String) -> String {
        [team, pipeline, job, name].joined(separator: "/")
    }

    /// Starts the stand-in with its files in `directory` and waits until its port accepts connections.
    ///
    /// - Parameters:
    ///   - directory: a directory of its own (created if needed).
    ///   - token: the bearer token to accept.
    ///   - builds: table key (`key(id:)`, `key(team:pipeline:job:name:)`) → status.
    ///   - failing: table keys answered with `500` whatever their status.
    ///   - startTimeout: how long to wait for the port.
    /// - Throws: `ChildProcessError.notFound` without `python3`, `LoopbackServerError`, or a file-system error.
    public init(
        directory: URL, token: String, builds: [String: BuildStatus] = [:], failing: Set<String> = [],
        startTimeout: Duration = .seconds(10)
    ) throws {
        guard let python = ExternalTool.locate("python3") else { throw ChildProcessError.notFound("python3") }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let scriptURL = directory.appendingPathComponent("concourse.py")
        let tableURL = directory.appendingPathComponent("table.json")
        let requestLogURL = directory.appendingPathComponent("requests.jsonl")
        let stderrURL = directory.appendingPathComponent("concourse.stderr")
        try Data(Self.script.utf8).write(to: scriptURL)
        try Data().write(to: requestLogURL)
        try Self.writeTable(token: token, builds: builds, failing: failing, to: tableURL)
        self.server = try LoopbackServerProcess.start(
            name: "concourse stand-in", environment: ExternalTool.baseEnvironment(home: directory),
            startTimeout: startTimeout
        ) { port in
            LoopbackServerProcess.Launch(
                executable: python,
                arguments: [scriptURL.path, String(port), tableURL.path, requestLogURL.path], logURL: stderrURL)
        }
        self.directory = directory
        self.port = server.port
        self.token = token
        self.requestLogURL = requestLogURL
        self.tableURL = tableURL
        self.stderrURL = stderrURL
    }

    /// Starts the stand-in with its files in a new directory of `scratch`.
    ///
    /// - Throws: as `init(directory:token:builds:failing:startTimeout:)`.
    public convenience init(
        scratch: Scratch, token: String, builds: [String: BuildStatus] = [:], failing: Set<String> = []
    ) throws {
        try self.init(
            directory: try scratch.uniqueDirectory("concourse"), token: token, builds: builds, failing: failing)
    }

    deinit { stop() }

    /// Stops the stand-in (SIGTERM to its process group, SIGKILL after 5 s) and waits for it. Safe to call more
    /// than once.
    public func stop() { server.stop() }

    /// Replaces the table; the next request sees the new one.
    ///
    /// - Throws: a file-system error.
    public func setBuilds(_ builds: [String: BuildStatus], failing: Set<String> = []) throws {
        try Self.writeTable(token: token, builds: builds, failing: failing, to: tableURL)
    }

    /// The requests answered so far, oldest first.
    public var requests: [Request] {
        let text = (try? String(contentsOf: requestLogURL, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(Request.self, from: Data($0.utf8)) }
    }

    /// The script's stderr (Python tracebacks), for diagnostics.
    public var stderr: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }

    private struct Table: Encodable {
        let token: String
        let builds: [String: BuildStatus]
        let failing: [String]
    }

    private static func writeTable(token: String, builds: [String: BuildStatus], failing: Set<String>, to url: URL)
        throws
    {
        let table = Table(token: token, builds: builds, failing: failing.sorted())
        // Atomic: the script may read the file while it is being replaced.
        try JSONEncoder().encode(table).write(to: url, options: .atomic)
    }

    /// The server: `python3 concourse.py PORT TABLE LOG`.
    static let script = #"""
        import json
        import sys
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import unquote, urlsplit

        port, table_path, log_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
        log_lock = threading.Lock()


        def build_key(path):
            parts = path.split("/")
            if len(parts) == 5 and parts[1:4] == ["api", "v1", "builds"]:
                return unquote(parts[4])
            if (len(parts) == 11 and parts[1:4] == ["api", "v1", "teams"] and parts[5] == "pipelines"
                    and parts[7] == "jobs" and parts[9] == "builds"):
                return "/".join(unquote(parts[i]) for i in (4, 6, 8, 10))
            return None


        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                with open(table_path) as f:
                    table = json.load(f)
                url = urlsplit(self.path)
                authorized = self.headers.get("Authorization") == "Bearer " + table["token"]
                key = build_key(url.path)
                if not authorized:
                    status, body = 401, b"not authorized"
                elif key is None or key not in table["builds"]:
                    status, body = 404, b"not found"
                elif key in table["failing"]:
                    status, body = 500, b"internal server error"
                else:
                    status = 200
                    document = {"id": 1, "name": key.split("/")[-1], "status": table["builds"][key]}
                    body = json.dumps(document).encode()
                record = {"method": "GET", "path": url.path, "query": url.query, "authorized": authorized,
                          "status": status}
                with log_lock, open(log_path, "a") as log:
                    log.write(json.dumps(record) + "\n")
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if status == 200 else "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args):
                pass


        ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
        """#
}
