import LockPool
import Testing

struct NameRuleCase: Sendable, CustomTestStringConvertible {
    let name: String
    let expected: String?
    var testDescription: String { "\(NameRule.jsonQuoted(name)) → \(expected ?? "valid")" }
}

@Test(arguments: [
    NameRuleCase(name: "ops", expected: nil),
    NameRuleCase(name: "ops/env", expected: nil),
    NameRuleCase(name: "cf-deployment/fresh", expected: nil),
    NameRuleCase(name: "a/b/c/d", expected: nil),
    NameRuleCase(name: "...", expected: nil),
    NameRuleCase(name: ".gitkeep", expected: nil),
    NameRuleCase(name: ".hidden/pool", expected: nil),
    NameRuleCase(name: "git", expected: nil),
    NameRuleCase(name: "x.git", expected: nil),
    NameRuleCase(name: "umlaut-ä/日本", expected: nil),
    NameRuleCase(name: "with space", expected: nil),
    NameRuleCase(name: "", expected: "must not be empty"),
    NameRuleCase(name: "/ops", expected: "must not start with \"/\""),
    NameRuleCase(name: "/", expected: "must not start with \"/\""),
    NameRuleCase(name: "ops/", expected: "must not end with \"/\""),
    NameRuleCase(name: "ops//env", expected: "has an empty segment"),
    NameRuleCase(name: ".", expected: "segment \".\" is not allowed"),
    NameRuleCase(name: "ops/./x", expected: "segment \".\" is not allowed"),
    NameRuleCase(name: "..", expected: "segment \"..\" is not allowed"),
    NameRuleCase(name: "ops/../x", expected: "segment \"..\" is not allowed"),
    NameRuleCase(name: "ops/..", expected: "segment \"..\" is not allowed"),
    NameRuleCase(name: ".git", expected: "segment \".git\" is not allowed"),
    NameRuleCase(name: "ops/.GIT/x", expected: "segment \".GIT\" is not allowed"),
    NameRuleCase(name: "ops/.Git", expected: "segment \".Git\" is not allowed"),
    NameRuleCase(name: "ops\nx", expected: "contains a control character"),
    NameRuleCase(name: "ops\u{0}", expected: "contains a control character"),
    NameRuleCase(name: "\u{1F}ops", expected: "contains a control character"),
    NameRuleCase(name: "ops\u{7F}", expected: "contains a control character"),
    NameRuleCase(name: "/ops\t", expected: "contains a control character"),
])
func poolNameRule(_ c: NameRuleCase) {
    #expect(NameRule.poolProblem(c.name) == c.expected)
}

@Test(arguments: [
    NameRuleCase(name: "env-1", expected: nil),
    NameRuleCase(name: "a", expected: nil),
    NameRuleCase(name: "lock.with.dots", expected: nil),
    NameRuleCase(name: "with space", expected: nil),
    NameRuleCase(name: "日本語", expected: nil),
    NameRuleCase(name: "..x", expected: "must not start with \".\""),
    NameRuleCase(name: String(repeating: "x", count: 255), expected: nil),
    NameRuleCase(name: String(repeating: "é", count: 127), expected: nil),
    NameRuleCase(name: "", expected: "must not be empty"),
    NameRuleCase(name: "a/b", expected: "must not contain \"/\""),
    NameRuleCase(name: "/", expected: "must not contain \"/\""),
    NameRuleCase(name: ".gitkeep", expected: "must not start with \".\""),
    NameRuleCase(name: ".", expected: "must not start with \".\""),
    NameRuleCase(name: "..", expected: "must not start with \".\""),
    NameRuleCase(name: "a\nb", expected: "contains a control character"),
    NameRuleCase(name: "a\u{7F}", expected: "contains a control character"),
    NameRuleCase(name: "\u{0}", expected: "contains a control character"),
    NameRuleCase(name: String(repeating: "x", count: 256), expected: "is longer than 255 bytes"),
    NameRuleCase(name: String(repeating: "é", count: 128), expected: "is longer than 255 bytes"),
])
func lockNameRule(_ c: NameRuleCase) {
    #expect(NameRule.lockProblem(c.name) == c.expected)
}

struct JSONQuoteCase: Sendable, CustomTestStringConvertible {
    let input: String
    let quoted: String
    var testDescription: String { quoted }
}

@Test(arguments: [
    JSONQuoteCase(input: "ops/../x", quoted: #""ops/../x""#),
    JSONQuoteCase(input: "", quoted: #""""#),
    JSONQuoteCase(input: "a\"b", quoted: #""a\"b""#),
    JSONQuoteCase(input: "a\\b", quoted: #""a\\b""#),
    JSONQuoteCase(input: "a\nb\r\t", quoted: #""a\nb\r\t""#),
    JSONQuoteCase(input: "\u{8}\u{C}", quoted: #""\b\f""#),
    JSONQuoteCase(input: "\u{0}\u{1B}\u{1F}", quoted: #""\u0000\u001b\u001f""#),
    JSONQuoteCase(input: "\u{7F}", quoted: #""\u007f""#),
    JSONQuoteCase(input: "ä日本/é", quoted: #""ä日本/é""#),
])
func jsonQuoting(_ c: JSONQuoteCase) {
    #expect(NameRule.jsonQuoted(c.input) == c.quoted)
}

struct NameFileContentCase: Sendable, CustomTestStringConvertible {
    let bytes: [UInt8]
    let expected: Result<String, LockNameFileProblem>
    var testDescription: String { "\(bytes) → \(expected)" }
}

@Test(arguments: [
    NameFileContentCase(bytes: Array("env-1\n".utf8), expected: .success("env-1")),
    NameFileContentCase(bytes: Array("env-1".utf8), expected: .success("env-1")),
    NameFileContentCase(bytes: Array("  \t env 1 \r\n\n".utf8), expected: .success("env 1")),
    NameFileContentCase(bytes: Array("\u{A0}日本\u{2003}\n".utf8), expected: .success("日本")),
    NameFileContentCase(bytes: [], expected: .failure(LockNameFileProblem(name: "", rule: "must not be empty"))),
    NameFileContentCase(
        bytes: Array(" \n\t".utf8), expected: .failure(LockNameFileProblem(name: "", rule: "must not be empty"))),
    NameFileContentCase(
        bytes: [0x61, 0xFF, 0x0A], expected: .failure(LockNameFileProblem(name: nil, rule: "is not valid UTF-8"))),
    NameFileContentCase(
        bytes: Array("a/b\n".utf8), expected: .failure(LockNameFileProblem(name: "a/b", rule: "must not contain \"/\""))
    ),
    NameFileContentCase(
        bytes: Array(".x\n".utf8),
        expected: .failure(LockNameFileProblem(name: ".x", rule: "must not start with \".\""))),
    NameFileContentCase(
        bytes: Array("a\u{0}b".utf8),
        expected: .failure(LockNameFileProblem(name: "a\u{0}b", rule: "contains a control character"))),
])
func lockNameFromNameFile(_ c: NameFileContentCase) {
    #expect(NameRule.lockName(fromFile: c.bytes) == c.expected)
    #expect(lockNameFromFile(c.bytes) == c.expected)
}

@Test func lockNameFileProblemDescriptions() {
    #expect(
        LockNameFileProblem(name: "a/b", rule: "must not contain \"/\"").description
            == #"lock name "a/b": must not contain "/""#)
    #expect(
        LockNameFileProblem(name: "a\nb", rule: "contains a control character").description
            == #"lock name "a\nb": contains a control character"#)
    #expect(LockNameFileProblem(name: nil, rule: "is not valid UTF-8").description == "lock name is not valid UTF-8")
}
