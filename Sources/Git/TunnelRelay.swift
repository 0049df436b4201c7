import CLibgit2
import Glibc

/// How `ssh` goes through `https_tunnel`: the tunnel is opened in this process (`ConnectTunnel.open`), and a listener
/// on 127.0.0.1 hands its one connection, `ssh`'s, to it byte for byte (docs/transports.md#https-tunnel). `ssh` is
/// told the remote's `known_hosts` name (`HostKeyAlias`), so host keys are checked as without a tunnel.
final class TunnelRelay {
    /// The loopback port `ssh` connects to.
    let port: Int
    private let listener: Int32
    private let upstream: Int32
    /// Written to by `stop()` to wake the relaying thread.
    private var wake: [Int32] = [-1, -1]
    private var thread = pthread_t()

    /// Opens the tunnel to `host:port` and starts listening.
    ///
    /// - Throws: `GitError` with the tunnel's words (`https_tunnel proxy … refused the tunnel: …`).
    init(tunnel: ConnectTunnel, host: String, port: Int) throws {
        let upstream = tunnel.open(host: host, port: String(port))
        guard upstream >= 0 else { throw lastError(-1, "ssh") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && listen(listener, 1) == 0 && getsockname(listener, $0, &length) == 0
            }
        }
        guard listener >= 0, bound, closingOnExec(&wake) else {
            Glibc.close(upstream)
            if listener >= 0 { Glibc.close(listener) }
            throw GitError(
                code: .generic, errorClass: .os, function: "ssh",
                message: "could not listen on 127.0.0.1 for the https_tunnel relay: \(String(cString: strerror(errno)))"
            )
        }
        self.port = Int(UInt16(bigEndian: address.sin_port))
        self.listener = listener
        self.upstream = upstream
        let retained = Unmanaged.passRetained(self).toOpaque()
        pthread_create(
            &thread, nil,
            { argument in
                let relay = Unmanaged<TunnelRelay>.fromOpaque(argument!).takeRetainedValue()
                relay.run()
                return nil
            }, retained)
    }

    /// Ends the relay: both connections close.
    func stop() {
        guard wake[1] >= 0 else { return }
        var byte: UInt8 = 1
        _ = write(wake[1], &byte, 1)
        pthread_join(thread, nil)
        for fd in wake { Glibc.close(fd) }
        wake = [-1, -1]
    }

    /// On the thread: accepts one connection, then copies both ways until either side or `stop()` ends it.
    private func run() {
        defer {
            Glibc.close(upstream)
            Glibc.close(listener)
        }
        var waiting = [
            pollfd(fd: listener, events: Int16(POLLIN), revents: 0),
            pollfd(fd: wake[0], events: Int16(POLLIN), revents: 0),
        ]
        guard poll(&waiting, 2, -1) > 0, waiting[1].revents == 0 else { return }
        let local = accept(listener, nil, nil)
        guard local >= 0 else { return }
        defer { Glibc.close(local) }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var ends = [
            pollfd(fd: local, events: Int16(POLLIN), revents: 0),
            pollfd(fd: upstream, events: Int16(POLLIN), revents: 0),
            pollfd(fd: wake[0], events: Int16(POLLIN), revents: 0),
        ]
        while poll(&ends, 3, -1) > 0 || errno == EINTR {
            if ends[2].revents != 0 { return }
            for (from, to) in [(local, upstream), (upstream, local)] {
                guard let index = ends.firstIndex(where: { $0.fd == from }), ends[index].revents != 0 else { continue }
                let count = read(from, &buffer, buffer.count)
                guard count > 0, Self.sendAll(to, buffer, count) else { return }
            }
        }
    }

    private static func sendAll(_ fd: Int32, _ buffer: [UInt8], _ count: Int) -> Bool {
        var offset = 0
        while offset < count {
            let sent = buffer.withUnsafeBytes {
                send(fd, $0.baseAddress! + offset, count - offset, Int32(MSG_NOSIGNAL))
            }
            guard sent > 0 else { return false }
            offset += sent
        }
        return true
    }
}
