import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// tinyproxy on 127.0.0.1 as an HTTP CONNECT proxy (the `https_tunnel` of the transport tests) and a forward proxy for
/// plain http:// requests in absolute form (`http.proxy`), with optional basic authentication.
///
/// Runs `tinyproxy -d -c <config>` in the foreground with its configuration, log and pid file in a directory of its
/// own. Only 127.0.0.1 may use it; CONNECT is allowed to every port (no `ConnectPort` line); no `Via` header is added.
/// With `user` and `password`, a request without the right `Proxy-Authorization` gets `407 Proxy Authentication
/// Required`. Stopped by `stop()` or when the last reference goes away. Use it from `.serialized` suites.
public final class ConnectProxy: Sendable {
    /// Where the configuration and logs live.
    public let directory: URL
    /// The TCP port on 127.0.0.1.
    public let port: Int
    /// The basic-auth user, when authentication is required.
    public let user: String?
    /// The basic-auth password, when authentication is required.
    public let password: String?
    /// tinyproxy's log file (`LogLevel Info`: one `Request … CONNECT host:port` line per request).
    public let logURL: URL
    private let stderrURL: URL
    private let server: LoopbackServerProcess

    /// The proxy's process id.
    public var pid: Int32 { server.pid }

    /// The log file and tinyproxy's stderr, as text.
    public var log: String {
        [logURL, stderrURL].map { (try? String(contentsOf: $0, encoding: .utf8)) ?? "" }.joined()
    }

    /// Whether `tinyproxy` can be found (for `.enabled(if:)`).
    public static var isAvailable: Bool { ExternalTool.areAvailable("tinyproxy") }

    /// Starts tinyproxy with its files in `directory` and waits until its port accepts connections.
    ///
    /// - Parameters:
    ///   - directory: a directory of its own (created if needed).
    ///   - user: with `password`, require basic authentication (`BasicAuth`).
    ///   - password: the password of `user`. tinyproxy's configuration parser takes only letters, digits and
    ///     `-._` in both.
    ///   - startTimeout: how long to wait for the port.
    /// - Throws: `LoopbackServerError` (also for a user or password tinyproxy cannot take), or a file-system error.
    ///   - outgoingAddress: the local address tinyproxy connects to servers from (`Bind`), e.g. `127.0.0.2`, so that a
    ///     server can tell requests through the proxy from direct ones.
    public init(
        directory: URL, user: String? = nil, password: String? = nil, outgoingAddress: String? = nil,
        startTimeout: Duration = .seconds(10)
    ) throws {
        guard let tinyproxy = ExternalTool.locate("tinyproxy") else { throw ChildProcessError.notFound("tinyproxy") }
        let authenticated = user != nil && password != nil
        if let user, let password {
            let allowed = CharacterSet(
                charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")
            for word in [user, password] where word.isEmpty || !word.unicodeScalars.allSatisfy(allowed.contains) {
                throw LoopbackServerError.unavailable(
                    "tinyproxy's BasicAuth takes only letters, digits and -._ in user and password")
            }
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let configURL = directory.appendingPathComponent("tinyproxy.conf")
        let logURL = directory.appendingPathComponent("tinyproxy.log")
        let stderrURL = directory.appendingPathComponent("tinyproxy.stderr")
        let pidURL = directory.appendingPathComponent("tinyproxy.pid")
        self.server = try LoopbackServerProcess.start(
            name: "tinyproxy", environment: ExternalTool.baseEnvironment(home: directory),
            startTimeout: startTimeout,
            extraLog: { _ in (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }
        ) { port in
            var lines = [
                "Port \(port)",
                "Listen 127.0.0.1",
                "Timeout 60",
                "Allow 127.0.0.1",
                "DisableViaHeader Yes",
                "MaxClients 100",
                "LogLevel Info",
                "LogFile \"\(logURL.path)\"",
                "PidFile \"\(pidURL.path)\"",
            ]
            if let user, let password { lines.append("BasicAuth \(user) \(password)") }
            if let outgoingAddress { lines.append("Bind \(outgoingAddress)") }
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: configURL)
            return LoopbackServerProcess.Launch(
                executable: tinyproxy, arguments: ["-d", "-c", configURL.path], logURL: stderrURL)
        }
        self.directory = directory
        self.port = server.port
        self.user = authenticated ? user : nil
        self.password = authenticated ? password : nil
        self.logURL = logURL
        self.stderrURL = stderrURL
    }

    /// Starts tinyproxy with its files in a new directory of `scratch`.
    ///
    /// - Throws: as `init(directory:user:password:startTimeout:)`.
    public convenience init(
        scratch: Scratch, user: String? = nil, password: String? = nil, outgoingAddress: String? = nil,
        startTimeout: Duration = .seconds(10)
    ) throws {
        try self.init(
            directory: try scratch.uniqueDirectory("tinyproxy"), user: user, password: password,
            outgoingAddress: outgoingAddress, startTimeout: startTimeout)
    }

    deinit { stop() }

    /// Stops tinyproxy (SIGTERM to its process group, SIGKILL after 5 s) and waits for it. Safe to call more than
    /// once.
    public func stop() { server.stop() }

    /// Asks the proxy for a tunnel to `host:targetPort` over a raw socket and reports its answer and, once the
    /// tunnel stands, the first line the target sends (an SSH server's banner).
    ///
    /// - Parameters:
    ///   - user: sent with `password` as `Proxy-Authorization: Basic …`; nothing is sent when `nil`.
    ///   - timeout: for connecting, each read and write.
    /// - Throws: `TunnelProbeError`.
    public func probe(
        host: String = "127.0.0.1", port targetPort: Int, user: String? = nil, password: String? = nil,
        timeout: Duration = .seconds(5)
    ) throws -> TunnelProbe {
        try Self.probe(
            proxyPort: port, host: host, port: targetPort, user: user, password: password, timeout: timeout)
    }

    /// `probe(host:port:user:password:timeout:)` against the proxy on 127.0.0.1:`proxyPort`.
    ///
    /// - Throws: `TunnelProbeError`.
    public static func probe(
        proxyPort: Int, host: String = "127.0.0.1", port targetPort: Int, user: String? = nil,
        password: String? = nil, timeout: Duration = .seconds(5)
    ) throws -> TunnelProbe {
        let socket = try LoopbackSocket(port: proxyPort, timeout: timeout)
        var request = "CONNECT \(host):\(targetPort) HTTP/1.1\r\nHost: \(host):\(targetPort)\r\n"
        if let user {
            let token = Data("\(user):\(password ?? "")".utf8).base64EncodedString()
            request += "Proxy-Authorization: Basic \(token)\r\n"
        }
        request += "\r\n"
        try socket.send(Data(request.utf8))
        var received = Data()
        let separator = Data("\r\n\r\n".utf8)
        while received.range(of: separator) == nil {
            let chunk = try socket.receive()
            guard !chunk.isEmpty else {
                throw TunnelProbeError.closed(received: String(decoding: received, as: UTF8.self))
            }
            received.append(chunk)
        }
        let headerEnd = received.range(of: separator)!
        let head = String(decoding: received[..<headerEnd.lowerBound], as: UTF8.self)
        var rest = Data(received[headerEnd.upperBound...])
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst()
        let probe = TunnelProbe(statusLine: statusLine, headers: lines, firstLine: "")
        guard probe.statusCode == 200 else { return probe }
        // The tunnel stands: read what the target sends first, up to a newline or the timeout.
        while !rest.contains(UInt8(ascii: "\n")) {
            guard let chunk = try? socket.receive(), !chunk.isEmpty else { break }
            rest.append(chunk)
        }
        let firstLine = String(decoding: rest, as: UTF8.self).components(separatedBy: "\n").first ?? ""
        return TunnelProbe(
            statusLine: statusLine, headers: lines,
            firstLine: firstLine.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

/// A proxy's answer to `CONNECT`.
public struct TunnelProbe: Sendable, CustomStringConvertible {
    /// The status line, e.g. `HTTP/1.0 200 Connection established`.
    public let statusLine: String
    /// The header lines after it.
    public let headers: [String]
    /// The first line the target sent through the tunnel (e.g. `SSH-2.0-OpenSSH_9.2p1 …`); empty when the tunnel
    /// was refused or the target sent nothing in time.
    public let firstLine: String

    /// The status code, e.g. 200 or 407.
    public var statusCode: Int? {
        let fields = statusLine.split(separator: " ")
        return fields.count >= 2 ? Int(fields[1]) : nil
    }

    public var description: String { "\(statusLine) | \(firstLine)" }
}

/// A `CONNECT` probe that failed below HTTP.
public enum TunnelProbeError: Error, Sendable, CustomStringConvertible {
    case socket(operation: String, errno: Int32)
    case closed(received: String)

    public var description: String {
        switch self {
        case .socket(let operation, let code): "\(operation) failed: \(String(cString: strerror(code)))"
        case .closed(let received): "the proxy closed the connection after: \(received)"
        }
    }
}

/// A blocking TCP connection to 127.0.0.1 with send and receive timeouts.
private final class LoopbackSocket {
    private let fd: Int32

    init(port: Int, timeout: Duration) throws {
        #if canImport(Glibc)
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw TunnelProbeError.socket(operation: "socket", errno: errno) }
        let (seconds, attoseconds) = timeout.components
        var time = timeval(tv_sec: Int(seconds), tv_usec: .init(attoseconds / 1_000_000_000_000))
        for option in [SO_RCVTIMEO, SO_SNDTIMEO] {
            setsockopt(fd, SOL_SOCKET, option, &time, socklen_t(MemoryLayout<timeval>.size))
        }
        var address = sockaddr_in()
        #if canImport(Darwin)
            address.sin_len = UInt8(MemoryLayout<sockaddr_in>.size)
        #endif
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr = in_addr(s_addr: UInt32(0x7f00_0001).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            let code = errno
            close(fd)
            throw TunnelProbeError.socket(operation: "connect to 127.0.0.1:\(port)", errno: code)
        }
    }

    deinit { close(fd) }

    func send(_ data: Data) throws {
        var offset = 0
        while offset < data.count {
            let written = data.withUnsafeBytes { buffer in
                write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            }
            guard written > 0 else { throw TunnelProbeError.socket(operation: "write", errno: errno) }
            offset += written
        }
    }

    /// The next bytes received; empty at end of stream.
    func receive() throws -> Data {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = read(fd, &buffer, buffer.count)
        guard count >= 0 else { throw TunnelProbeError.socket(operation: "read", errno: errno) }
        return Data(buffer[0..<count])
    }
}
