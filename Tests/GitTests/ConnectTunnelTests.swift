import CLibgit2
import Glibc
import Testing

@testable import Git

/// The version guard of lockpool's stream (docs/decisions/0007-connect-tunnel-stream.md): it copies the private
/// socket stream layout of libgit2 1.8 (verified against 1.8.4's source), whose ssh transport reads the socket out of
/// it, so it stands in for libgit2's own stream only on that release, and only when built against its headers. The stream itself is exercised end to end by `TransportTests`
/// (ssh and git:// directly and through `https_tunnel`).
@Suite struct ConnectTunnelTests {
    struct VersionCase: Sendable, CustomTestStringConvertible {
        let version: Libgit2Version
        let verified: Bool
        var testDescription: String { "libgit2 \(version) → \(verified ? "lockpool's stream" : "libgit2's stream")" }
    }

    private static func version(_ major: Int, _ minor: Int, _ patch: Int) -> Libgit2Version {
        Libgit2Version(major: major, minor: minor, patch: patch)
    }

    @Test(arguments: [
        VersionCase(version: version(1, 8, 0), verified: true),
        VersionCase(version: version(1, 8, 4), verified: true),
        VersionCase(version: version(1, 8, 5), verified: true),
        VersionCase(version: version(1, 4, 6), verified: false),
        VersionCase(version: version(1, 5, 1), verified: false),
        VersionCase(version: version(1, 7, 2), verified: false),
        VersionCase(version: version(1, 9, 0), verified: false),
        VersionCase(version: version(2, 5, 0), verified: false),
    ])
    func theLayoutIsTrustedOnlyOnTheReleaseItWasCopiedFrom(_ c: VersionCase) {
        #expect(ConnectTunnel.layoutIsVerified(for: c.version) == c.verified)
    }

    /// On another release nothing is registered: libgit2's own stream serves (without `TCP_NODELAY`). Only
    /// unverified versions are tried here, since registering changes the whole test process.
    @Test(arguments: [version(1, 5, 1), version(1, 9, 0), version(2, 0, 0)])
    func theDirectStreamIsNotRegisteredOnAnotherRelease(_ version: Libgit2Version) throws {
        #expect(try ConnectTunnel.registerDirect(runningOn: version) == false)
    }

    @Test func aTunnelOnAnotherReleaseFailsClearly() {
        let tunnel = ConnectTunnel(
            proxyHost: "127.0.0.1", proxyPort: 9, proxyUser: "user", proxyPassword: "tunnel.secret-7",
            announce: { _ in })
        let error = #expect(throws: GitError.self) { try tunnel.install(runningOn: Self.version(1, 9, 0)) }
        #expect(
            error?.message
                == "lockpool's tunnel copies a private stream layout of libgit2 1.8, and this process runs libgit2 1.9.0"
        )
        #expect(error.map { !"\($0)".contains("tunnel.secret-7") } == true)
    }

    /// lockpool is built and shipped against bookworm-backports' libgit2 1.8.4. When this fails, the linked libgit2
    /// changed: verify the layout (see the decision record) before adding the release to `verifiedReleases`.
    @Test func theLinkedLibgit2IsTheVerifiedRelease() {
        Libgit2.initializeOnce()
        #expect(ConnectTunnel.layoutIsVerified(for: .current), "libgit2 \(Libgit2Version.current)")
        #expect(ConnectTunnel.builtRelease == (1, 8), "built against libgit2 \(ConnectTunnel.builtRelease)")
    }
}

/// The repair of libgit2 1.8.4's repeated shallow request on a git:// upload-pack connection (SocketWrites,
/// docs/decisions/0009-shallow-cache.md), byte for byte as libgit2 writes them.
@Suite struct ShallowRequestRepairTests {
    private let service = Array("002egit-upload-pack /locks.git\0host=127.0.0.1\0".utf8)
    private let request = Array(
        ("007cwant ff38ade04f9d11cbd04ceb990de90d05128c477e multi_ack_detailed side-band-64k include-tag thin-pack "
            + "ofs-delta shallow \n000ddeepen 2\n0000").utf8)
    private let done = Array("0009done\n".utf8)

    /// Feeds `writes` to a fresh stream state as consecutive writes; returns how many leading bytes each leaves out.
    private func skipped(_ writes: [[UInt8]], pipelined: Bool = false) -> [Int] {
        let socket = UnsafeMutablePointer<lockpool_socket_stream>.allocate(capacity: 1)
        socket.initialize(to: lockpool_socket_stream())
        defer {
            free(socket.pointee.deepen_request)
            socket.deallocate()
        }
        return writes.map { bytes in
            let count = bytes.withUnsafeBytes { SocketWrites.repeatedRequestLength(socket, $0) }
            socket.pointee.writes += 1
            if pipelined, socket.pointee.deepen_request != nil { socket.pointee.pipelined_done = 1 }
            return count
        }
    }

    @Test func theRepeatedRequestIsLeftOutOnce() {
        #expect(skipped([service, request, request + done]) == [0, 0, request.count])
        // Only once: a later identical write goes out.
        #expect(skipped([service, request, request + done, request]) == [0, 0, request.count, 0])
    }

    @Test func withDonePipelinedTheLaterDoneIsLeftOutToo() {
        #expect(skipped([service, request, request + done], pipelined: true) == [0, 0, request.count + done.count])
    }

    @Test func otherConnectionsAndRequestsAreLeftAlone() {
        // A push, an HTTP request, and a fetch without `deepen` are never touched.
        let receive = Array("002fgit-receive-pack /locks.git\0host=127.0.0.1\0".utf8)
        #expect(skipped([receive, request, request + done]) == [0, 0, 0])
        let http = Array("POST /locks.git/git-upload-pack HTTP/1.1\r\n\r\n".utf8)
        #expect(skipped([http, request, request + done]) == [0, 0, 0])
        let plain = Array(
            "0074want ff38ade04f9d11cbd04ceb990de90d05128c477e multi_ack_detailed side-band-64k ofs-delta\n0000".utf8)
        #expect(skipped([service, plain, plain + done]) == [0, 0, 0])
    }
}
