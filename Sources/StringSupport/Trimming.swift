/// Which characters `trimming(_:)` removes, by the definitions of Foundation's `CharacterSet` of the same names.
public enum TrimmedCharacters: Sendable {
    /// Unicode's space separators (general category Zs), tab and the zero-width space U+200B.
    case whitespaces
    /// U+000A–U+000D, U+0085, U+2028 and U+2029.
    case newlines
    /// Both.
    case whitespacesAndNewlines

    func contains(_ scalar: Unicode.Scalar) -> Bool {
        let space = scalar == "\t" || scalar == "\u{200B}" || scalar.properties.generalCategory == .spaceSeparator
        let newline = (0x0A...0x0D).contains(scalar.value) || [0x85, 0x2028, 0x2029].contains(scalar.value)
        return switch self {
        case .whitespaces: space
        case .newlines: newline
        case .whitespacesAndNewlines: space || newline
        }
    }
}

extension StringProtocol {
    /// This text without the leading and trailing `characters` (Foundation's `trimmingCharacters(in:)`, which is
    /// outside FoundationEssentials).
    public func trimming(_ characters: TrimmedCharacters) -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !characters.contains($0) }) else { return "" }
        let last = scalars.lastIndex { !characters.contains($0) }!
        return String(String.UnicodeScalarView(scalars[first...last]))
    }
}
