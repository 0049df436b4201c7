import Foundation
import TestSupport
import Testing

@testable import Git

/// The CA bundle parse that `git_libgit2_init` defers (CGitSupport) runs before an http(s) remote is used.
@Suite struct CertificateTests {
    @Test(arguments: ["https://127.0.0.1:9/pool.git", "HTTP://127.0.0.1:9/pool.git"])
    func anHTTPRemoteLoadsTheSystemCertificatesFirst(_ url: String) throws {
        let scratch = try Scratch(label: "certificates")
        let repository = try Repository.create(at: scratch.uniqueDirectory("cache").path, bare: true)
        // No connection is made: creating the remote is the point where the certificates must be in place.
        _ = try Remote(repository: repository, url: url, options: RemoteOptions())
        // Monotonic whatever other tests do in parallel: a parse that ran never becomes pending again.
        #expect(!GlobalOptions.systemCertificatesPending)
    }
}

/// The deferred parse itself: when it runs (before the first http(s) remote), the system's CA bundle parses without
/// error into the chain libgit2 gave it, so https remotes trust exactly what they would have trusted without the
/// deferral (docs/decisions/0006-ca-bundle-interposer.md).
@Suite struct DeferredCertificateTests {
    @Test func theDeferredSystemBundleParsesWhenAnHTTPSRemoteNeedsIt() throws {
        try Libgit2.loadCertificates(before: "https://127.0.0.1:9/pool.git")
        #expect(!GlobalOptions.systemCertificatesPending)
    }
}
