/// Durations written as Go writes them (docs/resource.md#durations): `"10s"`, `"1m30s"`, `".5s"`, `"1h5m10s"`.
///
/// Parsing follows Go's `time.ParseDuration`, except that a negative result is an error, since no lockpool setting
/// takes a negative duration. Values are whole nanoseconds, at most ``maximum`` (Go's largest `time.Duration`).
public enum GoDuration {
    /// The largest duration accepted: 2⁶³−1 nanoseconds, `2562047h47m16.854775807s`.
    public static let maximum: Duration = .nanoseconds(Int64.max)

    /// Parses a duration in Go syntax: an optional sign, then one or more decimal numbers (fractions allowed, as in
    /// `1.5h` or `.5s`), each followed by a unit `ns`, `us`, `µs` (U+00B5), `μs` (U+03BC), `ms`, `s`, `m` or `h`;
    /// `"0"` needs no unit.
    ///
    /// - Parameter text: the duration, without surrounding whitespace.
    /// - Returns: the duration, truncated to whole nanoseconds.
    /// - Throws: ``GoDurationError/invalidSyntax`` for anything else (the empty string included),
    ///   ``GoDurationError/negative`` for a value below zero (`"-0s"` is zero) and ``GoDurationError/overflow`` above
    ///   ``maximum``.
    public static func parse(_ text: String) throws(GoDurationError) -> Duration {
        var bytes = Substring(text).utf8[...]
        var isNegative = false
        if let sign = bytes.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
            isNegative = sign == UInt8(ascii: "-")
            bytes = bytes.dropFirst()
        }
        if bytes.elementsEqual("0".utf8) { return .zero }
        if bytes.isEmpty { throw .invalidSyntax }
        var total: UInt64 = 0
        while !bytes.isEmpty {
            let value = try component(&bytes)
            guard value <= limit - total else { throw .overflow }
            total += value
        }
        if isNegative {
            if total == 0 { return .zero }
            throw .negative
        }
        guard total <= UInt64(Int64.max) else { throw .overflow }
        return .nanoseconds(Int64(total))
    }

    /// Go's bound on a magnitude while parsing, 2⁶³ (room for its negative minimum), kept so that what Go calls too
    /// large is too large here too, and its minimum `-2562047h47m16.854775808s` is `negative`, not `overflow`.
    private static let limit: UInt64 = 1 << 63

    /// Reads one number and its unit, `[0-9]*(\.[0-9]*)?unit`, off the front of `bytes`, in nanoseconds.
    private static func component(_ bytes: inout Substring.UTF8View) throws(GoDurationError) -> UInt64 {
        guard let first = bytes.first, first == UInt8(ascii: ".") || isDigit(first) else { throw .invalidSyntax }
        let wholeDigits = bytes.prefix(while: isDigit)
        let whole = try wholeNumber(wholeDigits)
        bytes = bytes.dropFirst(wholeDigits.count)
        var fraction: (numerator: UInt64, scale: Double) = (0, 1)
        var fractionDigitCount = 0
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            let fractionDigits = bytes.prefix(while: isDigit)
            fractionDigitCount = fractionDigits.count
            fraction = fractionValue(fractionDigits)
            bytes = bytes.dropFirst(fractionDigitCount)
        }
        guard !wholeDigits.isEmpty || fractionDigitCount > 0 else { throw .invalidSyntax }
        // The unit: everything up to the next number.
        let unitBytes = bytes.prefix { !isDigit($0) && $0 != UInt8(ascii: ".") }
        guard let unit = unitNanoseconds(unitBytes) else { throw .invalidSyntax }
        bytes = bytes.dropFirst(unitBytes.count)
        guard whole <= limit / unit else { throw .overflow }
        var value = whole * unit
        if fraction.numerator > 0 {
            // As in Go: a Double is exact enough here, since the fraction of the largest unit is below 3.6e12 ns.
            value += UInt64(Double(fraction.numerator) * (Double(unit) / fraction.scale))
            guard value <= limit else { throw .overflow }
        }
        return value
    }

    /// Decimal `digits` as a number, failing as soon as it passes ``limit``.
    private static func wholeNumber(_ digits: Substring.UTF8View) throws(GoDurationError) -> UInt64 {
        var whole: UInt64 = 0
        for digit in digits {
            guard whole <= limit / 10 else { throw .overflow }
            whole = whole * 10 + UInt64(digit - UInt8(ascii: "0"))
            guard whole <= limit else { throw .overflow }
        }
        return whole
    }

    /// The digits after a decimal point as Go keeps them, a numerator over a power of ten: digits that would take the
    /// numerator past ``limit`` are dropped rather than failing, since they are below a nanosecond's worth.
    private static func fractionValue(_ digits: Substring.UTF8View) -> (numerator: UInt64, scale: Double) {
        var numerator: UInt64 = 0
        var scale: Double = 1
        for digit in digits {
            guard numerator <= (limit - 1) / 10 else { break }
            let next = numerator * 10 + UInt64(digit - UInt8(ascii: "0"))
            guard next <= limit else { break }
            numerator = next
            scale *= 10
        }
        return (numerator, scale)
    }

    /// Converts a JSON number literal to that many seconds, exactly (no floating point): `0.5` is 500 ms, `1e3` is
    /// 1000 s.
    ///
    /// - Parameter literal: a JSON number as written, such as `10`, `-1`, `0.25` or `2E-3`.
    /// - Returns: the duration, truncated to whole nanoseconds.
    /// - Throws: ``GoDurationError/invalidSyntax`` when `literal` is not a JSON number, ``GoDurationError/negative``
    ///   for a value below zero and ``GoDurationError/overflow`` above ``maximum``.
    public static func parse(secondsLiteral literal: String) throws(GoDurationError) -> Duration {
        var bytes = Substring(literal).utf8[...]
        let isNegative = bytes.first == UInt8(ascii: "-")
        if isNegative { bytes = bytes.dropFirst() }
        let whole = bytes.prefix(while: isDigit)
        guard !whole.isEmpty, whole.count == 1 || whole.first != UInt8(ascii: "0") else { throw .invalidSyntax }
        bytes = bytes.dropFirst(whole.count)
        var fraction = bytes[bytes.startIndex..<bytes.startIndex]
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            fraction = bytes.prefix(while: isDigit)
            guard !fraction.isEmpty else { throw .invalidSyntax }
            bytes = bytes.dropFirst(fraction.count)
        }
        var exponent = 0
        if bytes.first == UInt8(ascii: "e") || bytes.first == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            var exponentIsNegative = false
            if let sign = bytes.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
                exponentIsNegative = sign == UInt8(ascii: "-")
                bytes = bytes.dropFirst()
            }
            let digits = bytes.prefix(while: isDigit)
            guard !digits.isEmpty else { throw .invalidSyntax }
            for digit in digits {
                // Saturate: any exponent this large already decides the outcome (zero or overflow).
                exponent = min(exponent * 10 + Int(digit - UInt8(ascii: "0")), 1_000_000)
            }
            if exponentIsNegative { exponent = -exponent }
            bytes = bytes.dropFirst(digits.count)
        }
        guard bytes.isEmpty else { throw .invalidSyntax }

        // value = digits × 10^power nanoseconds
        var digits = Array(whole) + Array(fraction)
        let power = exponent - fraction.count + 9
        if power < 0 {
            digits.removeLast(min(-power, digits.count))
        }
        while digits.first == UInt8(ascii: "0") { digits.removeFirst() }
        if digits.isEmpty { return .zero }
        if isNegative { throw .negative }
        let zeros = max(power, 0)
        let maximumDigits = String(Int64.max).utf8.count
        guard digits.count + zeros <= maximumDigits else { throw .overflow }
        var nanoseconds: UInt64 = 0
        for digit in digits + Array(repeating: UInt8(ascii: "0"), count: zeros) {
            nanoseconds = nanoseconds * 10 + UInt64(digit - UInt8(ascii: "0"))
        }
        guard nanoseconds <= UInt64(Int64.max) else { throw .overflow }
        return .nanoseconds(Int64(nanoseconds))
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private static func unitNanoseconds(_ unit: Substring.UTF8View.SubSequence) -> UInt64? {
        switch String(Substring(unit)) {
        case "ns": 1
        case "us", "\u{B5}s", "\u{3BC}s": 1_000
        case "ms": 1_000_000
        case "s": 1_000_000_000
        case "m": 60_000_000_000
        case "h": 3_600_000_000_000
        default: nil
        }
    }
}

/// Why a duration could not be read.
public enum GoDurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not Go duration syntax: a missing or unknown unit, no digits, stray characters, the empty string.
    case invalidSyntax
    /// Below zero.
    case negative
    /// Above ``GoDuration/maximum``.
    case overflow

    /// The problem as a message fragment: `is not a duration`, `is negative`, `is too large`.
    public var description: String {
        switch self {
        case .invalidSyntax: "is not a duration"
        case .negative: "is negative"
        case .overflow: "is too large (at most \(GoDuration.maximum.goDescription))"
        }
    }
}

extension Duration {
    /// The duration in seconds, as a `TimeInterval` (metrics, JSON reports, dates).
    public var timeInterval: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }

    /// The duration as Go's `time.Duration.String()` writes it: `"5m0s"`, `"1m30s"`, `"1.5s"`, `"100ms"`, `"2µs"`,
    /// `"0s"`, `"1h0m0s"`.
    ///
    /// The value is truncated to whole nanoseconds and clamped to Go's range (±2⁶³ nanoseconds); `µ` is U+00B5.
    public var goDescription: String {
        let (seconds, attoseconds) = components
        let wide = Int128(seconds) * 1_000_000_000 + Int128(attoseconds / 1_000_000_000)
        let clamped = min(max(wide, Int128(Int64.min)), Int128(Int64.max))
        let isNegative = clamped < 0
        var magnitude = UInt64(clamped.magnitude)
        var result: String
        if magnitude < 1_000_000_000 {
            // Below one second: the largest unit that fits, with a fraction.
            let unit: String
            let precision: Int
            switch magnitude {
            case 0: return "0s"
            case ..<1_000: (unit, precision) = ("ns", 0)
            case ..<1_000_000: (unit, precision) = ("\u{B5}s", 3)
            default: (unit, precision) = ("ms", 6)
            }
            let fraction = Self.goFraction(&magnitude, precision: precision)
            result = String(magnitude) + fraction + unit
        } else {
            let fraction = Self.goFraction(&magnitude, precision: 9)
            result = String(magnitude % 60) + fraction + "s"
            magnitude /= 60
            if magnitude > 0 {
                result = String(magnitude % 60) + "m" + result
                magnitude /= 60
                if magnitude > 0 { result = String(magnitude) + "h" + result }
            }
        }
        return isNegative ? "-" + result : result
    }

    /// Splits off the last `precision` decimal digits of `value` as `.ddd` without trailing zeros (empty when they
    /// are all zero), leaving the integer part in `value`. Go's `fmtFrac`.
    private static func goFraction(_ value: inout UInt64, precision: Int) -> String {
        var digits: [Character] = []
        var printing = false
        for _ in 0..<precision {
            let digit = value % 10
            printing = printing || digit != 0
            if printing { digits.append(Character(String(digit))) }
            value /= 10
        }
        return digits.isEmpty ? "" : "." + String(digits.reversed())
    }
}
