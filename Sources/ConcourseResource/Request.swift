import FoundationEssentials
import LockPool
import StringSupport

/// One `source.git_config` entry: a git setting for this run only (docs/transports.md#git_config-keys).
///
/// The description hides the values of `http.extraHeader` and the credentials in `http.proxy`.
public struct GitConfigEntry: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The key as given, such as `user.name` or `url.https://mirror/.insteadOf`.
    public var name: String
    /// The value as given; may be empty.
    public var value: String

    /// Creates an entry.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    /// The secrets this entry carries: an `http.extraHeader` value (and the header's value and token), or the
    /// credentials in an `http.proxy` URL.
    var secrets: [String] {
        switch name.lowercased() {
        case "http.extraheader": RequestSecrets.headerSecrets(value)
        case "http.proxy": RequestSecrets.userinfoSecrets(ofURL: value, defaultScheme: "http")
        default: []
        }
    }

    private var displayedValue: String {
        switch name.lowercased() {
        case "http.extraheader": "****"
        case "http.proxy": RequestSecrets.removingUserinfo(value, schemeOptional: true)
        default: value
        }
    }

    /// `name=value`, with secrets hidden.
    public var description: String { "\(name)=\(displayedValue)" }
    /// The same as `description`.
    public var debugDescription: String { "GitConfigEntry(\(description))" }
    /// A mirror that shows no secret, for `dump`.
    public var customMirror: Mirror { Mirror(self, children: ["name": name, "value": displayedValue]) }
}

/// `source.https_tunnel`: an HTTP CONNECT proxy for ssh and git:// remotes (docs/transports.md#https-tunnel).
///
/// It takes effect only when both ``proxyHost`` and ``proxyPort`` are set. The description hides the password.
public struct HTTPSTunnel: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// `proxy_host`.
    public var proxyHost: String?
    /// `proxy_port`, 1–65535; given as a JSON number or a string of digits.
    public var proxyPort: Int?
    /// `proxy_user`, for basic authentication with the proxy.
    public var proxyUser: String?
    /// `proxy_password`, a secret.
    public var proxyPassword: String?

    /// Creates a tunnel setting.
    public init(proxyHost: String? = nil, proxyPort: Int? = nil, proxyUser: String? = nil, proxyPassword: String? = nil)
    {
        self.proxyHost = proxyHost
        self.proxyPort = proxyPort
        self.proxyUser = proxyUser
        self.proxyPassword = proxyPassword
    }

    /// `host:port`, with the user but never the password.
    public var description: String {
        let user = proxyUser.map { "\($0)@" } ?? ""
        return "\(user)\(proxyHost ?? "?"):\(proxyPort.map(String.init) ?? "?")"
    }
    /// The same as `description`.
    public var debugDescription: String { "HTTPSTunnel(\(description))" }
    /// A mirror that shows no secret, for `dump`.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "proxyHost": proxyHost as Any, "proxyPort": proxyPort as Any, "proxyUser": proxyUser as Any,
                "proxyPassword": proxyPassword == nil ? "nil" : "****",
            ])
    }
}

/// The `source` object shared by `check`, `in` and `out` (docs/resource.md#source-keys).
///
/// Optional strings are `nil` when the key was absent, `null` or `""`. The description, debug description and mirror
/// never show a secret; ``secrets`` lists them for redaction.
public struct Source: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The lock repository; may carry userinfo, which is a secret.
    public var uri: String
    /// The branch that holds the pools.
    public var branch: String
    /// The pool directory, a valid pool name (docs/resource.md#names).
    public var pool: String
    /// An SSH private key (secret).
    public var privateKey: String?
    /// The SSH user when the URI names none.
    public var privateKeyUser: String?
    /// The passphrase of ``privateKey`` (secret).
    public var privateKeyPassphrase: String?
    /// Accepted for compatibility; it has no effect (a warning says so when `true`).
    public var forwardAgent: Bool
    /// The HTTP(S) user name.
    public var username: String?
    /// The HTTP(S) password (secret).
    public var password: String?
    /// git settings for this run, in the order given.
    public var gitConfig: [GitConfigEntry]
    /// The CONNECT proxy; `nil` when absent, `null`, `""` or `{}`.
    public var httpsTunnel: HTTPSTunnel?
    /// Whether any TLS certificate from the git server is accepted.
    public var skipSSLVerification: Bool
    /// The poll interval while waiting and the cap of the lost-race backoff; 10 s when not given or zero.
    public var retryDelay: Duration
    /// The Pushgateway base URL; its userinfo is a secret.
    public var prometheusPushGateway: String?
    /// OpenSSH `known_hosts` text; when set, SSH host keys are verified.
    public var knownHosts: String?
    /// First-come-first-served waiting for acquire and claim (extension): waiters queue under `<pool>/waiting/`.
    public var fair: Bool

    /// The default of ``retryDelay``.
    public static let defaultRetryDelay: Duration = .seconds(10)

    /// Creates a source; the defaults are those of a request that leaves the optional keys out.
    public init(
        uri: String, branch: String, pool: String, privateKey: String? = nil, privateKeyUser: String? = nil,
        privateKeyPassphrase: String? = nil, forwardAgent: Bool = false, username: String? = nil,
        password: String? = nil, gitConfig: [GitConfigEntry] = [], httpsTunnel: HTTPSTunnel? = nil,
        skipSSLVerification: Bool = false, retryDelay: Duration = Source.defaultRetryDelay,
        prometheusPushGateway: String? = nil, knownHosts: String? = nil, fair: Bool = false
    ) {
        self.uri = uri
        self.branch = branch
        self.pool = pool
        self.privateKey = privateKey
        self.privateKeyUser = privateKeyUser
        self.privateKeyPassphrase = privateKeyPassphrase
        self.forwardAgent = forwardAgent
        self.username = username
        self.password = password
        self.gitConfig = gitConfig
        self.httpsTunnel = httpsTunnel
        self.skipSSLVerification = skipSSLVerification
        self.retryDelay = retryDelay
        self.prometheusPushGateway = prometheusPushGateway
        self.knownHosts = knownHosts
        self.fair = fair
    }

    /// Every secret value given, for redaction: the private key and its passphrase, the password, the proxy password,
    /// userinfo in ``uri`` and ``prometheusPushGateway``, `http.extraHeader` values and credentials in `http.proxy`.
    ///
    /// URL userinfo contributes its password (as written and percent-decoded) and the whole `user:password`; a user
    /// name alone counts only for http(s) URLs (a token used as user name), since an SSH user such as `git` is no
    /// secret. Empty strings are left out, duplicates removed, and longer secrets come first so that replacing them
    /// in order never leaves part of one behind.
    public var secrets: [String] {
        var found: [String] = []
        found += [privateKey, privateKeyPassphrase, password, httpsTunnel?.proxyPassword].compactMap { $0 }
        found += RequestSecrets.userinfoSecrets(ofURL: uri, defaultScheme: nil)
        if let prometheusPushGateway {
            found += RequestSecrets.userinfoSecrets(ofURL: prometheusPushGateway, defaultScheme: "http")
        }
        for entry in gitConfig { found += entry.secrets }
        var seen = Set<String>()
        return found.filter { !$0.isEmpty && seen.insert($0).inserted }.sorted { $0.count > $1.count }
    }

    /// `uri` without userinfo, branch and pool.
    public var description: String {
        "\(RequestSecrets.removingUserinfo(uri)) branch '\(branch)' pool '\(pool)'"
    }
    /// The non-secret settings.
    public var debugDescription: String {
        "Source(uri: \(RequestSecrets.removingUserinfo(uri)), branch: \(branch), pool: \(pool), "
            + "retryDelay: \(retryDelay.goDescription), secrets: \(secrets.isEmpty ? "none" : "****"))"
    }
    /// A mirror that shows no secret, for `dump`.
    public var customMirror: Mirror {
        func hidden(_ value: String?) -> String { value == nil ? "nil" : "****" }
        let gatewayShown = prometheusPushGateway.map { RequestSecrets.removingUserinfo($0, schemeOptional: true) }
        return Mirror(
            self,
            children: [
                "uri": RequestSecrets.removingUserinfo(uri), "branch": branch, "pool": pool,
                "privateKey": hidden(privateKey), "privateKeyUser": privateKeyUser as Any,
                "privateKeyPassphrase": hidden(privateKeyPassphrase), "forwardAgent": forwardAgent,
                "username": username as Any, "password": hidden(password), "gitConfig": gitConfig,
                "httpsTunnel": httpsTunnel as Any, "skipSSLVerification": skipSSLVerification,
                "retryDelay": retryDelay,
                "prometheusPushGateway": gatewayShown as Any,
                "knownHosts": knownHosts as Any, "fair": fair,
            ])
    }
}

/// The one operation of a put step (docs/resource.md#put-params). Step directories are relative to the `out` source
/// directory, as given (validated not to be absolute and not to leave it through `..`).
public enum StepOperation: Sendable, Equatable {
    /// `acquire: true`: claim any unclaimed lock.
    case acquire
    /// `claim: L`: claim this lock (a valid lock name).
    case claim(lock: String)
    /// `release: DIR`.
    case release(directory: String)
    /// `add: DIR`.
    case add(directory: String)
    /// `add_claimed: DIR`.
    case addClaimed(directory: String)
    /// `remove: DIR`.
    case remove(directory: String)
    /// `update: DIR`.
    case update(directory: String)
    /// `check: DIR`: wait until the lock is not claimed.
    case check(directory: String)
    /// `check_unclaimed: DIR`: wait until the lock is claimed.
    case checkUnclaimed(directory: String)
    /// `renew: DIR` with `lease`: extend the lease of the claim DIR/claim_ref names.
    case renew(directory: String)

    /// The params key of the operation: `acquire`, `claim`, `add_claimed`, `check_unclaimed`, ….
    public var key: String {
        switch self {
        case .acquire: "acquire"
        case .claim: "claim"
        case .release: "release"
        case .add: "add"
        case .addClaimed: "add_claimed"
        case .remove: "remove"
        case .update: "update"
        case .check: "check"
        case .checkUnclaimed: "check_unclaimed"
        case .renew: "renew"
        }
    }

    /// The step directory, or `nil` for `acquire` and `claim`.
    public var directory: String? {
        switch self {
        case .acquire, .claim: nil
        case .release(let d), .add(let d), .addClaimed(let d), .remove(let d), .update(let d), .check(let d),
            .checkUnclaimed(let d), .renew(let d):
            d
        }
    }
}

/// The `params` of a put step.
public struct OutParams: Sendable, Equatable {
    /// The one operation requested.
    public var operation: StepOperation
    /// The bound on the whole operation; `nil` when not given or zero.
    public var timeout: Duration?
    /// The lease recorded in the commit; only with `acquire`, `claim` and `add_claimed`, and always positive.
    public var lease: Duration?
    /// How many locks `acquire` takes in one commit, all or nothing (extension); 1 unless given.
    public var count: Int

    /// Creates put params.
    public init(operation: StepOperation, timeout: Duration? = nil, lease: Duration? = nil, count: Int = 1) {
        self.operation = operation
        self.timeout = timeout
        self.lease = lease
        self.count = count
    }
}

/// The request of `check`.
public struct CheckRequest: Sendable, Equatable {
    /// The source.
    public var source: Source
    /// `version.ref`; `nil` when `version` is absent or `null`, or `ref` is absent, `null` or `""`.
    public var version: String?

    /// Creates a check request.
    public init(source: Source, version: String? = nil) {
        self.source = source
        self.version = version
    }
}

/// The request of `in`.
public struct InRequest: Sendable, Equatable {
    /// The source.
    public var source: Source
    /// `version.ref`; `nil` when not given (the tip is used).
    public var version: String?
    /// `params.depth`: the history depth to fetch; 0 (the default) is the full history.
    public var depth: Int

    /// Creates an in request.
    public init(source: Source, version: String? = nil, depth: Int = 0) {
        self.source = source
        self.version = version
        self.depth = depth
    }
}

/// The request of `out`.
public struct OutRequest: Sendable, Equatable {
    /// The source.
    public var source: Source
    /// The put params.
    public var params: OutParams

    /// Creates an out request.
    public init(source: Source, params: OutParams) {
        self.source = source
        self.params = params
    }
}

/// A valid request and the warnings it gave, each a complete stderr line without newline
/// (`warning: unknown key 'source.retry_dealy' ignored (did you mean 'retry_delay'?)`).
public struct Decoded<Request: Sendable>: Sendable {
    /// The request.
    public var request: Request
    /// Warnings to print before doing any work; they never fail the step.
    public var warnings: [String]

    /// Creates a decoded request.
    public init(request: Request, warnings: [String] = []) {
        self.request = request
        self.warnings = warnings
    }
}

extension Decoded: Equatable where Request: Equatable {}

/// Why a request was refused: every problem found, each a complete stderr line without newline.
///
/// The upstream `invalid payload (missing …)` lines come first, then lockpool's own. No line contains a secret.
public struct RequestProblems: Error, Sendable, Equatable, CustomStringConvertible {
    /// The errors, in the order to print them; never empty.
    public var errors: [String]
    /// The warnings found on the way, to print before the errors.
    public var warnings: [String]

    /// Creates a problem report.
    public init(errors: [String], warnings: [String] = []) {
        self.errors = errors
        self.warnings = warnings
    }

    /// The errors, one per line.
    public var description: String { errors.joined(separator: "\n") }
}

/// Finding and hiding credentials in request values.
enum RequestSecrets {
    /// The credentials in a URL's userinfo: the whole userinfo, and the password or (http(s) only, without a
    /// password) the user, each as written and percent-decoded. A URL without `://` is read with `defaultScheme`, or
    /// not at all when it is `nil` (scp-like `git@host:path` names only an SSH user).
    static func userinfoSecrets(ofURL url: String, defaultScheme: String?) -> [String] {
        guard let info = URLUserinfo(in: url, defaultScheme: defaultScheme) else { return [] }
        if let password = info.password, !password.isEmpty { return info.passwordSecrets }
        guard ["http", "https"].contains(info.scheme.lowercased()), !info.user.isEmpty else { return [] }
        return [String(info.user)] + (info.user.percentDecoded.map { [$0] } ?? [])
    }

    /// `url` with its userinfo (and the `@`) removed; unchanged when it has none. A URL without `://` is left alone
    /// unless `schemeOptional` says it may start with the authority (a Pushgateway given as `user:pass@host:9091`).
    static func removingUserinfo(_ url: String, schemeOptional: Bool = false) -> String {
        URLUserinfo(in: url, defaultScheme: schemeOptional ? "http" : nil)?.withoutUserinfo ?? url
    }

    /// An `http.extraHeader` value and the parts a server or library might echo: the header's value, and the token
    /// after an authentication scheme (`Bearer`, `Basic`, …).
    static func headerSecrets(_ header: String) -> [String] {
        var found = [header]
        if let colon = header.firstIndex(of: ":") {
            let value = header[header.index(after: colon)...].trimming(.whitespaces)
            found.append(value)
            if let space = value.firstIndex(of: " ") {
                found.append(value[value.index(after: space)...].trimming(.whitespaces))
            }
        }
        return found
    }
}
