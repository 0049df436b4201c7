// swift-tools-version:6.2
import PackageDescription

let upcoming: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"), .enableUpcomingFeature("MemberImportVisibility"),
]

/// libgit2 and the libraries it needs are linked statically from Debian's archives (docs/decisions/0013-cold-process.md):
/// loading them as 15 shared libraries cost 1.7 ms of every process. GNU ld links them, with relative relocations packed
/// (DT_RELR, glibc ≥ 2.36): 1.5 MB smaller than gold's output, and the dynamic linker reads 11 KB of relocations instead
/// of 1.4 MB. `LOCKPOOL_LIBGIT2=shared swift build` links Debian's shared libgit2 instead, as a package that depends on
/// a released lockpool must (SwiftPM refuses unsafe flags in a dependency given by version). libgit2's GSSAPI
/// (Kerberos) library stays shared: Debian ships no static one.
let staticLibgit2 = Context.environment["LOCKPOOL_LIBGIT2"] != "shared"
/// Not libssh2, nor OpenSSL's libcrypto behind it: libgit2's libssh2 transport is left out (CGitSupport/without_libssh2.c).
let staticArchives = ["git2", "mbedtls", "mbedx509", "mbedcrypto", "http_parser", "pcre2-8", "z"]
/// `--no-export-dynamic` takes back the `-export-dynamic` of the toolchain's `static-stdlib-args.lnk`: nothing loads
/// lockpool's symbols by name, and exporting 16,500 of them kept their code from `--gc-sections` and cost 1.7 MB
/// (docs/decisions/0014-binary-size.md).
let staticLinkerFlags =
    ["--wrap=mbedtls_x509_crt_parse_file", "-Bstatic"] + staticArchives.map { "-l\($0)" }
    + ["-Bdynamic", "-l:libgssapi_krb5.so.2", "--no-export-dynamic"]
let libgit2Linking: [LinkerSetting] =
    staticLibgit2
    ? [
        .unsafeFlags(
            ["-use-ld=bfd"] + (staticLinkerFlags + ["-z", "pack-relative-relocs"]).flatMap { ["-Xlinker", $0] },
            .when(platforms: [.linux]))
    ]
    : [.linkedLibrary("git2")]

let package = Package(
    name: "lockpool",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "check", targets: ["resource-check"]),
        .executable(name: "in", targets: ["resource-in"]),
        .executable(name: "out", targets: ["resource-out"]),
        .executable(name: "lockpool", targets: ["lockpool"]),
        // `lockpool serve`: the dashboard server, apart so that the resource's binary carries no HTTP server
        // (docs/decisions/0012-dashboard.md).
        .executable(name: "lockpool-serve", targets: ["lockpool-serve"]),
        .library(name: "LockPool", targets: ["LockPool"]),
        // For the fuzz targets in Fuzz/ (a separate package can only use products): the request decoder.
        .library(name: "ConcourseResource", targets: ["ConcourseResource"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        // Git: verifies a TLS certificate for an IP address, which mbedTLS 2.28 cannot (CertificateVerification.swift).
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        // Comes with swift-certificates; declared because Git imports it (DER parsing of a certificate).
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        // lockpool-serve only: the dashboard's HTTP server.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        // Comes with Hummingbird; declared because DashboardServer names header fields.
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        // Tests only: the example pipelines are YAML.
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // Tests only: TestSupport's process launcher (ChildProcess.swift).
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
    ],
    targets: [
        // Headers only: how libgit2 is linked is the Git target's `libgit2Linking`.
        .systemLibrary(name: "CLibgit2"),
        // Defers the CA bundle parse of git_libgit2_init until an http(s) remote is used (see its header).
        .target(
            name: "CGitSupport", cSettings: staticLibgit2 ? [.define("LOCKPOOL_STATIC_LIBGIT2")] : [],
            linkerSettings: [.linkedLibrary("dl", .when(platforms: [.linux]))]),
        // The string operations FoundationEssentials lacks (percent-encoding, trimming, path joining): Foundation's own
        // would link ICU and its 34 MB of data into the image.
        .target(name: "StringSupport", swiftSettings: upcoming),
        .target(
            name: "Git",
            dependencies: [
                "CLibgit2", "CGitSupport", "StringSupport", .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ], swiftSettings: upcoming, linkerSettings: libgit2Linking),
        // libcurl through dlopen: headers at build time (libcurl4-openssl-dev), the library only when a request is made.
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("dl", .when(platforms: [.linux]))]),
        .target(name: "HTTPClient", dependencies: ["CCurl", "StringSupport"], swiftSettings: upcoming),
        .target(
            name: "LockPool",
            dependencies: [
                "Git", "StringSupport", .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: upcoming),
        .target(
            name: "PoolMetrics",
            dependencies: [
                "LockPool", "HTTPClient", "StringSupport", .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: upcoming),
        // The dashboard's pages, charts and report (HTML and inline SVG from the pools' state and history).
        .target(
            name: "Dashboard", dependencies: ["LockPool", "Git", "StringSupport"], swiftSettings: upcoming),
        // The process's edges: standard streams over swift-system's FileDescriptor, SIGTERM/SIGINT handlers.
        .target(
            name: "ProcessIO",
            dependencies: ["LockPool", .product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: upcoming),
        .target(
            name: "ConcourseResource",
            dependencies: [
                "LockPool", "Git", "PoolMetrics", "ProcessIO", "StringSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: upcoming),
        .target(
            name: "LockPoolCLI",
            dependencies: [
                "LockPool", "ConcourseResource", "PoolMetrics", "Git", "HTTPClient", "ProcessIO", "StringSupport",
                "Dashboard", .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: upcoming),
        // `lockpool serve`'s server: refreshes the tip, serves the dashboard, the JSON API and /metrics.
        .target(
            name: "DashboardServer",
            dependencies: [
                "Dashboard", "LockPoolCLI", "LockPool", "PoolMetrics", "Git", "ProcessIO",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: upcoming),
        // Each executable bootstraps logging once, in its entry point.
        .executableTarget(
            name: "lockpool",
            dependencies: [
                "LockPoolCLI", "ConcourseResource", .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: upcoming),
        .executableTarget(
            name: "lockpool-serve",
            dependencies: [
                "DashboardServer", .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: upcoming),
        .executableTarget(
            name: "resource-check",
            dependencies: ["ConcourseResource", .product(name: "Logging", package: "swift-log")],
            swiftSettings: upcoming),
        .executableTarget(
            name: "resource-in", dependencies: ["ConcourseResource", .product(name: "Logging", package: "swift-log")],
            swiftSettings: upcoming),
        .executableTarget(
            name: "resource-out", dependencies: ["ConcourseResource", .product(name: "Logging", package: "swift-log")],
            swiftSettings: upcoming),
        .target(
            name: "TestSupport",
            dependencies: [
                .product(name: "Subprocess", package: "swift-subprocess"),
                // The fixture of the dashboard's tests computes git object ids (SHA-1).
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: upcoming),
        .testTarget(
            name: "StringSupportTests", dependencies: ["StringSupport", "TestSupport"], swiftSettings: upcoming),
        .testTarget(name: "GitTests", dependencies: ["Git", "CLibgit2", "TestSupport"], swiftSettings: upcoming),
        .testTarget(name: "HTTPClientTests", dependencies: ["HTTPClient", "TestSupport"], swiftSettings: upcoming),
        .testTarget(
            name: "LockPoolTests",
            dependencies: ["LockPool", "Git", "TestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: upcoming),
        .testTarget(
            name: "ConcourseResourceTests",
            dependencies: ["ConcourseResource", "LockPool", "StringSupport", "TestSupport"],
            swiftSettings: upcoming),
        .testTarget(
            name: "PoolMetricsTests", dependencies: ["PoolMetrics", "LockPool", "TestSupport"],
            swiftSettings: upcoming),
        .testTarget(
            name: "LockPoolCLITests",
            dependencies: [
                "LockPoolCLI", "LockPool", "ConcourseResource", "TestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: upcoming),
        .testTarget(
            name: "DashboardTests", dependencies: ["Dashboard", "LockPool", "Git", "TestSupport"],
            swiftSettings: upcoming),
        .testTarget(
            name: "ExampleTests",
            dependencies: [
                "ConcourseResource", "LockPoolCLI", .product(name: "Yams", package: "Yams"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: upcoming),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "TestSupport", "resource-check", "resource-in", "resource-out", "lockpool", "lockpool-serve",
            ],
            swiftSettings: upcoming),
    ]
)
