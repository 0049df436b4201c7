#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Figures for people, written the one way `lockpool stats` and the dashboard both write them, so that a page and the
/// command never disagree by a tenth (docs/dashboard.md#what-it-shows).
public enum Decimals {
    /// `value` with one decimal, as printf's `%.1f` writes it: the nearest tenth of the exact binary value, a tie to
    /// the even digit (`0.25` is `0.2`). Foundation's `String(format:)` is outside FoundationEssentials.
    public static func oneDecimal(_ value: Double) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        _ = withVaList([value]) { vsnprintf(&buffer, buffer.count, "%.1f", $0) }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `0.456` as `45.6%`.
    public static func percent(_ ratio: Double) -> String { oneDecimal(ratio * 100) + "%" }
}
