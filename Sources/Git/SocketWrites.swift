import CLibgit2
import Glibc
import Synchronization

/// What lockpool's stream (ConnectTunnel.swift) does with the bytes libgit2 reads and writes on a plain TCP socket:
/// git://, and the socket under http(s). (libssh2 reads and writes the ssh socket itself.)
///
/// - **One request, one flight.** libgit2 writes a request as several small writes (a push: the command, then the pack
///   in pieces; about 12 segments for one lock change). With `TCP_NODELAY` each left as its own segment, and past
///   TCP's initial window the last ones waited a whole round trip for an ACK. The socket is corked (`TCP_CORK`) from
///   the first write after a read and uncorked just before the next read, so a request leaves as full segments at once
///   and nothing waits: libgit2 always reads after it has written a request.
/// - **No delayed acknowledgement.** git's server writes a reply in pieces without `TCP_NODELAY` (the shallow lines,
///   then the flush packet that ends them; the references, then their flush), and Nagle's algorithm holds the last
///   small piece until the first is acknowledged. A delayed ACK (40 ms on Linux) made that a 40 ms stall per reply on
///   loopback; the client acknowledges every receive at once.
/// - **A shallow fetch over git://.** libgit2 1.8.4 sends the `want` and `deepen` lines of a shallow request a second
///   time, together with `done`, on a connection that keeps its state (git://, ssh), where git's upload-pack expects
///   only `have` lines and `done` and stops with `expected SHA1 list`. When a write begins with exactly the request
///   already sent, that copy is left out (docs/decisions/0009-shallow-cache.md). HTTP is stateless, and there the
///   repetition is what the protocol wants, so only git:// upload-pack connections are repaired.
/// - **`done` goes with a shallow request from an empty repository.** Such a fetch has no `have` to offer, so after the
///   server's shallow lines libgit2 can only say `done`; sending it at once, behind the request, saves that round trip
///   (and the server's Nagle wait on its flush packet). `Remote` marks such a fetch (`pipelinesDone`); the `done`
///   libgit2 sends later is left out with the repeated request.
/// - **A prepared push connection** (`PreparedConnection`) already sent its request: libgit2's identical first write
///   is left out.
/// - **An http:// remote through its proxy** (`HTTPProxy`): each request's head is rewritten for a forward proxy
///   (absolute-form request line, `Proxy-Authorization`), and a response whose body ends at the close is made chunked.
enum SocketWrites {
    /// Set by `Remote` around a shallow download into a repository without references.
    private static let pipelinesDone = Atomic<Bool>(false)

    /// Runs `body` (a download) with `done` sent behind a shallow request when `enabled`.
    static func pipeliningDone<T>(_ enabled: Bool, _ body: () throws -> T) rethrows -> T {
        pipelinesDone.store(enabled, ordering: .relaxed)
        defer { pipelinesDone.store(false, ordering: .relaxed) }
        return try body()
    }

    /// Whether `done` goes with a shallow request now (inside `pipeliningDone(true)`); lockpool's ssh stream asks too.
    static var isPipeliningDone: Bool { pipelinesDone.load(ordering: .relaxed) }

    private static let done = Array("0009done\n".utf8)

    /// The stream's `read`: uncorks (sending what is queued), receives, and acknowledges at once (`TCP_QUICKACK`,
    /// which Linux clears after a while, so it is set after every receive).
    static func read(
        _ socket: UnsafeMutablePointer<lockpool_socket_stream>, _ buffer: UnsafeMutableRawPointer?, _ length: Int
    )
        -> Int
    {
        setCork(socket, false)
        let fd = socket.pointee.s
        let count =
            if let framing = socket.pointee.proxy_response, let buffer {
                // A forward-proxy connection: a close-delimited response is made chunked (HTTPProxy.ResponseFraming).
                Unmanaged<HTTPProxy.ResponseFraming>.fromOpaque(framing).takeUnretainedValue().read(
                    into: UnsafeMutableRawBufferPointer(start: buffer, count: length)
                ) { recv(fd, $0.baseAddress, $0.count, 0) }
            } else {
                recv(fd, buffer, length, 0)
            }
        if count < 0 { git_error_set_str(Int32(GIT_ERROR_NET.rawValue), "error receiving data from the tunnel") }
        var on: Int32 = 1
        setsockopt(socket.pointee.s, Int32(IPPROTO_TCP), TCP_QUICKACK, &on, socklen_t(MemoryLayout<Int32>.size))
        return count
    }

    /// The stream's `write`: corks, leaves out a request already sent, then sends. Returns the bytes of `data` consumed
    /// (a left-out copy counts as consumed).
    static func write(
        _ socket: UnsafeMutablePointer<lockpool_socket_stream>, _ data: UnsafePointer<CChar>?, _ length: Int
    )
        -> Int
    {
        guard let data else { return 0 }
        let bytes = UnsafeRawBufferPointer(start: data, count: length)
        if let sent = socket.pointee.prepared_request {
            // The request a prepared push connection already sent (PreparedConnection): libgit2 writes it first.
            let count = socket.pointee.prepared_request_length
            let same = count == length && memcmp(sent, data, count) == 0
            free(sent)
            socket.pointee.prepared_request = nil
            socket.pointee.prepared_request_length = 0
            if same {
                socket.pointee.writes += 1
                return length
            }
            // Not the request prepared (a URL written otherwise): a fresh connection carries libgit2's own.
            close(socket.pointee.s)
            guard ConnectTunnel.connectDirectly(socket) == 0 else { return -1 }
        }
        setCork(socket, true)
        if let origin = socket.pointee.proxy_origin,
            let request = HTTPProxy.forwardProxyRequest(
                bytes, origin: String(cString: origin),
                authorization: socket.pointee.proxy_authorization.map { String(cString: $0) })
        {
            // An http:// remote through its proxy: every request on the connection, keep-alive included.
            socket.pointee.writes += 1
            if let framing = socket.pointee.proxy_response {
                Unmanaged<HTTPProxy.ResponseFraming>.fromOpaque(framing).takeUnretainedValue().expectResponse()
            }
            return request.withUnsafeBytes { sendAll(socket, $0) } ? length : -1
        }
        let skipped = repeatedRequestLength(socket, bytes)
        socket.pointee.writes += 1
        if skipped == length { return length }
        if skipped == 0, socket.pointee.deepen_request != nil, socket.pointee.pipelined_done == 0,
            pipelinesDone.load(ordering: .relaxed)
        {
            // The shallow request just remembered: send it and `done` together.
            guard sendAll(socket, bytes) && done.withUnsafeBytes({ sendAll(socket, $0) }) else { return -1 }
            socket.pointee.pipelined_done = 1
            return length
        }
        let count = send(socket.pointee.s, data + skipped, length - skipped, Int32(MSG_NOSIGNAL))
        if count < 0 {
            git_error_set_str(Int32(GIT_ERROR_NET.rawValue), "error sending data to the tunnel")
            return count
        }
        return skipped + count
    }

    /// Sends every byte (the socket blocks); false after a failure, with libgit2's error set.
    private static func sendAll(_ socket: UnsafeMutablePointer<lockpool_socket_stream>, _ bytes: UnsafeRawBufferPointer)
        -> Bool
    {
        var offset = 0
        while offset < bytes.count {
            let count = send(socket.pointee.s, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            guard count > 0 else {
                git_error_set_str(Int32(GIT_ERROR_NET.rawValue), "error sending data to the tunnel")
                return false
            }
            offset += count
        }
        return true
    }

    private static func setCork(_ socket: UnsafeMutablePointer<lockpool_socket_stream>, _ on: Bool) {
        guard (socket.pointee.corked != 0) != on else { return }
        var value: Int32 = on ? 1 : 0
        setsockopt(socket.pointee.s, Int32(IPPROTO_TCP), TCP_CORK, &value, socklen_t(MemoryLayout<Int32>.size))
        socket.pointee.corked = on ? 1 : 0
    }

    /// How many leading bytes of `bytes` repeat the shallow request this git:// upload-pack connection already sent
    /// (0 when none), remembering the first such request.
    static func repeatedRequestLength(
        _ socket: UnsafeMutablePointer<lockpool_socket_stream>, _ bytes: UnsafeRawBufferPointer
    )
        -> Int
    {
        if socket.pointee.writes == 0 {
            // git://'s first write names the service: `<length>git-upload-pack /path\0host=…\0`.
            socket.pointee.upload_pack =
                bytes.count > 20 && bytes[4..<20].elementsEqual("git-upload-pack ".utf8) ? 1 : 0
            return 0
        }
        guard socket.pointee.upload_pack != 0 else { return 0 }
        if let sent = socket.pointee.deepen_request {
            var count = socket.pointee.deepen_request_length
            guard bytes.count >= count, memcmp(sent, bytes.baseAddress!, count) == 0 else { return 0 }
            free(sent)
            socket.pointee.deepen_request = nil
            socket.pointee.deepen_request_length = 0
            if socket.pointee.pipelined_done != 0, bytes.dropFirst(count).starts(with: done) { count += done.count }
            return count
        }
        if isShallowRequest(bytes) {
            let copy = malloc(bytes.count)!.assumingMemoryBound(to: UInt8.self)
            copy.initialize(from: bytes.bindMemory(to: UInt8.self).baseAddress!, count: bytes.count)
            socket.pointee.deepen_request = copy
            socket.pointee.deepen_request_length = bytes.count
        }
        return 0
    }

    /// A whole shallow request: `want` lines, a `deepen` line and the flush packet that ends it.
    static func isShallowRequest(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count > 9, bytes[4..<9].elementsEqual("want ".utf8) else { return false }
        let text = String(decoding: bytes, as: UTF8.self)
        return text.contains("deepen ") && text.hasSuffix("0000")
    }
}
