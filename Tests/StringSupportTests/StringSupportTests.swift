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
