/// The naming rules for pools and locks (docs/resource.md#names).
///
/// Every check returns `nil` for a valid name, or the rule the name breaks as short lower-case text that callers put
/// after the JSON-quoted name: `source.pool "ops/../x": segment ".." is not allowed`.
public enum NameRule {
    /// The largest size of a lock name, in UTF-8 bytes.
    public static let maximumLockNameBytes = 255

    /// Checks a pool name: a non-empty relative path whose `/`-separated segments are not empty, `.`, `..` or `.git`
    /// (any letter case), without control characters.
    ///
    /// - Returns: `nil` when `name` is a valid pool name, else the first rule it breaks.
    public static func poolProblem(_ name: String) -> String? {
        if name.isEmpty { return "must not be empty" }
        if name.unicodeScalars.contains(where: isControl) { return "contains a control character" }
        if name.hasPrefix("/") { return "must not start with \"/\"" }
        if name.hasSuffix("/") { return "must not end with \"/\"" }
        for segment in name.split(separator: "/", omittingEmptySubsequences: false) {
            if segment.isEmpty { return "has an empty segment" }
            if segment == "." || segment == ".." || segment.lowercased() == ".git" {
                return "segment \(jsonQuoted(String(segment))) is not allowed"
            }
        }
        return nil
    }

    /// Checks a lock name: a single path segment, non-empty, without `/`, not starting with `.`, without control
    /// characters and at most ``maximumLockNameBytes`` UTF-8 bytes long.
    ///
    /// - Returns: `nil` when `name` is a valid lock name, else the first rule it breaks.
    public static func lockProblem(_ name: String) -> String? {
        if name.isEmpty { return "must not be empty" }
        // Byte checks: this runs for every entry of a pool, and Foundation's `contains` on String is slow.
        if name.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) { return "contains a control character" }
        if name.utf8.contains(UInt8(ascii: "/")) { return "must not contain \"/\"" }
        if name.utf8.first == UInt8(ascii: ".") { return "must not start with \".\"" }
        if name.utf8.count > maximumLockNameBytes { return "is longer than \(maximumLockNameBytes) bytes" }
        return nil
    }

    /// Returns `s` as a JSON string literal, quotes included, for showing a user-supplied name in a message.
    ///
    /// `"` and `\` are escaped, control characters become `\n`, `\t`, `\r`, `\b`, `\f` or `\u00XX` (lower-case hex),
    /// and U+007F becomes `\u007f`, so the result is always one printable line. Other characters are kept as they are.
    public static func jsonQuoted(_ s: String) -> String {
        var result = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "\u{08}": result += "\\b"
            case "\u{0C}": result += "\\f"
            case _ where isControl(scalar):
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    /// Reads a lock name from the bytes of a step directory's `name` file.
    ///
    /// Surrounding whitespace (Unicode `White_Space`, including newlines) is trimmed; the rest must be valid UTF-8 and
    /// obey the lock rule (``lockProblem(_:)``).
    ///
    /// - Parameter bytes: the file's content.
    /// - Returns: the lock name, or a ``LockNameFileProblem`` saying why the content is not one.
    public static func lockName(fromFile bytes: [UInt8]) -> Result<String, LockNameFileProblem> {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return .failure(LockNameFileProblem(name: nil, rule: "is not valid UTF-8"))
        }
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else {
            return .failure(LockNameFileProblem(name: "", rule: "must not be empty"))
        }
        let name = String(scalars[first...last])
        if let rule = lockProblem(name) { return .failure(LockNameFileProblem(name: name, rule: rule)) }
        return .success(name)
    }

    /// Whether `scalar` is a control character in the sense of docs/resource.md#names: U+0000–U+001F or U+007F.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || scalar.value == 0x7F
    }
}

/// Why the content of a `name` file is not a lock name.
///
/// `description` reads `lock name "a/b": must not contain "/"`, or `lock name is not valid UTF-8`.
public struct LockNameFileProblem: Error, Sendable, Equatable, CustomStringConvertible {
    /// The trimmed name, or `nil` when the content is not valid UTF-8.
    public var name: String?
    /// The rule broken, as returned by ``NameRule/lockProblem(_:)``, or `is not valid UTF-8`.
    public var rule: String

    /// Creates a problem report.
    public init(name: String?, rule: String) {
        self.name = name
        self.rule = rule
    }

    /// The problem as a message fragment, with the name JSON-quoted.
    public var description: String {
        if let name { "lock name \(NameRule.jsonQuoted(name)): \(rule)" } else { "lock name \(rule)" }
    }
}

/// Reads a lock name from the bytes of a step directory's `name` file; the same as
/// ``NameRule/lockName(fromFile:)``.
///
/// - Parameter bytes: the file's content.
/// - Returns: the trimmed lock name, or a ``LockNameFileProblem``.
public func lockNameFromFile(_ bytes: [UInt8]) -> Result<String, LockNameFileProblem> {
    NameRule.lockName(fromFile: bytes)
}
