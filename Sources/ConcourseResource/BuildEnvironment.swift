import LockPool

extension BuildInfo {
    /// Reads the build from Concourse's build metadata variables (SPEC §3.3), as `out` does.
    ///
    /// Reads `BUILD_TEAM_NAME`, `BUILD_PIPELINE_NAME`, `BUILD_JOB_NAME`, `BUILD_NAME`, `BUILD_ID`,
    /// `BUILD_PIPELINE_INSTANCE_VARS`, `BUILD_URL` and `ATC_EXTERNAL_URL`; an empty variable counts as unset. The URL
    /// is `BUILD_URL` when set; otherwise it is derived from `ATC_EXTERNAL_URL` (trailing `/` removed) as
    /// `/teams/T/pipelines/P/jobs/J/builds/N` with percent-encoded segments and the instance vars appended as the
    /// Concourse web UI does (`?vars.branch=%22main%22`, nested keys joined by `.`, sorted, joined by `&`), or as
    /// `/builds/ID` for a build without the four names. Without `ATC_EXTERNAL_URL` there is no URL.
    /// - Parameter environment: the process environment, such as `ProcessInfo.processInfo.environment`.
    public init(environment: [String: String]) {
        func value(_ key: String) -> String? {
            guard let value = environment[key], !value.isEmpty else { return nil }
            return value
        }
        self.init(
            team: value("BUILD_TEAM_NAME"), pipeline: value("BUILD_PIPELINE_NAME"), job: value("BUILD_JOB_NAME"),
            name: value("BUILD_NAME"), id: value("BUILD_ID"), instanceVars: value("BUILD_PIPELINE_INSTANCE_VARS"))
        url = value("BUILD_URL") ?? ConcourseWebURL.build(self, externalURL: value("ATC_EXTERNAL_URL"))
    }
}

/// Builds Concourse web UI addresses.
private enum ConcourseWebURL {
    static func build(_ build: BuildInfo, externalURL: String?) -> String? {
        guard var base = externalURL else { return nil }
        while base.hasSuffix("/") { base.removeLast() }
        guard !base.isEmpty else { return nil }
        if let team = build.team, let pipeline = build.pipeline, let job = build.job, let name = build.name {
            let path = [("teams", team), ("pipelines", pipeline), ("jobs", job), ("builds", name)]
                .map { "/\($0.0)/\(percentEncoded($0.1))" }.joined()
            return base + path + query(instanceVars: build.instanceVars)
        }
        if let id = build.id { return base + "/builds/" + percentEncoded(id) }
        return nil
    }

    /// `?vars.<key>=<JSON value>&…` for a JSON object of instance vars; empty when there are none or the JSON is not
    /// an object.
    ///
    /// Nested objects are flattened with `.`-joined keys and the pairs sorted by key, as the web UI does; other values
    /// are written as compact JSON. Numbers keep their text as given.
    static func query(instanceVars: String?) -> String {
        guard let instanceVars, case .object(let members)? = JSONValue.parse(instanceVars) else { return "" }
        var flat: [String: String] = [:]
        func flatten(_ members: [(String, JSONValue)], under prefix: String) {
            for (key, value) in members {
                if case .object(let nested) = value {
                    flatten(nested, under: prefix + key + ".")
                } else {
                    flat[prefix + key] = value.json
                }
            }
        }
        flatten(members, under: "")
        guard !flat.isEmpty else { return "" }
        let pairs = flat.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            .map { "vars.\(percentEncoded($0.key))=\(percentEncoded($0.value))" }
        return "?" + pairs.joined(separator: "&")
    }

    /// `text` percent-encoded as JavaScript's `encodeURIComponent` does.
    static func percentEncoded(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            case _ where "-_.!~*'()".utf8.contains(byte):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                result += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return result
    }
}

/// Just enough JSON to rewrite instance vars: numbers and literals keep their text.
private indirect enum JSONValue {
    case object([(String, JSONValue)])
    case array([JSONValue])
    case string(String)
    case literal(String)

    /// Compact JSON text, strings escaped as JavaScript's `JSON.stringify` does.
    var json: String {
        switch self {
        case .object(let members):
            "{" + members.map { JSONValue.quoted($0.0) + ":" + $0.1.json }.joined(separator: ",") + "}"
        case .array(let elements): "[" + elements.map(\.json).joined(separator: ",") + "]"
        case .string(let text): JSONValue.quoted(text)
        case .literal(let text): text
        }
    }

    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\u{08}": result += "\\b"
            case "\u{0C}": result += "\\f"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    /// The value of `text`, or `nil` when it is not one complete JSON value.
    static func parse(_ text: String) -> JSONValue? {
        var parser = Parser(scalars: Array(text.unicodeScalars))
        guard let value = parser.value() else { return nil }
        parser.skipWhitespace()
        return parser.position == parser.scalars.count ? value : nil
    }

    private struct Parser {
        let scalars: [Unicode.Scalar]
        var position = 0

        init(scalars: [Unicode.Scalar]) { self.scalars = scalars }

        mutating func skipWhitespace() {
            while position < scalars.count, [" ", "\t", "\n", "\r"].contains(scalars[position]) { position += 1 }
        }

        mutating func value() -> JSONValue? {
            skipWhitespace()
            guard position < scalars.count else { return nil }
            switch scalars[position] {
            case "{": return object()
            case "[": return array()
            case "\"": return string().map(JSONValue.string)
            default: return literal()
            }
        }

        private mutating func consume(_ scalar: Unicode.Scalar) -> Bool {
            skipWhitespace()
            guard position < scalars.count, scalars[position] == scalar else { return false }
            position += 1
            return true
        }

        private mutating func object() -> JSONValue? {
            position += 1
            var members: [(String, JSONValue)] = []
            if consume("}") { return .object(members) }
            repeat {
                skipWhitespace()
                guard position < scalars.count, scalars[position] == "\"", let key = string(), consume(":"),
                    let value = value()
                else { return nil }
                members.removeAll { $0.0 == key }
                members.append((key, value))
            } while consume(",")
            return consume("}") ? .object(members) : nil
        }

        private mutating func array() -> JSONValue? {
            position += 1
            var elements: [JSONValue] = []
            if consume("]") { return .array(elements) }
            repeat {
                guard let element = value() else { return nil }
                elements.append(element)
            } while consume(",")
            return consume("]") ? .array(elements) : nil
        }

        private mutating func string() -> String? {
            position += 1
            var result = String.UnicodeScalarView()
            var pendingHighSurrogate: UInt32?
            while position < scalars.count {
                let scalar = scalars[position]
                position += 1
                switch scalar {
                case "\"":
                    return pendingHighSurrogate == nil ? String(result) : nil
                case "\\":
                    guard position < scalars.count else { return nil }
                    let escape = scalars[position]
                    position += 1
                    if escape == "u" {
                        guard position + 4 <= scalars.count,
                            let code = UInt32(
                                String(String.UnicodeScalarView(scalars[position..<position + 4])), radix: 16)
                        else { return nil }
                        position += 4
                        if let high = pendingHighSurrogate {
                            guard (0xDC00...0xDFFF).contains(code),
                                let combined = Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00))
                            else { return nil }
                            result.append(combined)
                            pendingHighSurrogate = nil
                        } else if (0xD800...0xDBFF).contains(code) {
                            pendingHighSurrogate = code
                        } else {
                            guard let decoded = Unicode.Scalar(code) else { return nil }
                            result.append(decoded)
                        }
                        continue
                    }
                    guard pendingHighSurrogate == nil else { return nil }
                    switch escape {
                    case "\"", "\\", "/": result.append(escape)
                    case "b": result.append("\u{08}")
                    case "f": result.append("\u{0C}")
                    case "n": result.append("\n")
                    case "r": result.append("\r")
                    case "t": result.append("\t")
                    default: return nil
                    }
                default:
                    guard pendingHighSurrogate == nil, scalar.value >= 0x20 else { return nil }
                    result.append(scalar)
                }
            }
            return nil
        }

        private mutating func literal() -> JSONValue? {
            let start = position
            while position < scalars.count, !" \t\n\r,]}:".unicodeScalars.contains(scalars[position]) { position += 1 }
            let text = String(String.UnicodeScalarView(scalars[start..<position]))
            if ["true", "false", "null"].contains(text) { return .literal(text) }
            guard text.wholeMatch(of: /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/) != nil else { return nil }
            return .literal(text)
        }
    }
}
