/// Joins file paths as `NSString.appendingPathComponent` did, without NSString (outside FoundationEssentials).
public enum FilePaths {
    /// `base/component`, with one `/` between them: `join("/tmp/", "x")` and `join("/tmp", "/x")` are `/tmp/x`,
    /// `join("", "x")` is `x`, `join("/", "x")` is `/x`.
    public static func join(_ base: String, _ component: String) -> String {
        let tail = component.drop { $0 == "/" }
        guard !base.isEmpty else { return String(tail) }
        guard !tail.isEmpty else { return base }
        var head = Substring(base)
        while head.count > 1, head.hasSuffix("/") { head.removeLast() }
        return head == "/" ? "/" + tail : head + "/" + tail
    }

    /// The directory part of `path`, as `dirname` without its `.`: `parent(of: "/tmp/x")` is `/tmp`, `parent(of: "/x")`
    /// and `parent(of: "/")` are `/`, `parent(of: "x")` is empty.
    public static func parent(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        let parent = trimmed[..<slash].reversed().drop { $0 == "/" }.reversed()
        return parent.isEmpty ? "/" : String(parent)
    }
}
