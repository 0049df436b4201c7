import Foundation
import LockPool
import StringSupport
import Testing

@testable import ConcourseResource

// MARK: Helpers

enum DecoderExecutable: String, Sendable {
    case check, `in`, out
}

/// The three required source keys, valid.
private let baseSource = #""uri":"https://git.example.com/locks.git","branch":"main","pool":"ops""#

/// A request with the base source plus `source` members, and `rest` members at the top level.
private func json(source: String = "", _ rest: String = "") -> String {
    let sourceBody = source.isEmpty ? baseSource : baseSource + "," + source
    return #"{"source":{"# + sourceBody + "}" + (rest.isEmpty ? "" : "," + rest) + "}"
}

/// An `out` request with `params` members.
private func put(_ params: String, source: String = "") -> String {
    json(source: source, #""params":{"# + params + "}")
}

private func ip(_ text: String) -> String { "invalid payload (\(text))" }

/// A `git_config` member with these name and value pairs (no escaping needed in the tests' texts).
private func gitConfig(_ entries: (name: String, value: String)...) -> String {
    #""git_config":["#
        + entries.map { #"{"name":""# + $0.name + #"","value":""# + $0.value + #""}"# }
        .joined(separator: ",") + "]"
}

private let missingURI = "invalid payload (missing uri)"
private let missingBranch = "invalid payload (missing branch)"
private let missingPool = "invalid payload (missing pool)"
private let missingOperation =
    "invalid payload (missing acquire, release, remove, claim, add, add_claimed, update, check, or check_unclaimed)"
private let durationHint = #"use e.g. "10s", "1m30s" or a number of seconds"#

/// Errors and warnings of decoding `json` as `executable`'s request; errors are empty on success.
private func outcome(_ executable: DecoderExecutable, _ json: String) -> (errors: [String], warnings: [String]) {
    let input = Array(json.utf8)
    func split<R: Sendable>(_ result: Result<Decoded<R>, RequestProblems>) -> ([String], [String]) {
        switch result {
        case .success(let decoded): ([], decoded.warnings)
        case .failure(let problems): (problems.errors, problems.warnings)
        }
    }
    return switch executable {
    case .check: split(RequestDecoder.decodeCheck(input))
    case .in: split(RequestDecoder.decodeIn(input))
    case .out: split(RequestDecoder.decodeOut(input))
    }
}

struct DecoderProblemCase: Sendable, CustomTestStringConvertible {
    let name: String
    let executable: DecoderExecutable
    let json: String
    let errors: [String]
    let warnings: [String]
    init(
        _ name: String, _ executable: DecoderExecutable = .out, _ json: String, errors: [String] = [],
        warnings: [String] = []
    ) {
        self.name = name
        self.executable = executable
        self.json = json
        self.errors = errors
        self.warnings = warnings
    }
    var testDescription: String { "\(executable.rawValue): \(name)" }
}

// MARK: Invalid JSON

@Test(arguments: [
    DecoderProblemCase("empty input", .check, "", errors: [ip("empty input; expected one JSON object")]),
    DecoderProblemCase("only whitespace", .in, " \n\t ", errors: [ip("empty input; expected one JSON object")]),
    DecoderProblemCase("an array", .check, "[]", errors: [ip("expected one JSON object, got an array")]),
    DecoderProblemCase("null", .out, "null", errors: [ip("expected one JSON object, got null")]),
    DecoderProblemCase("a string", .out, #""x""#, errors: [ip("expected one JSON object, got a string")]),
    DecoderProblemCase("a number", .out, "42", errors: [ip("expected one JSON object, got a number")]),
    DecoderProblemCase(
        "truncated", .check, #"{"source":"#,
        errors: [ip("invalid JSON at line 1, column 11: unexpected end of input; expected a value")]),
    DecoderProblemCase(
        "two objects", .check, "{} {}",
        errors: [ip("invalid JSON at line 1, column 4: unexpected data after the JSON value; expected one JSON object")]
    ),
    DecoderProblemCase(
        "trailing garbage", .out, put(#""acquire":true"#) + "x",
        errors: [
            ip("invalid JSON at line 1, column 110: unexpected data after the JSON value; expected one JSON object")
        ]),
    DecoderProblemCase(
        "trailing comma", .check, #"{"a":1,}"#,
        errors: [ip("invalid JSON at line 1, column 8: expected a string as object key")]),
    DecoderProblemCase(
        "single quotes", .check, "{'a':1}",
        errors: [ip("invalid JSON at line 1, column 2: expected a string as object key")]),
    DecoderProblemCase(
        "missing colon", .check, #"{"a" 1}"#,
        errors: [ip("invalid JSON at line 1, column 6: expected ':' after an object key")]),
    DecoderProblemCase(
        "bad literal", .check, #"{"a":tru}"#, errors: [ip("invalid JSON at line 1, column 9: expected a value")]),
    DecoderProblemCase(
        "bad escape", .check, #"{"a":"x\q"}"#,
        errors: [ip("invalid JSON at line 1, column 9: invalid escape sequence in a string")]),
    DecoderProblemCase(
        "short unicode escape", .check, #"{"a":"\u12"}"#,
        errors: [ip(#"invalid JSON at line 1, column 11: expected four hexadecimal digits after \u"#)]),
    DecoderProblemCase(
        "raw newline in a string", .check, "{\"a\":\"x\ny\"}",
        errors: [ip("invalid JSON at line 1, column 8: control character in a string; it must be escaped")]),
    DecoderProblemCase(
        "unterminated string", .check, #"{"a":"abc"#,
        errors: [ip("invalid JSON at line 1, column 10: unexpected end of input in a string")]),
    DecoderProblemCase(
        "leading zero", .check, #"{"a":01}"#,
        errors: [ip("invalid JSON at line 1, column 7: expected ',' or '}' in an object")]),
    DecoderProblemCase(
        "bare minus", .check, #"{"a":-}"#,
        errors: [ip("invalid JSON at line 1, column 7: expected a digit in a number")]),
    DecoderProblemCase(
        "no fraction digits", .check, #"{"a":1.}"#,
        errors: [ip("invalid JSON at line 1, column 8: expected a digit after '.' in a number")]),
    DecoderProblemCase(
        "no exponent digits", .check, #"{"a":1e}"#,
        errors: [ip("invalid JSON at line 1, column 8: expected a digit in the exponent of a number")]),
    DecoderProblemCase(
        "unclosed array", .check, #"{"a":[1,2"#,
        errors: [ip("invalid JSON at line 1, column 10: expected ',' or ']' in an array")]),
    DecoderProblemCase(
        "position on a later line", .check, "{\n  \"source\": ?\n}",
        errors: [ip("invalid JSON at line 2, column 13: expected a value")]),
    DecoderProblemCase(
        "columns count characters", .check, #"{"ä":?}"#,
        errors: [ip("invalid JSON at line 1, column 6: expected a value")]),
    DecoderProblemCase(
        "too deep", .check, String(repeating: "[", count: 200),
        errors: [ip("invalid JSON at line 1, column 129: nested more than 128 levels deep")]),
    DecoderProblemCase(
        "data after a check request", .check, json() + "x",
        errors: [
            ip("invalid JSON at line 1, column 84: unexpected data after the JSON value; expected one JSON object")
        ]),
])
func decoderRejectsInvalidJSON(_ c: DecoderProblemCase) {
    let result = outcome(c.executable, c.json)
    #expect(result.errors == c.errors)
    #expect(result.warnings == c.warnings)
}

@Test func invalidUTF8IsRefused() {
    var input = Array(#"{"source":{"uri":""#.utf8)
    input += [0xC3, 0x28]
    input += Array(#""}}"#.utf8)
    guard case .failure(let problems) = RequestDecoder.decodeCheck(input) else {
        Issue.record("expected a failure")
        return
    }
    #expect(problems.errors == [ip("the input is not valid UTF-8")])
}

// MARK: Validation problems

@Test(arguments: [
    // Missing required keys, upstream texts first and in upstream order.
    DecoderProblemCase("no source", .check, "{}", errors: [missingURI, missingBranch, missingPool]),
    DecoderProblemCase(
        "no source, no params", .out, "{}", errors: [missingURI, missingBranch, missingPool, missingOperation]),
    DecoderProblemCase("source null", .in, #"{"source":null}"#, errors: [missingURI, missingBranch, missingPool]),
    DecoderProblemCase(
        "source empty string", .check, #"{"source":""}"#, errors: [missingURI, missingBranch, missingPool]),
    DecoderProblemCase(
        "source empty object", .check, #"{"source":{}}"#, errors: [missingURI, missingBranch, missingPool]),
    DecoderProblemCase(
        "empty and null values", .check, #"{"source":{"uri":"","branch":null,"pool":""}}"#,
        errors: [missingURI, missingBranch, missingPool]),
    DecoderProblemCase(
        "only pool missing", .check, #"{"source":{"uri":"u","branch":"b"}}"#, errors: [missingPool]),
    DecoderProblemCase(
        "upstream messages come first", .out, #"{"source":{"branch":5,"pool":"../x"},"params":{}}"#,
        errors: [
            missingURI, missingOperation, ip("source.branch: expected a string, got a number"),
            ip(#"source.pool "../x": segment ".." is not allowed"#),
        ]),
    DecoderProblemCase(
        "source not an object", .check, #"{"source":"x"}"#, errors: [ip("source: expected an object, got a string")]),
    DecoderProblemCase(
        "source an array", .out, #"{"source":[],"params":{"acquire":true}}"#,
        errors: [ip("source: expected an object, got an array")]),
    DecoderProblemCase("no params", .out, json(), errors: [missingOperation]),
    DecoderProblemCase("params null", .out, json(source: "", #""params":null"#), errors: [missingOperation]),
    DecoderProblemCase("params empty", .out, put(""), errors: [missingOperation]),
    DecoderProblemCase("acquire false", .out, put(#""acquire":false"#), errors: [missingOperation]),
    DecoderProblemCase("acquire \"false\"", .out, put(#""acquire":"false""#), errors: [missingOperation]),
    DecoderProblemCase("claim empty", .out, put(#""claim":"""#), errors: [missingOperation]),
    DecoderProblemCase("release null", .out, put(#""release":null"#), errors: [missingOperation]),
    DecoderProblemCase(
        "params an array", .out, json(source: "", #""params":[]"#),
        errors: [ip("params: expected an object, got an array")]),

    // Wrong types in source, naming the key, never the value.
    DecoderProblemCase(
        "uri number", .check, #"{"source":{"uri":5,"branch":"b","pool":"p"}}"#,
        errors: [ip("source.uri: expected a string, got a number")]),
    DecoderProblemCase(
        "branch number", .check, #"{"source":{"uri":"u","branch":1,"pool":"p"}}"#,
        errors: [ip("source.branch: expected a string, got a number")]),
    DecoderProblemCase(
        "branch boolean", .check, #"{"source":{"uri":"u","branch":true,"pool":"p"}}"#,
        errors: [ip("source.branch: expected a string, got a boolean")]),
    DecoderProblemCase(
        "pool array", .check, #"{"source":{"uri":"u","branch":"b","pool":[]}}"#,
        errors: [ip("source.pool: expected a string, got an array")]),
    DecoderProblemCase(
        "private_key object", .check, json(source: #""private_key":{}"#),
        errors: [ip("source.private_key: expected a string, got an object")]),
    DecoderProblemCase(
        "private_key_user number", .check, json(source: #""private_key_user":1"#),
        errors: [ip("source.private_key_user: expected a string, got a number")]),
    DecoderProblemCase(
        "private_key_passphrase number", .check, json(source: #""private_key_passphrase":1234"#),
        errors: [ip("source.private_key_passphrase: expected a string, got a number")]),
    DecoderProblemCase(
        "forward_agent number", .check, json(source: #""forward_agent":1"#),
        errors: [ip("source.forward_agent: expected a boolean, got a number")]),
    DecoderProblemCase(
        "forward_agent other string", .check, json(source: #""forward_agent":"yes""#),
        errors: [ip(#"source.forward_agent: expected true or false, got "yes""#)]),
    DecoderProblemCase(
        "username number", .check, json(source: #""username":7"#),
        errors: [ip("source.username: expected a string, got a number")]),
    DecoderProblemCase(
        "password number", .check, json(source: #""password":987654321"#),
        errors: [ip("source.password: expected a string, got a number")]),
    DecoderProblemCase(
        "password array", .check, json(source: #""password":["s3cret"]"#),
        errors: [ip("source.password: expected a string, got an array")]),
    DecoderProblemCase(
        "git_config object", .check, json(source: #""git_config":{"user.name":"x"}"#),
        errors: [ip("source.git_config: expected an array, got an object")]),
    DecoderProblemCase(
        "git_config string", .check, json(source: #""git_config":"x""#),
        errors: [ip("source.git_config: expected an array, got a string")]),
    DecoderProblemCase(
        "https_tunnel string", .check, json(source: #""https_tunnel":"proxy:3128""#),
        errors: [ip("source.https_tunnel: expected an object, got a string")]),
    DecoderProblemCase(
        "skip_ssl_verification number", .check, json(source: #""skip_ssl_verification":0"#),
        errors: [ip("source.skip_ssl_verification: expected a boolean, got a number")]),
    DecoderProblemCase(
        "skip_ssl_verification TRUE", .check, json(source: #""skip_ssl_verification":"TRUE""#),
        errors: [ip(#"source.skip_ssl_verification: expected true or false, got "TRUE""#)]),
    DecoderProblemCase(
        "retry_delay boolean", .check, json(source: #""retry_delay":true"#),
        errors: [ip("source.retry_delay: expected a duration string or a number of seconds, got a boolean")]),
    DecoderProblemCase(
        "prometheus_push_gateway number", .check, json(source: #""prometheus_push_gateway":9091"#),
        errors: [ip("source.prometheus_push_gateway: expected a string, got a number")]),
    DecoderProblemCase(
        "prometheus_push_gateway scheme", .check, json(source: #""prometheus_push_gateway":"udp://gw:9091""#),
        errors: [ip(#"source.prometheus_push_gateway: "udp://gw:9091" uses the scheme 'udp'; use http or https"#)]),
    DecoderProblemCase(
        "prometheus_push_gateway without host, userinfo hidden", .check,
        json(source: #""prometheus_push_gateway":"http://me:pw-1@:9091""#),
        errors: [
            ip(#"source.prometheus_push_gateway: "http://:9091" names no host; use e.g. "http://pushgateway:9091""#)
        ]),
    DecoderProblemCase(
        "known_hosts array", .check, json(source: #""known_hosts":[]"#),
        errors: [ip("source.known_hosts: expected a string, got an array")]),
    DecoderProblemCase(
        "several wrong types at once", .check, json(source: #""username":1,"password":2,"known_hosts":false"#),
        errors: [
            ip("source.username: expected a string, got a number"),
            ip("source.password: expected a string, got a number"),
            ip("source.known_hosts: expected a string, got a boolean"),
        ]),

    // https_tunnel
    DecoderProblemCase(
        "proxy_host number", .check, json(source: #""https_tunnel":{"proxy_host":1,"proxy_port":3128}"#),
        errors: [ip("source.https_tunnel.proxy_host: expected a string, got a number")]),
    DecoderProblemCase(
        "proxy_port boolean", .check, json(source: #""https_tunnel":{"proxy_host":"h","proxy_port":true}"#),
        errors: [ip("source.https_tunnel.proxy_port: expected a port number, got a boolean")]),
    DecoderProblemCase(
        "proxy_port zero", .check, json(source: #""https_tunnel":{"proxy_host":"h","proxy_port":0}"#),
        errors: [ip("source.https_tunnel.proxy_port: expected a port number from 1 to 65535, got 0")]),
    DecoderProblemCase(
        "proxy_port too large", .check, json(source: #""https_tunnel":{"proxy_host":"h","proxy_port":70000}"#),
        errors: [ip("source.https_tunnel.proxy_port: expected a port number from 1 to 65535, got 70000")]),
    DecoderProblemCase(
        "proxy_port fraction", .check, json(source: #""https_tunnel":{"proxy_host":"h","proxy_port":80.5}"#),
        errors: [ip("source.https_tunnel.proxy_port: expected a port number from 1 to 65535, got 80.5")]),
    DecoderProblemCase(
        "proxy_port word", .check, json(source: #""https_tunnel":{"proxy_host":"h","proxy_port":"http"}"#),
        errors: [ip(#"source.https_tunnel.proxy_port: expected a port number from 1 to 65535, got "http""#)]),
    DecoderProblemCase(
        "proxy_user number", .check, json(source: #""https_tunnel":{"proxy_host":"h","proxy_port":1,"proxy_user":2}"#),
        errors: [ip("source.https_tunnel.proxy_user: expected a string, got a number")]),
    DecoderProblemCase(
        "proxy_password number", .check,
        json(source: #""https_tunnel":{"proxy_host":"h","proxy_port":1,"proxy_password":31337}"#),
        errors: [ip("source.https_tunnel.proxy_password: expected a string, got a number")]),

    // git_config entries
    DecoderProblemCase(
        "git_config entry without name", .check, json(source: #""git_config":[{"value":"x"}]"#),
        errors: [ip("source.git_config[0]: missing name")]),
    DecoderProblemCase(
        "git_config entry with empty name", .check, json(source: #""git_config":[{"name":"","value":"x"}]"#),
        errors: [ip("source.git_config[0]: missing name")]),
    DecoderProblemCase(
        "git_config entry without value", .check, json(source: #""git_config":[{"name":"user.name"}]"#),
        errors: [ip("source.git_config[0]: missing value")]),
    DecoderProblemCase(
        "git_config null value", .check, json(source: #""git_config":[{"name":"user.name","value":null}]"#),
        errors: [ip("source.git_config[0]: missing value")]),
    DecoderProblemCase(
        "git_config number value", .check,
        json(source: #""git_config":[{"name":"user.name","value":"a"},{"name":"http.extraHeader","value":12345}]"#),
        errors: [ip("source.git_config[1].value: expected a string, got a number")]),
    DecoderProblemCase(
        "git_config boolean value", .check, json(source: #""git_config":[{"name":"http.sslVerify","value":false}]"#),
        errors: [ip("source.git_config[0].value: expected a string, got a boolean")]),
    DecoderProblemCase(
        "git_config number name", .check, json(source: #""git_config":[{"name":5,"value":"x"}]"#),
        errors: [ip("source.git_config[0].name: expected a string, got a number")]),
    DecoderProblemCase(
        "git_config entry a string", .check, json(source: #""git_config":["user.name=x"]"#),
        errors: [ip("source.git_config[0]: expected an object with name and value, got a string")]),
    DecoderProblemCase(
        "git_config entry empty", .check, json(source: #""git_config":[{}]"#),
        errors: [ip("source.git_config[0]: missing name"), ip("source.git_config[0]: missing value")]),

    // Names
    DecoderProblemCase(
        "pool with ..", .check, #"{"source":{"uri":"u","branch":"b","pool":"ops/../x"}}"#,
        errors: [ip(#"source.pool "ops/../x": segment ".." is not allowed"#)]),
    DecoderProblemCase(
        "pool absolute", .in, #"{"source":{"uri":"u","branch":"b","pool":"/ops"}}"#,
        errors: [ip(#"source.pool "/ops": must not start with "/""#)]),
    DecoderProblemCase(
        "pool .git", .out, #"{"source":{"uri":"u","branch":"b","pool":"a/.Git"},"params":{"acquire":true}}"#,
        errors: [ip(#"source.pool "a/.Git": segment ".Git" is not allowed"#)]),
    DecoderProblemCase(
        "pool with newline", .check, #"{"source":{"uri":"u","branch":"b","pool":"a\nb"}}"#,
        errors: [ip(#"source.pool "a\nb": contains a control character"#)]),
    DecoderProblemCase(
        "pool empty segment", .check, #"{"source":{"uri":"u","branch":"b","pool":"a//b"}}"#,
        errors: [ip(#"source.pool "a//b": has an empty segment"#)]),
    DecoderProblemCase(
        "claim with slash", .out, put(#""claim":"a/b""#), errors: [ip(#"params.claim "a/b": must not contain "/""#)]),
    DecoderProblemCase(
        "claim dot name", .out, put(#""claim":".gitkeep""#),
        errors: [ip(#"params.claim ".gitkeep": must not start with ".""#)]),
    DecoderProblemCase(
        "claim control character", .out, put(#""claim":"a\u0000""#),
        errors: [ip(#"params.claim "a\u0000": contains a control character"#)]),
    DecoderProblemCase(
        "claim too long", .out, put(#""claim":""# + String(repeating: "x", count: 256) + "\""),
        errors: [ip(#"params.claim ""# + String(repeating: "x", count: 256) + #"": is longer than 255 bytes"#)]),

    // Durations
    DecoderProblemCase(
        "retry_delay not a duration", .check, json(source: #""retry_delay":"abc""#),
        errors: [ip(#"source.retry_delay: "abc" is not a duration; "# + durationHint)]),
    DecoderProblemCase(
        "retry_delay without unit", .check, json(source: #""retry_delay":"10""#),
        errors: [ip(#"source.retry_delay: "10" is not a duration; "# + durationHint)]),
    DecoderProblemCase(
        "retry_delay negative string", .check, json(source: #""retry_delay":"-5s""#),
        errors: [ip(#"source.retry_delay: "-5s" is negative; "# + durationHint)]),
    DecoderProblemCase(
        "retry_delay negative number", .in, json(source: #""retry_delay":-1"#),
        errors: [ip("source.retry_delay: -1 is negative; " + durationHint)]),
    DecoderProblemCase(
        "retry_delay too large", .check, json(source: #""retry_delay":"3000000h""#),
        errors: [ip(#"source.retry_delay: "3000000h" is too large; the maximum is 2562047h47m16.854775807s"#)]),
    DecoderProblemCase(
        "retry_delay number too large", .check, json(source: #""retry_delay":1e10"#),
        errors: [ip("source.retry_delay: 1e10 is too large; the maximum is 2562047h47m16.854775807s")]),
    DecoderProblemCase(
        "retry_delay quoted control character", .check, json(source: #""retry_delay":"1\ns""#),
        errors: [ip(#"source.retry_delay: "1\ns" is not a duration; "# + durationHint)]),
    DecoderProblemCase(
        "timeout not a duration", .out, put(#""acquire":true,"timeout":"5 minutes""#),
        errors: [ip(#"params.timeout: "5 minutes" is not a duration; "# + durationHint)]),
    DecoderProblemCase(
        "timeout negative", .out, put(#""acquire":true,"timeout":-5"#),
        errors: [ip("params.timeout: -5 is negative; " + durationHint)]),
    DecoderProblemCase(
        "timeout boolean", .out, put(#""acquire":true,"timeout":false"#),
        errors: [ip("params.timeout: expected a duration string or a number of seconds, got a boolean")]),
    DecoderProblemCase(
        "lease zero string", .out, put(#""acquire":true,"lease":"0s""#),
        errors: [ip(#"params.lease: "0s" is zero; a lease must be positive"#)]),
    DecoderProblemCase(
        "lease zero number", .out, put(#""claim":"a","lease":0"#),
        errors: [ip("params.lease: 0 is zero; a lease must be positive")]),
    DecoderProblemCase(
        "lease negative", .out, put(#""acquire":true,"lease":"-1h""#),
        errors: [ip(#"params.lease: "-1h" is negative; a lease must be positive"#)]),
    DecoderProblemCase(
        "lease not a duration", .out, put(#""acquire":true,"lease":"1 day""#),
        errors: [ip(#"params.lease: "1 day" is not a duration; "# + durationHint)]),
    DecoderProblemCase(
        "lease object", .out, put(#""acquire":true,"lease":{}"#),
        errors: [ip("params.lease: expected a duration string or a number of seconds, got an object")]),

    // Operations: wrong types
    DecoderProblemCase(
        "acquire number", .out, put(#""acquire":1"#), errors: [ip("params.acquire: expected a boolean, got a number")]),
    DecoderProblemCase(
        "acquire yes", .out, put(#""acquire":"yes""#),
        errors: [ip(#"params.acquire: expected true or false, got "yes""#)]),
    DecoderProblemCase(
        "claim number", .out, put(#""claim":5"#), errors: [ip("params.claim: expected a string, got a number")]),
    DecoderProblemCase(
        "release boolean", .out, put(#""release":true"#),
        errors: [ip("params.release: expected a string, got a boolean")]),
    DecoderProblemCase(
        "add number", .out, put(#""add":1"#), errors: [ip("params.add: expected a string, got a number")]),
    DecoderProblemCase(
        "add_claimed object", .out, put(#""add_claimed":{}"#),
        errors: [ip("params.add_claimed: expected a string, got an object")]),
    DecoderProblemCase(
        "remove array", .out, put(#""remove":[]"#), errors: [ip("params.remove: expected a string, got an array")]),
    DecoderProblemCase(
        "update number", .out, put(#""update":1"#), errors: [ip("params.update: expected a string, got a number")]),
    DecoderProblemCase(
        "check number", .out, put(#""check":2"#), errors: [ip("params.check: expected a string, got a number")]),
    DecoderProblemCase(
        "check_unclaimed boolean", .out, put(#""check_unclaimed":true"#),
        errors: [ip("params.check_unclaimed: expected a string, got a boolean")]),

    // Step directories
    DecoderProblemCase(
        "release absolute", .out, put(#""release":"/tmp/lock""#),
        errors: [
            ip(#"params.release "/tmp/lock": must be a path relative to the source directory, not an absolute path"#)
        ]),
    DecoderProblemCase(
        "add leaves through ..", .out, put(#""add":"../lock""#),
        errors: [ip(#"params.add "../lock": leaves the source directory through "..""#)]),
    DecoderProblemCase(
        "remove leaves deeper", .out, put(#""remove":"a/../../lock""#),
        errors: [ip(#"params.remove "a/../../lock": leaves the source directory through "..""#)]),
    DecoderProblemCase(
        "update just ..", .out, put(#""update":"..""#),
        errors: [ip(#"params.update "..": leaves the source directory through "..""#)]),
    DecoderProblemCase(
        "check control character", .out, put(#""check":"lock\t""#),
        errors: [ip(#"params.check "lock\t": contains a control character"#)]),

    // More than one operation, listed in the order of docs/resource.md#put-params.
    DecoderProblemCase(
        "claim and release", .out, put(#""release":"lock","claim":"a""#),
        errors: [ip("more than one operation: claim, release; use one put step per operation")]),
    DecoderProblemCase(
        "three operations", .out, put(#""update":"u","acquire":true,"check_unclaimed":"c""#),
        errors: [ip("more than one operation: acquire, update, check_unclaimed; use one put step per operation")]),
    DecoderProblemCase(
        "all nine operations", .out,
        put(
            #""acquire":true,"claim":"a","release":"r","add":"a","add_claimed":"a","remove":"r","update":"u","#
                + #""check":"c","check_unclaimed":"c""#),
        errors: [
            ip(
                "more than one operation: acquire, claim, release, add, add_claimed, remove, update, check, "
                    + "check_unclaimed; use one put step per operation")
        ]),
    DecoderProblemCase(
        "acquire \"true\" and add", .out, put(#""acquire":"true","add":"a""#),
        errors: [ip("more than one operation: acquire, add; use one put step per operation")]),
    DecoderProblemCase("acquire false does not count", .out, put(#""acquire":false,"add":"a","add_claimed":"""#)),
    DecoderProblemCase(
        "wrong-typed operations still count", .out, put(#""claim":5,"release":"r""#),
        errors: [
            ip("params.claim: expected a string, got a number"),
            ip("more than one operation: claim, release; use one put step per operation"),
        ]),

    // Multi-lock count
    DecoderProblemCase(
        "count with claim", .out, put(#""claim":"env-1","count":2"#),
        errors: [ip("params.count applies only to acquire")]),
    DecoderProblemCase(
        "count zero", .out, put(#""acquire":true,"count":0"#),
        errors: [ip("params.count: 0 is out of range; take from 1 to 1000 locks at once")]),
    DecoderProblemCase(
        "count fraction", .out, put(#""acquire":true,"count":1.5"#),
        errors: [ip(#"params.count: expected a whole number from 1 to 1000, got "1.5""#)]),
    DecoderProblemCase(
        "count negative string", .out, put(#""acquire":true,"count":"-2""#),
        errors: [ip(#"params.count: expected a whole number from 1 to 1000, got "-2""#)]),
    DecoderProblemCase(
        "count boolean", .out, put(#""acquire":true,"count":true"#),
        errors: [ip("params.count: expected a whole number, got a boolean")]),
    DecoderProblemCase(
        "count too large", .out, put(#""acquire":true,"count":1001"#),
        errors: [ip("params.count: 1001 is out of range; take from 1 to 1000 locks at once")]),
    // Lease rules
    DecoderProblemCase(
        "lease with release", .out, put(#""release":"lock","lease":"1h""#),
        errors: [ip("params.lease applies only to acquire, claim, add_claimed and renew")]),
    DecoderProblemCase(
        "lease with add", .out, put(#""add":"lock","lease":60"#),
        errors: [ip("params.lease applies only to acquire, claim, add_claimed and renew")]),
    DecoderProblemCase(
        "lease with check", .out, put(#""check":"lock","lease":"1m""#),
        errors: [ip("params.lease applies only to acquire, claim, add_claimed and renew")]),
    DecoderProblemCase(
        "invalid lease with update", .out, put(#""update":"lock","lease":"x""#),
        errors: [
            ip(#"params.lease: "x" is not a duration; "# + durationHint),
            ip("params.lease applies only to acquire, claim, add_claimed and renew"),
        ]),
    DecoderProblemCase("lease null with release", .out, put(#""release":"lock","lease":null"#)),
    DecoderProblemCase("lease empty with remove", .out, put(#""remove":"lock","lease":"""#)),
    DecoderProblemCase("lease with acquire", .out, put(#""acquire":true,"lease":"2h""#)),
    DecoderProblemCase("lease with add_claimed", .out, put(#""add_claimed":"lock","lease":3600"#)),

    // version and depth
    DecoderProblemCase(
        "version a string", .check, json(source: "", #""version":"abc""#),
        errors: [ip("version: expected an object, got a string")]),
    DecoderProblemCase(
        "version.ref a number", .in, json(source: "", #""version":{"ref":5}"#),
        errors: [ip("version.ref: expected a string, got a number")]),
    DecoderProblemCase(
        "version.ref an object", .check, json(source: "", #""version":{"ref":{}}"#),
        errors: [ip("version.ref: expected a string, got an object")]),
    DecoderProblemCase(
        "depth negative", .in, json(source: "", #""params":{"depth":-1}"#),
        errors: [ip("params.depth: -1 is negative; use 0 for the full history")]),
    DecoderProblemCase(
        "depth fraction", .in, json(source: "", #""params":{"depth":1.5}"#),
        errors: [ip("params.depth: expected an integer, got 1.5")]),
    DecoderProblemCase(
        "depth exponent", .in, json(source: "", #""params":{"depth":1e2}"#),
        errors: [ip("params.depth: expected an integer, got 1e2")]),
    DecoderProblemCase(
        "depth string", .in, json(source: "", #""params":{"depth":"3"}"#),
        errors: [ip("params.depth: expected an integer, got a string")]),
    DecoderProblemCase(
        "depth huge", .in, json(source: "", #""params":{"depth":99999999999999999999}"#),
        errors: [ip("params.depth: 99999999999999999999 is too large")]),
    DecoderProblemCase(
        "get params a string", .in, json(source: "", #""params":"deep""#),
        errors: [ip("params: expected an object, got a string")]),

    // Duplicate keys
    DecoderProblemCase(
        "duplicate top-level key", .check, #"{"source":{},"source":{}}"#,
        errors: [missingURI, missingBranch, missingPool, ip("duplicate key 'source'")]),
    DecoderProblemCase(
        "duplicate source key", .check, json(source: #""uri":"other""#), errors: [ip("duplicate key 'source.uri'")]),
    DecoderProblemCase(
        "duplicate params key", .out, put(#""acquire":true,"acquire":true,"acquire":false"#),
        errors: [ip("duplicate key 'params.acquire'")]),
    DecoderProblemCase(
        "duplicate git_config key", .check, json(source: #""git_config":[{"name":"a.b","name":"c.d","value":""}]"#),
        errors: [ip("duplicate key 'source.git_config[0].name'")],
        warnings: ["warning: git_config key 'a.b' has no effect in lockpool"]),
])
func decoderValidationProblems(_ c: DecoderProblemCase) {
    let result = outcome(c.executable, c.json)
    #expect(result.errors == c.errors)
    #expect(result.warnings == c.warnings)
}

// MARK: Warnings

@Test(arguments: [
    DecoderProblemCase(
        "misspelt source key", .check, json(source: #""retry_dealy":"5s""#),
        warnings: ["warning: unknown key 'source.retry_dealy' ignored (did you mean 'retry_delay'?)"]),
    DecoderProblemCase(
        "dashes and capitals", .check, json(source: #""Retry-Delay":"5s""#),
        warnings: ["warning: unknown key 'source.Retry-Delay' ignored (did you mean 'retry_delay'?)"]),
    DecoderProblemCase(
        "private key misspelt", .check, json(source: #""privat_key":"k""#),
        warnings: ["warning: unknown key 'source.privat_key' ignored (did you mean 'private_key'?)"]),
    DecoderProblemCase(
        "url for uri", .check, json(source: #""url":"u""#),
        warnings: ["warning: unknown key 'source.url' ignored (did you mean 'uri'?)"]),
    DecoderProblemCase(
        "brnach", .check, json(source: #""brnach":"x""#),
        warnings: ["warning: unknown key 'source.brnach' ignored (did you mean 'branch'?)"]),
    DecoderProblemCase("skip_ssl_verify", .in, json(source: #""skip_ssl_verify":true"#), warnings: []),
    DecoderProblemCase(
        "known-hosts", .out, put(#""acquire":true"#, source: #""known-hosts":"x""#),
        warnings: ["warning: unknown key 'source.known-hosts' ignored (did you mean 'known_hosts'?)"]),
    DecoderProblemCase("far from anything", .check, json(source: #""completely_unknown":1"#)),
    DecoderProblemCase(
        "unknown top-level keys are ignored", .check, json(source: "", #""whatever":{"retry_dealy":1}"#)),
    DecoderProblemCase("check ignores params", .check, json(source: "", #""params":{"acquire":5,"relase":"x"}"#)),
    DecoderProblemCase(
        "misspelt tunnel key", .check, json(source: #""https_tunnel":{"proxy_hots":"h","proxy_port":1}"#),
        warnings: [
            "warning: unknown key 'source.https_tunnel.proxy_hots' ignored (did you mean 'proxy_host'?)",
            "warning: source.https_tunnel has no effect without both proxy_host and proxy_port",
        ]),
    DecoderProblemCase(
        "misspelt put param", .out, put(#""relase":"lock","release":"lock""#),
        warnings: ["warning: unknown key 'params.relase' ignored (did you mean 'release'?)"]),
    DecoderProblemCase(
        "aquire", .out, put(#""aquire":true,"claim":"a""#),
        warnings: ["warning: unknown key 'params.aquire' ignored (did you mean 'acquire'?)"]),
    DecoderProblemCase(
        "misspelt get param", .in, json(source: "", #""params":{"dpeth":1}"#),
        warnings: ["warning: unknown key 'params.dpeth' ignored (did you mean 'depth'?)"]),
    DecoderProblemCase(
        "escaped key", .out, put("\"a\\nb\":1,\"acquire\":true"),
        warnings: [#"warning: unknown key 'params.a\nb' ignored (did you mean 'add'?)"#]),
    DecoderProblemCase(
        "retry_delay in params", .out, put(#""acquire":true,"retry_delay":"5s""#),
        warnings: ["warning: 'params.retry_delay' is ignored; it belongs in source"]),
    DecoderProblemCase(
        "Retry-Delay in params", .out, put(#""acquire":true,"Retry-Delay":"5s""#),
        warnings: ["warning: 'params.Retry-Delay' is ignored; it belongs in source"]),
    DecoderProblemCase(
        "acquire in source", .check, json(source: #""acquire":true"#),
        warnings: ["warning: 'source.acquire' is ignored; it belongs in params"]),
    DecoderProblemCase(
        "depth in source", .in, json(source: #""depth":1"#),
        warnings: ["warning: 'source.depth' is ignored; it belongs in params"]),
    DecoderProblemCase(
        "proxy_host in source", .check, json(source: #""proxy_host":"h""#),
        warnings: ["warning: 'source.proxy_host' is ignored; it belongs in source.https_tunnel"]),
    DecoderProblemCase(
        "uri in https_tunnel", .check, json(source: #""https_tunnel":{"uri":"u"}"#),
        warnings: ["warning: 'source.https_tunnel.uri' is ignored; it belongs in source"]),
    DecoderProblemCase(
        "put param in get params", .in, json(source: "", #""params":{"acquire":true}"#),
        warnings: ["warning: 'params.acquire' is ignored; it belongs in the params of a put step"]),
    DecoderProblemCase(
        "get param in put params", .out, put(#""acquire":true,"depth":1"#),
        warnings: ["warning: 'params.depth' is ignored; it belongs in the params of a get step"]),
    DecoderProblemCase(
        "pool in get params", .in, json(source: "", #""params":{"pool":"x"}"#),
        warnings: ["warning: 'params.pool' is ignored; it belongs in source"]),
    DecoderProblemCase("forward_agent true", .check, json(source: #""forward_agent":true"#)),
    DecoderProblemCase(
        "forward_agent \"true\"", .out, put(#""acquire":true"#, source: #""forward_agent":"true""#)),
    DecoderProblemCase("forward_agent false", .check, json(source: #""forward_agent":false"#)),
    DecoderProblemCase(
        "git_config keys without effect", .check,
        json(
            source: gitConfig(
                ("credential.helper", "x"), ("user.name", "n"), ("core.sshCommand", "ssh"), ("http.postBuffer", "1"),
                ("url..insteadOf", "x"), ("user", "x"), ("http.https://x.extraHeader", "x"))),
        warnings: [
            "warning: git_config key 'credential.helper' has no effect in lockpool",
            "warning: git_config key 'http.postBuffer' has no effect in lockpool",
            "warning: git_config key 'url..insteadOf' has no effect in lockpool",
            "warning: git_config key 'user' has no effect in lockpool",
            "warning: git_config key 'http.https://x.extraHeader' has no effect in lockpool",
        ]),
    DecoderProblemCase(
        "git_config keys with effect", .check,
        json(
            source: gitConfig(
                ("User.Name", "n"), ("user.email", "e"), ("http.proxy", "p"), ("HTTP.SSLVERIFY", "false"),
                ("http.sslCAInfo", "f"), ("http.sslCAPath", "d"), ("http.extraHeader", "h"), ("http.userAgent", "a"),
                ("http.followRedirects", "true"), ("url.https://mirror/.insteadOf", "x"),
                ("URL.git@host:.PushInsteadOf", "y")))),
    DecoderProblemCase(
        "tunnel without port", .check, json(source: #""https_tunnel":{"proxy_host":"h"}"#),
        warnings: ["warning: source.https_tunnel has no effect without both proxy_host and proxy_port"]),
    DecoderProblemCase(
        "tunnel user only", .check, json(source: #""https_tunnel":{"proxy_user":"u"}"#),
        warnings: ["warning: source.https_tunnel has no effect without both proxy_host and proxy_port"]),
    DecoderProblemCase("empty tunnel", .check, json(source: #""https_tunnel":{}"#)),
    DecoderProblemCase(
        "warnings survive errors", .check, #"{"source":{"retry_dealy":1,"forward_agent":true}}"#,
        errors: [missingURI, missingBranch, missingPool],
        warnings: [
            "warning: unknown key 'source.retry_dealy' ignored (did you mean 'retry_delay'?)"
        ]),
])
func decoderWarnings(_ c: DecoderProblemCase) {
    let result = outcome(c.executable, c.json)
    #expect(result.errors == c.errors)
    #expect(result.warnings == c.warnings)
}

// MARK: Decoded values

struct PutOperationCase: Sendable, CustomTestStringConvertible {
    let params: String
    let expected: OutParams
    var testDescription: String { params }
}

@Test(arguments: [
    PutOperationCase(params: #""acquire":true"#, expected: OutParams(operation: .acquire)),
    PutOperationCase(params: #""acquire":"true""#, expected: OutParams(operation: .acquire)),
    PutOperationCase(params: #""acquire":true,"count":3"#, expected: OutParams(operation: .acquire, count: 3)),
    PutOperationCase(params: #""acquire":true,"count":"2""#, expected: OutParams(operation: .acquire, count: 2)),
    PutOperationCase(params: #""acquire":true,"count":1"#, expected: OutParams(operation: .acquire)),
    PutOperationCase(params: #""claim":"env-1""#, expected: OutParams(operation: .claim(lock: "env-1"))),
    PutOperationCase(params: #""release":"lock""#, expected: OutParams(operation: .release(directory: "lock"))),
    PutOperationCase(params: #""add":"new/lock""#, expected: OutParams(operation: .add(directory: "new/lock"))),
    PutOperationCase(params: #""add_claimed":"x""#, expected: OutParams(operation: .addClaimed(directory: "x"))),
    PutOperationCase(params: #""remove":"./lock/""#, expected: OutParams(operation: .remove(directory: "./lock/"))),
    PutOperationCase(params: #""update":"a/..""#, expected: OutParams(operation: .update(directory: "a/.."))),
    PutOperationCase(params: #""check":".""#, expected: OutParams(operation: .check(directory: "."))),
    PutOperationCase(
        params: #""check_unclaimed":"l""#, expected: OutParams(operation: .checkUnclaimed(directory: "l"))),
    PutOperationCase(
        params: #""acquire":true,"timeout":"5m""#, expected: OutParams(operation: .acquire, timeout: .seconds(300))),
    PutOperationCase(params: #""acquire":true,"timeout":0"#, expected: OutParams(operation: .acquire)),
    PutOperationCase(params: #""acquire":true,"timeout":"0s""#, expected: OutParams(operation: .acquire)),
    PutOperationCase(params: #""acquire":true,"timeout":null"#, expected: OutParams(operation: .acquire)),
    PutOperationCase(
        params: #""acquire":true,"timeout":1.5"#, expected: OutParams(operation: .acquire, timeout: .milliseconds(1500))
    ),
    PutOperationCase(
        params: #""claim":"a","lease":"1h30m""#,
        expected: OutParams(operation: .claim(lock: "a"), lease: .seconds(5400))),
    PutOperationCase(
        params: #""add_claimed":"d","lease":0.25"#,
        expected: OutParams(operation: .addClaimed(directory: "d"), lease: .milliseconds(250))),
    PutOperationCase(
        params: #""release":"lock","lease":"""#, expected: OutParams(operation: .release(directory: "lock"))),
])
func decodesOperations(_ c: PutOperationCase) throws {
    let decoded = try RequestDecoder.decodeOut(Array(put(c.params).utf8)).get()
    #expect(decoded.request.params == c.expected)
    #expect(decoded.warnings == [])
}

@Test func decodesAFullSource() throws {
    let input = """
        {"source": {
          "uri": "git@github.com:ops/locks.git", "branch": "locks", "pool": "cf/fresh",
          "private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\\nabc\\n-----END OPENSSH PRIVATE KEY-----\\n",
          "private_key_user": "deploy", "private_key_passphrase": "pass phrase", "forward_agent": "false",
          "username": "bot", "password": "hunter2",
          "git_config": [{"name": "user.name", "value": "Bot"}, {"name": "http.extraHeader", "value": ""}],
          "https_tunnel": {"proxy_host": "proxy", "proxy_port": "3128", "proxy_user": "pu", "proxy_password": "pp"},
          "skip_ssl_verification": "true", "retry_delay": 2.5,
          "prometheus_push_gateway": "gateway:9091", "known_hosts": "github.com ssh-ed25519 AAAA"
        }, "version": {"ref": "0123456789abcdef0123456789abcdef01234567", "extra": 1}}
        """
    let decoded = try RequestDecoder.decodeCheck(Array(input.utf8)).get()
    let expected = Source(
        uri: "git@github.com:ops/locks.git", branch: "locks", pool: "cf/fresh",
        privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n",
        privateKeyUser: "deploy", privateKeyPassphrase: "pass phrase", forwardAgent: false, username: "bot",
        password: "hunter2",
        gitConfig: [
            GitConfigEntry(name: "user.name", value: "Bot"), GitConfigEntry(name: "http.extraHeader", value: ""),
        ],
        httpsTunnel: HTTPSTunnel(proxyHost: "proxy", proxyPort: 3128, proxyUser: "pu", proxyPassword: "pp"),
        skipSSLVerification: true, retryDelay: .milliseconds(2500), prometheusPushGateway: "gateway:9091",
        knownHosts: "github.com ssh-ed25519 AAAA")
    #expect(decoded.request.source == expected)
    #expect(decoded.request.version == "0123456789abcdef0123456789abcdef01234567")
    #expect(decoded.warnings == [])
}

@Test func defaultsOfAMinimalSource() throws {
    let decoded = try RequestDecoder.decodeIn(Array(json().utf8)).get()
    #expect(
        decoded.request
            == InRequest(source: Source(uri: "https://git.example.com/locks.git", branch: "main", pool: "ops")))
    let source = decoded.request.source
    #expect(source.retryDelay == .seconds(10))
    #expect(
        source.gitConfig.isEmpty && source.httpsTunnel == nil && !source.forwardAgent && !source.skipSSLVerification)
    #expect(source.secrets.isEmpty)
}

struct DecoderRetryDelayCase: Sendable, CustomTestStringConvertible {
    let value: String
    let expected: Duration
    var testDescription: String { "\(value) → \(expected.goDescription)" }
}

@Test(arguments: [
    DecoderRetryDelayCase(value: "0", expected: .seconds(10)),
    DecoderRetryDelayCase(value: #""0s""#, expected: .seconds(10)),
    DecoderRetryDelayCase(value: "null", expected: .seconds(10)),
    DecoderRetryDelayCase(value: #""""#, expected: .seconds(10)),
    DecoderRetryDelayCase(value: "5", expected: .seconds(5)),
    DecoderRetryDelayCase(value: "0.5", expected: .milliseconds(500)),
    DecoderRetryDelayCase(value: #""100ms""#, expected: .milliseconds(100)),
    DecoderRetryDelayCase(value: #""1m30s""#, expected: .seconds(90)),
    DecoderRetryDelayCase(value: #"".5s""#, expected: .milliseconds(500)),
    DecoderRetryDelayCase(value: #""2\u00b5s""#, expected: .microseconds(2)),
])
func decodesRetryDelay(_ c: DecoderRetryDelayCase) throws {
    let decoded = try RequestDecoder.decodeCheck(Array(json(source: #""retry_delay":"# + c.value).utf8)).get()
    #expect(decoded.request.source.retryDelay == c.expected)
}

struct DecoderVersionCase: Sendable, CustomTestStringConvertible {
    let rest: String
    let version: String?
    let depth: Int
    var testDescription: String { rest.isEmpty ? "nothing" : rest }
}

@Test(arguments: [
    DecoderVersionCase(rest: "", version: nil, depth: 0),
    DecoderVersionCase(rest: #""version":null"#, version: nil, depth: 0),
    DecoderVersionCase(rest: #""version":{}"#, version: nil, depth: 0),
    DecoderVersionCase(rest: #""version":{"ref":""}"#, version: nil, depth: 0),
    DecoderVersionCase(rest: #""version":{"ref":null}"#, version: nil, depth: 0),
    DecoderVersionCase(rest: #""version":{"ref":"abc123"}"#, version: "abc123", depth: 0),
    DecoderVersionCase(rest: #""version":{"ref":"abc"},"params":{"depth":3}"#, version: "abc", depth: 3),
    DecoderVersionCase(rest: #""params":{"depth":0}"#, version: nil, depth: 0),
    DecoderVersionCase(rest: #""params":{"depth":null}"#, version: nil, depth: 0),
    DecoderVersionCase(rest: #""params":{"depth":-0}"#, version: nil, depth: 0),
    DecoderVersionCase(rest: #""params":null"#, version: nil, depth: 0),
    DecoderVersionCase(rest: #""params":{}"#, version: nil, depth: 0),
])
func decodesVersionAndDepth(_ c: DecoderVersionCase) throws {
    let input = Array(json(source: "", c.rest).utf8)
    let got = try RequestDecoder.decodeIn(input).get().request
    #expect(got.version == c.version)
    #expect(got.depth == c.depth)
    let check = try RequestDecoder.decodeCheck(input).get().request
    #expect(check.version == c.version)
}

@Test func unicodeEscapes() throws {
    let input = #"{"source":{"uri":"u","branch":"b","pool":"\ud83d\ude00\u00e4\ud800x"}}"#
    let decoded = try RequestDecoder.decodeCheck(Array(input.utf8)).get()
    #expect(decoded.request.source.pool == "😀ä\u{FFFD}x")
}

@Test func tunnelPortAsNumber() throws {
    let decoded = try RequestDecoder.decodeCheck(
        Array(json(source: #""https_tunnel":{"proxy_host":"p","proxy_port":8080}"#).utf8)
    ).get()
    #expect(decoded.request.source.httpsTunnel == HTTPSTunnel(proxyHost: "p", proxyPort: 8080))
}

// MARK: Secrets

private let secretSource = #"""
    "uri":"https://bot:p%40ss-uri@git.example.com/locks.git","branch":"main","pool":"ops",
    "private_key":"KEY-MATERIAL-42","private_key_passphrase":"phrase-42","password":"hunter2-42",
    "https_tunnel":{"proxy_host":"h","proxy_port":1,"proxy_password":"tunnel-pw-42"},
    "prometheus_push_gateway":"metrics:gw-pw-42@gateway:9091",
    "git_config":[{"name":"http.extraHeader","value":"Authorization: Bearer tok-42"},
                  {"name":"http.proxy","value":"http://pu:proxy-pw-42@proxy:3128"}]
    """#

@Test func collectsEverySecret() throws {
    let decoded = try RequestDecoder.decodeCheck(Array(("{\"source\":{" + secretSource + "}}").utf8)).get()
    let secrets = Set(decoded.request.source.secrets)
    let expected: Set<String> = [
        "KEY-MATERIAL-42", "phrase-42", "hunter2-42", "tunnel-pw-42", "bot:p%40ss-uri", "p%40ss-uri", "p@ss-uri",
        "metrics:gw-pw-42", "gw-pw-42", "Authorization: Bearer tok-42", "Bearer tok-42", "tok-42",
        "pu:proxy-pw-42", "proxy-pw-42",
    ]
    #expect(secrets == expected)
    let lengths = decoded.request.source.secrets.map(\.count)
    #expect(lengths == lengths.sorted(by: >))
}

struct URIUserinfoCase: Sendable, CustomTestStringConvertible {
    let uri: String
    let secrets: [String]
    var testDescription: String { uri }
}

@Test(arguments: [
    URIUserinfoCase(uri: "git@github.com:ops/locks.git", secrets: []),
    URIUserinfoCase(uri: "ssh://git@host:2222/locks.git", secrets: []),
    URIUserinfoCase(uri: "https://host/locks.git", secrets: []),
    URIUserinfoCase(uri: "https://tok3n@host/locks.git", secrets: ["tok3n"]),
    URIUserinfoCase(uri: "https://user:pw@host/a@b", secrets: ["user:pw", "pw"]),
    URIUserinfoCase(uri: "ssh://git:pw@host/x", secrets: ["git:pw", "pw"]),
    URIUserinfoCase(uri: "/srv/locks.git", secrets: []),
    // Unencoded `/`, `?` and `#` in a password (security review, finding 11): the authority reaches the `@`.
    URIUserinfoCase(uri: "https://user:pa/ss@host/locks.git", secrets: ["user:pa/ss", "pa/ss"]),
    URIUserinfoCase(uri: "https://user:p?w#d@host:8443/locks.git", secrets: ["user:p?w#d", "p?w#d"]),
    URIUserinfoCase(uri: "https://host:8443/path/a@b", secrets: []),
])
func secretsInURIUserinfo(_ c: URIUserinfoCase) throws {
    let source = Source(uri: c.uri, branch: "b", pool: "p")
    #expect(source.secrets == c.secrets)
    for secret in c.secrets { #expect(!String(describing: source).contains(secret), "\(source)") }
}

@Test(arguments: [
    ("https://user:pa/ss@host/locks.git", "https://host/locks.git"),
    ("https://user:p?w@host", "https://host"), ("http://u:pw@gw:9091/x", "http://gw:9091/x"),
    ("https://host:8443/a@b", "https://host:8443/a@b"), ("u:pw@gw:9091", "u:pw@gw:9091"),
    ("ssh://git@host/x", "ssh://host/x"),
])
func removingUserinfoReadsTheAuthorityAsRemoteAddressDoes(_ url: String, _ shown: String) {
    #expect(RequestSecrets.removingUserinfo(url) == shown)
}

@Test func secretsNeverAppearInProblemsOrDescriptions() throws {
    let secretValues = [
        "KEY-MATERIAL-42", "phrase-42", "hunter2-42", "tunnel-pw-42", "p%40ss-uri", "p@ss-uri", "gw-pw-42", "tok-42",
        "proxy-pw-42",
    ]
    // Many problems at once around the secrets: wrong types elsewhere, misspellings, a bad pool, many operations.
    let input =
        "{\"source\":{" + secretSource
        + #","pool":"../x","retry_dealy":1,"forward_agent":"maybe","known_hosts":5},"#
        + #""params":{"claim":"a/b","release":"/x","lease":"-1s","pasword":"hunter2-42"}}"#
    guard case .failure(let problems) = RequestDecoder.decodeOut(Array(input.utf8)) else {
        Issue.record("expected a failure")
        return
    }
    #expect(problems.errors.count > 5)
    let text = (problems.errors + problems.warnings).joined(separator: "\n")
    for secret in secretValues { #expect(!text.contains(secret), "\(secret) leaked") }

    // Type errors on secret keys name the key and the type only.
    let wrong = #"{"source":{"uri":"u","branch":"b","pool":"p","password":424242,"private_key":["KEY-MATERIAL-42"]}}"#
    guard case .failure(let typeProblems) = RequestDecoder.decodeCheck(Array(wrong.utf8)) else {
        Issue.record("expected a failure")
        return
    }
    #expect(!typeProblems.description.contains("424242") && !typeProblems.description.contains("KEY-MATERIAL-42"))

    let source = try RequestDecoder.decodeCheck(Array(("{\"source\":{" + secretSource + "}}").utf8)).get().request
        .source
    var dumped = ""
    dump(source, to: &dumped)
    let shown = [String(describing: source), String(reflecting: source), "\(source)", dumped].joined(separator: "\n")
    for secret in secretValues { #expect(!shown.contains(secret), "\(secret) leaked") }
    #expect(String(describing: source) == "https://git.example.com/locks.git branch 'main' pool 'ops'")
}

@Test func problemsDescriptionIsOneErrorPerLine() {
    let problems = RequestProblems(errors: ["invalid payload (missing uri)", "invalid payload (missing pool)"])
    #expect(problems.description == "invalid payload (missing uri)\ninvalid payload (missing pool)")
}

// MARK: Internals

struct KeyDistanceCase: Sendable, CustomTestStringConvertible {
    let a: String
    let b: String
    let distance: Int
    var testDescription: String { "\(a) ↔ \(b) = \(distance)" }
}

@Test(arguments: [
    KeyDistanceCase(a: "", b: "abc", distance: 3), KeyDistanceCase(a: "retry_dealy", b: "retry_delay", distance: 2),
    KeyDistanceCase(a: "kitten", b: "sitting", distance: 3), KeyDistanceCase(a: "uri", b: "url", distance: 1),
    KeyDistanceCase(a: "same", b: "same", distance: 0),
])
func levenshteinDistance(_ c: KeyDistanceCase) {
    #expect(editDistance(c.a, c.b) == c.distance)
    #expect(editDistance(c.b, c.a) == c.distance)
}

@Test(
    arguments: [
        ("lock", nil), (".", nil), ("a/..", nil), ("./a/./b/", nil), ("a/../b", nil),
        ("/abs", "must be a path relative to the source directory, not an absolute path"),
        ("..", #"leaves the source directory through "..""#), ("a/../..", #"leaves the source directory through "..""#),
        ("../a", #"leaves the source directory through "..""#), ("a\u{7F}", "contains a control character"),
    ] as [(String, String?)])
func stepDirectoryRule(_ path: String, _ expected: String?) {
    #expect(DecodingContext.stepDirectoryProblem(path) == expected)
}
