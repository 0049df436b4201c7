import Testing

@testable import LockPoolCLI

@Suite struct ParsingTests {
    @Test func versionNamesTheTool() {
        #expect(LockPoolCommand.configuration.version.hasPrefix("lockpool "))
    }
}
