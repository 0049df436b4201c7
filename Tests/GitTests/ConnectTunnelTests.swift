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
