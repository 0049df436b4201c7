import ConcourseResource
import LockPool

/// What must hold for the request decoder of `check`, `in` and `out` (`RequestDecoder.decodeCheck`, `decodeIn`,
/// `decodeOut`) on any stdin. Used by the `fuzz-request-decoder` target and by the main package's FuzzRegressionTests.
///
/// Every input goes through all three decoders. A decoded request obeys the name rules and ranges of
/// docs/resource.md#names, #executables-and-their-input-and-output, and written back as JSON it decodes to the same
/// request; a refused one reports one-line `invalid payload (…)` errors.
public enum RequestDecoderInvariants {
    /// Checks one input.
    ///
    /// - Returns: a description of every invariant broken; empty when all hold.
    public static func check(_ bytes: [UInt8]) -> [String] {
        var violations: [String] = []
        violations += checkResult("check", RequestDecoder.decodeCheck(bytes), RequestDecoder.decodeCheck(bytes)) {
            request in
            var found = sourceViolations(request.source)
            if let problem = reDecode(encode(request), RequestDecoder.decodeCheck, expected: request) {
                found.append(problem)
            }
            return found
        }
        violations += checkResult("in", RequestDecoder.decodeIn(bytes), RequestDecoder.decodeIn(bytes)) { request in
            var found = sourceViolations(request.source)
            if request.depth < 0 { found.append("in: negative depth \(request.depth)") }
            if let problem = reDecode(encode(request), RequestDecoder.decodeIn, expected: request) {
                found.append(problem)
            }
            return found
        }
        violations += checkResult("out", RequestDecoder.decodeOut(bytes), RequestDecoder.decodeOut(bytes)) { request in
            var found = sourceViolations(request.source) + paramsViolations(request.params)
            if let problem = reDecode(encode(request), RequestDecoder.decodeOut, expected: request) {
                found.append(problem)
            }
            return found
        }
        return violations
    }

    private static func checkResult<Request: Equatable>(
        _ name: String, _ result: Result<Decoded<Request>, RequestProblems>,
        _ again: Result<Decoded<Request>, RequestProblems>, _ checkRequest: (Request) -> [String]
    ) -> [String] {
        var violations: [String] = []
        switch (result, again) {
        case (.success(let decoded), .success(let other)):
            if decoded.request != other.request || decoded.warnings != other.warnings {
                violations.append("\(name): decoding varies")
            }
            violations += lineViolations(name, decoded.warnings, prefix: "warning: ")
            violations += checkRequest(decoded.request)
        case (.failure(let problems), .failure(let other)):
            if problems != other { violations.append("\(name): decoding varies") }
            if problems.errors.isEmpty { violations.append("\(name): refused without an error") }
            violations += lineViolations(name, problems.errors, prefix: "invalid payload (")
            violations += lineViolations(name, problems.warnings, prefix: "warning: ")
        default:
            violations.append("\(name): decoding varies")
        }
        return violations
    }

    private static func lineViolations(_ name: String, _ lines: [String], prefix: String) -> [String] {
        lines.compactMap { line in
            if !line.hasPrefix(prefix) { return "\(name): \(NameRule.jsonQuoted(line)) does not start with \(prefix)" }
            if line.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                return "\(name): \(NameRule.jsonQuoted(line)) has a control character"
            }
            return nil
        }
    }

    private static func sourceViolations(_ source: Source) -> [String] {
        var violations: [String] = []
        if let rule = NameRule.poolProblem(source.pool) {
            violations.append("decoded pool \(NameRule.jsonQuoted(source.pool)): \(rule)")
        }
        if source.uri.isEmpty || source.branch.isEmpty { violations.append("decoded an empty uri or branch") }
        if source.retryDelay <= .zero || source.retryDelay > GoDuration.maximum {
            violations.append("decoded retry_delay \(source.retryDelay)")
        }
        if let port = source.httpsTunnel?.proxyPort, !(1...65535).contains(port) {
            violations.append("decoded proxy_port \(port)")
        }
        return violations
    }

    private static func paramsViolations(_ params: OutParams) -> [String] {
        var violations: [String] = []
        if case .claim(let lock) = params.operation, let rule = NameRule.lockProblem(lock) {
            violations.append("decoded claim \(NameRule.jsonQuoted(lock)): \(rule)")
        }
        if let directory = params.operation.directory {
            let segments = directory.split(separator: "/", omittingEmptySubsequences: true)
            var depth = 0
            for segment in segments where segment != "." {
                depth += segment == ".." ? -1 : 1
                if depth < 0 { violations.append("decoded directory \(NameRule.jsonQuoted(directory)) leaves") }
            }
            if directory.hasPrefix("/") || directory.isEmpty
                || directory.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
            {
                violations.append("decoded directory \(NameRule.jsonQuoted(directory))")
            }
        }
        if let timeout = params.timeout, timeout <= .zero { violations.append("decoded timeout \(timeout)") }
        if let lease = params.lease, lease <= .zero { violations.append("decoded lease \(lease)") }
        if !(1...1000).contains(params.count) { violations.append("decoded count \(params.count)") }
        if params.count != 1, params.operation != .acquire { violations.append("count without acquire") }
        return violations
    }

    private static func reDecode<Request: Equatable>(
        _ text: String, _ decode: ([UInt8]) -> Result<Decoded<Request>, RequestProblems>, expected: Request
    ) -> String? {
        switch decode(Array(text.utf8)) {
        case .success(let decoded) where decoded.request == expected: nil
        case .success(let decoded): "\(text) decodes to \(decoded.request), expected \(expected)"
        case .failure(let problems): "\(text) is refused: \(problems.errors)"
        }
    }

    // MARK: Writing a request back as JSON

    private static func quoted(_ text: String) -> String { NameRule.jsonQuoted(text) }

    private static func object(_ members: [(String, String?)]) -> String {
        "{" + members.compactMap { key, value in value.map { quoted(key) + ":" + $0 } }.joined(separator: ",") + "}"
    }

    static func encode(_ source: Source) -> String {
        let gitConfig = source.gitConfig.map { object([("name", quoted($0.name)), ("value", quoted($0.value))]) }
        let tunnel = source.httpsTunnel.map {
            object([
                ("proxy_host", $0.proxyHost.map(quoted)), ("proxy_port", $0.proxyPort.map { String($0) }),
                ("proxy_user", $0.proxyUser.map(quoted)), ("proxy_password", $0.proxyPassword.map(quoted)),
            ])
        }
        return object([
            ("uri", quoted(source.uri)), ("branch", quoted(source.branch)), ("pool", quoted(source.pool)),
            ("private_key", source.privateKey.map(quoted)), ("private_key_user", source.privateKeyUser.map(quoted)),
            ("private_key_passphrase", source.privateKeyPassphrase.map(quoted)),
            ("forward_agent", String(source.forwardAgent)), ("username", source.username.map(quoted)),
            ("password", source.password.map(quoted)),
            ("git_config", "[" + gitConfig.joined(separator: ",") + "]"), ("https_tunnel", tunnel),
            ("skip_ssl_verification", String(source.skipSSLVerification)),
            ("retry_delay", quoted(source.retryDelay.goDescription)),
            ("prometheus_push_gateway", source.prometheusPushGateway.map(quoted)),
            ("known_hosts", source.knownHosts.map(quoted)), ("fair", String(source.fair)),
        ])
    }

    static func encode(_ request: CheckRequest) -> String {
        object([("source", encode(request.source)), ("version", request.version.map { object([("ref", quoted($0))]) })])
    }

    static func encode(_ request: InRequest) -> String {
        object([
            ("source", encode(request.source)), ("version", request.version.map { object([("ref", quoted($0))]) }),
            ("params", object([("depth", String(request.depth))])),
        ])
    }

    static func encode(_ request: OutRequest) -> String {
        let params = request.params
        let operation: (String, String?) =
            switch params.operation {
            case .acquire: ("acquire", "true")
            case .claim(let lock): ("claim", quoted(lock))
            default: (params.operation.key, params.operation.directory.map(quoted))
            }
        return object([
            ("source", encode(request.source)),
            (
                "params",
                object([
                    operation, ("timeout", params.timeout.map { quoted($0.goDescription) }),
                    ("lease", params.lease.map { quoted($0.goDescription) }),
                    ("count", params.count == 1 ? nil : String(params.count)),
                ])
            ),
        ])
    }
}
