import LockPool

/// What must hold for any input to the Go-duration parser (`GoDuration.parse` and `parse(secondsLiteral:)`) and to
/// `Duration.goDescription`. Used by the `fuzz-go-duration` target and by the main package's FuzzRegressionTests.
public enum GoDurationInvariants {
    /// Checks one input: the bytes as text for both parsers, and the first 8 bytes as a nanosecond count for
    /// rendering.
    ///
    /// - Returns: a description of every invariant broken; empty when all hold.
    public static func check(_ bytes: [UInt8]) -> [String] {
        var violations: [String] = []
        let text = String(decoding: bytes, as: UTF8.self)
        let shown = NameRule.jsonQuoted(text)

        // 1. A parsed duration is in range, renders as Go does, and the rendering parses back to the same value.
        let parsed = Result { () throws(GoDurationError) in try GoDuration.parse(text) }
        if case .success(let duration) = parsed {
            violations += roundTrip(duration, input: shown)
        }
        // 2. Inputs made only of whole numbers and units have an exact answer, computed here with 128-bit integers.
        if let expected = exactValue(text) {
            switch (expected, parsed) {
            case (.success(let want), .success(let got)) where want != got:
                violations.append("parse(\(shown)) = \(got), expected \(want)")
            case (.failure(let want), .failure(let got)) where want != got:
                violations.append("parse(\(shown)) threw \(got), expected \(want)")
            case (.success(let want), .failure(let got)):
                violations.append("parse(\(shown)) threw \(got), expected \(want)")
            case (.failure(let want), .success(let got)):
                violations.append("parse(\(shown)) = \(got), expected to throw \(want)")
            default: break
            }
        }
        // 3. A number of seconds is in range and round-trips through the Go rendering; an integer is exact.
        if case .success(let duration) = Result(catching: { () throws(GoDurationError) in
            try GoDuration.parse(secondsLiteral: text)
        }) {
            violations += roundTrip(duration, input: shown)
            if text.utf8.count <= 9, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let seconds = Int(text),
                duration != .seconds(seconds)
            {
                violations.append("parse(secondsLiteral: \(shown)) = \(duration), expected \(seconds)s")
            }
        }
        // 4. Any nanosecond count renders to text that parses back to it (or to `negative` below zero).
        if bytes.count >= 8 {
            let nanoseconds = bytes.prefix(8).reduce(Int64(0)) { $0 << 8 | Int64($1) }
            let rendered = Duration.nanoseconds(nanoseconds).goDescription
            switch Result(catching: { () throws(GoDurationError) in try GoDuration.parse(rendered) }) {
            case .success(let back) where back != .nanoseconds(nanoseconds):
                violations.append("\(nanoseconds)ns renders as \(rendered), which parses as \(back)")
            case .failure(let error) where nanoseconds >= 0 || error != .negative:
                violations.append("\(nanoseconds)ns renders as \(rendered), which throws \(error)")
            default: break
            }
        }
        return violations
    }

    private static func roundTrip(_ duration: Duration, input: String) -> [String] {
        guard duration >= .zero, duration <= GoDuration.maximum else {
            return ["\(input) parses to \(duration), outside 0...maximum"]
        }
        let (_, attoseconds) = duration.components
        guard attoseconds % 1_000_000_000 == 0 else { return ["\(input) parses to \(duration), not whole nanoseconds"] }
        let rendered = duration.goDescription
        switch Result(catching: { () throws(GoDurationError) in try GoDuration.parse(rendered) }) {
        case .success(let back) where back == duration:
            return back.goDescription == rendered ? [] : ["\(rendered) re-renders as \(back.goDescription)"]
        case .success(let back):
            return ["\(input) parses to \(duration), rendered \(rendered), which parses as \(back)"]
        case .failure(let error):
            return ["\(input) parses to \(duration), rendered \(rendered), which throws \(error)"]
        }
    }

    /// The exact result of `text` when it is an optional sign then one or more `<digits><unit>` (no fractions), or
    /// `nil` for any other text.
    static func exactValue(_ text: String) -> Result<Duration, GoDurationError>? {
        var scalars = Substring(text).unicodeScalars[...]
        var isNegative = false
        if let sign = scalars.first, sign == "-" || sign == "+" {
            isNegative = sign == "-"
            scalars = scalars.dropFirst()
        }
        if String(scalars) == "0" { return .success(.zero) }
        guard !scalars.isEmpty else { return nil }
        var total: Int128 = 0
        var overflowed = false
        while !scalars.isEmpty {
            let digits = scalars.prefix { $0.properties.numericType != nil && $0.isASCII }
            guard !digits.isEmpty, digits.count <= 30 else { return nil }
            scalars = scalars.dropFirst(digits.count)
            let unitScalars = scalars.prefix { !($0.isASCII && $0.properties.numericType != nil) }
            scalars = scalars.dropFirst(unitScalars.count)
            let unit: Int128
            switch String(unitScalars) {
            case "ns": unit = 1
            case "us", "\u{B5}s", "\u{3BC}s": unit = 1_000
            case "ms": unit = 1_000_000
            case "s": unit = 1_000_000_000
            case "m": unit = 60_000_000_000
            case "h": unit = 3_600_000_000_000
            default: return nil
            }
            guard let number = Int128(String(digits)) else { return nil }
            let (product, productOverflow) = number.multipliedReportingOverflow(by: unit)
            let (sum, sumOverflow) = total.addingReportingOverflow(product)
            if productOverflow || sumOverflow || sum > Int128(UInt64(1) << 63) { overflowed = true }
            if !overflowed { total = sum }
        }
        // Go checks the range before the sign: -2562048h is too large, not negative.
        if overflowed { return .failure(.overflow) }
        if isNegative { return total == 0 ? .success(.zero) : .failure(.negative) }
        if total > Int128(Int64.max) { return .failure(.overflow) }
        return .success(.nanoseconds(Int64(total)))
    }
}
