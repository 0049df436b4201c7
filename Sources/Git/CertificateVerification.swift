import CLibgit2
import Dispatch
import FoundationEssentials
import Glibc
internal import SwiftASN1
import Synchronization
// Internal imports: X509 brings swift-crypto's _CryptoExtras, which imports Foundation; a public import would expose
// its modules to every client of Git.
@_spi(FixedExpiryValidationTime) internal import X509

/// The second opinion on a TLS certificate for an IP address (docs/transports.md#http-and-https).
///
/// libgit2 1.8.4 on Debian 12 verifies with mbedTLS 2.28, which matches the host only against DNS subjectAltNames: a
/// valid certificate for `IP:127.0.0.1` is reported invalid for `https://127.0.0.1/…`. git (OpenSSL or GnuTLS
/// through curl) accepts it. When libgit2 says invalid and the host is an IP address literal, the certificate is
/// verified again here with swift-certificates: the chain against the certificate authorities libgit2 was given
/// (`http.sslCAInfo`, `http.sslCAPath`) or the system's bundle, RFC 5280 (validity period, basic constraints, name
/// constraints) and the IP address against the leaf's IP subjectAltNames (RFC 6125; the CN is never used for an
/// address). libgit2's certificate callback gives the leaf only, not the chain the server sent, so an intermediate
/// certificate is found only when it is in the CA file (there it is trusted as an anchor).
enum CertificateVerification {
    /// The system's CA bundle (Debian's `ca-certificates`), used when no location was set.
    static let systemBundle = "/etc/ssl/certs/ca-certificates.crt"

    /// The CA file and directory lockpool gave libgit2 (`GlobalOptions.setCertificateLocations`); nil for the system's.
    private static let locations = Mutex<(file: String?, directory: String?)?>(nil)

    /// Remembers the locations libgit2 now trusts, so that the second opinion trusts the same.
    static func setTrustedLocations(file: String?, directory: String?) {
        locations.withLock { $0 = file == nil && directory == nil ? nil : (file, directory) }
    }

    /// Whether `host` (as libgit2 gives it: no brackets, though brackets are tolerated) is an IPv4 or IPv6 address
    /// literal, for which mbedTLS's verdict is not final.
    static func isAddressLiteral(_ host: String) -> Bool {
        address(host) != nil
    }

    /// The canonical text of the address `host` names (`::1` for `[::1]` or `0:0::1`), or nil for a host name.
    private static func address(_ host: String) -> String? {
        var text = host
        if text.hasPrefix("["), text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return text }
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &v6, &buffer, socklen_t(buffer.count)) != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The entry point for `RemoteCallbackState.certificate`: whether the X.509 certificate libgit2 reported invalid
    /// for `host` is valid after all. False for anything but an address literal and a DER certificate.
    static func acceptsAfterAll(_ cert: UnsafeMutablePointer<git_cert>, host: String) -> Bool {
        guard cert.pointee.cert_type == GIT_CERT_X509, isAddressLiteral(host) else { return false }
        let x509 = cert.withMemoryRebound(to: git_cert_x509.self, capacity: 1) { $0.pointee }
        guard let data = x509.data, x509.len > 0 else { return false }
        let der = Array(UnsafeRawBufferPointer(start: data, count: x509.len))
        let trusted = locations.withLock { $0 }
        let anchors = trusted.map { [$0.file, $0.directory] } ?? [systemBundle, nil]
        return problem(leaf: der, address: host, caFile: anchors[0], caDirectory: anchors[1]) == nil
    }

    /// Why the DER certificate `leaf` is not valid for the IP address `address`, trusting the PEM certificates in
    /// `caFile` and `caDirectory`; nil when it is valid.
    ///
    /// - Parameters:
    ///   - time: when to check the validity period; nil for now (tests pass another time).
    static func problem(
        leaf: [UInt8], address host: String, caFile: String?, caDirectory: String?, at time: Date? = nil
    ) -> String? {
        guard let address = address(host) else { return "\(host) is not an IP address" }
        let certificate: Certificate
        do { certificate = try Certificate(derEncoded: leaf) } catch {
            return "the certificate does not parse: \(error)"
        }
        let anchors = trustAnchors(file: caFile, directory: caDirectory)
        guard !anchors.isEmpty else { return "no certificate authority could be read" }
        let policy = time.map { RFC5280Policy(fixedExpiryValidationTime: $0) } ?? RFC5280Policy()
        let result = CallingThreadExecutor.run {
            var verifier = Verifier(rootCertificates: CertificateStore(anchors)) {
                policy
                ServerIdentityPolicy(serverHostname: nil, serverIP: address)
            }
            return await verifier.validate(leaf: certificate, intermediates: CertificateStore())
        }
        switch result {
        case .validCertificate: return nil
        case .couldNotValidate(let failures):
            return failures.first.map { "\($0.policyFailureReason)" } ?? "no chain to a trusted certificate authority"
        }
    }

    /// The certificates in the PEM file and in the files of the directory (a hashed directory's entries are links to
    /// PEM files); what does not parse is skipped, as OpenSSL skips it.
    static func trustAnchors(file: String?, directory: String?) -> [Certificate] {
        var paths = file.map { [$0] } ?? []
        if let directory, let entries = opendir(directory) {
            defer { closedir(entries) }
            while let entry = readdir(entries) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) {
                    String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
                }
                if !name.hasPrefix(".") { paths.append(directory + "/" + name) }
            }
        }
        return paths.flatMap { path -> [Certificate] in
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
            return pemCertificates(text).compactMap { try? Certificate(derEncoded: $0) }
        }
    }

    /// The DER bytes of each `CERTIFICATE` block of a PEM text (RFC 7468), in order; other blocks are skipped.
    static func pemCertificates(_ text: String) -> [[UInt8]] {
        let begin = "-----BEGIN CERTIFICATE-----"
        let end = "-----END CERTIFICATE-----"
        var blocks: [[UInt8]] = []
        var rest = Substring(text)
        while let start = rest.firstRange(of: begin), let stop = rest[start.upperBound...].firstRange(of: end) {
            let body = rest[start.upperBound..<stop.lowerBound].filter { !$0.isWhitespace }
            if let der = Data(base64Encoded: String(body)) { blocks.append(Array(der)) }
            rest = rest[stop.upperBound...]
        }
        return blocks
    }
}

/// Runs an async operation to completion on the calling thread.
///
/// swift-certificates' `Verifier.validate` is async (a policy may fetch, e.g. OCSP), while libgit2's certificate
/// callback is synchronous C. The policies used here never suspend, but the call still needs an executor. Blocking the
/// callback's thread on a semaphore while a `Task` runs on the global executor could deadlock: lockpool runs git work
/// synchronously inside async functions, so the blocked thread may be one of the cooperative pool's few threads (one
/// per core), the very ones the task would need. Instead the task prefers this executor (SE-0417), so every job of it,
/// including the nonisolated async functions it calls, is enqueued here, and the calling thread itself runs them until
/// the result is in. Nothing waits on another thread, whatever the pool is doing.
private final class CallingThreadExecutor: TaskExecutor {
    private let jobs = Mutex<[UnownedJob]>([])
    private let ready = DispatchSemaphore(value: 0)

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        jobs.withLock { $0.append(job) }
        ready.signal()
    }

    private final class Outcome<Value: Sendable>: Sendable {
        let value = Mutex<Value?>(nil)
    }

    static func run<Value: Sendable>(_ operation: @escaping @Sendable () async -> Value) -> Value {
        let executor = CallingThreadExecutor()
        let outcome = Outcome<Value>()
        Task(executorPreference: executor) {
            let value = await operation()
            outcome.value.withLock { $0 = value }
            executor.ready.signal()
        }
        while true {
            executor.ready.wait()
            while let job = executor.jobs.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) {
                job.runSynchronously(on: executor.asUnownedTaskExecutor())
            }
            if let value = outcome.value.withLock({ $0 }) { return value }
        }
    }
}
