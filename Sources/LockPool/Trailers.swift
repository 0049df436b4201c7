/// Reads the trailers of a commit message the way `git interpret-trailers --parse` does.
///
/// The first paragraph is the title and never holds trailers. The trailer block is the last paragraph when every line
/// in it is a `Key: value` line (or a continuation line starting with whitespace), or when at least a quarter are and
/// one of them is git-generated (`Signed-off-by: `, `(cherry picked from commit `). Lines starting with `#` are
/// comments and are skipped. Keys are ASCII letters, digits and `-`; whitespace may come before the `:`.
public enum Trailers {
    /// The trailers of `message` in the order written, keys and values trimmed, continuation lines unfolded.
    ///
    /// - Returns: every `Key: value` of the trailer block, unknown keys included; empty when there is no block.
    public static func parse(_ message: String) -> [(key: String, value: String)] {
        let lines = lines(of: message)
        var index = 0
        while index < lines.count, isComment(lines[index]) || !isBlank(lines[index]) { index += 1 }
        guard let start = blockStart(lines, endOfTitle: index) else { return [] }

        var result: [(key: String, value: String)] = []
        for line in lines[start...] where !isComment(line) && !isBlank(line) {
            if let first = line.unicodeScalars.first, isSpace(first) {
                guard let last = result.indices.last else { continue }
                let more = trimmed(Substring(line).unicodeScalars)
                result[last].value = result[last].value.isEmpty ? more : result[last].value + " " + more
            } else if let separator = separatorIndex(line) {
                let scalars = Substring(line).unicodeScalars
                let key = trimmed(scalars[..<separator])
                let value = trimmed(scalars[scalars.index(after: separator)...])
                result.append((key, value))
            }
        }
        return result
    }

    /// The value of the first trailer named `key` (compared case-insensitively), or `nil`.
    public static func value(_ key: String, in message: String) -> String? {
        let wanted = key.lowercased()
        return parse(message).first { $0.key.lowercased() == wanted }?.value
    }

    /// The lines of `message`, split at `\n` only (as git does), each without a final `\r`.
    static func lines(of message: String) -> [String] {
        message.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            String(Substring(line.last == "\r" ? line.dropLast() : line))
        }
    }

    /// Where the trailer block starts, by git's `find_trailer_block_start`, or `nil` when there is none.
    private static func blockStart(_ lines: [String], endOfTitle: Int) -> Int? {
        var trailerLines = 0
        var nonTrailerLines = 0
        var possibleContinuationLines = 0
        var hasRecognizedPrefix = false
        var onlySpaces = true
        for index in stride(from: lines.count - 1, through: endOfTitle, by: -1) {
            let line = lines[index]
            if isComment(line) {
                nonTrailerLines += possibleContinuationLines
                possibleContinuationLines = 0
                continue
            }
            if isBlank(line) {
                if onlySpaces { continue }
                nonTrailerLines += possibleContinuationLines
                if hasRecognizedPrefix && trailerLines * 3 >= nonTrailerLines { return index + 1 }
                if trailerLines > 0 && nonTrailerLines == 0 { return index + 1 }
                return nil
            }
            onlySpaces = false
            if gitGeneratedPrefixes.contains(where: { line.hasPrefix($0) }) {
                trailerLines += 1
                possibleContinuationLines = 0
                hasRecognizedPrefix = true
            } else if separatorIndex(line) != nil {
                trailerLines += 1
                possibleContinuationLines = 0
            } else if let first = line.unicodeScalars.first, isSpace(first) {
                possibleContinuationLines += 1
            } else {
                nonTrailerLines += 1 + possibleContinuationLines
                possibleContinuationLines = 0
            }
        }
        return nil
    }

    private static let gitGeneratedPrefixes = ["Signed-off-by: ", "(cherry picked from commit "]

    /// The index of the `:` ending a trailer key, by git's `find_separator`; `nil` when the line is no trailer.
    private static func separatorIndex(_ line: String) -> String.Index? {
        var hasWhitespace = false
        let scalars = line.unicodeScalars
        for position in scalars.indices {
            let scalar = scalars[position]
            if scalar == ":" { return position == scalars.startIndex ? nil : position }
            if !hasWhitespace && (isASCIILetterOrDigit(scalar) || scalar == "-") { continue }
            if position != scalars.startIndex && (scalar == " " || scalar == "\t") {
                hasWhitespace = true
                continue
            }
            return nil
        }
        return nil
    }

    private static func isASCIILetterOrDigit(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9": true
        default: false
        }
    }

    private static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        scalar == " " || scalar == "\t" || scalar == "\n" || scalar == "\r"
    }

    private static func isBlank(_ line: String) -> Bool { line.unicodeScalars.allSatisfy(isSpace) }

    private static func isComment(_ line: String) -> Bool { line.unicodeScalars.first == "#" }

    private static func trimmed(_ scalars: Substring.UnicodeScalarView) -> String {
        guard let first = scalars.firstIndex(where: { !isSpace($0) }),
            let last = scalars.lastIndex(where: { !isSpace($0) })
        else { return "" }
        return String(Substring(scalars[first...last]))
    }
}
