import Git

/// The JSON a resource step prints on success, written by hand so that keys keep the upstream order.
enum ResourceOutput {
    /// `in` and `out` output: the version and `lock_name` (when known) then `pool_name`.
    static func step(version: ObjectID, lock: String?, pool: String) -> [UInt8] {
        var metadata: [String] = []
        if let lock { metadata.append(field("lock_name", lock)) }
        metadata.append(field("pool_name", pool))
        return line("{\"version\":{\"ref\":\"\(version.hex)\"},\"metadata\":[\(metadata.joined(separator: ","))]}")
    }

    /// `check` output: versions oldest first.
    static func versions(_ versions: [ObjectID]) -> [UInt8] {
        line("[" + versions.map { "{\"ref\":\"\($0.hex)\"}" }.joined(separator: ",") + "]")
    }

    private static func field(_ name: String, _ value: String) -> String {
        "{\"name\":\(quoted(name)),\"value\":\(quoted(value))}"
    }

    private static func line(_ text: String) -> [UInt8] { Array((text + "\n").utf8) }

    /// A JSON string literal: quotes, backslashes and control characters escaped; other text as UTF-8.
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
