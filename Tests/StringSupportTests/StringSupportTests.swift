import Foundation
import StringSupport
import TestSupport
import Testing

/// StringSupport replaces Foundation's string operations in the sources (those would link ICU into the image); each
/// test holds it to Foundation's own answer on the same inputs, where Foundation is linked (here, in the tests).
@Suite struct StringSupportTests {
    /// Hand-picked edge cases and a seeded random corpus over ASCII, controls, `%` and multi-byte characters.
    static let corpus: [String] = {
        var texts = [
            "", "a", "%", "%%", "%2", "%2F", "%2f", "%zz", "a%20b", "%E2%82%AC", "%C3", "%C3%28", "%FF%FE", "100%",
            "p@ss:w/rd?#[]", "user name", "ünïcödé", "€uro", "🔒 lock", "tab\there", "line\nbreak", "\r\n", "~-._",
            "!$&'()*+,;=", ":@/?#[]", "\u{0}", "\u{7F}", "\u{85}", "\u{A0}", "\u{2028}", "\u{3000}x\u{3000}",
        ]
        var generator = SeededRandom(seed: 0x5EED)
        let alphabet = Array("aZ09 %-._~!$&'()*+,;=:@/?#[]\"<>\\^`{|}\t\n\r\u{85}\u{A0}\u{2028}é€🔒")
        let hex = Array("0123456789abcdefABCDEFgG")
        for _ in 0..<2000 {
            var text = ""
            for _ in 0..<Int.random(in: 0...12, using: &generator) {
                if Int.random(in: 0..<4, using: &generator) == 0 {
                    text +=
                        "%" + String(hex.randomElement(using: &generator)!)
                        + String(hex.randomElement(using: &generator)!)
                } else {
                    text.append(alphabet.randomElement(using: &generator)!)
                }
            }
            texts.append(text)
        }
        return texts
    }()

    @Test(arguments: [
        (URLCharacters.userinfo, CharacterSet.urlUserAllowed),
        (URLCharacters.userinfo, CharacterSet.urlPasswordAllowed),
        (URLCharacters.pathSegment, CharacterSet.urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))),
        (
            URLCharacters.unreserved,
            CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        ),
        (
            URLCharacters.uriComponent,
            CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()")
        ),
    ])
    func encodesAsFoundation(_ ours: URLCharacters, _ foundation: CharacterSet) {
        for text in Self.corpus {
            #expect(
                text.percentEncoded(allowing: ours) == text.addingPercentEncoding(withAllowedCharacters: foundation))
        }
    }

    @Test func alphanumericsAreASCII() {
        #expect("aZ09".percentEncoded(allowing: .alphanumerics) == "aZ09")
        // Foundation's .alphanumerics would keep these unencoded, which no URL parser reads back as written.
        #expect("é٣".percentEncoded(allowing: .alphanumerics) == "%C3%A9%D9%A3")
        #expect("{\"a\":1}".percentEncoded(allowing: .alphanumerics) == "%7B%22a%22%3A1%7D")
    }

    @Test func decodesAsFoundation() {
        for text in Self.corpus {
            #expect(text.percentDecoded == text.removingPercentEncoding, "\(text.debugDescription)")
        }
        #expect("a%2Fb"[...].percentDecoded == "a/b")
    }

    @Test func encodingRoundTrips() {
        for text in Self.corpus {
            #expect(text.percentEncoded(allowing: .unreserved).percentDecoded == text)
        }
    }

    @Test(arguments: [
        (TrimmedCharacters.whitespaces, CharacterSet.whitespaces),
        (TrimmedCharacters.newlines, CharacterSet.newlines),
        (TrimmedCharacters.whitespacesAndNewlines, CharacterSet.whitespacesAndNewlines),
    ])
    func trimsAsFoundation(_ ours: TrimmedCharacters, _ foundation: CharacterSet) {
        var cases = Self.corpus
        // Every character of each set, alone, around text and repeated.
        let spaces = ["\t", " ", "\u{A0}", "\u{1680}", "\u{2000}", "\u{200A}", "\u{202F}", "\u{205F}", "\u{3000}"]
        let newlines = ["\n", "\u{0B}", "\u{0C}", "\r", "\u{85}", "\u{2028}", "\u{2029}", "\r\n"]
        for blank in spaces + newlines { cases += [blank, blank + "x" + blank, blank + blank + "a b" + blank] }
        cases += ["\u{200B}x", "x\u{200B}", "x\u{FEFF}", "\u{FEFF}x", "\u{180E}x"]
        for text in cases {
            #expect(text.trimming(ours) == text.trimmingCharacters(in: foundation), "\(text.debugDescription)")
        }
    }

    @Test(arguments: [
        ("/tmp", "x"), ("/tmp/", "x"), ("", "x"), ("/", "x"), ("a", "b/c"), ("relative/dir", "file"), ("/tmp", ""),
        ("", ""), ("/tmp", "lockpool-home-1000"),
    ])
    func joinsPathsAsNSString(_ base: String, _ component: String) {
        #expect(FilePaths.join(base, component) == (base as NSString).appendingPathComponent(component))
    }

    @Test(arguments: [
        ("/tmp/x", "/tmp"), ("/tmp/x/", "/tmp"), ("/tmp//x", "/tmp"), ("/x", "/"), ("x", ""), ("/", "/"), ("a/b", "a"),
        ("", ""),
    ])
    func parentDirectory(_ path: String, _ parent: String) {
        #expect(FilePaths.parent(of: path) == parent)
    }

    /// Where NSString keeps a doubled slash, one is written, as Go's `filepath.Join` (the upstream resource's) does.
    @Test(arguments: [
        ("/tmp//", "x", "/tmp/x"), ("/tmp", "/x", "/tmp/x"), ("//", "x", "/x"), ("/tmp", "//x", "/tmp/x"),
    ])
    func joinsWithOneSlash(_ base: String, _ component: String, _ joined: String) {
        #expect(FilePaths.join(base, component) == joined)
    }
}

/// The one reader of a URL's userinfo (security review, finding 11).
@Suite struct URLUserinfoTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let url: String
        var defaultScheme: String? = nil
        /// userinfo, user, password, the URL without them; nil when no userinfo is found.
        let expected: (userinfo: String, user: String, password: String?, stripped: String)?
        var testDescription: String { url }
    }

    @Test(arguments: [
        Case(url: "https://u:pw@host/repo.git", expected: ("u:pw", "u", "pw", "https://host/repo.git")),
        Case(url: "https://tok@host", expected: ("tok", "tok", nil, "https://host")),
        Case(url: "https://u:@host/x", expected: ("u:", "u", "", "https://host/x")),
        Case(url: "https://u:pa/ss@host/x", expected: ("u:pa/ss", "u", "pa/ss", "https://host/x")),
        Case(url: "https://u:p?w#d@host:8443/x", expected: ("u:p?w#d", "u", "p?w#d", "https://host:8443/x")),
        Case(url: "HTTPS://u:pa/ss@host/x", expected: ("u:pa/ss", "u", "pa/ss", "HTTPS://host/x")),
        // A port, no colon, IPv6, or another scheme: the authority ends at the first delimiter.
        Case(url: "https://host:8443/path/a@b", expected: nil),
        Case(url: "https://host/path@x", expected: nil),
        Case(url: "https://[::1]:8443/a@b", expected: nil),
        Case(url: "ssh://git:pa/ss@host/x", expected: nil),
        Case(url: "ssh://git@host:2222/x", expected: ("git", "git", nil, "ssh://host:2222/x")),
        Case(url: "https://a@b@host/x", expected: ("a@b", "a@b", nil, "https://host/x")),
        // Without a scheme: only with a default one.
        Case(url: "u:pw@gw:9091", expected: nil),
        Case(url: "u:pw@gw:9091/x", defaultScheme: "http", expected: ("u:pw", "u", "pw", "gw:9091/x")),
        Case(url: "git@host:ops/locks.git", expected: nil),
        Case(url: "/srv/locks.git", defaultScheme: "http", expected: nil),
    ])
    func findsTheUserinfo(_ c: Case) {
        let info = URLUserinfo(in: c.url, defaultScheme: c.defaultScheme)
        #expect(info.map { String($0.userinfo) } == c.expected?.userinfo)
        #expect(info.map { String($0.user) } == c.expected?.user)
        #expect(info?.password.map(String.init) == c.expected?.password)
        #expect(info?.withoutUserinfo == c.expected?.stripped)
    }

    @Test func passwordSecrets() {
        #expect(URLUserinfo(in: "https://u:p%2Fw@h")?.passwordSecrets == ["u:p%2Fw", "p%2Fw", "p/w"])
        #expect(URLUserinfo(in: "https://u:%zz@h")?.passwordSecrets == ["u:%zz", "%zz"])
        #expect(URLUserinfo(in: "https://u:@h")?.passwordSecrets == [])
        #expect(URLUserinfo(in: "https://tok@h")?.passwordSecrets == [])
    }

    /// Ties (`0.25`, `2.5`), values just either side of one, and the ends of a percentage.
    @Test(arguments: [0, 0.05, 0.25, 0.35, 2.5, 2.45, 12.3456, 33.333_333, 66.65, 99.95, 99.949_999, 100, 1234.56])
    func oneDecimalIsPrintfs(_ value: Double) {
        #expect(Decimals.oneDecimal(value) == String(format: "%.1f", value))
    }

    /// The nearest tenth of the exact binary value: 0.25 is a tie (to even), 0.35 and 0.15 are just below their
    /// halves, 0.05, 2.45 and 99.95 just above.
    @Test func oneDecimalRoundsTheExactBinaryValue() {
        let written = [0.25, 0.35, 0.15, 0.05, 2.45, 99.95].map(Decimals.oneDecimal)
        #expect(written == ["0.2", "0.3", "0.1", "0.1", "2.5", "100.0"])
    }

    @Test func percentIsATenthOfAPercent() {
        #expect(Decimals.percent(0.456) == "45.6%")
        #expect(Decimals.percent(1) == "100.0%")
        #expect(Decimals.percent(0) == "0.0%")
        #expect(Decimals.percent(0.0025) == "0.2%")
    }
}
