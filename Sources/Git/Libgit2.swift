import CGitSupport
import CLibgit2

/// Process-wide libgit2 setup: runs `git_libgit2_init` once and is never shut down.
enum Libgit2 {
    /// Runs `git_libgit2_init` and the process-wide options exactly once.
    static func initializeOnce() { _ = initialized }

    /// Parses the system's certificate authorities if `git_libgit2_init` deferred it, before the first use of `url`
    /// when it is an http(s) URL (an http remote may redirect to https). Other transports never need them.
    ///
    /// - Throws: `GitError` when the bundle cannot be parsed (as `git_libgit2_init` would have failed to load it).
    static func loadCertificates(before url: String) throws {
        initializeOnce()
        let scheme = url.prefix { $0 != ":" }.lowercased()
        guard scheme == "http" || scheme == "https" else { return }
        let status = lockpool_load_deferred_certificates()
        guard status == 0 else {
            throw GitError(
                code: .generic, function: "mbedtls_x509_crt_parse_file",
                message: "cannot load the system's certificate authorities (mbedTLS error \(status))")
        }
    }

    private static let initialized: Void = {
        // The CA bundle parse (~6 ms with Debian's mbedTLS libgit2) waits for an http(s) remote: loadCertificates.
        lockpool_git_init_deferring_certificates()
        // lockpool ignores the user's and the system's git configuration: an image's ~/.gitconfig changes nothing.
        for level in [
            GIT_CONFIG_LEVEL_SYSTEM, GIT_CONFIG_LEVEL_XDG, GIT_CONFIG_LEVEL_GLOBAL, GIT_CONFIG_LEVEL_PROGRAMDATA,
        ] {
            _ = lockpool_git_set_search_path(Int32(level.rawValue), "")
        }
        // Caches live in TMPDIR, possibly created by another uid in a shared container.
        _ = lockpool_git_set_owner_validation(0)
        // Plain TCP (git://, ssh) without Nagle's delay; see ConnectTunnel.registerDirect.
        try? ConnectTunnel.registerDirect()
    }()
}

/// The version of the libgit2 library linked at run time.
public struct Libgit2Version: Sendable, Comparable, CustomStringConvertible {
    public let major: Int
    public let minor: Int
    public let patch: Int

    /// The running library's version. Calls `git_libgit2_version`.
    public static var current: Libgit2Version {
        var major: Int32 = 0
        var minor: Int32 = 0
        var patch: Int32 = 0
        git_libgit2_version(&major, &minor, &patch)
        return Libgit2Version(major: Int(major), minor: Int(minor), patch: Int(patch))
    }

    public var description: String { "\(major).\(minor).\(patch)" }

    public static func < (lhs: Libgit2Version, rhs: Libgit2Version) -> Bool {
        (lhs.major, lhs.minor, lhs.patch) < (rhs.major, rhs.minor, rhs.patch)
    }
}

/// Process-wide libgit2 settings: they apply to every remote this process talks to.
public enum GlobalOptions {
    /// Whether `git_libgit2_init`'s parse of the system's certificate authorities was deferred and has not run yet:
    /// true in a process that has used no http(s) remote, with an mbedTLS libgit2 (Debian's).
    public static var systemCertificatesPending: Bool {
        certificateDeferralState == 1
    }

    /// CGitSupport's state: 0 nothing deferred, 1 pending, 2 parsed. 0 in a process whose libgit2 uses mbedTLS means
    /// the stand-in never saw the call (docs/decisions/0013-cold-process.md).
    static var certificateDeferralState: Int32 {
        Libgit2.initializeOnce()
        return lockpool_deferred_certificates_state()
    }

    /// Trusts the certificate authorities in `file` (a PEM bundle) and/or `directory` (hashed certificates) for TLS
    /// connections to git servers, instead of the system's. Calls `git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS)`.
    ///
    /// - Throws: `GitError` when the TLS backend cannot load them.
    public static func setCertificateLocations(file: String?, directory: String?) throws {
        Libgit2.initializeOnce()
        try check(lockpool_git_set_ssl_cert_locations(file, directory), "git_libgit2_opts")
        // The second opinion on certificates for IP addresses trusts the same (CertificateVerification).
        CertificateVerification.setTrustedLocations(file: file, directory: directory)
        // libgit2 freed the chain a deferred parse would have filled.
        lockpool_forget_deferred_certificates()
    }

    /// Sets the HTTP `User-Agent` sent to git servers. Calls `git_libgit2_opts(GIT_OPT_SET_USER_AGENT)`.
    ///
    /// - Throws: `GitError`.
    public static func setUserAgent(_ userAgent: String) throws {
        Libgit2.initializeOnce()
        try check(lockpool_git_set_user_agent(userAgent), "git_libgit2_opts")
    }

    /// Whether this libgit2 was built with SSH support. Calls `git_libgit2_features`.
    public static var supportsSSH: Bool {
        Libgit2.initializeOnce()
        return git_libgit2_features() & Int32(GIT_FEATURE_SSH.rawValue) != 0
    }
}
