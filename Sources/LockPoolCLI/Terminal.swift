import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#endif

/// What the process's standard streams are connected to, and how to style text for them.
public struct Terminal: Sendable {
    /// Whether stderr is a terminal (progress goes there).
    public var stderrIsTerminal: Bool
    /// Whether stdout is a terminal (tables get colour only then).
    public var stdoutIsTerminal: Bool
    /// Whether colour is allowed: not with `NO_COLOR` set (to anything non-empty) or `TERM=dumb`.
    public var allowsColor: Bool

    /// The streams of this process.
    public static func current(environment: [String: String]) -> Terminal {
        let noColor = !(environment["NO_COLOR"] ?? "").isEmpty || environment["TERM"] == "dumb"
        return Terminal(
            stderrIsTerminal: isatty(STDERR_FILENO) == 1, stdoutIsTerminal: isatty(STDOUT_FILENO) == 1,
            allowsColor: !noColor)
    }

    /// The width of the terminal on stderr, or 80 when unknown.
    public static var stderrWidth: Int {
        var size = winsize()
        if ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        return 80
    }

    /// SGR styles.
    public enum Style: String, Sendable {
        case bold = "1", dim = "2", red = "31", green = "32", yellow = "33", cyan = "36"
    }

    /// `text` in `style` when colour is on for that stream.
    public func styled(_ text: String, _ style: Style, forStdout: Bool = false) -> String {
        let enabled = allowsColor && (forStdout ? stdoutIsTerminal : stderrIsTerminal)
        return enabled ? "\u{1B}[\(style.rawValue)m\(text)\u{1B}[0m" : text
    }
}
