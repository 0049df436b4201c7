import CLibgit2
import Glibc
import Synchronization

/// A git:// push connection opened while the fetch before it runs (docs/decisions/0009-shallow-cache.md).
///
/// An operation fetches, decides, then pushes: two connections, each a TCP handshake, a request answered by the
/// server's reference list, and a round trip more for the flush packet that ends the list (`git daemon` writes it
/// separately without `TCP_NODELAY`). Those three round trips of the push do not depend on the fetch, so a thread opens
/// the connection and sends the `git-receive-pack` request while the fetch runs; when libgit2 then opens its push
/// stream (inside `claiming`), lockpool's stream (`ConnectTunnel`) hands it this connection, and the request libgit2
/// writes first is left out, since it is the one already sent (`SocketWrites`). A connection the server closed
/// meanwhile is not handed over.
///
/// The reference list the push then reads may be older than the fetch. The push stays a compare-and-swap: libgit2
/// sends the listed tip as the old value, and the server refuses the update when the branch is no longer there (a lost
/// race, as any other), or libgit2 refuses a commit that does not descend from it.
final class PreparedConnection: @unchecked Sendable {
    let host: String
    let port: String
    /// The request line sent, exactly as libgit2's git:// transport writes it.
    let request: [UInt8]
    private let socket = Mutex<Int32?>(nil)
    private var thread = pthread_t()
    /// Whether `thread` runs and has not been joined; touched only by the thread that prepares and takes.
    private var started = false

    private init(host: String, port: String, request: [UInt8]) {
        self.host = host
        self.port = port
        self.request = request
    }

    /// Prepares the push connection for `url` when it is a git:// URL, replacing (and closing) one prepared before.
    static func prepare(forPushTo url: String) {
        guard let (host, port, path) = gitURLParts(url) else { return }
        // libgit2's transports/git.c (`gen_proto`): "%04x%s %s\0host=%s\0", the host without the port.
        let body = Array("git-receive-pack \(path)".utf8) + [0] + Array("host=\(host)".utf8) + [0]
        let length = String(body.count + 4, radix: 16)
        let request = Array((String(repeating: "0", count: max(0, 4 - length.count)) + length).utf8) + body
        let connection = PreparedConnection(host: host, port: port, request: request)
        connection.start()
        prepared.withLock { $0.updateValue(connection, forKey: "\(host):\(port)") }?.discard()
    }

    /// Runs `body` (a push) with the connection prepared for its host and port handed to the stream it opens.
    static func claiming<T>(_ body: () throws -> T) rethrows -> T {
        let thread = pthread_self()
        pushing.withLock { _ = $0.insert(thread) }
        defer { pushing.withLock { _ = $0.remove(thread) } }
        return try body()
    }

    /// The connection prepared for `host:port`, if any and still open: its socket, with the request already sent.
    /// Only on a thread inside `claiming`: a fetch's stream to the same server never takes it, even while another
    /// thread of the process pushes.
    static func take(host: String, port: String) -> (socket: Int32, request: [UInt8])? {
        guard pushing.withLock({ $0.contains(pthread_self()) }),
            let connection = prepared.withLock({ $0.removeValue(forKey: "\(host):\(port)") })
        else { return nil }
        let fd = connection.join()
        guard fd >= 0 else { return nil }
        var byte: UInt8 = 0
        // 0 bytes: the server closed it while it waited; an error other than "nothing yet": unusable.
        let peeked = recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        guard peeked > 0 || (peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) else {
            close(fd)
            return nil
        }
        return (fd, connection.request)
    }

    /// Closes the connection prepared for a push to `url` if no push used it (an operation that waited, or had nothing
    /// to change).
    static func discard(forPushTo url: String) {
        guard let (host, port, _) = gitURLParts(url) else { return }
        prepared.withLock { $0.removeValue(forKey: "\(host):\(port)") }?.discard()
    }

    /// Whether the server has answered the connection prepared for `host:port` (its reference list is waiting to be
    /// read), without taking it. For tests that need the list read before they move the branch.
    static func hasAnswer(host: String, port: String) -> Bool {
        prepared.withLock { table in
            guard let connection = table["\(host):\(port)"], let fd = connection.socket.withLock({ $0 }), fd >= 0 else {
                return false
            }
            var byte: UInt8 = 0
            return recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) > 0
        }
    }

    private static let prepared = Mutex<[String: PreparedConnection]>([:])
    /// The threads inside `claiming`, whose push opens its stream there.
    private static let pushing = Mutex<Set<pthread_t>>([])

    /// `(host, port, path)` of `git://host[:port]/path`; nil for any other URL.
    static func gitURLParts(_ url: String) -> (String, String, String)? {
        guard url.lowercased().hasPrefix("git://") else { return nil }
        let rest = url.dropFirst("git://".count)
        guard let slash = rest.firstIndex(of: "/") else { return nil }
        let authority = rest[..<slash]
        guard !authority.isEmpty, !authority.contains("@"), !authority.hasPrefix("[") else { return nil }
        let parts = authority.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2, !parts[0].isEmpty else { return nil }
        return (String(parts[0]), parts.count == 2 ? String(parts[1]) : "9418", String(rest[slash...]))
    }

    private func start() {
        let retained = Unmanaged.passRetained(self).toOpaque()
        let status = pthread_create(
            &thread, nil,
            { argument in
                let connection = Unmanaged<PreparedConnection>.fromOpaque(argument!).takeRetainedValue()
                connection.open()
                return nil
            }, retained)
        if status == 0 {
            started = true
        } else {
            Unmanaged<PreparedConnection>.fromOpaque(retained).release()
            socket.withLock { $0 = -1 }
        }
    }

    /// On the thread: connects (`TCP_NODELAY`) and sends the request; -1 on any failure.
    private func open() {
        var fd = ConnectTunnel.openSocket(host: host, port: Int(port) ?? 0).fd
        if fd >= 0, send(fd, request, request.count, Int32(MSG_NOSIGNAL)) != request.count {
            close(fd)
            fd = -1
        }
        socket.withLock { $0 = fd }
    }

    /// Waits for the thread; the socket, or -1.
    private func join() -> Int32 {
        if started {
            pthread_join(thread, nil)
            started = false
        }
        return socket.withLock { $0 ?? -1 }
    }

    private func discard() {
        let fd = join()
        if fd >= 0 { close(fd) }
    }
}
