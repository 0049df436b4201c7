import Git
import LockPool

/// The JSON a resource step prints on success, written by hand so that keys keep the upstream order.
enum ResourceOutput {
    /// `in` and `out` output: the version and `lock_name` (when known) then `pool_name`.
    ///
    /// A set of locks (multi-lock) is named in the one `lock_name` value, joined by `, `: the metadata keeps exactly
    /// its two entries (docs/resource.md#executables-and-their-input-and-output).
    static func step(version: ObjectID, locks: [String], pool: String) -> [UInt8] {
        var metadata: [String] = []
        if !locks.isEmpty { metadata.append(field("lock_name", locks.joined(separator: ", "))) }
        metadata.append(field("pool_name", pool))
        return line("{\"version\":{\"ref\":\"\(version.hex)\"},\"metadata\":[\(metadata.joined(separator: ","))]}")
    }

    /// `check` output: versions oldest first.
    static func versions(_ versions: [ObjectID]) -> [UInt8] {
        line("[" + versions.map { "{\"ref\":\"\($0.hex)\"}" }.joined(separator: ",") + "]")
    }

    private static func field(_ name: String, _ value: String) -> String {
        "{\"name\":\(NameRule.jsonQuoted(name)),\"value\":\(NameRule.jsonQuoted(value))}"
    }

    private static func line(_ text: String) -> [UInt8] { Array((text + "\n").utf8) }
}
