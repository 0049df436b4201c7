import Foundation
import TestSupport
import Testing

/// What a resource process does before its work (docs/decisions/0002-libcurl-through-dlopen.md,
/// docs/decisions/0006-ca-bundle-interposer.md): libcurl is not loaded, and Debian's mbedTLS libgit2 does not parse the
/// system's CA bundle, unless the step needs them.
@Suite struct StartupTests {
    /// `LD_DEBUG=files,bindings` lists the libraries the dynamic linker loads and where each symbol was bound.
    private func trace(_ harness: ResourceHarness, source: [String: JSONValue] = [:]) throws -> ExecutableResult {
        var environment = harness.environment
        environment["LD_DEBUG"] = "files,bindings"
        return try harness.executables.run(
            .check, request: ["source": harness.source(source)], environment: environment)
    }

    /// Without HOME (some resource containers), a step makes one up under TMPDIR, since libgit2's ssh transport
    /// needs one; one that another user could have planted on a shared /tmp is not used (security review, finding 13).
    @Test(arguments: [false, true]) func withoutHomeAPrivateOneIsMadeUp(planted: Bool) throws {
        let harness = try makeHarness("startup-home", locks: ["env-1": .unclaimed()])
        let tmp = try harness.scratch.directory("tmp-home-test")
        let usual = tmp.appendingPathComponent("lockpool-home-\(geteuid())")
        if planted {
            try FileManager.default.createDirectory(at: usual, withIntermediateDirectories: true)
            chmod(usual.path, 0o777)
        }
        var environment = harness.environment
        environment["HOME"] = ""
        environment["TMPDIR"] = tmp.path
        let result = try harness.executables.run(
            .check, request: ["source": harness.source()], environment: environment)
        #expect(result.status == 0, "\(result)")
        let homes = try FileManager.default.contentsOfDirectory(atPath: tmp.path).filter {
            $0.hasPrefix("lockpool-home-")
        }
        let made = homes.filter { $0 != usual.lastPathComponent }
        #expect(made.count == (planted ? 1 : 0), "\(homes)")
        let used = planted ? tmp.appendingPathComponent(made.first ?? "") : usual
        let mode = try FileManager.default.attributesOfItem(atPath: used.path)[.posixPermissions] as? Int
        #expect(mode == 0o700)
        #expect(try FileManager.default.contentsOfDirectory(atPath: used.path).isEmpty)  // nothing is written there
    }

    @Test func aCheckOnALocalRepositoryLoadsNeitherLibcurlNorTheCABundle() throws {
        let harness = try makeHarness("startup-local", locks: ["env-1": .unclaimed()])
        let result = try trace(harness)
        #expect(result.status == 0, "\(result)")
        #expect(!result.stderr.contains("libcurl"), "libcurl is loaded only to push metrics")
        // libgit2 and its libraries are linked in (docs/decisions/0013-cold-process.md); only Kerberos is loaded.
        // A build with LOCKPOOL_LIBGIT2=shared loads them, and its libgit2 binds to the executable's stand-in below.
        let loaded = result.stderr.split(separator: "\n").filter {
            $0.contains("file=") && $0.contains("[0];  needed by")
        }
        if !result.stderr.contains("file=libgit2") {
            for library in ["libmbedx509", "libssh2", "libcrypto", "libpcre2", "libhttp_parser"] {
                #expect(!result.stderr.contains("file=\(library)"), "\(loaded)")
            }
            #expect(result.stderr.contains("file=libgssapi_krb5.so.2"), "\(loaded)")
        }
        if result.stderr.contains("libmbedx509") {
            // libgit2's call binds to the executable's definition, which defers the parse.
            let binding = result.stderr.split(separator: "\n").first {
                $0.contains("binding file") && $0.contains("libgit2")
                    && $0.contains("normal symbol `mbedtls_x509_crt_parse_file'")
            }
            #expect(
                binding?.contains("to \(harness.executables.url(of: .check).path)") == true,
                "\(binding ?? "libgit2 never called mbedtls_x509_crt_parse_file")")
        }
    }

    @Test func aPushgatewayStepLoadsLibcurl() throws {
        let harness = try makeHarness("startup-metrics", locks: ["env-1": .unclaimed()])
        let port = try GitDaemon.freePort()
        var environment = harness.environment
        environment["LD_DEBUG"] = "files"
        let result = try harness.executables.run(
            .out, arguments: [harness.sourceDirectory.path],
            request: [
                "source": harness.source(["prometheus_push_gateway": .string("http://127.0.0.1:\(port)")]),
                "params": ["acquire": true],
            ], environment: environment)
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.contains("libcurl"), "loaded with dlopen for the push")
        #expect(result.stderr.contains("could not push metrics to http://127.0.0.1:\(port): connection refused"))
    }
}
