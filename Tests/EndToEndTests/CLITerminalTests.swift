import Foundation
import TestSupport
import Testing

/// The live status line of `lockpool` in a real pseudo-terminal: a tmux server of the test's own (its own socket, no
/// configuration file) runs the command in a detached 160×20 pane, and the test reads the screen with
/// `capture-pane`.

/// A tmux server with one detached session, reached through its own socket (`tmux -L`).
final class TmuxPane: Sendable {
    let socket: String
    let environment: [String: String]

    /// Starts a server and a session of `width`×`height` running `command` through `/bin/sh -c`.
    ///
    /// - Parameter environment: the whole environment of the server and so of the command.
    /// - Throws: `ToolError` or `ChildProcessError` when tmux fails.
    init(command: String, environment: [String: String], width: Int = 160, height: Int = 20) throws {
        socket = "lockpool-test-\(UUID().uuidString.prefix(12).lowercased())"
        self.environment = environment
        try tmux(["-f", "/dev/null", "new-session", "-d", "-s", "test", "-x", "\(width)", "-y", "\(height)", command])
    }

    /// Kills the server and everything running in it. Safe to call more than once.
    func kill() {
        _ = try? ExternalTool.result("tmux", ["-L", socket, "kill-server"], environment: environment)
    }

    deinit { kill() }

    /// Runs `tmux -L socket arguments…`.
    ///
    /// Through bash, which first closes every descriptor above stderr: the tmux server forks from the first client
    /// and would keep the descriptor by which Foundation's `Process` learns that its child exited, so the launching
    /// test would wait for the server instead of the client.
    @discardableResult
    func tmux(_ arguments: [String]) throws -> String {
        let script =
            #"for fd in /proc/$$/fd/*; do fd=${fd##*/}; if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi; done 2>/dev/null; exec "$@""#
        return try ExternalTool.run(
            "bash", ["-c", script, "bash", "tmux", "-L", socket] + arguments, environment: environment
        ).stdout
    }

    /// The visible screen, lines joined when wrapped; with `escapes`, colours and attributes as escape sequences.
    func screen(escapes: Bool = false) throws -> String {
        try tmux(["capture-pane", "-p", "-J", "-t", "test"] + (escapes ? ["-e"] : []))
    }

    /// The visible screen, or empty when it cannot be read (for failure messages).
    var currentScreen: String { (try? screen()) ?? "" }

    /// Captures the screen until `condition` holds; returns the last capture, or nil after `timeout`.
    func waitForScreen(
        escapes: Bool = false, timeout: Duration = .seconds(90), _ condition: (String) throws -> Bool
    ) throws -> String? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let text = try screen(escapes: escapes)
            if try condition(text) { return text }
            Thread.sleep(forTimeInterval: 0.2)
        }
        let text = try screen(escapes: escapes)
        return try condition(text) ? text : nil
    }

    static var isAvailable: Bool { ExternalTool.locate("tmux") != nil }
}

/// A shell word.
func shellQuoted(_ text: String) -> String { "'" + text.replacing("'", with: #"'\''"#) + "'" }

@Suite(.enabled(if: TmuxPane.isAvailable && Executables.areAvailable), .timeLimit(.minutes(5)))
struct CLITerminalTests {
    /// A pool whose only lock was claimed by the `out` resource for build 42, and the shell command that runs
    /// `lockpool arguments…` on it, prints its exit status, and keeps the pane open.
    struct Setup {
        let cli: CLIHarness
        let command: String
        let environment: [String: String]

        init(_ label: String, arguments: [String], noColor: Bool) throws {
            cli = try CLIHarness(label, locks: ["env-1": .unclaimed()])
            var resource = cli.resource
            resource.environment = pix4dEnvironment
            try expectSuccess(try resource.out(["claim": "env-1"]), lock: "env-1", pool: "envs")
            let argv =
                [cli.executables.lockpoolURL.path] + arguments + cli.connection + [
                    "--retry-delay", "1s", "--timeout", "300s",
                ]
            // The shell traps SIGINT (its children get the default action) so that it survives a Ctrl-C.
            command =
                "trap : INT; " + argv.map(shellQuoted).joined(separator: " ")
                + "; echo \"exit status $?\"; sleep 600"
            var environment = ExternalTool.baseEnvironment(home: cli.home)
            environment["TMPDIR"] = cli.executables.temporaryDirectory.path
            environment["TERM"] = "xterm-256color"
            environment["LANG"] = "C.UTF-8"
            environment["LC_ALL"] = "C.UTF-8"
            if noColor { environment["NO_COLOR"] = "1" }
            self.environment = environment
        }
    }

    static var waitingLine: Regex<(Substring, Substring, Substring)> {
        #/waiting (\d+)s: env-1 claimed by main/deploy/apply build 42 for \S+ · (\d+) polls?/#
    }

    @Test func liveStatusLineShowsHolderElapsedTimeAndPollsInColour() throws {
        let setup = try Setup("tty-acquire", arguments: ["acquire", "envs"], noColor: false)
        let pane = try TmuxPane(command: setup.command, environment: setup.environment)
        defer { pane.kill() }

        // The line names the holder and counts polls; wait until it has polled at least twice.
        let waiting = try pane.waitForScreen { screen in
            guard let match = screen.firstMatch(of: Self.waitingLine) else { return false }
            return (Int(match.output.2) ?? 0) >= 2 && (Int(match.output.1) ?? 0) >= 1
        }
        let screen = try #require(waiting, "\(pane.currentScreen)")
        #expect(screen.contains("claiming a lock in pool 'envs'"))
        #expect(!screen.contains("exit status"))
        // Redrawn in place: one waiting line on the screen, no dots.
        #expect(screen.components(separatedBy: "\n").filter { $0.contains("waiting ") }.count == 1, "\(screen)")
        #expect(!screen.contains(".."))

        let coloured = try pane.screen(escapes: true)
        #expect(coloured.contains("\u{1B}["), "\(coloured)")
        #expect(coloured.contains("\u{1B}[33m") || coloured.contains("\u{1B}[33;"), "yellow head: \(coloured)")

        // The elapsed time grows while it waits.
        let first = Int(screen.firstMatch(of: Self.waitingLine)?.output.1 ?? "") ?? 0
        let later = try pane.waitForScreen { text in
            (Int(text.firstMatch(of: Self.waitingLine)?.output.1 ?? "") ?? 0) > first
        }
        #expect(later != nil, "\(pane.currentScreen)")

        try setup.cli.repository.moveLock("env-1", in: "envs", toClaimed: false)
        let done = try pane.waitForScreen { $0.contains("exit status") }
        let final = try #require(done, "\(pane.currentScreen)")
        #expect(final.contains("exit status 0"), "\(final)")
        #expect(final.contains("acquired!"))
        let lines = final.components(separatedBy: "\n")
        #expect(lines.contains("env-1"), "stdout names the lock: \(final)")
        // The waiting line was erased when the lock came.
        #expect(final.firstMatch(of: Self.waitingLine) == nil, "\(final)")
        #expect(try setup.cli.repository.locks(in: "envs") == PoolLocks(claimed: ["env-1"], unclaimed: []))
        #expect(try setup.cli.repository.commit().trailer("Lock-Tool")?.hasSuffix(" (cli)") == true)
    }

    @Test func noColorKeepsTheLiveLinePlain() throws {
        let setup = try Setup("tty-no-color", arguments: ["claim", "envs", "env-1"], noColor: true)
        let pane = try TmuxPane(command: setup.command, environment: setup.environment)
        defer { pane.kill() }

        let waiting = try pane.waitForScreen { screen in
            (screen.firstMatch(of: Self.waitingLine).flatMap { Int($0.output.2) } ?? 0) >= 1
        }
        try #require(waiting != nil, "\(pane.currentScreen)")
        let raw = try pane.screen(escapes: true)
        #expect(raw.firstMatch(of: Self.waitingLine) != nil)
        #expect(!raw.contains("\u{1B}["), "no escapes with NO_COLOR: \(raw)")

        try setup.cli.repository.moveLock("env-1", in: "envs", toClaimed: false)
        let done = try pane.waitForScreen(escapes: true) { $0.contains("exit status") }
        let final = try #require(done, "\(pane.currentScreen)")
        #expect(final.contains("exit status 0"), "\(final)")
        #expect(final.contains("claimed!"))
        #expect(!final.contains("\u{1B}["), "\(final)")
        #expect(try setup.cli.repository.commit().subject == "claiming: env-1")
    }

    @Test func ctrlCWhileWaitingChangesNothing() throws {
        let setup = try Setup("tty-ctrl-c", arguments: ["acquire", "envs"], noColor: true)
        let before = try setup.cli.repository.commitID()
        let pane = try TmuxPane(command: setup.command, environment: setup.environment)
        defer { pane.kill() }
        let waiting = try pane.waitForScreen { $0.firstMatch(of: Self.waitingLine) != nil }
        try #require(waiting != nil, "\(pane.currentScreen)")

        try pane.tmux(["send-keys", "-t", "test", "C-c"])
        let done = try pane.waitForScreen { $0.contains("exit status") }
        let final = try #require(done, "\(pane.currentScreen)")
        #expect(final.contains("exit status 130"), "\(final)")
        let lines = final.components(separatedBy: "\n")
        #expect(lines.contains("Error: interrupted; nothing was changed"), "\(final)")
        // The live line was cleared before the message.
        #expect(final.firstMatch(of: Self.waitingLine) == nil, "\(final)")
        #expect(try setup.cli.repository.commitID() == before)
    }

    @Test func statusTableIsColouredOnATerminalUnlessNoColor() throws {
        let cli = try CLIHarness("tty-status", locks: ["env-1": .unclaimed(), "env-2": .claimed()])
        for noColor in [false, true] {
            let command =
                ([cli.executables.lockpoolURL.path, "status"] + cli.connection).map(shellQuoted).joined(
                    separator: " ") + "; echo \"exit status $?\"; sleep 600"
            var environment = ExternalTool.baseEnvironment(home: cli.home)
            environment["TMPDIR"] = cli.executables.temporaryDirectory.path
            environment["TERM"] = "xterm-256color"
            if noColor { environment["NO_COLOR"] = "1" }
            let pane = try TmuxPane(command: command, environment: environment)
            defer { pane.kill() }
            let done = try pane.waitForScreen(escapes: true) { $0.contains("exit status") }
            let screen = try #require(done, "\(pane.currentScreen)")
            #expect(screen.contains("exit status 0"), "\(screen)")
            #expect(screen.contains("envs: 1 claimed, 1 unclaimed"))
            if noColor {
                #expect(!screen.contains("\u{1B}["), "\(screen)")
            } else {
                #expect(screen.contains("\u{1B}[32m") || screen.contains("\u{1B}[32;"), "green unclaimed: \(screen)")
                #expect(screen.contains("\u{1B}[33m") || screen.contains("\u{1B}[33;"), "yellow claimed: \(screen)")
            }
        }
    }
}
