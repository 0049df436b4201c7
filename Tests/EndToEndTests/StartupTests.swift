import Foundation
import TestSupport
import Testing

/// What a resource process does before its work (issue 6): libcurl is not loaded, and Debian's mbedTLS libgit2 does not
/// parse the system's CA bundle, unless the step needs them.
@Suite struct StartupTests {
    /// `LD_DEBUG=files,bindings` lists the libraries the dynamic linker loads and where each symbol was bound.
    private func trace(_ harness: ResourceHarness, source: [String: JSONValue] = [:]) throws -> ExecutableResult {
        var environment = harness.environment
        environment["LD_DEBUG"] = "files,bindings"
        return try harness.executables.run(
            .check, request: ["source": harness.source(source)], environment: environment)
    }

    @Test func aCheckOnALocalRepositoryLoadsNeitherLibcurlNorTheCABundle() throws {
        let harness = try makeHarness("startup-local", locks: ["env-1": .unclaimed()])
        let result = try trace(harness)
        #expect(result.status == 0, "\(result)")
        #expect(!result.stderr.contains("libcurl"), "libcurl is loaded only to push metrics")
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
