import CLibgit2
import FoundationEssentials
import Glibc
import Synchronization

/// Where ssh and git:// connections go through an HTTP CONNECT proxy (the `https_tunnel` source key).
///
/// The proxy password never prints: `description`, `debugDescription` and `customMirror` hide it, even from `dump`.
public struct ConnectTunnel: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var proxyHost: String
    public var proxyPort: Int
    public var proxyUser: String?
    public var proxyPassword: String?
    /// Receives the `Via <proxy> -> <host>:<port>` line when a tunnel opens.
    public var announce: @Sendable (String) -> Void

    public init(
        proxyHost: String, proxyPort: Int, proxyUser: String? = nil, proxyPassword: String? = nil,
        announce: @escaping @Sendable (String) -> Void
    ) {
        self.proxyHost = proxyHost
        self.proxyPort = proxyPort
        self.proxyUser = proxyUser
        self.proxyPassword = proxyPassword
        self.announce = announce
    }

    public var description: String { "ConnectTunnel(\(proxyHost):\(proxyPort))" }
    /// The proxy without its credentials, and whether they are set.
    public var debugDescription: String {
        "ConnectTunnel(\(proxyHost):\(proxyPort)\(proxyUser == nil ? "" : ", user: \(proxyUser ?? ""), password: ****"))"
    }
    /// A mirror that shows no secret, for `dump`.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "proxyHost": proxyHost, "proxyPort": proxyPort, "proxyUser": proxyUser as Any,
                "proxyPassword": proxyPassword == nil ? "nil" : "****",
            ])
    }

    /// Routes every plain TCP connection libgit2 opens in this process (ssh and git:// transports) through the
    /// proxy. Calls `git_stream_register(GIT_STREAM_STANDARD)`; no child process (`proxytunnel`) is started.
    ///
    /// - Throws: `GitError` when the running libgit2 is not one whose stream layout lockpool copies
    ///   (``layoutIsVerified(for:)``), or when the registration fails.
    public func install() throws {
        try install(runningOn: .current)
    }

    /// `install()` for a process running libgit2 `version`; tests pass other versions.
    func install(runningOn version: Libgit2Version) throws {
        guard Self.layoutIsVerified(for: version) else {
            throw GitError(
                code: .generic, function: "git_stream_register",
                message: "lockpool's tunnel copies a private stream layout of libgit2 \(Self.verifiedVersionsText), "
                    + "and this process runs libgit2 \(version)")
        }
        Libgit2.initializeOnce()
        activeTunnel.withLock { $0 = self }
        try Self.register()
    }

    /// The libgit2 releases (major, minor) whose private `git_socket_stream` layout `lockpool_socket_stream`
    /// (CLibgit2's shim.h) copies: libgit2's ssh transport reads the socket out of whatever the standard stream
    /// returns, at that layout's offset. To allow another release, compare `src/libgit2/streams/socket.h` and the
    /// ssh transport's use of `socket->s` with the shim, add the release here, and run `TransportTests`
    /// (docs/decisions/0007-connect-tunnel-stream.md). 1.8 was verified against libgit2 1.8.4's source.
    static let verifiedReleases: [(major: Int, minor: Int)] = [(1, 8)]

    /// The release of the headers lockpool was built against: the public `git_stream` at the head of the layout is
    /// theirs, so it matches only a library of the same release.
    static let builtRelease = (major: Int(lockpool_built_libgit2_major()), minor: Int(lockpool_built_libgit2_minor()))

    /// Whether lockpool's stream may stand in for libgit2's standard stream in a process running `version`: a
    /// verified release, and the one lockpool was built against.
    static func layoutIsVerified(for version: Libgit2Version) -> Bool {
        version.major == builtRelease.major && version.minor == builtRelease.minor
            && verifiedReleases.contains { $0.major == version.major && $0.minor == version.minor }
    }

    private static var verifiedVersionsText: String {
        verifiedReleases.map { "\($0.major).\($0.minor)" }.joined(separator: " or ")
    }

    /// Replaces libgit2's plain TCP stream (ssh, git:// and the socket under http(s)) with lockpool's, which connects
    /// directly with `TCP_NODELAY`: a git:// request is a few small writes, and Nagle's algorithm meeting the server's
    /// delayed ACK cost about 40 ms per connection (measured against `git daemon` on loopback; figures in
    /// docs/decisions/0007-connect-tunnel-stream.md). Done once per process by `Libgit2.initializeOnce()`; `install()`
    /// later routes the same stream through a proxy. On a libgit2 whose layout is not verified nothing is registered
    /// and libgit2's own stream serves, only without `TCP_NODELAY`.
    ///
    /// - Throws: `GitError` when the registration fails.
    static func registerDirect() throws {
        if try registerDirect(runningOn: .current) { registered.store(true, ordering: .relaxed) }
    }

    /// Whether lockpool's stream stands in for libgit2's in this process (`registerDirect` succeeded).
    static var isRegistered: Bool {
        Libgit2.initializeOnce()
        return registered.load(ordering: .relaxed)
    }
    private static let registered = Atomic<Bool>(false)

    /// `registerDirect()` for a process running libgit2 `version`; tests pass other versions.
    ///
    /// - Returns: whether lockpool's stream was registered.
    static func registerDirect(runningOn version: Libgit2Version) throws -> Bool {
        guard layoutIsVerified(for: version) else { return false }
        try register()
        return true
    }

    /// Whether lockpool's stream connects directly: registered, and no tunnel installed.
    static var directStreamIsRegistered: Bool {
        isRegistered && activeTunnel.withLock { $0 == nil }
    }

    private static func register() throws {
        var registration = git_stream_registration()
        registration.version = GIT_STREAM_VERSION
        registration.`init` = { out, host, port in
            guard let out, let host, let port else { return -1 }
            let stream = UnsafeMutablePointer<lockpool_socket_stream>.allocate(capacity: 1)
            stream.initialize(to: lockpool_socket_stream())
            stream.pointee.parent.version = GIT_STREAM_VERSION
            stream.pointee.host = strdup(host)
            stream.pointee.port = strdup(port)
            stream.pointee.s = -1
            stream.pointee.parent.connect = { stream in ConnectTunnel.connect(stream) }
            stream.pointee.parent.read = { stream, buffer, length in
                stream!.withMemoryRebound(to: lockpool_socket_stream.self, capacity: 1) { socket in
                    SocketWrites.read(socket, buffer, length)
                }
            }
            stream.pointee.parent.write = { stream, data, length, _ in
                stream!.withMemoryRebound(to: lockpool_socket_stream.self, capacity: 1) { socket in
                    SocketWrites.write(socket, data, length)
                }
            }
            stream.pointee.parent.close = { stream in
                stream!.withMemoryRebound(to: lockpool_socket_stream.self, capacity: 1) { tunnel in
                    if tunnel.pointee.s >= 0 { Glibc.close(tunnel.pointee.s) }
                    tunnel.pointee.s = -1
                    return 0
                }
            }
            stream.pointee.parent.free = { stream in
                stream!.withMemoryRebound(to: lockpool_socket_stream.self, capacity: 1) { tunnel in
                    free(tunnel.pointee.host)
                    free(tunnel.pointee.port)
                    free(tunnel.pointee.deepen_request)
                    free(tunnel.pointee.prepared_request)
                    free(tunnel.pointee.proxy_origin)
                    free(tunnel.pointee.proxy_authorization)
                    if let framing = tunnel.pointee.proxy_response {
                        Unmanaged<HTTPProxy.ResponseFraming>.fromOpaque(framing).release()
                    }
                    tunnel.deinitialize(count: 1)
                    tunnel.deallocate()
                }
            }
            stream.withMemoryRebound(to: git_stream.self, capacity: 1) { out.pointee = $0 }
            return 0
        }
        try check(git_stream_register(GIT_STREAM_STANDARD, &registration), "git_stream_register")
    }

    /// Connects to the stream's host and port, directly or through the proxy (asking it for a tunnel), and keeps
    /// the socket.
    private static func connect(_ stream: UnsafeMutablePointer<git_stream>?) -> Int32 {
        guard let stream else { return -1 }
        return stream.withMemoryRebound(to: lockpool_socket_stream.self, capacity: 1) { socket in
            let host = String(cString: socket.pointee.host)
            let port = String(cString: socket.pointee.port)
            switch HTTPProxy.route(host: host, port: port) {
            case .forward(let proxy, let origin)?: return connectToProxy(socket, proxy, forwarding: origin)
            case .proxy(let proxy)?: return connectToProxy(socket, proxy, forwarding: nil)
            case nil: break
            }
            guard let tunnel = activeTunnel.withLock({ $0 }) else {
                if let (fd, request) = PreparedConnection.take(host: host, port: port) {
                    socket.pointee.s = fd
                    let copy = malloc(request.count)!.assumingMemoryBound(to: UInt8.self)
                    copy.initialize(from: request, count: request.count)
                    socket.pointee.prepared_request = copy
                    socket.pointee.prepared_request_length = request.count
                    return 0
                }
                return connectDirectly(socket)
            }
            let fd = tunnel.open(host: host, port: port)
            guard fd >= 0 else { return -1 }
            socket.pointee.s = fd
            return 0
        }
    }

    /// Connects the stream's socket to an http(s) remote's proxy (`HTTPProxy`), which is named when that fails; with
    /// `origin`, the requests written on it are made fit for a forward proxy (`SocketWrites.write`).
    static func connectToProxy(
        _ socket: UnsafeMutablePointer<lockpool_socket_stream>, _ proxy: HTTPProxy, forwarding origin: String?
    ) -> Int32 {
        let (fd, resolution) = openSocket(host: proxy.host, port: proxy.port)
        guard fd >= 0 else {
            // The same openings as libgit2's own words (see connectDirectly), so that the error is classified alike.
            let message =
                resolution != 0
                ? "failed to resolve address for proxy \(proxy.endpoint): \(String(cString: gai_strerror(resolution)))"
                : "failed to connect to proxy \(proxy.endpoint): \(String(cString: strerror(errno)))"
            git_error_set_str(Int32(GIT_ERROR_NET.rawValue), message)
            return -1
        }
        socket.pointee.s = fd
        if let origin {
            free(socket.pointee.proxy_origin)
            free(socket.pointee.proxy_authorization)
            socket.pointee.proxy_origin = strdup(origin)
            socket.pointee.proxy_authorization = proxy.authorization.map { strdup($0) } ?? nil
            if let framing = socket.pointee.proxy_response {
                Unmanaged<HTTPProxy.ResponseFraming>.fromOpaque(framing).release()
            }
            socket.pointee.proxy_response = Unmanaged.passRetained(HTTPProxy.ResponseFraming()).toOpaque()
        }
        return 0
    }

    /// The tunnel `install()` set up in this process, if any.
    static var active: ConnectTunnel? { activeTunnel.withLock { $0 } }

    /// A socket tunnelled through the proxy to `host:port` (a CONNECT request answered with 2xx), announced; -1 with
    /// libgit2's error set when the proxy cannot be reached or refuses.
    func open(host: String, port: String) -> Int32 {
        let tunnel = self
        let proxy = "\(tunnel.proxyHost):\(tunnel.proxyPort)"
        // The target goes into the CONNECT request line: no byte of it may end the line or add a header.
        guard !"\(host):\(port)".unicodeScalars.contains(where: { $0.value < 0x21 || $0.value == 0x7F }) else {
            git_error_set_str(Int32(GIT_ERROR_NET.rawValue), "invalid host name for the https_tunnel proxy")
            return -1
        }
        let fd = Self.openSocket(host: tunnel.proxyHost, port: tunnel.proxyPort).fd
        guard fd >= 0 else {
            git_error_set_str(
                Int32(GIT_ERROR_NET.rawValue),
                "failed to connect to https_tunnel proxy \(proxy): connection refused")
            return -1
        }
        var request = "CONNECT \(host):\(port) HTTP/1.1\r\nHost: \(host):\(port)\r\n"
        if let user = tunnel.proxyUser {
            let token = Data("\(user):\(tunnel.proxyPassword ?? "")".utf8).base64EncodedString()
            request += "Proxy-Authorization: Basic \(token)\r\n"
        }
        request += "\r\n"
        let bytes = Array(request.utf8)
        guard send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else {
            Glibc.close(fd)
            git_error_set_str(Int32(GIT_ERROR_NET.rawValue), "https_tunnel proxy \(proxy) closed the connection")
            return -1
        }
        // Read the reply byte by byte up to the blank line, so no tunnelled byte is consumed here.
        var reply: [UInt8] = []
        var byte: UInt8 = 0
        while reply.count < 16 * 1024, recv(fd, &byte, 1, 0) == 1 {
            reply.append(byte)
            if reply.count >= 4, reply.suffix(4) == [13, 10, 13, 10] { break }
        }
        let statusLine = String(decoding: reply.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), parts[1].hasPrefix("2") else {
            Glibc.close(fd)
            // The proxy's own words are shown, never the credentials sent to it (a proxy may echo them).
            let token = Data("\(tunnel.proxyUser ?? ""):\(tunnel.proxyPassword ?? "")".utf8).base64EncodedString()
            let shown = redact(
                statusLine.split(separator: " ", maxSplits: 1).dropFirst().first.map(String.init) ?? "no reply",
                [tunnel.proxyPassword ?? "", tunnel.proxyUser == nil ? "" : token])
            git_error_set_str(
                Int32(GIT_ERROR_NET.rawValue),
                "https_tunnel proxy \(proxy) refused the tunnel: HTTP return code: \(shown)")
            return -1
        }
        tunnel.announce("Via \(proxy) -> \(host):\(port)")
        return fd
    }

    /// Connects the stream's socket straight to its host and port. On failure, libgit2's own wording
    /// (streams/socket.c), which `GitError.isUnresolvableHost` and `isTransient` read: getaddrinfo's text when the name
    /// does not resolve, errno's when no address accepts.
    static func connectDirectly(_ socket: UnsafeMutablePointer<lockpool_socket_stream>) -> Int32 {
        let host = String(cString: socket.pointee.host)
        let (fd, resolution) = openSocket(host: host, port: Int(String(cString: socket.pointee.port)) ?? 0)
        guard fd >= 0 else {
            let message =
                resolution != 0
                ? "failed to resolve address for \(host): \(String(cString: gai_strerror(resolution)))"
                : "failed to connect to \(host): \(String(cString: strerror(errno)))"
            git_error_set_str(Int32(GIT_ERROR_NET.rawValue), message)
            return -1
        }
        socket.pointee.s = fd
        return 0
    }

    /// A connected TCP socket with `TCP_NODELAY`, trying each resolved address in turn; -1 when none accepts (errno
    /// from the last attempt), or when the name does not resolve (then `resolutionError` is getaddrinfo's status).
    static func openSocket(host: String, port: Int) -> (fd: Int32, resolutionError: Int32) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &result)
        guard status == 0, let first = result else { return (-1, status != 0 ? status : EAI_NONAME) }
        defer { freeaddrinfo(result) }
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let address = candidate {
            let fd = socket(address.pointee.ai_family, address.pointee.ai_socktype, address.pointee.ai_protocol)
            if fd >= 0 {
                if Glibc.connect(fd, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0 {
                    var on: Int32 = 1
                    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
                    return (fd, 0)
                }
                let saved = errno
                Glibc.close(fd)
                errno = saved
            }
            candidate = address.pointee.ai_next
        }
        return (-1, 0)
    }
}

/// The tunnel the registered stream uses; one per process, set by `ConnectTunnel.install()`.
private let activeTunnel = Mutex<ConnectTunnel?>(nil)
