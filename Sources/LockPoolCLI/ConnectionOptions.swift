import ArgumentParser
import ConcourseResource
import FoundationEssentials
import Git
import LockPool
import PoolMetrics
import StringSupport

/// A duration argument in Go syntax (`90s`, `1m30s`, `1.5h`) or a plain number of seconds.
public struct DurationArgument: ExpressibleByArgument, Sendable, Equatable {
    /// The duration.
    public var duration: Duration

    public init(_ duration: Duration) { self.duration = duration }

    public init?(argument: String) {
        if let seconds = Double(argument), seconds >= 0, seconds.isFinite {
            duration = .milliseconds(Int64((seconds * 1000).rounded()))
            return
        }
        guard let parsed = try? GoDuration.parse(argument), parsed >= .zero else { return nil }
        duration = parsed
    }

    public static var defaultCompletionKind: CompletionKind { .default }
}

/// The options every subcommand shares: where the lock repository is and how to reach it
/// (docs/resource.md#the-lockpool-command, docs/transports.md).
///
/// Each option can also come from a `LOCKPOOL_*` environment variable or from `--source FILE`, a resource `source`
/// JSON object (or a whole request holding one); a flag beats the environment, which beats the file. Secrets never
/// come from argv: keys, passwords and tokens are read from files or the environment.
public struct ConnectionOptions: ParsableArguments, Sendable {
    @Option(help: ArgumentHelp("The lock repository URI (env LOCKPOOL_REPO).", valueName: "uri"))
    public var repo: String?

    @Option(help: ArgumentHelp("The branch holding the pools (env LOCKPOOL_BRANCH; default main).", valueName: "name"))
    public var branch: String?

    @Option(
        help: ArgumentHelp(
            "Poll interval while waiting, cap of the lost-race backoff (env LOCKPOOL_RETRY_DELAY; default 10s).",
            valueName: "duration"))
    public var retryDelay: DurationArgument?

    @Option(
        help: ArgumentHelp(
            "Bound on waiting, lost races and retries; then exit 75 (env LOCKPOOL_TIMEOUT).", valueName: "duration"))
    public var timeout: DurationArgument?

    @Option(
        help: ArgumentHelp(
            "Lease recorded with acquire, claim and add --claimed (env LOCKPOOL_LEASE).", valueName: "duration"))
    public var lease: DurationArgument?

    @Option(
        help: ArgumentHelp(
            "A resource source JSON file: {\"uri\":…,\"branch\":…} or {\"source\":{…}} (env LOCKPOOL_SOURCE).",
            valueName: "file"),
        completion: .file())
    public var source: String?

    @Option(
        help: ArgumentHelp(
            "SSH private key file (env LOCKPOOL_PRIVATE_KEY_FILE, or LOCKPOOL_PRIVATE_KEY with the key itself; "
                + "passphrase in LOCKPOOL_PRIVATE_KEY_PASSPHRASE).", valueName: "file"),
        completion: .file())
    public var privateKey: String?

    @Option(help: ArgumentHelp("SSH user when the URI names none (env LOCKPOOL_PRIVATE_KEY_USER).", valueName: "user"))
    public var privateKeyUser: String?

    @Option(help: ArgumentHelp("HTTP(S) user name (env LOCKPOOL_USERNAME).", valueName: "user"))
    public var username: String?

    @Option(
        help: ArgumentHelp("File holding the HTTP(S) password (or env LOCKPOOL_PASSWORD).", valueName: "file"),
        completion: .file())
    public var passwordFile: String?

    @Option(
        help: ArgumentHelp(
            "OpenSSH known_hosts file; SSH host keys are verified against it (env LOCKPOOL_KNOWN_HOSTS).",
            valueName: "file"),
        completion: .file())
    public var knownHosts: String?

    @Flag(help: "Accept any TLS certificate from the git server (env LOCKPOOL_SKIP_SSL_VERIFICATION=true).")
    public var skipSSLVerification = false

    @Flag(help: "Wait in the pool's fair queue: first come, first served (env LOCKPOOL_FAIR=true).")
    public var fair = false

    @Option(
        name: .customLong("git-config"),
        help: ArgumentHelp("A git setting for this run, as in source.git_config (repeatable).", valueName: "name=value")
    )
    public var gitConfig: [String] = []

    @Option(
        help: ArgumentHelp(
            "HTTP CONNECT proxy for ssh and git:// remotes (env LOCKPOOL_HTTPS_TUNNEL; proxy credentials in "
                + "LOCKPOOL_HTTPS_TUNNEL_USER and LOCKPOOL_HTTPS_TUNNEL_PASSWORD).", valueName: "host:port"))
    public var httpsTunnel: String?

    @Option(
        help: ArgumentHelp(
            "Prometheus Pushgateway for the resource's metrics after each operation (env LOCKPOOL_PUSHGATEWAY; "
                + "credentials only there or in --source, never on the command line).", valueName: "url"))
    public var pushgateway: String?

    @Flag(name: .shortAndLong, help: "Log each git step on stderr (env LOCKPOOL_LOG_LEVEL=debug).")
    public var verbose = false

    public init() {}

    public func validate() throws {
        for entry in gitConfig where !entry.contains("=") || entry.hasPrefix("=") {
            throw ValidationError("--git-config expects name=value, got '\(entry)'")
        }
        if let tunnel = httpsTunnel, Self.hostAndPort(tunnel) == nil {
            throw ValidationError("--https-tunnel expects host:port, got '\(tunnel)'")
        }
        // argv is visible to every local user (`ps`, /proc/PID/cmdline): secrets come from files or the environment.
        if let repo, !Session.userinfoSecrets(repo).isEmpty {
            throw ValidationError(
                "--repo must not carry a password (argv is visible to every user); "
                    + "use --username with --password-file, LOCKPOOL_REPO or the --source file")
        }
        for entry in gitConfig {
            let parts = entry.split(separator: "=", maxSplits: 1)
            let name = parts.first.map { $0.lowercased() } ?? ""
            let value = parts.count > 1 ? String(parts[1]) : ""
            if name == "http.extraheader" || (name == "http.proxy" && !Session.userinfoSecrets(value).isEmpty) {
                throw ValidationError(
                    "--git-config \(parts.first ?? "") must not be given on the command line (argv is visible to "
                        + "every user); put it in git_config of the --source file")
            }
        }
        if let gateway = pushgateway, (try? PushgatewayAddress(gateway))?.hasCredentials == true {
            throw ValidationError(
                "--pushgateway must not carry credentials (argv is visible to every user); "
                    + "set LOCKPOOL_PUSHGATEWAY or prometheus_push_gateway in the --source file")
        }
    }

    static func hostAndPort(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (1...65535).contains(port), colon != text.startIndex
        else { return nil }
        return (String(text[..<colon]), port)
    }

    /// The timeout from the flag or `LOCKPOOL_TIMEOUT`.
    func timeout(_ environment: [String: String]) throws -> Duration? {
        try timeout?.duration ?? Self.duration("LOCKPOOL_TIMEOUT", environment)
    }

    /// The lease from the flag or `LOCKPOOL_LEASE`.
    func lease(_ environment: [String: String]) throws -> Duration? {
        let lease = try lease?.duration ?? Self.duration("LOCKPOOL_LEASE", environment)
        if let lease, lease <= .zero { throw CLIError.usage("--lease must be a positive duration") }
        return lease
    }

    private static func duration(_ variable: String, _ environment: [String: String]) throws -> Duration? {
        guard let text = environment[variable], !text.isEmpty else { return nil }
        guard let parsed = DurationArgument(argument: text) else {
            throw CLIError.usage("\(variable): \(NameRule.jsonQuoted(text)) is not a duration; use e.g. \"10s\"")
        }
        return parsed.duration
    }

    /// The branch of a source that names none: the one the remote's HEAD names, looked up by `Session` (never a real
    /// branch name: git refuses spaces and `<`).
    static let remoteHeadBranch = "<the remote's HEAD>"

    /// The resource `source` this invocation describes, validated as the resource validates it, for `pool`.
    ///
    /// - Throws: `CLIError.usage` for missing or invalid settings (exit 64), `CLIError.failure` for unreadable files.
    func resolvedSource(pool: String, environment: [String: String]) throws -> (Source, warnings: [String]) {
        var object = JSONValue.object([])
        if let path = source ?? environment["LOCKPOOL_SOURCE"].flatMap({ $0.isEmpty ? nil : $0 }) {
            let data = try Self.read(path, what: "--source")
            guard let top = JSONValue.parse(Array(data)), case .object = top else {
                throw CLIError.usage("--source \(path): expected a JSON object")
            }
            if let inner = top["source"], case .object = inner { object = inner } else { object = top }
        }
        func set(_ key: String, _ value: JSONValue) { object = object.setting(key, to: value) }
        func set(_ key: String, _ text: String?) { if let text { set(key, .string(text)) } }
        func env(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        set("uri", repo ?? env("LOCKPOOL_REPO"))
        set("branch", branch ?? env("LOCKPOOL_BRANCH"))
        if object["branch"] == nil { set("branch", Self.remoteHeadBranch) }
        set("pool", pool)
        if let delay = try retryDelay?.duration ?? Self.duration("LOCKPOOL_RETRY_DELAY", environment) {
            set("retry_delay", delay.goDescription)
        }
        if let path = privateKey ?? env("LOCKPOOL_PRIVATE_KEY_FILE") {
            set("private_key", String(decoding: try Self.read(path, what: "--private-key"), as: UTF8.self))
        } else if let key = env("LOCKPOOL_PRIVATE_KEY") {
            set("private_key", key)
        }
        set("private_key_passphrase", env("LOCKPOOL_PRIVATE_KEY_PASSPHRASE"))
        set("private_key_user", privateKeyUser ?? env("LOCKPOOL_PRIVATE_KEY_USER"))
        set("username", username ?? env("LOCKPOOL_USERNAME"))
        if let path = passwordFile {
            let text = String(decoding: try Self.read(path, what: "--password-file"), as: UTF8.self)
            set("password", text.trimming(.newlines))
        } else {
            set("password", env("LOCKPOOL_PASSWORD"))
        }
        if let path = knownHosts ?? env("LOCKPOOL_KNOWN_HOSTS") {
            set("known_hosts", String(decoding: try Self.read(path, what: "--known-hosts"), as: UTF8.self))
        }
        if skipSSLVerification || env("LOCKPOOL_SKIP_SSL_VERIFICATION")?.lowercased() == "true" {
            set("skip_ssl_verification", .bool(true))
        }
        if fair || env("LOCKPOOL_FAIR")?.lowercased() == "true" { set("fair", .bool(true)) }
        if !gitConfig.isEmpty {
            var entries: [JSONValue] = []
            if case .array(let given)? = object["git_config"] { entries = given }
            for entry in gitConfig {
                let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                entries.append(
                    .object([
                        JSONMember(key: "name", value: .string(String(parts[0]))),
                        JSONMember(key: "value", value: .string(parts.count > 1 ? String(parts[1]) : "")),
                    ]))
            }
            set("git_config", .array(entries))
        }
        set("prometheus_push_gateway", pushgateway ?? env("LOCKPOOL_PUSHGATEWAY"))
        if let tunnel = httpsTunnel ?? env("LOCKPOOL_HTTPS_TUNNEL") {
            guard let (host, port) = Self.hostAndPort(tunnel) else {
                throw CLIError.usage("LOCKPOOL_HTTPS_TUNNEL expects host:port, got '\(tunnel)'")
            }
            var proxy = [
                JSONMember(key: "proxy_host", value: .string(host)),
                JSONMember(key: "proxy_port", value: .number("\(port)")),
            ]
            if let user = env("LOCKPOOL_HTTPS_TUNNEL_USER") {
                proxy.append(JSONMember(key: "proxy_user", value: .string(user)))
            }
            if let password = env("LOCKPOOL_HTTPS_TUNNEL_PASSWORD") {
                proxy.append(JSONMember(key: "proxy_password", value: .string(password)))
            }
            set("https_tunnel", .object(proxy))
        }
        let request = Array(JSONValue.object([JSONMember(key: "source", value: object)]).json.utf8)
        switch RequestDecoder.decodeCheck(request) {
        case .success(let decoded): return (decoded.request.source, decoded.warnings)
        case .failure(let problems):
            let lines = problems.errors.map(Self.cliWording)
            throw CLIError.usage(lines.joined(separator: "\n"), warnings: problems.warnings)
        }
    }

    /// Rewords the resource's validation lines for people at a terminal.
    static func cliWording(_ line: String) -> String {
        if line == "invalid payload (missing uri)" {
            return "no lock repository given: use --repo URI, LOCKPOOL_REPO or --source FILE"
        }
        if line.hasPrefix("invalid payload (") && line.hasSuffix(")") {
            return "invalid setting (" + line.dropFirst("invalid payload (".count)
        }
        return line
    }

    static func read(_ path: String, what: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist"
            throw CLIError.failure("\(what) \(path): the file \(reason)")
        }
        return data
    }
}
