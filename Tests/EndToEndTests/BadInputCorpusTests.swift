import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A corpus of bad requests, step directories and argv for the built `check`, `in` and `out`
/// (docs/resource.md#repository-layout, #executables-and-their-input-and-output, #validation, #durations). Every case
/// expects exit status 1, a stderr message naming the offending key or file, nothing on stdout and no change to the
/// lock repository; the few cases the contract (docs/) accepts (warnings only, argv ignored) say so.
///
/// All cases share one origin (nothing may commit, and every case checks that the refs are unchanged). Cases run in
/// parallel, each blocking one thread of the test runner while its process runs, which bounds the parallelism.

// MARK: - Cases

/// A file written into a case's `out` source directory before the run.
enum CorpusFile: Sendable {
    case text(String)
    case bytes([UInt8])
    case directory
}

/// Which `source` object a request carries.
enum CorpusSource: Sendable {
    /// `uri`, `branch`, `pool` and `retry_delay` of the fixture, with these members replaced or added.
    case valid([String: JSONValue])
    /// The valid source without these keys.
    case without([String])
    /// This value instead of the source object.
    case replaced(JSONValue)
    /// No `source` member at all.
    case absent
}

/// What a case writes to stdin.
enum CorpusStdin: Sendable {
    /// `{"source": …, "params": …, "version": …}`; `nil` leaves a member out.
    case request(CorpusSource, params: JSONValue?, version: JSONValue?)
    /// These bytes, with `@SOURCE@` replaced by the fixture's valid source object.
    case raw([UInt8])
    /// A JSON text this many bytes long (an endless string in `source.uri`), generated at run time.
    case oversized(Int)
}

/// argv after the program name.
enum CorpusArguments: Sendable {
    /// `out`: the case's source directory; `in`: its destination; `check`: nothing.
    case standard
    /// Nothing at all.
    case none
    /// The standard arguments followed by these.
    case extra([String])
    /// Exactly these; `@BUILD@` and `@DEST@` become the case's source directory and destination.
    case exactly([String])
}

struct BadInputCase: Sendable, CustomTestStringConvertible {
    let label: String
    let executable: ResourceExecutable
    let stdin: CorpusStdin
    var arguments: CorpusArguments = .standard
    /// Files of the `out` source directory, by relative path (`step/name`).
    var files: [String: CorpusFile] = [:]
    /// Texts stderr must contain, each naming the offending key, file or value.
    let stderr: [String]
    /// 1 unless the contract (docs/) accepts the input (only warnings, or an ignored argument).
    var status: Int32 = 1

    var testDescription: String { "\(executable.rawValue): \(label)" }
}

private func ip(_ text: String) -> String { "invalid payload (\(text))" }
private let missingOperation =
    ip("missing acquire, release, remove, claim, add, add_claimed, update, check, or check_unclaimed")
private let durationHint = #"use e.g. "10s", "1m30s" or a number of seconds"#

/// `text` JSON-escaped as messages show names (docs/resource.md#names): quotes, backslashes and control characters
/// (U+0000–U+001F, U+007F) escaped, everything else as is.
private func jsonQuoted(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        case "\u{08}": result += "\\b"
        case "\u{0C}": result += "\\f"
        case _ where scalar.value < 0x20 || scalar.value == 0x7F:
            result +=
                "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                + String(scalar.value, radix: 16)
        default: result.unicodeScalars.append(scalar)
        }
    }
    return result + "\""
}

/// Builds the corpus tables.
enum Corpus {
    /// A request for `executable` whose source is `source`: `out` asks for `acquire`, the others carry no params.
    static func request(_ executable: ResourceExecutable, _ source: CorpusSource) -> CorpusStdin {
        .request(source, params: executable == .out ? ["acquire": true] : nil, version: nil)
    }

    /// `source.key` set to `value`.
    static func source(
        _ label: String, _ executable: ResourceExecutable, _ key: String, _ value: JSONValue, _ message: String
    ) -> BadInputCase {
        BadInputCase(
            label: label, executable: executable, stdin: request(executable, .valid([key: value])), stderr: [message])
    }

    /// An `out` request with these params.
    static func put(
        _ label: String, _ params: JSONValue?, files: [String: CorpusFile] = [:], source: [String: JSONValue] = [:],
        arguments: CorpusArguments = .standard, _ stderr: [String]
    ) -> BadInputCase {
        BadInputCase(
            label: label, executable: .out, stdin: .request(.valid(source), params: params, version: nil),
            arguments: arguments, files: files, stderr: stderr)
    }

    /// A raw stdin text for `executable`.
    static func raw(
        _ label: String, _ executable: ResourceExecutable, _ text: String, _ stderr: [String]
    ) -> BadInputCase {
        BadInputCase(label: label, executable: executable, stdin: .raw(Array(text.utf8)), stderr: stderr)
    }

    /// Raw stdin bytes for `executable`.
    static func bytes(
        _ label: String, _ executable: ResourceExecutable, _ bytes: [UInt8], _ stderr: [String]
    ) -> BadInputCase {
        BadInputCase(label: label, executable: executable, stdin: .raw(bytes), stderr: stderr)
    }

    static func typeMessage(_ path: String, _ expected: String, _ got: String) -> String {
        ip("\(path): expected \(expected), got \(got)")
    }

    // MARK: source keys with the wrong type

    static let sourceTypes: [BadInputCase] = {
        var cases: [BadInputCase] = []
        let executables: [ResourceExecutable] = [.check, .in, .out]
        var turn = 0
        func next() -> ResourceExecutable {
            defer { turn += 1 }
            return executables[turn % executables.count]
        }
        let wrong: [(String, JSONValue, String)] = [
            ("a number", 42, "a number"), ("a boolean", true, "a boolean"), ("an array", ["x"], "an array"),
            ("an object", ["x": "y"], "an object"),
        ]
        for key in [
            "uri", "branch", "pool", "private_key", "private_key_user", "private_key_passphrase", "username",
            "password",
            "prometheus_push_gateway", "known_hosts",
        ] {
            for (label, value, got) in wrong {
                cases.append(
                    source(
                        "source.\(key) is \(label)", next(), key, value, typeMessage("source.\(key)", "a string", got)))
            }
        }
        for key in ["forward_agent", "skip_ssl_verification", "fair"] {
            for (label, value, got) in [
                ("a number", JSONValue.integer(1), "a number"), ("an array", [true], "an array"),
            ]
                + [("an object", ["on": true], "an object")]
            {
                cases.append(
                    source(
                        "source.\(key) is \(label)", next(), key, value, typeMessage("source.\(key)", "a boolean", got))
                )
            }
            cases.append(
                source(
                    "source.\(key) is \"yes\"", next(), key, "yes",
                    ip(#"source.\#(key): expected true or false, got "yes""#)
                ))
        }
        cases += [
            source(
                "source.retry_delay is a boolean", .check, "retry_delay", true,
                typeMessage("source.retry_delay", "a duration string or a number of seconds", "a boolean")),
            source(
                "source.retry_delay is an array", .in, "retry_delay", ["10s"],
                typeMessage("source.retry_delay", "a duration string or a number of seconds", "an array")),
            source(
                "source.retry_delay is an object", .out, "retry_delay", ["s": 10],
                typeMessage("source.retry_delay", "a duration string or a number of seconds", "an object")),
            source(
                "source.retry_delay is no duration", .check, "retry_delay", "abc",
                ip(#"source.retry_delay: "abc" is not a duration; "# + durationHint)),
            source(
                "source.retry_delay has no unit", .in, "retry_delay", "10",
                ip(#"source.retry_delay: "10" is not a duration; "# + durationHint)),
            source(
                "source.retry_delay is negative", .out, "retry_delay", "-5s",
                ip(#"source.retry_delay: "-5s" is negative; "# + durationHint)),
            source(
                "source.retry_delay is a negative number", .check, "retry_delay", -1,
                ip("source.retry_delay: -1 is negative; " + durationHint)),
            source(
                "source.retry_delay overflows", .in, "retry_delay", "9999999999h",
                #"source.retry_delay: "9999999999h" is too large"#),
            source(
                "source.retry_delay has an unknown unit", .out, "retry_delay", "10d",
                ip(#"source.retry_delay: "10d" is not a duration; "# + durationHint)),
            source(
                "source.git_config is an object", .check, "git_config", ["name": "user.name"],
                typeMessage("source.git_config", "an array", "an object")),
            source(
                "source.git_config is a string", .in, "git_config", "user.name=x",
                typeMessage("source.git_config", "an array", "a string")),
            source(
                "source.git_config is a number", .out, "git_config", 1,
                typeMessage("source.git_config", "an array", "a number")),
            source(
                "source.git_config is a boolean", .check, "git_config", true,
                typeMessage("source.git_config", "an array", "a boolean")),
            source(
                "source.git_config entry is a string", .in, "git_config", ["user.name=x"],
                typeMessage("source.git_config[0]", "an object with name and value", "a string")),
            source(
                "source.git_config entry is null", .out, "git_config", [nil],
                typeMessage("source.git_config[0]", "an object with name and value", "null")),
            source(
                "source.git_config entry is an array", .check, "git_config", [["user.name", "x"]],
                typeMessage("source.git_config[0]", "an object with name and value", "an array")),
            source(
                "source.git_config entry without name", .in, "git_config", [["value": "x"]],
                ip("source.git_config[0]: missing name")),
            source(
                "source.git_config entry without value", .out, "git_config", [["name": "user.name"]],
                ip("source.git_config[0]: missing value")),
            source(
                "source.git_config entry with a number value", .check, "git_config",
                [["name": "user.name", "value": "a"], ["name": "http.sslVerify", "value": 0]],
                typeMessage("source.git_config[1].value", "a string", "a number")),
            source(
                "source.git_config entry with a boolean name", .in, "git_config", [["name": true, "value": "x"]],
                typeMessage("source.git_config[0].name", "a string", "a boolean")),
            source(
                "source.https_tunnel is a string", .check, "https_tunnel", "proxy:3128",
                typeMessage("source.https_tunnel", "an object", "a string")),
            source(
                "source.https_tunnel is an array", .in, "https_tunnel", ["proxy", 3128],
                typeMessage("source.https_tunnel", "an object", "an array")),
            source(
                "source.https_tunnel is a boolean", .out, "https_tunnel", true,
                typeMessage("source.https_tunnel", "an object", "a boolean")),
            source(
                "source.https_tunnel.proxy_host is a number", .check, "https_tunnel",
                ["proxy_host": 10, "proxy_port": 3128],
                typeMessage("source.https_tunnel.proxy_host", "a string", "a number")),
            source(
                "source.https_tunnel.proxy_port is a boolean", .in, "https_tunnel",
                ["proxy_host": "proxy", "proxy_port": true],
                typeMessage("source.https_tunnel.proxy_port", "a port number", "a boolean")),
            source(
                "source.https_tunnel.proxy_port is zero", .out, "https_tunnel",
                ["proxy_host": "proxy", "proxy_port": 0],
                ip("source.https_tunnel.proxy_port: expected a port number from 1 to 65535, got 0")),
            source(
                "source.https_tunnel.proxy_port is too large", .check, "https_tunnel",
                ["proxy_host": "proxy", "proxy_port": 70000],
                ip("source.https_tunnel.proxy_port: expected a port number from 1 to 65535, got 70000")),
            source(
                "source.https_tunnel.proxy_port is a fraction", .in, "https_tunnel",
                ["proxy_host": "proxy", "proxy_port": 80.5],
                ip("source.https_tunnel.proxy_port: expected a port number from 1 to 65535, got 80.5")),
            source(
                "source.https_tunnel.proxy_port is a word", .out, "https_tunnel",
                ["proxy_host": "proxy", "proxy_port": "http"],
                ip(#"source.https_tunnel.proxy_port: expected a port number from 1 to 65535, got "http""#)),
            source(
                "source.https_tunnel.proxy_port is negative", .check, "https_tunnel",
                ["proxy_host": "proxy", "proxy_port": -1],
                ip("source.https_tunnel.proxy_port: expected a port number from 1 to 65535, got -1")),
            source(
                "source.https_tunnel.proxy_user is an array", .in, "https_tunnel",
                ["proxy_host": "proxy", "proxy_port": 3128, "proxy_user": ["u"]],
                typeMessage("source.https_tunnel.proxy_user", "a string", "an array")),
            source(
                "source.https_tunnel.proxy_password is a number", .out, "https_tunnel",
                ["proxy_host": "proxy", "proxy_port": 3128, "proxy_password": 1234],
                typeMessage("source.https_tunnel.proxy_password", "a string", "a number")),
            source(
                "source.prometheus_push_gateway has a bad scheme", .check, "prometheus_push_gateway", "udp://gw:9091",
                ip(#"source.prometheus_push_gateway: "udp://gw:9091" uses the scheme 'udp'; use http or https"#)),
        ]
        return cases
    }()

    // MARK: missing and empty values

    static let missing: [BadInputCase] = {
        var cases: [BadInputCase] = []
        let upstream = [ip("missing uri"), ip("missing branch"), ip("missing pool")]
        for executable in [ResourceExecutable.check, .in, .out] {
            cases += [
                BadInputCase(
                    label: "no source", executable: executable, stdin: request(executable, .absent), stderr: upstream),
                BadInputCase(
                    label: "source is null", executable: executable, stdin: request(executable, .replaced(nil)),
                    stderr: upstream),
                BadInputCase(
                    label: "source is empty", executable: executable, stdin: request(executable, .replaced([:])),
                    stderr: upstream),
                BadInputCase(
                    label: "source is a string", executable: executable,
                    stdin: request(executable, .replaced("file:///srv/locks.git")),
                    stderr: [typeMessage("source", "an object", "a string")]),
            ]
        }
        cases += [
            BadInputCase(
                label: "source is an array", executable: .check, stdin: request(.check, .replaced([])),
                stderr: [typeMessage("source", "an object", "an array")]),
            BadInputCase(
                label: "source is a number", executable: .in, stdin: request(.in, .replaced(1)),
                stderr: [typeMessage("source", "an object", "a number")]),
            BadInputCase(
                label: "top-level key misspelt as sorce", executable: .check,
                stdin: .raw(Array(#"{"sorce":@SOURCE@}"#.utf8)), stderr: upstream),
        ]
        let executables: [ResourceExecutable] = [.check, .in, .out, .out, .in, .check, .in, .out, .check]
        for (index, key) in ["uri", "branch", "pool"].enumerated() {
            let variants: [(String, CorpusSource)] = [
                ("missing", .without([key])), ("null", .valid([key: nil])), ("empty", .valid([key: ""])),
            ]
            for (offset, (label, source)) in variants.enumerated() {
                let executable = executables[index * 3 + offset]
                cases.append(
                    BadInputCase(
                        label: "source.\(key) \(label)", executable: executable, stdin: request(executable, source),
                        stderr: [ip("missing \(key)")]))
            }
        }
        cases += [
            put("no params", nil, [missingOperation]),
            put("params is null", .null, [missingOperation]),
            put("params is empty", [:], [missingOperation]),
            put("acquire is false", ["acquire": false], [missingOperation]),
            put(#"acquire is "false""#, ["acquire": "false"], [missingOperation]),
            put("claim is empty", ["claim": ""], [missingOperation]),
            put("release is null", ["release": nil], [missingOperation]),
            put("only timeout and lease", ["timeout": "1m", "lease": "1h"], [missingOperation]),
            BadInputCase(
                label: "no source and no params", executable: .out, stdin: .request(.absent, params: nil, version: nil),
                stderr: [ip("missing uri"), ip("missing pool"), missingOperation]),
        ]
        return cases
    }()

    // MARK: params with the wrong type, bad values, no or two operations

    static let params: [BadInputCase] = {
        var cases: [BadInputCase] = [
            put("acquire is a number", ["acquire": 1], [typeMessage("params.acquire", "a boolean", "a number")]),
            put("acquire is \"yes\"", ["acquire": "yes"], [ip(#"params.acquire: expected true or false, got "yes""#)]),
            put("acquire is an array", ["acquire": [true]], [typeMessage("params.acquire", "a boolean", "an array")]),
            put("acquire is an object", ["acquire": [:]], [typeMessage("params.acquire", "a boolean", "an object")]),
            put("claim is a number", ["claim": 1], [typeMessage("params.claim", "a string", "a number")]),
            put("claim is true", ["claim": true], [typeMessage("params.claim", "a string", "a boolean")]),
            put("claim is an array", ["claim": ["env-1"]], [typeMessage("params.claim", "a string", "an array")]),
            put(
                "claim is an object", ["claim": ["name": "env-1"]],
                [typeMessage("params.claim", "a string", "an object")]),
            put("params is a string", "acquire", [typeMessage("params", "an object", "a string")]),
            put("params is an array", [["acquire": true]], [typeMessage("params", "an object", "an array")]),
            put("params is true", true, [typeMessage("params", "an object", "a boolean")]),
        ]
        let stepKeys = ["release", "add", "add_claimed", "remove", "update", "check", "check_unclaimed"]
        let wrong: [(String, JSONValue, String)] = [
            ("a number", 7, "a number"), ("true", true, "a boolean"), ("an array", ["step"], "an array"),
            ("an object", ["path": "step"], "an object"),
        ]
        for (index, key) in stepKeys.enumerated() {
            for (label, value, got) in [wrong[index % 4], wrong[(index + 1) % 4]] {
                cases.append(put("\(key) is \(label)", [key: value], [typeMessage("params.\(key)", "a string", got)]))
            }
        }
        let badPaths: [(String, String, String)] = [
            ("absolute", "/etc", "must be a path relative to the source directory, not an absolute path"),
            ("parent", "../outside", #"leaves the source directory through "..""#),
            ("nested parent", "a/../../x", #"leaves the source directory through "..""#),
            ("newline", "step\nx", "contains a control character"),
            ("NUL", "step\u{0}", "contains a control character"),
            ("escape", "\u{1B}[31mstep", "contains a control character"),
        ]
        for (index, (label, path, rule)) in badPaths.enumerated() {
            let key = stepKeys[index % stepKeys.count]
            let quoted = jsonQuoted(path)
            cases.append(put("\(key) path \(label)", [key: .string(path)], [ip("params.\(key) \(quoted): \(rule)")]))
        }
        cases += [
            put(
                "timeout is a boolean", ["acquire": true, "timeout": true],
                [typeMessage("params.timeout", "a duration string or a number of seconds", "a boolean")]),
            put(
                "timeout is an array", ["acquire": true, "timeout": ["1m"]],
                [typeMessage("params.timeout", "a duration string or a number of seconds", "an array")]),
            put(
                "timeout is no duration", ["acquire": true, "timeout": "soon"],
                [ip(#"params.timeout: "soon" is not a duration; "# + durationHint)]),
            put(
                "timeout is negative", ["acquire": true, "timeout": -5],
                [ip("params.timeout: -5 is negative; " + durationHint)]),
            put(
                "timeout overflows", ["acquire": true, "timeout": "99999999999999s"],
                [#"params.timeout: "99999999999999s" is too large"#]),
            put(
                "lease is a boolean", ["acquire": true, "lease": true],
                [typeMessage("params.lease", "a duration string or a number of seconds", "a boolean")]),
            put(
                "lease is zero", ["acquire": true, "lease": "0s"],
                [ip(#"params.lease: "0s" is zero; a lease must be positive"#)]),
            put(
                "lease is the number zero", ["claim": "env-1", "lease": 0],
                [ip("params.lease: 0 is zero; a lease must be positive")]),
            put(
                "lease is negative", ["acquire": true, "lease": "-1h"],
                [ip(#"params.lease: "-1h" is negative; a lease must be positive"#)]),
            put(
                "lease with release", ["release": "step", "lease": "1h"], files: ["step/name": .text("env-2")],
                [ip("params.lease applies only to acquire, claim, add_claimed and renew")]),
            put(
                "lease with check", ["check": "step", "lease": "1h"], files: ["step/name": .text("env-1")],
                [ip("params.lease applies only to acquire, claim, add_claimed and renew")]),
            put(
                "count is a boolean", ["acquire": true, "count": true],
                [typeMessage("params.count", "a whole number", "a boolean")]),
            put(
                "count is a word", ["acquire": true, "count": "two"],
                [ip(#"params.count: expected a whole number from 1 to 1000, got "two""#)]),
            put(
                "count is zero", ["acquire": true, "count": 0],
                [ip("params.count: 0 is out of range; take from 1 to 1000 locks at once")]),
            put(
                "count is too large", ["acquire": true, "count": 1001],
                [ip("params.count: 1001 is out of range; take from 1 to 1000 locks at once")]),
            put(
                "count is a fraction", ["acquire": true, "count": 1.5],
                [ip(#"params.count: expected a whole number from 1 to 1000, got "1.5""#)]),
            put("count with claim", ["claim": "env-1", "count": 2], [ip("params.count applies only to acquire")]),
            put(
                "claim and release", ["claim": "env-1", "release": "step"], files: ["step/name": .text("env-2")],
                [ip("more than one operation: claim, release; use one put step per operation")]),
            put(
                "acquire and claim", ["acquire": true, "claim": "env-1"],
                [ip("more than one operation: acquire, claim; use one put step per operation")]),
            put(
                "add and update", ["add": "step", "update": "step"],
                files: ["step/name": .text("new"), "step/metadata": .text("m")],
                [ip("more than one operation: add, update; use one put step per operation")]),
            put(
                "check and check_unclaimed", ["check": "step", "check_unclaimed": "step"],
                files: ["step/name": .text("env-1")],
                [ip("more than one operation: check, check_unclaimed; use one put step per operation")]),
            put(
                "three operations", ["acquire": "true", "remove": "step", "add_claimed": "step"],
                files: ["step/name": .text("env-2"), "step/metadata": .text("m")],
                [ip("more than one operation: acquire, add_claimed, remove; use one put step per operation")]),
            put(
                "two operations, one of a wrong type", ["claim": 5, "release": "step"],
                [typeMessage("params.claim", "a string", "a number"), "more than one operation: claim, release"]),
        ]
        // `in` params and versions.
        func get(_ label: String, params: JSONValue? = nil, version: JSONValue? = nil, _ message: String)
            -> BadInputCase
        {
            BadInputCase(
                label: label, executable: .in, stdin: .request(.valid([:]), params: params, version: version),
                stderr: [message])
        }
        cases += [
            get("depth is a string", params: ["depth": "5"], typeMessage("params.depth", "an integer", "a string")),
            get("depth is a boolean", params: ["depth": true], typeMessage("params.depth", "an integer", "a boolean")),
            get("depth is an array", params: ["depth": [1]], typeMessage("params.depth", "an integer", "an array")),
            get(
                "depth is negative", params: ["depth": -1],
                ip("params.depth: -1 is negative; use 0 for the full history")),
            get("depth is a fraction", params: ["depth": 1.5], ip("params.depth: expected an integer, got 1.5")),
            get("get params is a string", params: "depth", typeMessage("params", "an object", "a string")),
            get("get params is an array", params: [1], typeMessage("params", "an object", "an array")),
            get("version is a string", version: "abc", typeMessage("version", "an object", "a string")),
            get("version.ref is a number", version: ["ref": 1], typeMessage("version.ref", "a string", "a number")),
            get(
                "version.ref is an object", version: ["ref": ["id": "x"]],
                typeMessage("version.ref", "a string", "an object")),
            BadInputCase(
                label: "version is an array", executable: .check,
                stdin: .request(.valid([:]), params: nil, version: [["ref": "x"]]),
                stderr: [typeMessage("version", "an object", "an array")]),
            BadInputCase(
                label: "version.ref is a boolean", executable: .check,
                stdin: .request(.valid([:]), params: nil, version: ["ref": true]),
                stderr: [typeMessage("version.ref", "a string", "a boolean")]),
        ]
        return cases
    }()

    // MARK: unknown and misspelt keys (warnings only, docs/resource.md#unknown-and-misspelt-keys)

    static let unknownKeys: [BadInputCase] = [
        BadInputCase(
            label: "source.retry_dealy only warns", executable: .check,
            stdin: request(.check, .valid(["retry_dealy": "1s"])),
            stderr: ["warning: unknown key 'source.retry_dealy' ignored (did you mean 'retry_delay'?)"], status: 0),
        BadInputCase(
            label: "source.Retry-Delay only warns", executable: .check,
            stdin: request(.check, .valid(["Retry-Delay": "1s"])),
            stderr: ["warning: unknown key 'source.Retry-Delay' ignored (did you mean 'retry_delay'?)"], status: 0),
        BadInputCase(
            label: "source.timeout belongs in params", executable: .check,
            stdin: request(.check, .valid(["timeout": "1m"])),
            stderr: ["warning: 'source.timeout' is ignored; it belongs in params"], status: 0),
        BadInputCase(
            label: "https_tunnel.proxy_hots only warns", executable: .check,
            stdin: request(.check, .valid(["https_tunnel": ["proxy_hots": "proxy"]])),
            stderr: ["warning: unknown key 'source.https_tunnel.proxy_hots' ignored (did you mean 'proxy_host'?)"],
            status: 0),
        BadInputCase(
            label: "params.dept only warns", executable: .in,
            stdin: .request(.valid([:]), params: ["dept": 1], version: nil),
            stderr: ["warning: unknown key 'params.dept' ignored (did you mean 'depth'?)"], status: 0),
        BadInputCase(
            label: "put param in a get step only warns", executable: .in,
            stdin: .request(.valid([:]), params: ["acquire": true], version: nil),
            stderr: ["warning: 'params.acquire' is ignored; it belongs in the params of a put step"], status: 0),
        put(
            "params.aquire is no operation", ["aquire": true],
            ["warning: unknown key 'params.aquire' ignored (did you mean 'acquire'?)", missingOperation]),
        put(
            "params.relase is no operation", ["relase": "step"], files: ["step/name": .text("env-2")],
            ["warning: unknown key 'params.relase' ignored (did you mean 'release'?)", missingOperation]),
        put(
            "params.Claim is no operation", ["Claim": "env-1"],
            ["warning: unknown key 'params.Claim' ignored (did you mean 'claim'?)", missingOperation]),
        put(
            "params.retry_delay belongs in source", ["claim": "nope", "retry_delay": "1s"],
            [
                "warning: 'params.retry_delay' is ignored; it belongs in source",
                "lock 'nope' does not exist in pool 'envs'",
            ]
        ),
        put(
            "params.depth belongs in a get step", ["claim": "nope", "depth": 1],
            [
                "warning: 'params.depth' is ignored; it belongs in the params of a get step",
                "lock 'nope' does not exist in pool 'envs'",
            ]),
    ]

    // MARK: step directory files

    static let stepFiles: [BadInputCase] = {
        var cases: [BadInputCase] = []
        let nameRead = "could not read the name file of your lock: "
        let metadataRead = "could not read the metadata file of your lock: "
        for key in ["release", "add", "add_claimed", "remove", "update", "check", "check_unclaimed"] {
            cases.append(
                put(
                    "\(key) without a name file", [key: "step"], files: ["step/metadata": .text("m")],
                    [nameRead, "step/name: no such file or directory"]))
        }
        for key in ["add", "add_claimed", "update"] {
            cases.append(
                put(
                    "\(key) without a metadata file", [key: "step"], files: ["step/name": .text("new-lock")],
                    [metadataRead, "step/metadata: no such file or directory"]))
            cases.append(
                put(
                    "\(key) with a metadata directory", [key: "step"],
                    files: ["step/name": .text("new-lock"), "step/metadata": .directory],
                    [metadataRead, "step/metadata is not a readable file"]))
        }
        cases += [
            put("release of a missing step directory", ["release": "nowhere"], [nameRead, "nowhere/name"]),
            put(
                "remove with a name directory", ["remove": "step"], files: ["step/name": .directory],
                [nameRead, "step/name is not a readable file"]),
            put(
                "release with a bad claim_ref", ["release": "step"],
                files: ["step/name": .text("env-2\n"), "step/claim_ref": .text("not-a-commit\n")],
                [#"could not read the claim_ref file of your lock: "not-a-commit" is not a full commit id"#]),
            put(
                "remove with a short claim_ref", ["remove": "step"],
                files: ["step/name": .text("env-2"), "step/claim_ref": .text("abc1234")],
                [#"could not read the claim_ref file of your lock: "abc1234" is not a full commit id"#]),
            put(
                "release with a claim_ref directory", ["release": "step"],
                files: ["step/name": .text("env-2"), "step/claim_ref": .directory],
                ["could not read the claim_ref file of your lock: ", "claim_ref is not a readable file"]),
        ]
        let badNames: [(String, [UInt8], String)] = [
            ("empty", [], #"lock name "": must not be empty"#),
            ("only whitespace", Array(" \n\t\n".utf8), #"lock name "": must not be empty"#),
            ("..", Array("..".utf8), #"lock name "..": must not start with ".""#),
            (".", Array(".\n".utf8), #"lock name ".": must not start with ".""#),
            ("a slash", Array("ops/env-1".utf8), #"lock name "ops/env-1": must not contain "/""#),
            ("a leading slash", Array("/env-1".utf8), #"lock name "/env-1": must not contain "/""#),
            ("a leading dot", Array(".gitkeep".utf8), #"lock name ".gitkeep": must not start with ".""#),
            ("NUL", Array("env\u{0}1".utf8), #"lock name "env\u00001": contains a control character"#),
            ("an inner newline", Array("env\n1".utf8), #"lock name "env\n1": contains a control character"#),
            ("an escape", Array("env\u{1B}[31m".utf8), #"lock name "env\u001b[31m": contains a control character"#),
            ("DEL", Array("env\u{7F}".utf8), #"lock name "env\u007f": contains a control character"#),
            ("a tab inside", Array("env\t1".utf8), #"lock name "env\t1": contains a control character"#),
            ("non-UTF-8 bytes", [0x65, 0x6E, 0x76, 0xFF, 0xFE], "lock name is not valid UTF-8"),
            ("a lone continuation byte", [0x80], "lock name is not valid UTF-8"),
            ("an overlong encoding", [0xC0, 0xAF], "lock name is not valid UTF-8"),
            ("300 bytes", Array(repeating: UInt8(ascii: "x"), count: 300), "is longer than 255 bytes"),
            ("256 bytes", Array(repeating: UInt8(ascii: "y"), count: 256), "is longer than 255 bytes"),
            ("256 bytes of é", Array(String(repeating: "é", count: 128).utf8), "is longer than 255 bytes"),
        ]
        let keys = ["add", "add_claimed", "update", "check", "check_unclaimed", "remove"]
        for (index, (label, bytes, message)) in badNames.enumerated() {
            let key = keys[index % keys.count]
            cases.append(
                put(
                    "\(key) name with \(label)", [key: "step"],
                    files: ["step/name": .bytes(bytes), "step/metadata": .text("m")], [nameRead, message]))
        }
        // `release` reads a name per line (a multi-lock set), so an inner newline names two locks.
        cases.append(
            put(
                "release name with two lines of bad names", ["release": "step"],
                files: ["step/name": .text("env-2\n.hidden\n")], [nameRead + #"lock name ".hidden": must not start"#]))
        return cases
    }()

    // MARK: pool and lock names in the request

    static let names: [BadInputCase] = {
        var cases: [BadInputCase] = []
        let pools: [(String, String, String)] = [
            ("..", "..", #"segment ".." is not allowed"#),
            ("a .. segment", "ops/../x", #"segment ".." is not allowed"#),
            (".", ".", #"segment "." is not allowed"#),
            ("a . segment", "ops/./x", #"segment "." is not allowed"#),
            (".git", ".git", #"segment ".git" is not allowed"#),
            ("a .GIT segment", "ops/.GIT", #"segment ".GIT" is not allowed"#),
            ("a leading slash", "/envs", #"must not start with "/""#),
            ("a trailing slash", "envs/", #"must not end with "/""#),
            ("a double slash", "ops//envs", "has an empty segment"),
            ("only a slash", "/", #"must not start with "/""#),
            ("NUL", "envs\u{0}", "contains a control character"),
            ("a newline", "envs\nx", "contains a control character"),
            ("a carriage return", "envs\r", "contains a control character"),
            ("an escape", "\u{1B}[2Jenvs", "contains a control character"),
            ("DEL", "en\u{7F}vs", "contains a control character"),
            ("a tab", "ops\tenvs", "contains a control character"),
        ]
        let executables: [ResourceExecutable] = [.check, .in, .out]
        for (index, (label, pool, rule)) in pools.enumerated() {
            let executable = executables[index % 3]
            let quoted = jsonQuoted(pool)
            cases.append(
                source(
                    "source.pool with \(label)", executable, "pool", .string(pool), ip("source.pool \(quoted): \(rule)")
                ))
        }
        // Valid pool names (docs/resource.md#names allows leading dots and sets no length limit) that name no pool.
        let longPool = String(repeating: "p", count: 300)
        cases += [
            put(
                "source.pool with a leading dot names no pool", ["acquire": true], source: ["pool": ".envs"],
                ["pool '.envs' does not exist on branch 'master'"]),
            put(
                "source.pool of 300 bytes names no pool", ["claim": "env-1"], source: ["pool": .string(longPool)],
                ["pool '\(longPool)' does not exist on branch 'master'"]),
        ]
        let claims: [(String, String, String)] = [
            ("..", "..", #"must not start with ".""#),
            (".", ".", #"must not start with ".""#),
            ("a leading dot", ".gitkeep", #"must not start with ".""#),
            ("a slash", "envs/env-1", #"must not contain "/""#),
            ("only a slash", "/", #"must not contain "/""#),
            ("NUL", "env-1\u{0}", "contains a control character"),
            ("a newline", "env-1\n", "contains a control character"),
            ("an escape", "\u{1B}]0;x\u{7}", "contains a control character"),
            ("a backspace", "env\u{8}1", "contains a control character"),
            ("300 bytes", String(repeating: "z", count: 300), "is longer than 255 bytes"),
            ("256 bytes", String(repeating: "z", count: 256), "is longer than 255 bytes"),
            ("86 three-byte characters", String(repeating: "€", count: 86), "is longer than 255 bytes"),
        ]
        for (label, lock, rule) in claims {
            let quoted = jsonQuoted(lock)
            cases.append(put("claim with \(label)", ["claim": .string(lock)], [ip("params.claim \(quoted): \(rule)")]))
        }
        let notUTF8 = "the input is not valid UTF-8"
        cases += [
            bytes(
                "source.pool with non-UTF-8 bytes", .check,
                Array(#"{"source":{"uri":"/x","branch":"master","pool":"en"#.utf8) + [0xFF] + Array(#""}}"#.utf8),
                [ip(notUTF8)]),
            bytes(
                "claim with non-UTF-8 bytes", .out,
                Array(#"{"source":@SOURCE@,"params":{"claim":"env"#.utf8) + [0xC3, 0x28] + Array(#""}}"#.utf8),
                [ip(notUTF8)]),
            bytes(
                "claim with a UTF-16 surrogate encoded in UTF-8", .out,
                Array(#"{"source":@SOURCE@,"params":{"claim":""#.utf8) + [0xED, 0xA0, 0x80] + Array(#""}}"#.utf8),
                [ip(notUTF8)]),
            // An unpaired \ud800 escape becomes U+FFFD, a valid name that names no lock.
            raw(
                "claim with an unpaired surrogate escape", .out, #"{"source":@SOURCE@,"params":{"claim":"\ud800"}}"#,
                ["lock '\u{FFFD}' does not exist in pool 'envs'"]),
        ]
        return cases
    }()

    // MARK: invalid JSON

    static let json: [BadInputCase] = {
        func syntax(_ label: String, _ executable: ResourceExecutable, _ text: String, _ message: String)
            -> BadInputCase
        {
            // Full messages are compared whole; fragments (after a position) must follow the payload frame.
            let isWhole = ["invalid JSON", "empty input", "expected one JSON object", "duplicate key"].contains {
                message.hasPrefix($0)
            }
            return raw(label, executable, text, isWhole ? [ip(message)] : ["error: invalid payload (", message])
        }
        return [
            syntax("empty stdin", .check, "", "empty input; expected one JSON object"),
            syntax("empty stdin", .in, "", "empty input; expected one JSON object"),
            syntax("empty stdin", .out, "", "empty input; expected one JSON object"),
            syntax("only whitespace", .out, " \n\t\r\n", "empty input; expected one JSON object"),
            syntax(
                "only an opening brace", .check, "{",
                "invalid JSON at line 1, column 2: expected a string as object key"),
            syntax(
                "truncated after a key", .in, #"{"source":"#,
                "invalid JSON at line 1, column 11: unexpected end of input; expected a value"),
            syntax(
                "truncated in a string", .out, #"{"source":@SOURCE@,"params":{"claim":"env"#,
                "unexpected end of input in a string"),
            syntax(
                "truncated before the closing brace", .check, #"{"source":@SOURCE@"#,
                "expected ',' or '}' in an object"),
            syntax(
                "trailing garbage", .in, #"{"source":@SOURCE@} x"#,
                "unexpected data after the JSON value; expected one JSON object"),
            syntax(
                "two objects", .out, #"{"source":@SOURCE@,"params":{"acquire":true}}{}"#,
                "unexpected data after the JSON value; expected one JSON object"),
            syntax(
                "a trailing NUL byte", .check, "{\"source\":@SOURCE@}\u{0}",
                "unexpected data after the JSON value; expected one JSON object"),
            syntax("a top-level array", .check, #"[{"source":@SOURCE@}]"#, "expected one JSON object, got an array"),
            syntax("a top-level empty array", .out, "[]", "expected one JSON object, got an array"),
            syntax("top-level null", .in, "null", "expected one JSON object, got null"),
            syntax("a top-level string", .out, #""{}""#, "expected one JSON object, got a string"),
            syntax("a top-level number", .check, "1e999", "expected one JSON object, got a number"),
            syntax("top-level true", .in, "true", "expected one JSON object, got a boolean"),
            syntax(
                "a trailing comma", .check, #"{"source":@SOURCE@,}"#,
                "expected a string as object key"),
            syntax(
                "single quotes", .in, "{'source':{}}",
                "invalid JSON at line 1, column 2: expected a string as object key"),
            syntax("a comment", .out, "// request\n{}", "invalid JSON at line 1, column 1: expected a value"),
            syntax("a byte order mark", .check, "\u{FEFF}{}", "invalid JSON at line 1, column 1: expected a value"),
            syntax("NaN", .in, #"{"source":@SOURCE@,"params":{"depth":NaN}}"#, "expected a value"),
            syntax(
                "Infinity", .out, #"{"source":@SOURCE@,"params":{"acquire":true,"timeout":Infinity}}"#,
                "expected a value"),
            syntax("a leading plus", .in, #"{"source":@SOURCE@,"params":{"depth":+1}}"#, "expected a value"),
            syntax(
                "hexadecimal", .out, #"{"source":@SOURCE@,"params":{"acquire":true,"count":0x10}}"#,
                "expected ',' or '}'"),
            syntax(
                "a leading zero", .in, #"{"source":@SOURCE@,"params":{"depth":01}}"#, "expected ',' or '}' in an object"
            ),
            syntax(
                "a bare dot", .out, #"{"source":@SOURCE@,"params":{"acquire":true,"timeout":.5}}"#, "expected a value"),
            syntax(
                "a raw newline in a string", .check, "{\"source\":{\"uri\":\"a\nb\"}}",
                "control character in a string; it must be escaped"),
            syntax(
                "an invalid escape", .in, #"{"source":{"uri":"\x41"}}"#, "invalid escape sequence in a string"),
            syntax(
                "a short unicode escape", .out, #"{"source":{"uri":"\u41"}}"#,
                #"expected four hexadecimal digits after \u"#),
            syntax(
                "an unquoted key", .check, #"{source:{}}"#, "expected a string as object key"),
            syntax("a missing colon", .in, #"{"source" {}}"#, "expected ':' after an object key"),
            syntax(
                "nesting 200 levels deep", .check,
                #"{"source":@SOURCE@,"version":"# + String(repeating: "[", count: 200),
                "nested more than 128 levels deep"),
            syntax(
                "retry_delay out of range", .check,
                #"{"source":{"uri":"/x","branch":"b","pool":"p","retry_delay":1e400}}"#,
                "source.retry_delay: 1e400 is too large"),
            syntax(
                "timeout out of range", .out, #"{"source":@SOURCE@,"params":{"acquire":true,"timeout":1e19}}"#,
                "params.timeout: 1e19 is too large"),
            syntax(
                "lease out of range", .out, #"{"source":@SOURCE@,"params":{"claim":"env-1","lease":-1e400}}"#,
                "params.lease: -1e400 is negative; a lease must be positive"),
            syntax(
                "depth out of range", .in, #"{"source":@SOURCE@,"params":{"depth":99999999999999999999}}"#,
                "params.depth: 99999999999999999999 is too large"),
            syntax(
                "depth with an exponent", .in, #"{"source":@SOURCE@,"params":{"depth":1e3}}"#,
                "params.depth: expected an integer, got 1e3"),
            syntax(
                "proxy_port out of range", .check,
                #"{"source":{"uri":"/x","branch":"b","pool":"p","https_tunnel":{"proxy_host":"h","proxy_port":1e400}}}"#,
                "source.https_tunnel.proxy_port: expected a port number from 1 to 65535, got 1e400"),
            syntax(
                "count out of range", .out,
                #"{"source":@SOURCE@,"params":{"acquire":true,"count":18446744073709551617}}"#,
                #"params.count: expected a whole number from 1 to 1000, got "18446744073709551617""#),
            syntax(
                "a duplicate source", .check, #"{"source":@SOURCE@,"source":{}}"#, "duplicate key 'source'"),
            syntax(
                "a duplicate source.pool", .in,
                #"{"source":{"uri":"/x","branch":"master","pool":"envs","pool":"other"}}"#,
                "duplicate key 'source.pool'"),
            syntax(
                "a duplicate params.claim", .out, #"{"source":@SOURCE@,"params":{"claim":"env-1","claim":"env-2"}}"#,
                "duplicate key 'params.claim'"),
            syntax(
                "a duplicate params", .out, #"{"source":@SOURCE@,"params":{"acquire":true},"params":{}}"#,
                "duplicate key 'params'"),
            syntax(
                "a duplicate version.ref", .check, #"{"source":@SOURCE@,"version":{"ref":"a","ref":"b"}}"#,
                "duplicate key 'version.ref'"),
            syntax(
                "a duplicate https_tunnel key", .in,
                #"{"source":{"uri":"/x","branch":"b","pool":"p","https_tunnel":{"proxy_host":"a","proxy_host":"b"}}}"#,
                "duplicate key 'source.https_tunnel.proxy_host'"),
            syntax(
                "a duplicate git_config name", .out,
                #"{"source":{"uri":"/x","branch":"b","pool":"p","git_config":[{"name":"a","name":"b","value":"c"}]},"params":{"acquire":true}}"#,
                "duplicate key 'source.git_config[0].name'"),
            bytes(
                "UTF-16 encoded JSON", .check, [0xFF, 0xFE] + Array("{}".utf8).flatMap { [$0, 0] },
                [ip("the input is not valid UTF-8")]),
            bytes("a lone 0xFF byte", .out, [0xFF], [ip("the input is not valid UTF-8")]),
            bytes(
                "a NUL byte before the object", .in, [0] + Array("{}".utf8),
                [ip("invalid JSON at line 1, column 1: expected a value")]),
            bytes(
                "non-UTF-8 outside strings", .in, Array(#"{"source":@SOURCE@"#.utf8) + [0xFE] + Array("}".utf8),
                [ip("the input is not valid UTF-8")]),
        ]
    }()

    // MARK: stdin size and argv

    static let stdinAndArguments: [BadInputCase] = [
        BadInputCase(
            label: "stdin just over 16 MiB", executable: .check, stdin: .oversized(16 << 20 + 1),
            stderr: [ip("stdin is larger than 16 MiB; expected one JSON object")]),
        BadInputCase(
            label: "stdin of 17 MiB", executable: .out, stdin: .oversized(17 << 20),
            stderr: [ip("stdin is larger than 16 MiB; expected one JSON object")]),
        BadInputCase(
            label: "a 2 MiB known_hosts is still accepted", executable: .check,
            stdin: request(.check, .valid(["known_hosts": .string(String(repeating: "# comment\n", count: 200_000))])),
            stderr: [], status: 0),
        BadInputCase(
            label: "no destination", executable: .in, stdin: request(.in, .valid([:])), arguments: .none,
            stderr: ["usage: in <destination>"]),
        BadInputCase(
            label: "no source directory", executable: .out, stdin: request(.out, .valid([:])), arguments: .none,
            stderr: ["usage: out <source>"]),
        BadInputCase(
            label: "no source directory and no stdin", executable: .out, stdin: .raw([]), arguments: .none,
            stderr: ["usage: out <source>"]),
        BadInputCase(
            label: "an empty destination", executable: .in, stdin: request(.in, .valid([:])), arguments: .exactly([""]),
            stderr: ["usage: in <destination>"]),
        BadInputCase(
            label: "an empty source directory", executable: .out, stdin: request(.out, .valid([:])),
            arguments: .exactly([""]), stderr: ["usage: out <source>"]),
        BadInputCase(
            label: "extra arguments are ignored", executable: .check, stdin: request(.check, .valid([:])),
            arguments: .extra(["extra", "--verbose"]), stderr: [], status: 0),
        BadInputCase(
            label: "extra arguments do not hide a bad request", executable: .in,
            stdin: request(.in, .valid(["branch": 1])), arguments: .extra(["extra"]),
            stderr: [typeMessage("source.branch", "a string", "a number")]),
        put(
            "extra arguments do not change the operation", ["claim": "nope"], arguments: .extra(["@DEST@", "x"]),
            ["lock 'nope' does not exist in pool 'envs'"]),
        put(
            "a source directory that does not exist", ["release": "step"],
            arguments: .exactly(["@BUILD@/missing"]),
            [
                "could not read the name file of your lock: ", "missing/step/name: no such file or directory",
            ]),
        BadInputCase(
            label: "a destination that is a file", executable: .in, stdin: request(.in, .valid([:])),
            arguments: .exactly(["@BUILD@/file"]), files: ["file": .text("x")],
            stderr: ["could not write the destination: "]),
    ]

    static let all: [BadInputCase] =
        sourceTypes + missing + params + unknownKeys + stepFiles + names + json + stdinAndArguments
}

// MARK: - Fixture

/// The lock repository all cases share: pool `envs` with `env-1` unclaimed and `env-2` claimed, and its refs.
final class CorpusOrigin: Sendable {
    @TaskLocal static var current: CorpusOrigin?

    let harness: ResourceHarness
    /// Every ref of the origin and its target, before any case ran.
    let refs: [String: String]

    init() throws {
        harness = try makeHarness("bad-input", locks: ["env-1": .unclaimed("one"), "env-2": .claimed("two")])
        refs = try Self.refs(of: harness.repository)
        // The file snapshot must see the branch tip that git reports, or comparing snapshots proves nothing.
        let tip = try harness.repository.commitID()
        guard refs["refs/heads/master"] == tip + "\n" else { throw CorpusOriginError(refs: refs, tip: tip) }
    }

    /// `HEAD`, `packed-refs` and every loose ref file of the bare origin, by path, read from disk (no git process
    /// per case): a commit, a new branch or any other ref changes it.
    static func refs(of repository: LockRepository) throws -> [String: String] {
        var refs: [String: String] = [:]
        for name in ["HEAD", "packed-refs"] {
            refs[name] = try? String(contentsOf: repository.url.appendingPathComponent(name), encoding: .utf8)
        }
        let root = repository.url.appendingPathComponent("refs", isDirectory: true)
        let files = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])
        while let file = files?.nextObject() as? URL {
            guard try file.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile == true else { continue }
            let path = "refs/" + file.standardizedFileURL.path.dropFirst(root.standardizedFileURL.path.count + 1)
            refs[path] = try String(contentsOf: file, encoding: .utf8)
        }
        return refs
    }

    /// The valid `source` object as JSON text.
    var sourceJSON: [UInt8] { Array(harness.source().data) }
}

/// The ref snapshot of a fresh origin does not show its branch tip.
struct CorpusOriginError: Error, CustomStringConvertible {
    let refs: [String: String]
    let tip: String
    var description: String { "ref files \(refs) do not show the tip \(tip) of refs/heads/master" }
}

/// Creates the shared origin once for the suite and removes it afterwards.
struct CorpusOriginTrait: SuiteTrait, TestScoping {
    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        try await CorpusOrigin.$current.withValue(try CorpusOrigin()) { try await function() }
    }
}

extension Trait where Self == CorpusOriginTrait {
    static var corpusOrigin: Self { Self() }
}

/// `bytes` with every `@SOURCE@` replaced by `source`.
private func substitutingSource(in bytes: [UInt8], with source: [UInt8]) -> [UInt8] {
    let marker = Array("@SOURCE@".utf8)
    var result: [UInt8] = []
    var index = 0
    while index < bytes.count {
        if index + marker.count <= bytes.count, Array(bytes[index..<index + marker.count]) == marker {
            result += source
            index += marker.count
        } else {
            result.append(bytes[index])
            index += 1
        }
    }
    return result
}

/// A JSON text of exactly `count` bytes (for `count` ≥ 20): an object whose `source.uri` never ends.
private func oversizedRequest(_ count: Int) -> Data {
    let head = Array(#"{"source":{"uri":""#.utf8)
    var data = Data(head)
    data.append(Data(repeating: UInt8(ascii: "a"), count: count - head.count - 3))
    data.append(contentsOf: Array(#""}}"#.utf8))
    return data
}

// MARK: - Tests

@Suite(.corpusOrigin)
struct BadInputCorpusTests {
    @Test func corpusIsLargeAndNamesAreUnique() {
        #expect(Corpus.all.count >= 150)
        let names = Corpus.all.map(\.testDescription)
        #expect(Set(names).count == names.count, "\(Dictionary(grouping: names) { $0 }.filter { $1.count > 1 }.keys)")
    }

    @Test(arguments: Corpus.all)
    func badInputIsRefusedWithoutCommitting(_ corpusCase: BadInputCase) throws {
        let origin = try #require(CorpusOrigin.current)
        let harness = origin.harness
        let directory = try harness.scratch.uniqueDirectory("case")
        let build = directory.appendingPathComponent("build", isDirectory: true)
        let destination = directory.appendingPathComponent("destination", isDirectory: true)
        try FileManager.default.createDirectory(at: build, withIntermediateDirectories: true)
        for (path, file) in corpusCase.files {
            let url = build.appendingPathComponent(path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            switch file {
            case .text(let text): try Data(text.utf8).write(to: url)
            case .bytes(let bytes): try Data(bytes).write(to: url)
            case .directory: try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            }
        }

        let stdin: Data
        switch corpusCase.stdin {
        case .request(let source, let params, let version):
            var request: [String: JSONValue] = [:]
            switch source {
            case .valid(let overrides): request["source"] = harness.source(overrides)
            case .without(let keys):
                guard case .object(var object) = harness.source() else { return }
                for key in keys { object[key] = nil }
                request["source"] = .object(object)
            case .replaced(let value): request["source"] = value
            case .absent: break
            }
            if let params { request["params"] = params }
            if let version { request["version"] = version }
            stdin = JSONValue.object(request).data
        case .raw(let bytes): stdin = Data(substitutingSource(in: bytes, with: origin.sourceJSON))
        case .oversized(let count): stdin = oversizedRequest(count)
        }

        let standard: [String] =
            switch corpusCase.executable {
            case .check: []
            case .in: [destination.path]
            case .out: [build.path]
            }
        let arguments: [String] =
            switch corpusCase.arguments {
            case .standard: standard
            case .none: []
            case .extra(let extra): standard + extra
            case .exactly(let given): given
            }
        let expanded = arguments.map {
            $0.replacing("@BUILD@", with: build.path).replacing("@DEST@", with: destination.path)
        }

        let result = try harness.executables.run(
            corpusCase.executable, arguments: expanded, stdin: stdin,
            environment: ["TMPDIR": try harness.scratch.directory("\(directory.lastPathComponent)-tmp").path],
            timeout: .seconds(60))

        #expect(result.status == corpusCase.status, "\(result)")
        #expect(result.signal == nil, "\(result)")
        if corpusCase.status == 0 {
            #expect(result.stdoutText.hasSuffix("\n") && (try? result.json()) != nil, "\(result)")
        } else {
            #expect(result.stdout.isEmpty, "\(result)")
            #expect(
                result.lastStderrLine?.hasPrefix("error: ") == true
                    || result.lastStderrLine?.hasPrefix("usage: ") == true, "\(result)")
        }
        for text in corpusCase.stderr {
            #expect(result.stderr.contains(text), "expected stderr to contain \(text)\n\(result)")
        }
        #expect(!result.stderr.contains("Fatal error"), "\(result)")
        #expect(try CorpusOrigin.refs(of: harness.repository) == origin.refs, "a commit or ref was made")
    }
}

// MARK: - Accepted metadata and a 100 MB stdin

@Suite struct BadInputCorpusLimitTests {
    /// docs/resource.md#put-params: `metadata` is read byte for byte; no size or encoding limit is specified, so a 10
    /// MB file and binary content are accepted and stored unchanged.
    @Test func largeAndBinaryMetadataAreStoredByteForByte() throws {
        let harness = try makeHarness("metadata", locks: ["env-1": .unclaimed("one")])
        let pattern = Data((0..<(64 << 10)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) })
        let large = Data((0..<160).map { _ in pattern }.joined())
        let binary = Data((0...255).map { UInt8($0) } + [0, 0, 0xFF, 0xFE, 0x0A, 0x0D])
        let cases: [(key: String, lock: String, content: Data, path: String)] = [
            ("add", "large-1", large, "envs/unclaimed/large-1"),
            ("add_claimed", "binary-1", binary, "envs/claimed/binary-1"),
            ("update", "env-1", binary, "envs/unclaimed/env-1"),
        ]
        for (key, lock, content, path) in cases {
            let step = try harness.stepDirectory("step-\(key)", lock: lock)
            try content.write(to: step.appendingPathComponent("metadata"))
            let before = try harness.repository.commitID()
            let result = try harness.out(.object([key: .string("step-\(key)")]), timeout: .seconds(120))
            #expect(result.status == 0, "\(key): \(result)")
            #expect(try result.response().lockName == lock)
            #expect(try harness.repository.commit().parents == [before])
            #expect(try harness.repository.file(path) == content, "\(key)")
        }
    }

    /// A 100 MB stdin fails at once with a clear message, and `out` never holds more than a bounded part of it.
    @Test func hundredMegabyteStdinFailsFastWithBoundedMemory() throws {
        let scratch = try Scratch(label: "huge-stdin")
        let executables = try Executables(scratch: scratch)
        let stdinURL = scratch.url("stdin.json")
        _ = FileManager.default.createFile(atPath: stdinURL.path, contents: nil)
        let handle = try FileHandle(forWritingTo: stdinURL)
        try handle.write(contentsOf: Data(#"{"source":{"uri":""#.utf8))
        let chunk = Data(repeating: UInt8(ascii: "a"), count: 1 << 20)
        for _ in 0..<100 { try handle.write(contentsOf: chunk) }
        try handle.write(contentsOf: Data(#""}}"#.utf8))
        try handle.close()

        let started = ContinuousClock.now
        let outcome = try spawnMeasuringMemory(
            executables.url(of: .out), arguments: [try scratch.directory("build").path], stdin: stdinURL,
            output: scratch.url("stdout"), error: scratch.url("stderr"),
            environment: executables.environment(for: [:]))
        let elapsed = started.duration(to: .now)
        let stdout = try Data(contentsOf: scratch.url("stdout"))
        let stderr = String(decoding: try Data(contentsOf: scratch.url("stderr")), as: UTF8.self)

        #expect(outcome.status == 1, "\(stderr)")
        #expect(stdout.isEmpty)
        #expect(stderr == "error: invalid payload (stdin is larger than 16 MiB; expected one JSON object)\n")
        #expect(elapsed < .seconds(10), "took \(elapsed)")
        // The whole input is 100 MiB; reading it would need more than that. The same executable refusing an empty
        // stdin is the baseline (it differs between the debug `out` and the staged multi-call binary): the 16 MiB
        // limit, one growth step of the buffer and a chunk fit in 40 MiB above it.
        let idleStdin = scratch.url("empty.json")
        _ = FileManager.default.createFile(atPath: idleStdin.path, contents: Data())
        let idle = try spawnMeasuringMemory(
            executables.url(of: .out), arguments: [try scratch.directory("build-idle").path], stdin: idleStdin,
            output: scratch.url("stdout-idle"), error: scratch.url("stderr-idle"),
            environment: executables.environment(for: [:]))
        #expect(idle.status == 1)
        #expect(
            outcome.maximumResidentKiB - idle.maximumResidentKiB < 40 << 10,
            "peak RSS \(outcome.maximumResidentKiB) KiB, \(idle.maximumResidentKiB) KiB for an empty stdin")
    }
}

/// Runs `executable` with stdin, stdout and stderr connected to files and returns its exit status and peak resident
/// memory (`wait4`'s `ru_maxrss`), which `Process` does not report. Kills it after 60 s.
private func spawnMeasuringMemory(
    _ executable: URL, arguments: [String], stdin: URL, output: URL, error: URL, environment: [String: String]
) throws -> (status: Int32, maximumResidentKiB: Int) {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, stdin.path, O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, output.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_addopen(&actions, 2, error.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    let argv: [UnsafeMutablePointer<CChar>?] = ([executable.path] + arguments).map { strdup($0) } + [nil]
    let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
        argv.forEach { free($0) }
        envp.forEach { free($0) }
    }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, executable.path, &actions, nil, argv, envp)
    guard spawned == 0 else { throw SpawnError(code: spawned) }
    var status: Int32 = 0
    var usage = rusage()
    let deadline = ContinuousClock.now + .seconds(60)
    while true {
        let waited = wait4(pid, &status, WNOHANG, &usage)
        if waited == pid { break }
        if waited == -1 && errno != EINTR { throw SpawnError(code: errno) }
        if ContinuousClock.now > deadline { kill(pid, SIGKILL) }
        Thread.sleep(forTimeInterval: 0.01)
    }
    let exitStatus = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    return (exitStatus, Int(usage.ru_maxrss))
}

private struct SpawnError: Error, CustomStringConvertible {
    let code: Int32
    var description: String { "posix_spawn or wait4 failed: \(String(cString: strerror(code)))" }
}
