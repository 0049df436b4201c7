import LockPool
import Testing

struct DurationParseCase: Sendable, CustomTestStringConvertible {
    let text: String
    let expected: Result<Duration, GoDurationError>
    var testDescription: String { "\(NameRule.jsonQuoted(text)) → \(expected)" }
}

private func ok(_ duration: Duration) -> Result<Duration, GoDurationError> { .success(duration) }

@Test(arguments: [
    DurationParseCase(text: "0", expected: ok(.zero)),
    DurationParseCase(text: "+0", expected: ok(.zero)),
    DurationParseCase(text: "-0", expected: ok(.zero)),
    DurationParseCase(text: "0s", expected: ok(.zero)),
    DurationParseCase(text: "-0s", expected: ok(.zero)),
    DurationParseCase(text: "10s", expected: ok(.seconds(10))),
    DurationParseCase(text: "+10s", expected: ok(.seconds(10))),
    DurationParseCase(text: "100ms", expected: ok(.milliseconds(100))),
    DurationParseCase(text: "1.5h", expected: ok(.seconds(5400))),
    DurationParseCase(text: "1h5m10s", expected: ok(.seconds(3910))),
    DurationParseCase(text: "1m30s", expected: ok(.seconds(90))),
    DurationParseCase(text: ".5s", expected: ok(.milliseconds(500))),
    DurationParseCase(text: "1.s", expected: ok(.seconds(1))),
    DurationParseCase(text: "1.000000001s", expected: ok(.nanoseconds(1_000_000_001))),
    DurationParseCase(text: "1.0000000001s", expected: ok(.seconds(1))),
    DurationParseCase(text: "5ns", expected: ok(.nanoseconds(5))),
    DurationParseCase(text: "2us", expected: ok(.microseconds(2))),
    DurationParseCase(text: "2\u{B5}s", expected: ok(.microseconds(2))),
    DurationParseCase(text: "2\u{3BC}s", expected: ok(.microseconds(2))),
    DurationParseCase(text: "3ms4us", expected: ok(.microseconds(3004))),
    DurationParseCase(text: "1h1h", expected: ok(.seconds(7200))),
    DurationParseCase(text: "0.1m", expected: ok(.seconds(6))),
    DurationParseCase(text: "39h9m14.425s", expected: ok(.milliseconds(140_954_425))),
    DurationParseCase(text: "2562047h47m16.854775807s", expected: ok(.nanoseconds(Int64.max))),
    DurationParseCase(text: "9223372036854775807ns", expected: ok(.nanoseconds(Int64.max))),
    DurationParseCase(text: "", expected: .failure(.invalidSyntax)),
    DurationParseCase(text: "abc", expected: .failure(.invalidSyntax)),
    DurationParseCase(text: "10", expected: .failure(.invalidSyntax)),
    DurationParseCase(text: "1.5", expected: .failure(.invalidSyntax)),
    DurationParseCase(text: "10x", expected: .failure(.invalidSyntax)),
    DurationParseCase(text: "10S", expected: .failure(.invalidSyntax)),
    DurationParseCase(text: "10 s", expected: .failure(.invalidSyntax)),
    DurationParseCase(text: " 10s", expected: .failure(.invalidSyntax)),
    DurationParseCase(text: "10s ", expected: .failure(.invalidSyntax)),
    DurationParseCase(text: ".s", expected: .failure(.invalidSyntax)),
    DurationParseCase(text: "s", expected: .failure(.invalidSyntax)),
    DurationParseCase(text: "-", expected: .failure(.invalidSyntax)),
    DurationParseCase(text: "+", expected: .failure(.invalidSyntax)),
    DurationParseCase(text: "1h-5m", expected: .failure(.invalidSyntax)),
    DurationParseCase(text: "1d", expected: .failure(.invalidSyntax)),
    DurationParseCase(text: "00", expected: .failure(.invalidSyntax)),
    DurationParseCase(text: "-5s", expected: .failure(.negative)),
    DurationParseCase(text: "-1ns", expected: .failure(.negative)),
    DurationParseCase(text: "-9223372036854775808ns", expected: .failure(.negative)),
    DurationParseCase(text: "9223372036854775808ns", expected: .failure(.overflow)),
    DurationParseCase(text: "2562048h", expected: .failure(.overflow)),
    DurationParseCase(text: "99999999999999999999s", expected: .failure(.overflow)),
    DurationParseCase(text: "2562047h48m", expected: .failure(.overflow)),
])
func parsesGoDurations(_ c: DurationParseCase) {
    #expect(Result { () throws(GoDurationError) in try GoDuration.parse(c.text) } == c.expected)
}

@Test(arguments: [
    DurationParseCase(text: "0", expected: ok(.zero)),
    DurationParseCase(text: "-0", expected: ok(.zero)),
    DurationParseCase(text: "10", expected: ok(.seconds(10))),
    DurationParseCase(text: "0.5", expected: ok(.milliseconds(500))),
    DurationParseCase(text: "0.1", expected: ok(.milliseconds(100))),
    DurationParseCase(text: "1.25", expected: ok(.milliseconds(1250))),
    DurationParseCase(text: "1e3", expected: ok(.seconds(1000))),
    DurationParseCase(text: "2E-3", expected: ok(.milliseconds(2))),
    DurationParseCase(text: "1.5e+1", expected: ok(.seconds(15))),
    DurationParseCase(text: "0.0000000001", expected: ok(.zero)),
    DurationParseCase(text: "1e-9", expected: ok(.nanoseconds(1))),
    DurationParseCase(text: "1e-999999999999", expected: ok(.zero)),
    DurationParseCase(text: "9223372036.854775807", expected: ok(.nanoseconds(Int64.max))),
    DurationParseCase(text: "9223372036.854775808", expected: .failure(.overflow)),
    DurationParseCase(text: "1e10", expected: .failure(.overflow)),
    DurationParseCase(text: "1e999999999999", expected: .failure(.overflow)),
    DurationParseCase(text: "-1", expected: .failure(.negative)),
    DurationParseCase(text: "-0.5", expected: .failure(.negative)),
    DurationParseCase(text: "", expected: .failure(.invalidSyntax)),
    DurationParseCase(text: "01", expected: .failure(.invalidSyntax)),
    DurationParseCase(text: "1.", expected: .failure(.invalidSyntax)),
    DurationParseCase(text: ".5", expected: .failure(.invalidSyntax)),
    DurationParseCase(text: "1e", expected: .failure(.invalidSyntax)),
    DurationParseCase(text: "10s", expected: .failure(.invalidSyntax)),
    DurationParseCase(text: "+1", expected: .failure(.invalidSyntax)),
])
func parsesSecondsLiterals(_ c: DurationParseCase) {
    #expect(Result { () throws(GoDurationError) in try GoDuration.parse(secondsLiteral: c.text) } == c.expected)
}

struct DurationFormatCase: Sendable, CustomTestStringConvertible {
    let duration: Duration
    let expected: String
    var testDescription: String { expected }
}

@Test(arguments: [
    DurationFormatCase(duration: .zero, expected: "0s"),
    DurationFormatCase(duration: .nanoseconds(1), expected: "1ns"),
    DurationFormatCase(duration: .nanoseconds(1100), expected: "1.1\u{B5}s"),
    DurationFormatCase(duration: .microseconds(2), expected: "2\u{B5}s"),
    DurationFormatCase(duration: .milliseconds(100), expected: "100ms"),
    DurationFormatCase(duration: .microseconds(2200), expected: "2.2ms"),
    DurationFormatCase(duration: .milliseconds(1500), expected: "1.5s"),
    DurationFormatCase(duration: .seconds(10), expected: "10s"),
    DurationFormatCase(duration: .seconds(90), expected: "1m30s"),
    DurationFormatCase(duration: .seconds(300), expected: "5m0s"),
    DurationFormatCase(duration: .seconds(3600), expected: "1h0m0s"),
    DurationFormatCase(duration: .seconds(3910), expected: "1h5m10s"),
    DurationFormatCase(duration: .milliseconds(75_300), expected: "1m15.3s"),
    DurationFormatCase(duration: .nanoseconds(1_000_000_001), expected: "1.000000001s"),
    DurationFormatCase(duration: .seconds(-90), expected: "-1m30s"),
    DurationFormatCase(duration: .milliseconds(-1), expected: "-1ms"),
    DurationFormatCase(duration: .nanoseconds(Int64.max), expected: "2562047h47m16.854775807s"),
    DurationFormatCase(duration: .nanoseconds(Int64.min), expected: "-2562047h47m16.854775808s"),
    DurationFormatCase(duration: .seconds(Int64.max), expected: "2562047h47m16.854775807s"),
    DurationFormatCase(duration: .seconds(1) / 3_000_000_000, expected: "0s"),
])
func formatsLikeGo(_ c: DurationFormatCase) {
    #expect(c.duration.goDescription == c.expected)
}

@Test(arguments: ["0s", "1ns", "1.5s", "1m30s", "5m0s", "1h0m0s", "100ms", "2\u{B5}s", "2562047h47m16.854775807s"])
func formatAndParseRoundTrip(_ text: String) throws {
    #expect(try GoDuration.parse(text).goDescription == text)
}

@Test func goDurationErrorDescriptions() {
    #expect(GoDurationError.invalidSyntax.description == "is not a duration")
    #expect(GoDurationError.negative.description == "is negative")
    #expect(GoDurationError.overflow.description == "is too large (at most 2562047h47m16.854775807s)")
}
