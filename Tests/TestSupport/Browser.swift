import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A headless browser run that failed, or a WebDriver request that did.
public enum BrowserError: Error, Sendable, CustomStringConvertible {
    case failed(command: String, status: Int32, stderr: String)
    case timedOut(command: String, after: Duration, stderr: String)
    case notReady(log: String)
    case webDriver(request: String, status: Int, message: String)
    case badResponse(request: String, reason: String)
    case conditionNotMet(after: Duration, pageSource: String)
    case processesLeft(command: String, pids: [Int32])

    public var description: String {
        switch self {
        case .failed(let command, let status, let stderr): "\(command) exited with status \(status)\nstderr: \(stderr)"
        case .timedOut(let command, let after, let stderr):
            "\(command) did not finish within \(after); its process group was killed\nstderr: \(stderr)"
        case .notReady(let log): "chromedriver did not report ready: \(log)"
        case .webDriver(let request, let status, let message): "WebDriver \(request): HTTP \(status): \(message)"
        case .badResponse(let request, let reason): "WebDriver \(request): \(reason)"
        case .conditionNotMet(let after, let pageSource):
            "the page source did not satisfy the condition within \(after):\n\(pageSource)"
        case .processesLeft(let command, let pids): "\(command) left processes that SIGKILL did not end: \(pids)"
        }
    }
}

/// One-shot headless runs of Debian's `chromium`: the page's DOM after load, or a screenshot.
///
/// Each run is `chromium --headless --no-sandbox --disable-gpu …` started by `ChildProcess` (its own process group),
/// with `HOME` and `--user-data-dir` in a new directory under the system temporary directory that is removed
/// afterwards, and bounded: `--timeout` makes chromium stop loading and dump or capture what it has, and past that
/// plus a grace period the whole process group is killed. The crash reporter (`chrome_crashpad_handler`) puts itself
/// in a session of its own, out of reach of the group; once chromium has exited, every process still naming the run's
/// directory is waited for and then killed by PID, and a run that still leaves one behind throws.
///
/// What `--dump-dom` shows (chromium 156): the DOM when the `load` event has fired, so inline scripts,
/// `DOMContentLoaded` and `load` handlers have run, but not timers or `fetch` callbacks that come later. It does
/// return while the page holds an `EventSource` open. `--virtual-time-budget`, which would let timers and fetches run,
/// is not used: virtual time only advances while no request is pending, so a page with an open `EventSource` never
/// finishes (chromium hangs, `--timeout` or not). A subresource that never completes delays `load` forever; there
/// `--timeout` ends loading and the DOM as built so far is dumped. For later DOM changes use `WebDriver.waitUntil`.
public enum Browser {
    /// Whether the browser tests can run: `chromium` is installed, or this is CI (where a missing browser must fail
    /// the tests, not skip them).
    public static var isAvailable: Bool {
        ExternalTool.areAvailable("chromium") || ProcessInfo.processInfo.environment["CI"] == "true"
    }

    /// The flags of every chromium this file starts, without the profile directory. `--disable-dev-shm-usage`: a
    /// container's small `/dev/shm` crashes chromium on large pages (Debian's launcher means to add the flag then, but
    /// its test breaks when `/dev/shm` is mounted twice); `--disable-background-networking`: no requests to Google.
    static let headlessArguments = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    ]

    /// No network for the page: every request goes to a proxy on a port where nothing listens (loopback included,
    /// `<-loopback>`), and no name resolves. A `file://` page still loads; anything it fetches fails.
    static let offlineArguments = [
        "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>", "--host-resolver-rules=MAP * ~NOTFOUND",
    ]

    /// How much longer than its `--timeout` a run may take (start-up on a loaded machine) before it is killed.
    static let grace = Duration.seconds(20)

    /// Loads `url` and returns the serialized DOM (`--dump-dom`) once the page has loaded (see the type's
    /// documentation for what has run by then).
    ///
    /// - Parameters:
    ///   - url: the page, e.g. `http://127.0.0.1:PORT/`.
    ///   - budget: `--timeout`: how long the page may load before chromium stops loading and dumps what it has. The
    ///     process group is killed if chromium is still running 20 s after that.
    ///   - offline: cut the browser off the network (`offlineArguments`), for pages that must render from one file.
    /// - Returns: chromium's stdout, the HTML of the document.
    /// - Throws: `ChildProcessError.notFound` without `chromium`, `BrowserError.failed` on a non-zero exit status,
    ///   `BrowserError.timedOut`, `BrowserError.processesLeft` when a process of the run survives SIGKILL,
    ///   `CancellationError`, or a file-system error.
    public static func dumpDOM(_ url: String, budget: Duration = .seconds(5), offline: Bool = false) async throws
        -> String
    {
        let outcome = try await run((offline ? offlineArguments : []) + ["--dump-dom", url], budget: budget)
        return String(decoding: outcome.stdout, as: UTF8.self)
    }

    /// Loads `url` in a `width`×`height` window and writes a PNG of the viewport to `path` (`--screenshot`,
    /// `--hide-scrollbars`); loading is stopped after 5 s, as `dumpDOM` does.
    ///
    /// - Throws: as `dumpDOM`, and `BrowserError.failed` when chromium wrote no file.
    public static func screenshot(_ url: String, to path: String, width: Int = 1280, height: Int = 900) async throws {
        try? FileManager.default.removeItem(atPath: path)
        let outcome = try await run(
            ["--screenshot=\(path)", "--window-size=\(width),\(height)", "--hide-scrollbars", url],
            budget: .seconds(5))
        guard FileManager.default.fileExists(atPath: path) else {
            throw BrowserError.failed(
                command: "chromium --screenshot=\(path) \(url)", status: outcome.status,
                stderr: "no screenshot written\n" + String(decoding: outcome.stderr, as: UTF8.self))
        }
    }

    /// Runs chromium with `arguments` (after the headless flags, a new profile and `--timeout`) and returns its
    /// outcome once it and every process naming its directory are gone.
    ///
    /// - Throws: `BrowserError.timedOut`, `.processesLeft` or `.failed`; `ChildProcessError`; `CancellationError` when
    ///   the task is cancelled while chromium runs (it is killed).
    private static func run(_ arguments: [String], budget: Duration) async throws -> ChildProcess.Outcome {
        guard let chromium = ExternalTool.locate("chromium") else { throw ChildProcessError.notFound("chromium") }
        let home = try makePrivateDirectory()
        defer { try? FileManager.default.removeItem(at: home) }
        let milliseconds = max(1, Int(budget.timeInterval * 1000))
        let fullArguments =
            headlessArguments + [
                "--user-data-dir=\(home.appendingPathComponent("profile").path)", "--timeout=\(milliseconds)",
            ] + arguments
        let command = (["chromium"] + fullArguments).joined(separator: " ")
        let running = try ChildProcess.start(
            executable: chromium, arguments: fullArguments, environment: ExternalTool.baseEnvironment(home: home),
            directory: home, stdin: Data())
        let deadline = ContinuousClock.now + budget + grace
        var cancelled = false
        while running.isRunning, ContinuousClock.now < deadline, !cancelled {
            do { try await Task.sleep(for: .milliseconds(20)) } catch { cancelled = true }
        }
        let finished = !running.isRunning
        // The renderers, zygotes and utility processes share chromium's group; whatever of them outlived it goes too.
        running.signalGroup(SIGKILL)
        let outcome = running.collect(waitingForExit: running.waitForExit(until: .now() + 10))
        await removeProcesses(naming: home.path)
        let left = processes(naming: home.path)
        guard left.isEmpty else { throw BrowserError.processesLeft(command: command, pids: left) }
        if cancelled, !finished { throw CancellationError() }
        guard finished else {
            throw BrowserError.timedOut(
                command: command, after: budget + grace, stderr: String(decoding: outcome.stderr, as: UTF8.self))
        }
        guard outcome.status == 0 else {
            throw BrowserError.failed(
                command: command, status: outcome.status, stderr: String(decoding: outcome.stderr, as: UTF8.self))
        }
        return outcome
    }

    /// A new directory for one chromium run or WebDriver: its `HOME` (where the crash reporter keeps its database) and
    /// its profiles. Its path appears on the command line of every process of the run.
    static func makePrivateDirectory() throws -> URL {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory(), isDirectory: true)
            .appendingPathComponent("lockpool-browser-\(UUID().uuidString.prefix(8).lowercased())", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// Waits up to 3 s for the processes naming `marker` to exit (the crash reporter follows chromium within a
    /// moment), then kills the rest by PID and waits up to 2 s more; blocking, as `removeProcessesBlocking`, once the
    /// task is cancelled.
    static func removeProcesses(naming marker: String) async {
        let start = ContinuousClock.now
        var killed = false
        while !sweep(naming: marker, since: start, killed: &killed) {
            do { try await Task.sleep(for: .milliseconds(20)) } catch {
                removeProcessesBlocking(naming: marker)
                return
            }
        }
    }

    /// One look at the processes naming `marker`: true when none is left or 5 s have passed since `start`; after
    /// 3 s, kills the rest by PID once.
    private static func sweep(naming marker: String, since start: ContinuousClock.Instant, killed: inout Bool) -> Bool {
        let pids = processes(naming: marker)
        let elapsed = ContinuousClock.now - start
        if pids.isEmpty || elapsed > .seconds(5) { return true }
        if elapsed > .seconds(3), !killed {
            for pid in pids { kill(pid, SIGKILL) }
            killed = true
        }
        return false
    }

    /// As `removeProcesses(naming:)`, blocking the calling thread (for `WebDriver.stop()`, which runs in `deinit`).
    static func removeProcessesBlocking(naming marker: String) {
        let start = ContinuousClock.now
        var killed = false
        while !sweep(naming: marker, since: start, killed: &killed) { Thread.sleep(forTimeInterval: 0.02) }
    }

    /// The live (not zombie) processes whose command line contains `marker`, from `/proc`.
    static func processes(naming marker: String) -> [Int32] {
        let own = getpid()
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> Int32? in
            guard let pid = Int32(entry), pid != own,
                let commandLine = readProcFile("/proc/\(pid)/cmdline"),
                String(decoding: commandLine.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self).contains(marker),
                let stat = readProcFile("/proc/\(pid)/stat")
            else { return nil }
            // `pid (comm) S …`: the state follows the last parenthesis.
            let text = String(decoding: stat, as: UTF8.self)
            guard let close = text.lastIndex(of: ")") else { return nil }
            let state = text[text.index(after: close)...].trimmingCharacters(in: .whitespaces).first
            return state == "Z" || state == "X" ? nil : pid
        }
    }

    /// The bytes of a `/proc` file (whose size reads as 0, so read to the end), or nil once the process is gone.
    private static func readProcFile(_ path: String) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count <= 0 { return count == 0 ? bytes : nil }
            bytes += buffer[0..<count]
        }
    }
}

/// Headless chromium driven through `chromedriver` (W3C WebDriver over HTTP on 127.0.0.1), for pages that change after
/// load: `start()`, `newSession(width:height:)`, `navigate(to:)`, then `pageSource()`, `executeScript(_:)`,
/// `screenshotPNG()` or `waitUntil(timeout:_:)`, and `stop()`.
///
/// chromedriver runs as `LoopbackServerProcess` explains (a free port, its own process group, waited for until
/// `/status` reports ready, stopped by PID); the chromium it starts stays in that group. Its `HOME` and the session
/// profiles live in a private directory, removed by `stop()`, which also kills by PID whatever process still names
/// that directory (the crash reporter leaves the group). Requests are HTTP/1.1 over a socket (chromedriver refuses
/// HTTP/1.0), each on a thread of its own, so that a slow page load blocks no thread of the test pool. Stopped by
/// `stop()` or when the last reference goes away.
public final class WebDriver: Sendable {
    /// chromedriver's TCP port on 127.0.0.1.
    public let port: Int
    private let server: LoopbackServerProcess
    private let chromium: URL
    private let directory: URL
    private let session = Mutex<String?>(nil)
    private let isStopped = Mutex(false)

    /// chromedriver's process id; it leads its own process group, which the chromium it starts joins.
    public var pid: Int32 { server.pid }

    /// Whether the WebDriver tests can run: `chromium` and `chromedriver` are installed, or this is CI (where a
    /// missing browser must fail the tests, not skip them).
    public static var isAvailable: Bool {
        ExternalTool.areAvailable("chromium", "chromedriver") || ProcessInfo.processInfo.environment["CI"] == "true"
    }

    private init(port: Int, server: LoopbackServerProcess, chromium: URL, directory: URL) {
        self.port = port
        self.server = server
        self.chromium = chromium
        self.directory = directory
    }

    deinit { stop() }

    /// Starts chromedriver on a free port and waits until `GET /status` reports it ready.
    ///
    /// - Parameter startTimeout: how long to wait for the port, then again for `ready`.
    /// - Throws: `ChildProcessError.notFound` without `chromedriver` or `chromium`, `LoopbackServerError`,
    ///   `BrowserError.notReady`, or a file-system error.
    public static func start(startTimeout: Duration = .seconds(20)) async throws -> WebDriver {
        guard let chromedriver = ExternalTool.locate("chromedriver") else {
            throw ChildProcessError.notFound("chromedriver")
        }
        guard let chromium = ExternalTool.locate("chromium") else { throw ChildProcessError.notFound("chromium") }
        let directory = try Browser.makePrivateDirectory()
        let logURL = directory.appendingPathComponent("chromedriver.log")
        let server: LoopbackServerProcess
        do {
            server = try LoopbackServerProcess.start(
                name: "chromedriver", environment: ExternalTool.baseEnvironment(home: directory),
                startTimeout: startTimeout
            ) { port in
                LoopbackServerProcess.Launch(
                    executable: chromedriver, arguments: ["--port=\(port)", "--allowed-ips=127.0.0.1"], logURL: logURL)
            }
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        let driver = WebDriver(port: server.port, server: server, chromium: chromium, directory: directory)
        let deadline = ContinuousClock.now + startTimeout
        while true {
            let status = try? await driver.request("GET", "/status")
            if let value = status as? [String: Any], value["ready"] as? Bool == true { return driver }
            guard ContinuousClock.now < deadline else {
                let log = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
                driver.stop()
                throw BrowserError.notReady(log: log)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Starts a headless chromium (ending the session before, if any) whose viewport is `width`×`height` CSS pixels.
    ///
    /// Pages get 30 s to load, scripts 10 s to run.
    ///
    /// - Throws: `BrowserError`, or a file-system error.
    public func newSession(width: Int = 1280, height: Int = 900) async throws {
        if let old = session.withLock({ $0 }) {
            _ = try? await request("DELETE", "/session/\(old)")
            session.withLock { $0 = nil }
        }
        let profile = directory.appendingPathComponent("profile-\(UUID().uuidString.prefix(8).lowercased())")
        let options: [String: Any] = [
            "binary": chromium.path,
            "args": Browser.headlessArguments + [
                "--user-data-dir=\(profile.path)", "--window-size=\(width),\(height)",
            ],
        ]
        let capabilities: [String: Any] = [
            "browserName": "chrome", "goog:chromeOptions": options,
            "timeouts": ["pageLoad": 30_000, "script": 10_000, "implicit": 0],
        ]
        let value = try await request("POST", "/session", ["capabilities": ["alwaysMatch": capabilities]])
        guard let id = (value as? [String: Any])?["sessionId"] as? String else {
            throw BrowserError.badResponse(request: "POST /session", reason: "no sessionId in \(value)")
        }
        session.withLock { $0 = id }
        // `--window-size` sizes the window, whose viewport is smaller; make the viewport the size asked for.
        _ = try await sessionRequest(
            "POST", "/goog/cdp/execute",
            [
                "cmd": "Emulation.setDeviceMetricsOverride",
                "params": ["width": width, "height": height, "deviceScaleFactor": 1, "mobile": false],
            ])
    }

    /// Loads `url` and returns once its `load` event has fired (an open `EventSource` does not delay it).
    ///
    /// - Throws: `BrowserError`.
    public func navigate(to url: String) async throws {
        _ = try await sessionRequest("POST", "/url", ["url": url])
    }

    /// The current DOM, serialized.
    ///
    /// - Throws: `BrowserError`.
    public func pageSource() async throws -> String {
        let value = try await sessionRequest("GET", "/source")
        guard let source = value as? String else {
            throw BrowserError.badResponse(request: "GET /source", reason: "not a string: \(value)")
        }
        return source
    }

    /// Runs `script` as the body of a function in the page (`return` gives the result) and returns the result as
    /// JSON, keys sorted: `42`, `"text"`, `null` (also for `undefined`), `{"a":[1]}`.
    ///
    /// - Throws: `BrowserError.webDriver` when the script throws.
    public func executeScript(_ script: String) async throws -> String {
        let value = try await sessionRequest("POST", "/execute/sync", ["script": script, "args": [Any]()])
        let data = try JSONSerialization.data(
            withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    /// A PNG of the viewport.
    ///
    /// - Throws: `BrowserError`.
    public func screenshotPNG() async throws -> [UInt8] {
        let value = try await sessionRequest("GET", "/screenshot")
        guard let text = value as? String, let data = Data(base64Encoded: text) else {
            throw BrowserError.badResponse(request: "GET /screenshot", reason: "not base64 text")
        }
        return [UInt8](data)
    }

    /// Reads the page source every 100 ms until `predicate` accepts it; returns that source. Waits by suspending.
    ///
    /// - Throws: `BrowserError.conditionNotMet` with the last source after `timeout`, or a request's error.
    public func waitUntil(timeout: Duration = .seconds(10), _ predicate: (String) -> Bool) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            let source = try await pageSource()
            if predicate(source) { return source }
            guard ContinuousClock.now < deadline else {
                throw BrowserError.conditionNotMet(after: timeout, pageSource: source)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Ends the session (chromium quits), stops chromedriver and its process group (SIGTERM, SIGKILL after 5 s),
    /// kills by PID any process still naming the private directory, and removes the directory. Blocks for the
    /// session's end (up to 10 s) and the processes' exit. Safe to call more than once.
    public func stop() {
        let alreadyStopped = isStopped.withLock { stopped in
            defer { stopped = true }
            return stopped
        }
        guard !alreadyStopped else { return }
        if let id = session.withLock({ $0 }) {
            _ = try? Self.exchange(port: port, method: "DELETE", path: "/session/\(id)", body: nil, timeout: 10)
        }
        server.stop()
        Browser.removeProcessesBlocking(naming: directory.path)
        try? FileManager.default.removeItem(at: directory)
    }

    /// The live processes of this driver: chromedriver until it has exited, and every process whose command line
    /// names the private directory (the session's chromium and its helpers). Empty after `stop()`.
    public var processes: [Int32] {
        (server.waitForExit(until: .now()) ? [] : [pid]) + Browser.processes(naming: directory.path)
    }

    /// What chromedriver logged so far.
    public var log: String {
        (try? String(contentsOf: directory.appendingPathComponent("chromedriver.log"), encoding: .utf8)) ?? ""
    }

    private func sessionRequest(_ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> Any {
        guard let id = session.withLock({ $0 }) else {
            throw BrowserError.badResponse(request: "\(method) \(path)", reason: "no session: call newSession first")
        }
        return try await request(method, "/session/\(id)\(path)", body)
    }

    /// Sends one request on a thread of its own and returns the answer's `value`.
    private func request(_ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> Any {
        let payload = try body.map { try JSONSerialization.data(withJSONObject: $0) }
        let port = port
        let (status, data) = try await withCheckedThrowingContinuation {
            (continuation: CheckedContinuation<(Int, [UInt8]), any Error>) in
            let thread = Thread {
                continuation.resume(
                    with: Result {
                        try Self.exchange(port: port, method: method, path: path, body: payload, timeout: 60)
                    })
            }
            thread.name = "WebDriver \(method) \(path)"
            thread.start()
        }
        let parsed = try? JSONSerialization.jsonObject(with: Data(data), options: [.fragmentsAllowed])
        guard let object = parsed as? [String: Any], let value = object["value"] else {
            throw BrowserError.badResponse(
                request: "\(method) \(path)", reason: "HTTP \(status): \(String(decoding: data, as: UTF8.self))")
        }
        guard status == 200 else {
            let error = value as? [String: Any]
            let message = [error?["error"] as? String, error?["message"] as? String].compactMap { $0 }
            throw BrowserError.webDriver(
                request: "\(method) \(path)", status: status, message: message.joined(separator: ": "))
        }
        return value
    }

    /// One HTTP/1.1 exchange with 127.0.0.1:`port`: chromedriver keeps the connection open, so the body is read up to
    /// its `Content-Length`.
    private static func exchange(
        port: Int, method: String, path: String, body: Data?, timeout: Int
    ) throws -> (status: Int, body: [UInt8]) {
        let name = "\(method) \(path)"
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw BrowserError.badResponse(request: name, reason: "socket: errno \(errno)") }
        defer { close(descriptor) }
        var limit = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr = in_addr(s_addr: UInt32(0x7f00_0001).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            throw BrowserError.badResponse(request: name, reason: "connect to port \(port): errno \(errno)")
        }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        if let body { head += "Content-Type: application/json; charset=utf-8\r\nContent-Length: \(body.count)\r\n" }
        let bytes = Array((head + "\r\n").utf8) + (body.map { [UInt8]($0) } ?? [])
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { throw BrowserError.badResponse(request: name, reason: "send: errno \(errno)") }
            sent += count
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var headerEnd: Int?
        var length: Int?
        while headerEnd == nil || length.map({ received.count < headerEnd! + $0 }) ?? true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count == 0 { break }
            guard count > 0 else { throw BrowserError.badResponse(request: name, reason: "recv: errno \(errno)") }
            received += buffer[0..<count]
            if headerEnd == nil, let end = Self.headerEnd(in: received) {
                headerEnd = end
                length = Self.contentLength(String(decoding: received[0..<end], as: UTF8.self))
            }
        }
        guard let headerEnd else { throw BrowserError.badResponse(request: name, reason: "no complete header") }
        let header = String(decoding: received[0..<headerEnd], as: UTF8.self)
        guard let status = header.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else {
            throw BrowserError.badResponse(request: name, reason: "no status line: \(header)")
        }
        return (status, Array(received[headerEnd...].prefix(length ?? Int.max)))
    }

    /// The index just past the blank line that ends the header, if it has arrived.
    private static func headerEnd(in bytes: [UInt8]) -> Int? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4) where bytes[index..<index + 4].elementsEqual(separator) {
            return index + 4
        }
        return nil
    }

    /// The `Content-Length` of `header`, case-insensitively.
    private static func contentLength(_ header: String) -> Int? {
        for line in header.split(separator: "\r\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "content-length" {
                return Int(parts[1].trimmingCharacters(in: .whitespaces))
            }
        }
        return nil
    }
}

/// Python 3's `http.server` serving a few files from a new directory of the scratch directory on 127.0.0.1: the pages
/// the browser tests load. Runs as `LoopbackServerProcess` explains (a free port, its own process group, stopped by
/// PID), and is waited for until `GET /` answers. Stopped by `stop()` or when the last reference goes away.
public final class StaticWebServer: Sendable {
    /// The TCP port on 127.0.0.1.
    public let port: Int
    /// The served directory.
    public let directory: URL
    private let server: LoopbackServerProcess
    private let logURL: URL

    /// The server's process id.
    public var pid: Int32 { server.pid }

    /// What the server logged so far (one line per request).
    public var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    /// Whether `python3` can be found.
    public static var isAvailable: Bool { ExternalTool.areAvailable("python3") }

    /// Writes `files` (relative path → UTF-8 text) into a new directory of `scratch` and serves it.
    ///
    /// - Throws: `ChildProcessError.notFound` without `python3`, `LoopbackServerError`, the transport error when the
    ///   server does not answer `GET /`, or a file-system error.
    public init(scratch: Scratch, files: [String: String], startTimeout: Duration = .seconds(10)) throws {
        guard let python = ExternalTool.locate("python3") else { throw ChildProcessError.notFound("python3") }
        let base = try scratch.uniqueDirectory("web")
        let directory = base.appendingPathComponent("site", isDirectory: true)
        for (path, text) in files {
            let file = directory.appendingPathComponent(path)
            try FileManager.default.createDirectory(
                at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: file)
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let logURL = base.appendingPathComponent("http.server.log")
        server = try LoopbackServerProcess.start(
            name: "python3 -m http.server", environment: ExternalTool.baseEnvironment(home: base),
            startTimeout: startTimeout
        ) { port in
            LoopbackServerProcess.Launch(
                executable: python,
                arguments: ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", directory.path],
                logURL: logURL)
        }
        port = server.port
        self.directory = directory
        self.logURL = logURL
        // The port accepts connections once bound; a first answer shows that the server is serving.
        do { _ = try HTTPGet.text(url()) } catch {
            server.stop()
            throw error
        }
    }

    deinit { stop() }

    /// `http://127.0.0.1:PORT` followed by `path`.
    public func url(_ path: String = "/") -> String { "http://127.0.0.1:\(port)\(path)" }

    /// Stops the server (SIGTERM to its process group, SIGKILL after 5 s). Safe to call more than once.
    public func stop() { server.stop() }
}
