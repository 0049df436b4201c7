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
    /// libgit2 is linked statically, so its call reaches the stand-in through the linker's `--wrap`, not through the
    /// dynamic linker (docs/decisions/0013-cold-process.md); a lost wrap would leave every process parsing the bundle.
    @Test func libgit2sParseOfTheSystemBundleReachesTheStandIn() {
        #expect(GlobalOptions.certificateDeferralState != 0)
    }

    @Test func theDeferredSystemBundleParsesWhenAnHTTPSRemoteNeedsIt() throws {
        try Libgit2.loadCertificates(before: "https://127.0.0.1:9/pool.git")
        #expect(!GlobalOptions.systemCertificatesPending)
    }
}

/// The second opinion on a certificate for an IP address (CertificateVerification, docs/transports.md#http-and-https):
/// the chain to a trusted CA, the validity period and the address against the IP subjectAltNames, on certificates
/// made by `openssl` for each case.
@Suite(.enabled(if: TestCertificates.areAvailable))
struct CertificateVerificationTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let names: [String]
        let address: String
        let valid: Bool
        var testDescription: String { "\(names) for \(address) → \(valid ? "valid" : "refused")" }
    }

    @Test(arguments: [
        Case(names: ["127.0.0.1"], address: "127.0.0.1", valid: true),
        Case(names: ["::1"], address: "::1", valid: true),
        Case(names: ["::1"], address: "[0:0::1]", valid: true),
        Case(names: ["127.0.0.1", "::1"], address: "::1", valid: true),
        Case(names: ["127.0.0.2"], address: "127.0.0.1", valid: false),
        Case(names: ["::2"], address: "::1", valid: false),
    ])
    func theAddressMustBeAnIPSubjectAltName(_ c: Case) throws {
        let scratch = try Scratch(label: "certificate-ip")
        let certificates = try TestCertificates.generate(
            in: scratch.uniqueDirectory("tls"), ipAddresses: c.names, dnsNames: [])
        let problem = CertificateVerification.problem(
            leaf: try der(certificates.certificateURL), address: c.address,
            caFile: certificates.caCertificateURL.path, caDirectory: nil)
        #expect((problem == nil) == c.valid, "\(problem ?? "valid")")
    }

    @Test func anExpiredCertificateIsRefused() throws {
        let scratch = try Scratch(label: "certificate-expired")
        let certificates = try TestCertificates.generate(in: scratch.uniqueDirectory("tls"), dnsNames: [])
        let leaf = try der(certificates.certificateURL)
        let ca = certificates.caCertificateURL.path
        // Valid for 30 days from now: fine in a week, expired in 60 days.
        let inAWeek = Date.now.addingTimeInterval(7 * 86_400)
        let later = Date.now.addingTimeInterval(60 * 86_400)
        #expect(
            CertificateVerification.problem(leaf: leaf, address: "127.0.0.1", caFile: ca, caDirectory: nil, at: inAWeek)
                == nil)
        #expect(
            CertificateVerification.problem(leaf: leaf, address: "127.0.0.1", caFile: ca, caDirectory: nil, at: later)
                != nil)
    }

    @Test func aCertificateFromAnotherCAOrSelfSignedIsRefused() throws {
        let scratch = try Scratch(label: "certificate-untrusted")
        let ours = try TestCertificates.generate(in: scratch.uniqueDirectory("ours"), dnsNames: [])
        let theirs = try TestCertificates.generate(in: scratch.uniqueDirectory("theirs"), dnsNames: [])
        let unsigned = try TestCertificates.generate(
            in: scratch.uniqueDirectory("self"), dnsNames: [], selfSigned: true)
        let ca = ours.caCertificateURL.path
        #expect(
            CertificateVerification.problem(
                leaf: try der(ours.certificateURL), address: "127.0.0.1", caFile: ca, caDirectory: nil) == nil)
        #expect(
            CertificateVerification.problem(
                leaf: try der(theirs.certificateURL), address: "127.0.0.1", caFile: ca, caDirectory: nil) != nil)
        #expect(
            CertificateVerification.problem(
                leaf: try der(unsigned.certificateURL), address: "127.0.0.1", caFile: ca, caDirectory: nil) != nil)
        // The system's bundle does not know the test CA either.
        #expect(
            CertificateVerification.problem(
                leaf: try der(ours.certificateURL), address: "127.0.0.1",
                caFile: CertificateVerification.systemBundle, caDirectory: nil) != nil)
    }

    @Test(arguments: [("127.0.0.1", true), ("::1", true), ("[::1]", true), ("localhost", false), ("1.2.3", false)])
    func onlyAnAddressLiteralGetsASecondOpinion(_ host: String, _ literal: Bool) {
        #expect(CertificateVerification.isAddressLiteral(host) == literal)
    }

    /// The DER bytes of the PEM certificate at `url`.
    private func der(_ url: URL) throws -> [UInt8] {
        let text = try String(contentsOf: url, encoding: .utf8)
        let body = text.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        return Array(try #require(Data(base64Encoded: body)))
    }
}
