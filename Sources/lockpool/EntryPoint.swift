import LockPoolCLI

/// `lockpool`: parses argv and runs the subcommand.
@main enum EntryPoint {
    static func main() async { await LockPoolCommand.main() }
}
