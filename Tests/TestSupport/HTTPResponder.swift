import Foundation

/// An HTTP server on 127.0.0.1 that answers every request with one fixed status, after an optional delay: a
/// misbehaving Pushgateway (HTTP 500, or one that never answers in time). A Python 3 `http.server` script; each
/// request is logged as `METHOD PATH` (with its `Authorization` header's scheme) before the answer is sent. Runs as
/// `LoopbackServerProcess` explains; stopped by `stop()` or when the last reference goes away.
public final class HTTPResponder: Sendable {
    /// The TCP port on 127.0.0.1.
    public let port: Int
    private let server: LoopbackServerProcess
    private let requestLogURL: URL

    /// The base URL.
    public var url: String { "http://127.0.0.1:\(port)" }

    /// Whether `python3` can be found.
    public static var isAvailable: Bool { ExternalTool.areAvailable("python3") }

    /// Starts the responder in a new directory of `scratch`.
    ///
    /// - Parameters:
    ///   - status: the status of every answer.
    ///   - body: the body of every answer.
    ///   - delay: how long to wait before answering.
    /// - Throws: `ChildProcessError.notFound` without `python3`, `LoopbackServerError`, or a file-system error.
    public init(scratch: Scratch, status: Int, body: String = "", delay: Duration = .zero) throws {
        guard let python = ExternalTool.locate("python3") else { throw ChildProcessError.notFound("python3") }
        let directory = try scratch.uniqueDirectory("responder")
        let scriptURL = directory.appendingPathComponent("responder.py")
        let bodyURL = directory.appendingPathComponent("body")
        let requestLogURL = directory.appendingPathComponent("requests.log")
        try Data(Self.script.utf8).write(to: scriptURL)
        try Data(body.utf8).write(to: bodyURL)
        try Data().write(to: requestLogURL)
        let seconds = delay.timeInterval
        server = try LoopbackServerProcess.start(
            name: "http responder", environment: ExternalTool.baseEnvironment(home: directory),
            startTimeout: .seconds(10)
        ) { port in
            LoopbackServerProcess.Launch(
                executable: python,
                arguments: [
                    scriptURL.path, String(port), String(status), String(seconds), bodyURL.path, requestLogURL.path,
                ],
                logURL: directory.appendingPathComponent("responder.stderr"))
        }
        port = server.port
        self.requestLogURL = requestLogURL
    }

    deinit { stop() }

    /// Stops the responder. Safe to call more than once.
    public func stop() { server.stop() }

    /// The requests received so far, `METHOD PATH AUTH-SCHEME` (`-` without an `Authorization` header).
    public var requests: [String] {
        ((try? String(contentsOf: requestLogURL, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    static let script = #"""
        import sys
        import threading
        import time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        port, status, delay = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
        body_path, log_path = sys.argv[4], sys.argv[5]
        log_lock = threading.Lock()


        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                auth = (self.headers.get("Authorization") or "-").split(" ")[0]
                with log_lock, open(log_path, "a") as log:
                    log.write("%s %s %s\n" % (self.command, self.path, auth))
                time.sleep(delay)
                with open(body_path, "rb") as f:
                    body = f.read()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = answer

            def log_message(self, *args):
                pass


        ThreadingHTTPServer.daemon_threads = True
        ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
        """#
}
