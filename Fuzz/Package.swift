// swift-tools-version:6.2
import PackageDescription

// libFuzzer targets for lockpool's parsers (issue 7); see README.md. Build with
// `swift build --package-path Fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library` (what `make fuzz`
// does): the flags must reach the root package's modules too, so that the fuzzed code is instrumented.
let upcoming: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "lockpool-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "lockpool", path: "..")],
    targets: [
        // The invariant checks, shared with the main package's FuzzRegressionTests (symlinked into Tests/).
        .target(
            name: "LockPoolInvariants", dependencies: [.product(name: "LockPool", package: "lockpool")],
            swiftSettings: upcoming),
        .target(
            name: "ResourceInvariants",
            dependencies: [
                .product(name: "LockPool", package: "lockpool"),
                .product(name: "ConcourseResource", package: "lockpool"),
            ],
            swiftSettings: upcoming),
        // Declares libFuzzer's LLVMFuzzerRunDriver, which each target's main calls.
        .target(name: "CFuzzer"),
        .executableTarget(
            name: "fuzz-go-duration", dependencies: ["CFuzzer", "LockPoolInvariants"], swiftSettings: upcoming),
        .executableTarget(
            name: "fuzz-commit-message", dependencies: ["CFuzzer", "LockPoolInvariants"], swiftSettings: upcoming),
        .executableTarget(
            name: "fuzz-request-decoder", dependencies: ["CFuzzer", "ResourceInvariants"], swiftSettings: upcoming),
    ]
)
