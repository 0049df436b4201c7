import CFuzzer
import LockPoolInvariants

/// libFuzzer's entry point: checks `CommitMessageInvariants` on one input, aborting with what it breaks.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let violations = CommitMessageInvariants.check(bytes)
    if !violations.isEmpty { fatalError("invariant broken: " + violations.joined(separator: "; ")) }
    return 0
}

/// The executable's `main` (SwiftPM links with `--defsym main=fuzz_commit_message_main`): runs libFuzzer's driver.
@_cdecl("fuzz_commit_message_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, fuzzerTestOneInput)
}
