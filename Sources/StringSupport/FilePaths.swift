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
}
