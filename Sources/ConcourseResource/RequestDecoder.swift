import LockPool
import PoolMetrics

/// Reads and validates the JSON request of `check`, `in` and `out`
/// (docs/resource.md#executables-and-their-input-and-output), before any network or git work.
///
/// Every problem is collected: the upstream `invalid payload (missing …)` lines first, verbatim and in upstream order,
/// then lockpool's own, each naming the key (`invalid payload (source.branch: expected a string, got a number)`).
/// A key that is absent, `null` or `""` counts as not given. Unknown keys are ignored, with a warning when they look
/// like a misspelt known key or belong in another object. No message contains a secret value.
public enum RequestDecoder {
    /// Decodes the stdin of `check`: `{"source":{…},"version":{"ref":…}}`, `version` optional.
    ///
    /// - Parameter input: all of stdin.
    /// - Returns: the request and its warnings, or every problem found.
    public static func decodeCheck(_ input: [UInt8]) -> Result<Decoded<CheckRequest>, RequestProblems> {
        decode(input) { context, top in
            let source = context.decodeSource(top.value(for: "source"))
            let version = context.decodeVersion(top.value(for: "version"))
            return CheckRequest(source: source, version: version)
        }
    }

    /// Decodes the stdin of `in`: `{"source":{…},"version":{"ref":…},"params":{"depth":N}}`.
    ///
    /// - Parameter input: all of stdin.
    /// - Returns: the request and its warnings, or every problem found.
    public static func decodeIn(_ input: [UInt8]) -> Result<Decoded<InRequest>, RequestProblems> {
        decode(input) { context, top in
            let source = context.decodeSource(top.value(for: "source"))
            let version = context.decodeVersion(top.value(for: "version"))
            let depth = context.decodeGetParams(top.value(for: "params"))
            return InRequest(source: source, version: version, depth: depth)
        }
    }

    /// Decodes the stdin of `out`: `{"source":{…},"params":{…}}` with exactly one operation.
    ///
    /// - Parameter input: all of stdin.
    /// - Returns: the request and its warnings, or every problem found.
    public static func decodeOut(_ input: [UInt8]) -> Result<Decoded<OutRequest>, RequestProblems> {
        decode(input) { context, top in
            let source = context.decodeSource(top.value(for: "source"))
            let params = context.decodePutParams(top.value(for: "params"))
            return OutRequest(source: source, params: params)
        }
    }

    private static func decode<Request: Sendable>(
        _ input: [UInt8], _ body: (inout DecodingContext, JSONObjectView) -> Request
    ) -> Result<Decoded<Request>, RequestProblems> {
        let value: JSONValue
        do {
            value = try JSONParser.parse(input)
        } catch {
            return .failure(RequestProblems(errors: ["invalid payload (\(error.description))"]))
        }
        guard case .object(let members) = value else {
            return .failure(
                RequestProblems(errors: ["invalid payload (expected one JSON object, got \(value.typeDescription))"]))
        }
        var context = DecodingContext()
        let top = context.view(members, path: nil)
        let request = body(&context, top)
        let errors = context.upstreamErrors + context.errors
        guard errors.isEmpty else { return .failure(RequestProblems(errors: errors, warnings: context.warnings)) }
        return .success(Decoded(request: request, warnings: context.warnings))
    }
}

/// The members of one JSON object, looked up by exact key; the first of duplicate keys is used (duplicates are an
/// error reported when the view is made).
struct JSONObjectView {
    var members: [JSONMember]
    /// The object's path in messages (`source`, `source.git_config[1]`), or `nil` for the request itself.
    var path: String?

    /// The value of `key`, or `nil` when absent.
    func value(for key: String) -> JSONValue? {
        members.first { $0.key == key }?.value
    }

    /// The path of `key` in messages.
    func path(of key: String) -> String {
        path.map { "\($0).\(key)" } ?? key
    }
}

/// The problems found so far, and the checks that find them.
struct DecodingContext {
    /// `invalid payload (missing …)` lines, printed first.
    var upstreamErrors: [String] = []
    /// lockpool's own errors.
    var errors: [String] = []
    var warnings: [String] = []

    private static let durationHint = "use e.g. \"10s\", \"1m30s\" or a number of seconds"

    private mutating func fail(_ text: String) {
        errors.append("invalid payload (\(text))")
    }

    private mutating func typeError(_ path: String, expected: String, got value: JSONValue) {
        fail("\(path): expected \(expected), got \(value.typeDescription)")
    }

    /// Wraps an object's members, reporting duplicate keys.
    mutating func view(_ members: [JSONMember], path: String?) -> JSONObjectView {
        let view = JSONObjectView(members: members, path: path)
        var seen = Set<String>()
        var reported = Set<String>()
        for member in members where !seen.insert(member.key).inserted && reported.insert(member.key).inserted {
            fail("duplicate key '\(KeyedObject.displayed(view.path(of: member.key)))'")
        }
        return view
    }

    /// Reports the unknown keys of a known object.
    private mutating func warnAboutUnknownKeys(of view: JSONObjectView, as object: KeyedObject) {
        var reported = Set<String>()
        for member in view.members where reported.insert(member.key).inserted {
            if let warning = object.warning(forKey: member.key) { warnings.append(warning) }
        }
    }

    /// Whether `value` counts as given: present, not `null` and not `""`.
    private static func isGiven(_ value: JSONValue?) -> Bool {
        switch value {
        case nil, .null, .string(""): false
        default: true
        }
    }

    // MARK: Scalars

    private mutating func string(_ key: String, in view: JSONObjectView) -> String? {
        let value = view.value(for: key)
        guard Self.isGiven(value), let value else { return nil }
        guard case .string(let text) = value else {
            typeError(view.path(of: key), expected: "a string", got: value)
            return nil
        }
        return text
    }

    private mutating func boolean(_ key: String, in view: JSONObjectView) -> Bool? {
        let value = view.value(for: key)
        guard Self.isGiven(value), let value else { return nil }
        switch value {
        case .bool(let flag): return flag
        case .string("true"): return true
        case .string("false"): return false
        case .string(let text):
            fail("\(view.path(of: key)): expected true or false, got \(NameRule.jsonQuoted(text))")
            return nil
        default:
            typeError(view.path(of: key), expected: "a boolean", got: value)
            return nil
        }
    }

    private enum DurationRole {
        /// `retry_delay` and `timeout`: zero means the default.
        case zeroMeansDefault
        /// `lease`: must be positive.
        case positive
    }

    /// Reads a duration: a Go duration string or a number of seconds (docs/resource.md#durations). Returns `nil` when
    /// not given or invalid (reported); zero is returned as `.zero`.
    private mutating func duration(_ key: String, in view: JSONObjectView, role: DurationRole) -> Duration? {
        let value = view.value(for: key)
        guard Self.isGiven(value), let value else { return nil }
        let path = view.path(of: key)
        let shown: String
        let parsed: Result<Duration, GoDurationError>
        switch value {
        case .string(let text):
            shown = NameRule.jsonQuoted(text)
            parsed = Result { () throws(GoDurationError) in try GoDuration.parse(text) }
        case .number(let literal):
            shown = literal
            parsed = Result { () throws(GoDurationError) in try GoDuration.parse(secondsLiteral: literal) }
        default:
            typeError(path, expected: "a duration string or a number of seconds", got: value)
            return nil
        }
        switch parsed {
        case .success(let duration):
            if role == .positive, duration == .zero {
                fail("\(path): \(shown) is zero; a lease must be positive")
                return nil
            }
            return duration
        case .failure(.invalidSyntax):
            fail("\(path): \(shown) is not a duration; \(Self.durationHint)")
        case .failure(.negative):
            let fix = role == .positive ? "a lease must be positive" : Self.durationHint
            fail("\(path): \(shown) is negative; \(fix)")
        case .failure(.overflow):
            fail("\(path): \(shown) is too large; the maximum is \(GoDuration.maximum.goDescription)")
        }
        return nil
    }

    // MARK: source

    /// Decodes `source`; the result is meaningful only when no error was reported.
    mutating func decodeSource(_ value: JSONValue?) -> Source {
        var source = Source(uri: "", branch: "", pool: "")
        guard Self.isGiven(value), let value else {
            upstreamErrors += ["uri", "branch", "pool"].map { "invalid payload (missing \($0))" }
            return source
        }
        guard case .object(let members) = value else {
            typeError("source", expected: "an object", got: value)
            return source
        }
        let view = view(members, path: "source")
        warnAboutUnknownKeys(of: view, as: .source)

        for key in ["uri", "branch"] {
            if !Self.isGiven(view.value(for: key)) { upstreamErrors.append("invalid payload (missing \(key))") }
        }
        source.uri = string("uri", in: view) ?? ""
        source.branch = string("branch", in: view) ?? ""
        if !Self.isGiven(view.value(for: "pool")) { upstreamErrors.append("invalid payload (missing pool)") }
        if let pool = string("pool", in: view) {
            if let rule = NameRule.poolProblem(pool) {
                fail("source.pool \(NameRule.jsonQuoted(pool)): \(rule)")
            }
            source.pool = pool
        }
        source.privateKey = string("private_key", in: view)
        source.privateKeyUser = string("private_key_user", in: view)
        source.privateKeyPassphrase = string("private_key_passphrase", in: view)
        source.forwardAgent = boolean("forward_agent", in: view) ?? false
        source.username = string("username", in: view)
        source.password = string("password", in: view)
        source.gitConfig = decodeGitConfig(view.value(for: "git_config"))
        source.httpsTunnel = decodeHTTPSTunnel(view.value(for: "https_tunnel"))
        source.skipSSLVerification = boolean("skip_ssl_verification", in: view) ?? false
        if let delay = duration("retry_delay", in: view, role: .zeroMeansDefault), delay != .zero {
            source.retryDelay = delay
        }
        source.prometheusPushGateway = string("prometheus_push_gateway", in: view)
        if let gateway = source.prometheusPushGateway {
            do { _ = try PushgatewayAddress(gateway) } catch {
                let shown = RequestSecrets.removingUserinfo(gateway, schemeOptional: true)
                fail("source.prometheus_push_gateway: \(NameRule.jsonQuoted(shown)) \(error)")
            }
        }
        source.knownHosts = string("known_hosts", in: view)
        source.fair = boolean("fair", in: view) ?? false
        return source
    }

    /// The `git_config` keys that take effect (docs/transports.md#git_config-keys), lower-cased; `url.<base>.…` is
    /// matched separately.
    private static let effectiveGitConfigKeys: Set<String> = [
        "user.name", "user.email", "http.proxy", "http.sslverify", "http.sslcainfo", "http.sslcapath",
        "http.extraheader", "http.useragent", "http.followredirects", "core.sshcommand",
    ]

    /// Whether a `git_config` name takes effect. Like git, the section and the key compare case-insensitively and a
    /// subsection (`<base>` of `url.<base>.insteadOf`) is kept as written.
    static func gitConfigKeyTakesEffect(_ name: String) -> Bool {
        guard let firstDot = name.firstIndex(of: "."), let lastDot = name.lastIndex(of: ".") else { return false }
        let section = name[..<firstDot].lowercased()
        let key = name[name.index(after: lastDot)...].lowercased()
        if firstDot == lastDot { return effectiveGitConfigKeys.contains("\(section).\(key)") }
        let base = name[name.index(after: firstDot)..<lastDot]
        return section == "url" && !base.isEmpty && (key == "insteadof" || key == "pushinsteadof")
    }

    private mutating func decodeGitConfig(_ value: JSONValue?) -> [GitConfigEntry] {
        guard Self.isGiven(value), let value else { return [] }
        guard case .array(let elements) = value else {
            typeError("source.git_config", expected: "an array", got: value)
            return []
        }
        var entries: [GitConfigEntry] = []
        for (index, element) in elements.enumerated() {
            let path = "source.git_config[\(index)]"
            guard case .object(let members) = element else {
                typeError(path, expected: "an object with name and value", got: element)
                continue
            }
            let view = view(members, path: path)
            let name = string("name", in: view)
            if name == nil, !Self.isGiven(view.value(for: "name")) { fail("\(path): missing name") }
            var entryValue: String?
            switch view.value(for: "value") {
            case nil, .null: fail("\(path): missing value")
            case .string(let text): entryValue = text
            case let other?: typeError(view.path(of: "value"), expected: "a string", got: other)
            }
            guard let name, let entryValue else { continue }
            if !Self.gitConfigKeyTakesEffect(name) {
                warnings.append("warning: git_config key '\(KeyedObject.displayed(name))' has no effect in lockpool")
            }
            entries.append(GitConfigEntry(name: name, value: entryValue))
        }
        return entries
    }

    private mutating func decodeHTTPSTunnel(_ value: JSONValue?) -> HTTPSTunnel? {
        guard Self.isGiven(value), let value else { return nil }
        guard case .object(let members) = value else {
            typeError("source.https_tunnel", expected: "an object", got: value)
            return nil
        }
        let view = view(members, path: "source.https_tunnel")
        warnAboutUnknownKeys(of: view, as: .httpsTunnel)
        let tunnel = HTTPSTunnel(
            proxyHost: string("proxy_host", in: view), proxyPort: port("proxy_port", in: view),
            proxyUser: string("proxy_user", in: view), proxyPassword: string("proxy_password", in: view))
        let isGiven = ["proxy_host", "proxy_port", "proxy_user", "proxy_password"].map {
            Self.isGiven(view.value(for: $0))
        }
        guard isGiven.contains(true) else { return nil }
        if !isGiven[0] || !isGiven[1] {
            warnings.append("warning: source.https_tunnel has no effect without both proxy_host and proxy_port")
        }
        return tunnel
    }

    private mutating func port(_ key: String, in view: JSONObjectView) -> Int? {
        let value = view.value(for: key)
        guard Self.isGiven(value), let value else { return nil }
        let text: String
        let shown: String
        switch value {
        case .number(let literal): (text, shown) = (literal, literal)
        case .string(let string): (text, shown) = (string, NameRule.jsonQuoted(string))
        default:
            typeError(view.path(of: key), expected: "a port number", got: value)
            return nil
        }
        guard text.utf8.count <= 5, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let port = Int(text),
            (1...65535).contains(port)
        else {
            fail("\(view.path(of: key)): expected a port number from 1 to 65535, got \(shown)")
            return nil
        }
        return port
    }

    // MARK: version and get params

    /// Decodes `version`, giving its `ref`.
    mutating func decodeVersion(_ value: JSONValue?) -> String? {
        guard Self.isGiven(value), let value else { return nil }
        guard case .object(let members) = value else {
            typeError("version", expected: "an object", got: value)
            return nil
        }
        return string("ref", in: view(members, path: "version"))
    }

    /// Decodes the `params` of `in`, giving `depth`.
    mutating func decodeGetParams(_ value: JSONValue?) -> Int {
        guard Self.isGiven(value), let value else { return 0 }
        guard case .object(let members) = value else {
            typeError("params", expected: "an object", got: value)
            return 0
        }
        let view = view(members, path: "params")
        warnAboutUnknownKeys(of: view, as: .getParams)
        let depth = view.value(for: "depth")
        guard Self.isGiven(depth), let depth else { return 0 }
        guard case .number(let literal) = depth else {
            typeError("params.depth", expected: "an integer", got: depth)
            return 0
        }
        let digits = literal.hasPrefix("-") ? literal.dropFirst() : literal[...]
        guard digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            fail("params.depth: expected an integer, got \(literal)")
            return 0
        }
        guard let number = Int(literal) else {
            fail("params.depth: \(literal) is too large")
            return 0
        }
        guard number >= 0 else {
            fail("params.depth: \(literal) is negative; use 0 for the full history")
            return 0
        }
        return number
    }

    // MARK: put params

    /// The operations in the order of docs/resource.md#put-params, used for checking them and for listing them in
    /// messages (the example in docs/resource.md#validation lists `claim, release`).
    private static let operationKeys = [
        "acquire", "claim", "release", "add", "add_claimed", "remove", "update", "check", "check_unclaimed", "renew",
    ]

    /// Decodes the `params` of `out`; the result is meaningful only when no error was reported.
    mutating func decodePutParams(_ value: JSONValue?) -> OutParams {
        var params = OutParams(operation: .acquire)
        guard Self.isGiven(value), let value else {
            upstreamErrors.append(Self.missingOperation)
            return params
        }
        guard case .object(let members) = value else {
            typeError("params", expected: "an object", got: value)
            return params
        }
        let view = view(members, path: "params")
        warnAboutUnknownKeys(of: view, as: .putParams)

        var given: [String] = []
        var operations: [StepOperation] = []
        for key in Self.operationKeys {
            let value = view.value(for: key)
            guard Self.isGiven(value) else { continue }
            if key == "acquire" {
                let flag = boolean(key, in: view)
                if flag == false { continue }
                given.append(key)
                if flag == true { operations.append(.acquire) }
            } else if key == "claim" {
                given.append(key)
                if let lock = string(key, in: view) {
                    if let rule = NameRule.lockProblem(lock) {
                        fail("params.claim \(NameRule.jsonQuoted(lock)): \(rule)")
                    } else {
                        operations.append(.claim(lock: lock))
                    }
                }
            } else {
                given.append(key)
                if let directory = stepDirectory(key, in: view) {
                    operations.append(Self.operation(key, directory: directory))
                }
            }
        }
        if let timeout = duration("timeout", in: view, role: .zeroMeansDefault), timeout != .zero {
            params.timeout = timeout
        }
        params.lease = duration("lease", in: view, role: .positive)
        params.count = count(in: view)

        if given.isEmpty {
            upstreamErrors.append(Self.missingOperation)
        } else if given.count > 1 {
            fail("more than one operation: \(given.joined(separator: ", ")); use one put step per operation")
        } else if Self.isGiven(view.value(for: "lease")),
            !["acquire", "claim", "add_claimed", "renew"].contains(given[0])
        {
            fail("params.lease applies only to acquire, claim, add_claimed and renew")
        } else if given[0] == "renew", !Self.isGiven(view.value(for: "lease")) {
            fail("params.renew needs params.lease: the new lease, counted from now")
        }
        if given.count == 1, Self.isGiven(view.value(for: "count")), given[0] != "acquire" {
            fail("params.count applies only to acquire")
        }
        if let operation = operations.first { params.operation = operation }
        return params
    }

    /// `params.count`: how many locks `acquire` takes at once, a whole number from 1 to 1000, as a JSON number or a
    /// string of digits (pipeline vars arrive as strings); 1 when not given.
    private mutating func count(in view: JSONObjectView) -> Int {
        let value = view.value(for: "count")
        guard Self.isGiven(value), let value else { return 1 }
        let literal: String
        switch value {
        case .number(let text): literal = text
        case .string(let text): literal = text
        default:
            typeError("params.count", expected: "a whole number", got: value)
            return 1
        }
        guard let number = Int(literal), literal.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            fail("params.count: expected a whole number from 1 to 1000, got \(NameRule.jsonQuoted(literal))")
            return 1
        }
        guard (1...1000).contains(number) else {
            fail("params.count: \(literal) is out of range; take from 1 to 1000 locks at once")
            return 1
        }
        return number
    }

    private static let missingOperation =
        "invalid payload (missing acquire, release, remove, claim, add, add_claimed, update, check, or check_unclaimed)"

    private static func operation(_ key: String, directory: String) -> StepOperation {
        switch key {
        case "release": .release(directory: directory)
        case "remove": .remove(directory: directory)
        case "add": .add(directory: directory)
        case "add_claimed": .addClaimed(directory: directory)
        case "update": .update(directory: directory)
        case "check": .check(directory: directory)
        case "renew": .renew(directory: directory)
        default: .checkUnclaimed(directory: directory)
        }
    }

    /// Reads a step directory: a path relative to the `out` source directory that does not leave it.
    private mutating func stepDirectory(_ key: String, in view: JSONObjectView) -> String? {
        guard let path = string(key, in: view) else { return nil }
        if let rule = Self.stepDirectoryProblem(path) {
            fail("\(view.path(of: key)) \(NameRule.jsonQuoted(path)): \(rule)")
            return nil
        }
        return path
    }

    /// The rule a step directory path breaks, or `nil`. `.` (the source directory itself) and `a/..` are allowed.
    static func stepDirectoryProblem(_ path: String) -> String? {
        if path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            return "contains a control character"
        }
        if path.hasPrefix("/") { return "must be a path relative to the source directory, not an absolute path" }
        var depth = 0
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) where segment != "." {
            depth += segment == ".." ? -1 : 1
            if depth < 0 { return "leaves the source directory through \"..\"" }
        }
        return nil
    }
}
