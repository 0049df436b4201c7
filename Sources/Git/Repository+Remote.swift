import CLibgit2
import Glibc

/// How to reach a remote: credentials, certificate and host key policy, proxy, headers, and the secrets to redact.
///
/// Header values and secrets never print: `description`, `debugDescription` and `customMirror` hide them.
public struct RemoteOptions: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The credential to offer when the remote asks for one; offered once.
    public var credentials: Credentials?
    /// Extra HTTP headers (`Name: value`) for http(s) remotes.
    public var customHeaders: [String]
    /// Values to replace with `****` in any message from libgit2 or the server.
    public var secrets: [String]
    /// Accept any TLS certificate from an https remote.
    public var acceptsInvalidCertificates: Bool
    /// OpenSSH `known_hosts` text the ssh server's host key must be listed in; nil accepts any host key (the upstream
    /// resource's `StrictHostKeyChecking no`).
    public var knownHosts: String?
    /// Whether ssh forwards the agent at `SSH_AUTH_SOCK` to the server (`forward_agent`).
    public var forwardsAgent: Bool
    /// A shell command run instead of `ssh`, with the same arguments (`core.sshCommand`, as git runs it).
    public var sshCommand: String?
    /// The HTTP proxy for http(s) remotes, without userinfo; nil uses the environment (`https_proxy`, …).
    public var proxyURL: String?
    /// Credentials for `proxyURL`.
    public var proxyCredentials: Credentials?
    /// Whether to follow HTTP redirects: nil is libgit2's default (the initial request only).
    public var followRedirects: RedirectPolicy?

    /// Which HTTP redirects to follow.
    public enum RedirectPolicy: Sendable { case none, initial, all }

    public init(
        credentials: Credentials? = nil, customHeaders: [String] = [], secrets: [String] = [],
        acceptsInvalidCertificates: Bool = false, knownHosts: String? = nil, forwardsAgent: Bool = false,
        sshCommand: String? = nil, proxyURL: String? = nil, proxyCredentials: Credentials? = nil,
        followRedirects: RedirectPolicy? = nil
    ) {
        self.credentials = credentials
        self.customHeaders = customHeaders
        self.secrets = secrets
        self.acceptsInvalidCertificates = acceptsInvalidCertificates
        self.knownHosts = knownHosts
        self.forwardsAgent = forwardsAgent
        self.sshCommand = sshCommand
        self.proxyURL = proxyURL
        self.proxyCredentials = proxyCredentials
        self.followRedirects = followRedirects
    }

    var allSecrets: [String] { secrets + (credentials?.secrets ?? []) + (proxyCredentials?.secrets ?? []) }

    /// The settings without any secret: header names only, the proxy without userinfo, and counts.
    public var description: String {
        let headerNames = customHeaders.map { String($0.prefix { $0 != ":" }) }
        return "RemoteOptions(credentials: \(credentials.map(\.kindDescription) ?? "none"), "
            + "headers: \(headerNames), secrets: \(secrets.isEmpty ? "none" : "****"), "
            + "acceptsInvalidCertificates: \(acceptsInvalidCertificates), "
            + "knownHosts: \(knownHosts == nil ? "none" : "set"), proxy: \(proxyURL ?? "auto"), "
            + "proxyCredentials: \(proxyCredentials == nil ? "none" : "****"))"
    }
    /// The same as `description`.
    public var debugDescription: String { description }
    /// A mirror that shows no secret, for `dump`.
    public var customMirror: Mirror { Mirror(self, children: ["summary": description]) }

    var redirectOption: git_remote_redirect_t {
        switch followRedirects {
        case .none?: GIT_REMOTE_REDIRECT_NONE
        case .all?: GIT_REMOTE_REDIRECT_ALL
        case .initial?, nil: GIT_REMOTE_REDIRECT_INITIAL
        }
    }
}

/// The server refused to update a reference during a push.
public struct PushRejected: Error, Sendable, CustomStringConvertible {
    /// The remote reference, e.g. `refs/heads/master`.
    public let reference: String
    /// The reason as the server or libgit2 gave it, e.g. `non-fast-forward` or `pre-receive hook declined`.
    public let reason: String
    /// What the server printed on its side channel (`remote: …` lines), redacted.
    public let serverMessages: String

    // `isStaleTip` is in GitError+Classification.swift, with the other classification.

    public var description: String { "push of \(reference) was rejected: \(reason)" }
}

/// Per-call state shared with libgit2's C callbacks through `payload`.
final class RemoteCallbackState {
    let options: RemoteOptions
    var credentialAttempts = 0
    var proxyCredentialAttempts = 0
    /// The proxy of the libgit2 call running (`withProxyOptions`).
    var proxyInUse: HTTPProxy?
    var refusedReferences: [(reference: String, reason: String)] = []
    var acknowledgedReferences: [String] = []
    var serverMessages = ""
    var storedError: (any Error)?
    /// The remote's OpenSSH connection, for an ssh URL: libgit2 then runs lockpool's transport (`SSHTransport`).
    var sshSession: SSHSession?

    init(options: RemoteOptions, sshSession: SSHSession? = nil) {
        self.options = options
        self.sshSession = sshSession
    }

    func callbacks() -> git_remote_callbacks {
        var callbacks = git_remote_callbacks()
        git_remote_init_callbacks(&callbacks, UInt32(GIT_REMOTE_CALLBACKS_VERSION))
        callbacks.payload = Unmanaged.passUnretained(self).toOpaque()
        callbacks.credentials = { out, _, usernameFromURL, allowedTypes, payload in
            let state = Unmanaged<RemoteCallbackState>.fromOpaque(payload!).takeUnretainedValue()
            return state.credential(out, usernameFromURL, allowedTypes, proxy: false)
        }
        callbacks.certificate_check = { cert, valid, host, payload in
            let state = Unmanaged<RemoteCallbackState>.fromOpaque(payload!).takeUnretainedValue()
            return state.certificate(cert, valid: valid, host: host)
        }
        if sshSession != nil {
            callbacks.transport = { out, owner, payload in
                SSHTransport.create(
                    out, owner, Unmanaged<RemoteCallbackState>.fromOpaque(payload!).takeUnretainedValue())
            }
        }
        callbacks.push_update_reference = { reference, status, payload in
            let state = Unmanaged<RemoteCallbackState>.fromOpaque(payload!).takeUnretainedValue()
            let name = reference.map { String(cString: $0) } ?? ""
            if let status {
                state.refusedReferences.append((name, redact(String(cString: status), state.options.allSecrets)))
            } else {
                state.acknowledgedReferences.append(name)
            }
            return 0
        }
        callbacks.sideband_progress = { text, length, payload in
            let state = Unmanaged<RemoteCallbackState>.fromOpaque(payload!).takeUnretainedValue()
            if let text, length > 0, state.serverMessages.utf8.count < 64 * 1024 {
                let bytes = UnsafeRawBufferPointer(start: text, count: Int(length))
                state.serverMessages += String(decoding: bytes, as: UTF8.self)
            }
            return 0
        }
        return callbacks
    }

    /// Offers the configured credential once per kind; libgit2 asks again after a refusal, which must not loop.
    func credential(
        _ out: UnsafeMutablePointer<UnsafeMutablePointer<git_credential>?>?, _ usernameFromURL: UnsafePointer<CChar>?,
        _ allowedTypes: UInt32, proxy: Bool
    ) -> Int32 {
        let credentials = proxy ? options.proxyCredentials : options.credentials
        guard let credentials else {
            storedError = AuthenticationRefused(tried: nil)
            return GIT_EAUTH.rawValue
        }
        credentialAttempts += 1
        if credentialAttempts > 1 {
            storedError = refusal(credentials)
            return GIT_EAUTH.rawValue
        }
        if case .userPassword(let name, let password) = credentials.kind,
            allowedTypes & GIT_CREDENTIAL_USERPASS_PLAINTEXT.rawValue != 0
        {
            return git_credential_userpass_plaintext_new(out, name, password)
        }
        // ssh credentials go to OpenSSH (`SSHSession`), never through libgit2.
        storedError = credentialAttempts > 1 ? refusal(credentials) : AuthenticationRefused(tried: nil)
        return GIT_EAUTH.rawValue
    }

    /// The credential offered before was refused by the server.
    private func refusal(_ credentials: Credentials) -> any Error {
        AuthenticationRefused(tried: credentials.kindDescription)
    }

    /// Checks a TLS certificate: libgit2's verdict, unless invalid certificates are accepted; for an IP address,
    /// `CertificateVerification`'s when libgit2 says invalid. (Host keys are checked by OpenSSH, `SSHSession`.)
    func certificate(_ cert: UnsafeMutablePointer<git_cert>?, valid: Int32, host: UnsafePointer<CChar>?) -> Int32 {
        guard cert != nil else { return GIT_PASSTHROUGH.rawValue }
        let hostName = host.map { String(cString: $0) } ?? ""
        if valid != 0 || options.acceptsInvalidCertificates { return 0 }
        // mbedTLS 2.28 matches DNS subjectAltNames only: an IP address is verified again
        // (docs/transports.md#http-and-https).
        if let cert, CertificateVerification.acceptsAfterAll(cert, host: hostName) { return 0 }
        storedError = CertificateRejected(
            reason: "the TLS certificate of \(hostName) is not trusted; set skip_ssl_verification, "
                + "or git_config http.sslCAInfo to the certificate authority's file")
        return GIT_EUSER.rawValue
    }

    /// The server's side-channel text, redacted and trimmed, one `remote: ` line each.
    var redactedServerMessages: String {
        redact(serverMessages, options.allSecrets)
            .split(whereSeparator: { $0 == "\n" || $0 == "\r" })
            .map { "remote: \($0)" }
            .joined(separator: "\n")
    }
}

extension RemoteCallbackState {
    /// Runs `body` (a libgit2 call on `remoteURL`) with libgit2 proxy options for these remote options (strings kept
    /// alive for the call), and with lockpool's stream routing the remote's connections through that proxy
    /// (`HTTPProxy`: libgit2 1.8.4 ignores the proxy of a plain http:// remote).
    func withProxyOptions<Result>(for remoteURL: String, _ body: (git_proxy_options) throws -> Result) rethrows
        -> Result
    {
        var proxy = git_proxy_options()
        git_proxy_options_init(&proxy, UInt32(GIT_PROXY_OPTIONS_VERSION))
        proxy.payload = Unmanaged.passUnretained(self).toOpaque()
        let resolved = HTTPProxy.resolve(for: remoteURL, options: options)
        proxy.credentials = { out, _, _, allowedTypes, payload in
            let state = Unmanaged<RemoteCallbackState>.fromOpaque(payload!).takeUnretainedValue()
            return state.proxyCredential(out, allowedTypes)
        }
        proxy.certificate_check = { cert, valid, host, payload in
            let state = Unmanaged<RemoteCallbackState>.fromOpaque(payload!).takeUnretainedValue()
            return state.certificate(cert, valid: valid, host: host)
        }
        proxyInUse = resolved
        return try HTTPProxy.routing(resolved, for: remoteURL) {
            // The proxy as resolved (the environment's included), so that libgit2 and the stream agree; libgit2's own
            // lookup (GIT_PROXY_AUTO) when there is none, or when the URL does not parse (libgit2 reports it).
            guard let url = resolved?.url ?? options.proxyURL else {
                proxy.type = GIT_PROXY_AUTO
                return try body(proxy)
            }
            return try url.withCString { cURL in
                proxy.type = GIT_PROXY_SPECIFIED
                proxy.url = cURL
                return try body(proxy)
            }
        }
    }

    /// Answers the proxy's challenge (407) once with the proxy credentials; a second challenge, or one without
    /// credentials to offer, fails at once naming the proxy. For an http:// remote the stream already sent them
    /// (`Proxy-Authorization`), so a challenge there is already a refusal.
    func proxyCredential(_ out: UnsafeMutablePointer<UnsafeMutablePointer<git_credential>?>?, _ allowedTypes: UInt32)
        -> Int32
    {
        proxyCredentialAttempts += 1
        let name = proxyInUse?.endpoint ?? options.proxyURL ?? "proxy"
        let user = proxyInUse?.user
        guard let user, allowedTypes & GIT_CREDENTIAL_USERPASS_PLAINTEXT.rawValue != 0 else {
            storedError = GitError(
                code: .auth, errorClass: .http, function: "git_remote_connect",
                message: "proxy \(name) requires authentication: give the user and password in git_config http.proxy "
                    + "(http://user:password@host:port)")
            return GIT_EAUTH.rawValue
        }
        guard proxyCredentialAttempts == 1 else {
            storedError = GitError(
                code: .auth, errorClass: .http, function: "git_remote_connect",
                message: "proxy \(name) refused the credentials of user '\(user)'")
            return GIT_EAUTH.rawValue
        }
        return git_credential_userpass_plaintext_new(out, user, proxyInUse?.password ?? "")
    }
}

/// Runs `body` with a `git_strarray` view of `strings`.
func withStringArray<Result>(_ strings: [String], _ body: (UnsafeMutablePointer<git_strarray>) throws -> Result)
    rethrows
    -> Result
{
    var cStrings: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    defer { cStrings.forEach { free($0) } }
    return try cStrings.withUnsafeMutableBufferPointer { buffer in
        var array = git_strarray(strings: buffer.baseAddress, count: buffer.count)
        return try body(&array)
    }
}

/// A connection target: one remote URL of one repository, reused for every fetch and push of an operation.
///
/// Not `Sendable`. Creating a remote is not free in libgit2 1.5 (each `git_remote_create_anonymous` leaks a little
/// inside its URL-rewriting regex), so a waiting loop keeps one `Remote` instead of creating one per poll.
public final class Remote: CustomStringConvertible, CustomReflectable {
    let pointer: OpaquePointer  // owned
    /// Keeps the repository alive: a `git_remote` must not outlive it.
    public let repository: Repository
    public let url: String
    public let options: RemoteOptions
    /// The OpenSSH connection of an ssh URL, shared by its fetches and pushes (`SSHSession`), and by the remotes
    /// `reopened(on:)` makes; it ends when the last of them goes.
    let sshSession: SSHSession?
    /// The repository a local URL names, opened by the first fetch, push or listing and kept for the others
    /// (`openLocalSource`): an acquire's fetch and push open it once.
    var localSource: Repository?

    /// An anonymous remote (no configuration written). Calls `git_remote_create_anonymous`.
    ///
    /// - Parameters:
    ///   - repository: the local repository objects go to and come from.
    ///   - url: the remote URL, without userinfo.
    ///   - options: credentials and secrets.
    /// - Throws: `GitError`.
    public convenience init(repository: Repository, url: String, options: RemoteOptions) throws {
        try self.init(
            repository: repository, url: url, options: options,
            sshSession: SSHAddress(url).map { SSHSession(address: $0, options: options) })
    }

    private init(repository: Repository, url: String, options: RemoteOptions, sshSession: SSHSession?) throws {
        if let problem = Self.unusableURLMessage(url) {
            throw GitError(
                code: .generic, errorClass: .net, function: GitError.urlCheckFunction,
                message: redact(problem, options.allSecrets))
        }
        try Libgit2.loadCertificates(before: url)
        var raw: OpaquePointer?
        try check(
            git_remote_create_anonymous(&raw, repository.pointer, url), "git_remote_create_anonymous",
            redacting: options.allSecrets)
        pointer = raw!
        self.repository = repository
        self.url = url
        self.options = options
        self.sshSession = sshSession
    }

    /// The same remote for another repository (the cache reopened), keeping its ssh connection.
    ///
    /// - Throws: `GitError`.
    public func reopened(on repository: Repository) throws -> Remote {
        try Remote(repository: repository, url: url, options: options, sshSession: sshSession)
    }

    deinit { git_remote_free(pointer) }

    /// The schemes libgit2 has a transport for (transport.c's table).
    private static let knownSchemes: Set<String> = ["file", "git", "ssh", "ssh+git", "git+ssh", "http", "https"]

    /// Why libgit2 cannot use `url` at all, in libgit2 1.5's words (util/net.c, `git_net_url_parse`): an unknown
    /// scheme, or a network URL without a host. libgit2 1.8's URL parser no longer says so; such a URL fails later on an
    /// internal assertion (`invalid argument: 'port'`, `invalid argument: 'url->host'`), so lockpool checks first.
    /// `nil` for a path, an scp-like `user@host:path` and every URL libgit2 can try.
    static func unusableURLMessage(_ url: String) -> String? {
        guard let separator = url.firstRange(of: "://") else { return nil }
        let scheme = url[..<separator.lowerBound].lowercased()
        guard knownSchemes.contains(scheme) else { return "unknown scheme for URL '\(url)'" }
        guard scheme != "file" else { return nil }
        let authority = url[separator.upperBound...].prefix { $0 != "/" }
        let hostAndPort = authority.split(separator: "@", omittingEmptySubsequences: false).last ?? ""
        let host =
            hostAndPort.hasPrefix("[") ? hostAndPort.prefix { $0 != "]" }.dropFirst() : hostAndPort.prefix { $0 != ":" }
        return host.isEmpty ? "malformed URL '\(url)'" : nil
    }

    /// The URL (without userinfo) and the options, without secrets.
    public var description: String { "Remote(\(url), \(options))" }
    /// A mirror that shows no secret, for `dump`.
    public var customMirror: Mirror { Mirror(self, children: ["url": url, "options": options.description]) }

    /// The remote's branches (without `refs/heads/`, in byte order), recorded by a fetch that did not find its branch
    /// or by `listBranches`, for a message that names the branches that exist.
    public private(set) var advertisedBranches: [String] = []
    /// The branch the remote's HEAD names (git's `symref` capability), recorded with `advertisedBranches`.
    public private(set) var advertisedHead: String?

    /// Lists the remote's branches and the one its HEAD names, on one connection (nothing is downloaded). Calls
    /// `git_remote_connect` and `git_remote_ls`, or reads a local repository in place.
    ///
    /// - Throws: `GitError` for connection, authentication or transfer failures.
    public func listBranches() throws -> (branches: [String], head: String?) {
        if let path = localPath {
            recordLocalBranches(of: try openLocalSource(path))
        } else {
            let state = RemoteCallbackState(options: options, sshSession: sshSession)
            try withExtendedLifetime(state) {
                defer { git_remote_disconnect(pointer) }
                recordBranches(try connectAndList(state: state, callbacks: state.callbacks()))
            }
        }
        return (advertisedBranches, advertisedHead)
    }

    /// Records a local repository's branches and HEAD as a fetch from it found them (`fetchLocally`).
    func recordLocalBranches(of source: Repository) {
        advertisedBranches = (try? source.branchNames()) ?? []
        advertisedHead = source.headBranch()
    }

    private func recordBranches(_ heads: [UnsafePointer<git_remote_head>]) {
        let prefix = "refs/heads/"
        advertisedBranches = heads.map { String(cString: $0.pointee.name) }.filter { $0.hasPrefix(prefix) }
            .map { String($0.dropFirst(prefix.count)) }
            .sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        let head = heads.first { String(cString: $0.pointee.name) == "HEAD" }
        advertisedHead = head?.pointee.symref_target.map { String(cString: $0) }.flatMap {
            $0.hasPrefix(prefix) ? String($0.dropFirst(prefix.count)) : nil
        }
    }

    /// Brings `branch` into the repository and points `localReference` at its tip.
    ///
    /// One connection: the advertised references are listed first, and objects are downloaded only when the tip is
    /// not already here, so a warm cache costs one round trip. Calls `git_remote_connect`, `git_remote_ls` and
    /// `git_remote_download`; writes no `FETCH_HEAD` and no remote configuration.
    ///
    /// - Parameters:
    ///   - branch: the branch name without `refs/heads/`.
    ///   - localReference: the reference to point at the fetched tip (forced: a rewritten branch is followed).
    ///   - depth: when positive and `fetchesShallow`, a shallow fetch of that many commits from the tip; otherwise
    ///     everything the repository lacks. The repository's shallow roots are kept either way, in its files: open a
    ///     shallow repository again after a fetch that brought commits before walking its history (libgit2 1.8.4
    ///     remembers the roots it wrote, `keepingShallowRoots`).
    /// - Returns: the tip, or nil when the remote has no such branch (the local reference is then left alone).
    /// - Throws: `GitError` for connection, authentication or transfer failures.
    public func fetch(branch: String, into localReference: String, depth: Int = 0) throws -> ObjectID? {
        if let path = localPath {
            return try fetchLocally(branch: branch, into: localReference, path: path)
        }
        return try fetchOverNetwork(branch: branch, into: localReference, depth: fetchesShallow ? depth : 0)
    }

    /// Whether `fetch(depth:)` fetches shallowly here: over ssh, git:// and http(s). libgit2 1.8.4 repeats a shallow
    /// request on a connection that keeps its state, which lockpool's streams repair (docs/decisions/0009-shallow-cache.md).
    /// A local repository is read in place instead (`fetchLocally`).
    public var fetchesShallow: Bool {
        if sshSession != nil { return true }
        guard localPath == nil, let separator = url.firstRange(of: "://") else { return false }
        guard ["git", "http", "https"].contains(url[..<separator.lowerBound].lowercased()) else { return false }
        // The repair lives in lockpool's stream, which stands in for libgit2's only on a verified release.
        return url.lowercased().hasPrefix("http") || ConnectTunnel.isRegistered
    }

    private func fetchOverNetwork(branch: String, into localReference: String, depth: Int) throws -> ObjectID? {
        let state = RemoteCallbackState(options: options, sshSession: sshSession)
        return try withExtendedLifetime(state) {
            let callbacks = state.callbacks()
            defer { git_remote_disconnect(pointer) }
            let advertised = try connectAndList(state: state, callbacks: callbacks)
            let wanted = "refs/heads/\(branch)"
            guard
                let tip = advertised.first(where: { String(cString: $0.pointee.name) == wanted }).map({
                    ObjectID($0.pointee.oid)
                })
            else {
                recordBranches(advertised)
                return nil
            }
            if !repository.contains(tip) {
                try repository.keepingShallowRoots {
                    try download(branch: branch, into: localReference, depth: depth, state: state, callbacks: callbacks)
                }
            }
            try repository.setReference(localReference, to: tip, message: "lockpool: fetch")
            return tip
        }
    }

    /// Connects for fetching and returns the references the remote advertises (valid until `git_remote_disconnect`,
    /// which the caller owes). Calls `git_remote_connect_ext` and `git_remote_ls`.
    private func connectAndList(state: RemoteCallbackState, callbacks: git_remote_callbacks) throws
        -> [UnsafePointer<git_remote_head>]
    {
        let secrets = options.allSecrets
        let remote = pointer
        return try withStringArray(options.customHeaders) { headers in
            var connectOptions = git_remote_connect_options()
            git_remote_connect_options_init(&connectOptions, UInt32(GIT_REMOTE_CONNECT_OPTIONS_VERSION))
            connectOptions.callbacks = callbacks
            connectOptions.follow_redirects = options.redirectOption
            connectOptions.custom_headers = headers.pointee
            let status = state.withProxyOptions(for: url) { proxy in
                connectOptions.proxy_opts = proxy
                return git_remote_connect_ext(remote, GIT_DIRECTION_FETCH, &connectOptions)
            }
            if status < 0 { throw state.storedError ?? lastError(status, "git_remote_connect", redacting: secrets) }
            var heads: UnsafeMutablePointer<UnsafePointer<git_remote_head>?>?
            var count = 0
            try check(git_remote_ls(&heads, &count, remote), "git_remote_ls", redacting: secrets)
            return (0..<count).compactMap { heads?[$0] }
        }
    }

    /// Downloads the branch's objects on the connected remote (`git_remote_download`), `depth` commits deep when
    /// positive.
    private func download(
        branch: String, into localReference: String, depth: Int, state: RemoteCallbackState,
        callbacks: git_remote_callbacks
    ) throws {
        var fetchOptions = git_fetch_options()
        git_fetch_options_init(&fetchOptions, UInt32(GIT_FETCH_OPTIONS_VERSION))
        fetchOptions.callbacks = callbacks
        fetchOptions.update_fetchhead = 0
        fetchOptions.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE
        fetchOptions.follow_redirects = options.redirectOption
        fetchOptions.depth = Int32(clamping: max(0, depth))
        // No reference, no `have`: lockpool's stream may send `done` with the shallow request (SocketWrites).
        let pipelines = depth > 0 && !repository.hasReferences
        let remote = pointer
        try withStringArray(["+refs/heads/\(branch):\(localReference)"]) { refspecs in
            try withStringArray(options.customHeaders) { headers in
                fetchOptions.custom_headers = headers.pointee
                let status = state.withProxyOptions(for: url) { proxy in
                    fetchOptions.proxy_opts = proxy
                    return SocketWrites.pipeliningDone(pipelines) {
                        git_remote_download(remote, refspecs, &fetchOptions)
                    }
                }
                if status < 0 {
                    throw state.storedError
                        ?? lastError(status, "git_remote_download", redacting: options.allSecrets)
                }
            }
        }
    }

    /// Opens the connection of the next push to this git:// remote now, on a thread, so that it is ready when the push
    /// comes (`PreparedConnection`), or, over ssh, starts `git-receive-pack` once the connection is up (`SSHSession`);
    /// nothing for other transports, or for git:// through `https_tunnel`.
    public func preparePush() {
        if let sshSession { return sshSession.preparePush() }
        guard ConnectTunnel.directStreamIsRegistered else { return }
        PreparedConnection.prepare(forPushTo: url)
    }

    /// Closes the connection `preparePush` opened if no push used it.
    public func discardPreparedPush() {
        sshSession?.discardPreparedPush()
        PreparedConnection.discard(forPushTo: url)
    }

    /// Pushes `commit` to `refs/heads/<branch>`, without force, and reads the per-reference status:
    /// `git_remote_push` returns 0 even when the server refuses the reference.
    ///
    /// Calls `git_remote_push` with a `push_update_reference` callback. The commit is first pointed at by the local
    /// reference `refs/lockpool/outgoing`, since libgit2 pushes references, not bare ids.
    ///
    /// - Throws: `PushRejected` when the reference was refused (locally as non-fast-forward, or by the server);
    ///   `GitError` for transport and authentication failures.
    public func push(_ commit: ObjectID, toBranch branch: String) throws {
        if let path = localPath {
            return try pushLocally(commit, toBranch: branch, path: path)
        }
        let secrets = options.allSecrets
        let outgoing = "refs/lockpool/outgoing"
        try repository.setReference(outgoing, to: commit, message: "lockpool: push")
        let remote = pointer
        let state = RemoteCallbackState(options: options, sshSession: sshSession)
        let target = "refs/heads/\(branch)"
        try withExtendedLifetime(state) {
            var pushOptions = git_push_options()
            git_push_options_init(&pushOptions, UInt32(GIT_PUSH_OPTIONS_VERSION))
            pushOptions.callbacks = state.callbacks()
            defer { git_remote_disconnect(remote) }
            try withStringArray(["\(outgoing):\(target)"]) { refspecs in
                try withStringArray(options.customHeaders) { headers in
                    pushOptions.custom_headers = headers.pointee
                    pushOptions.follow_redirects = options.redirectOption
                    let status = state.withProxyOptions(for: url) { proxy in
                        pushOptions.proxy_opts = proxy
                        return PreparedConnection.claiming { git_remote_push(remote, refspecs, &pushOptions) }
                    }
                    guard status < 0 else { return }
                    let error = lastError(status, "git_remote_push", redacting: secrets)
                    // libgit2 refuses locally when the remote tip is unknown here or not an ancestor: the branch moved.
                    if error.isStaleTip {
                        throw PushRejected(
                            reference: target, reason: "non-fast-forward (\(error.message))",
                            serverMessages: state.redactedServerMessages)
                    }
                    throw state.storedError ?? error
                }
            }
            if let refusal = state.refusedReferences.first {
                throw PushRejected(
                    reference: refusal.reference, reason: refusal.reason, serverMessages: state.redactedServerMessages)
            }
        }
    }
}

extension Repository {
    /// Fetches `branch` from `url` through a one-off `Remote`; see `Remote.fetch(branch:into:)`.
    ///
    /// - Throws: `GitError`.
    public func fetch(
        branch: String, from url: String, into localReference: String, options: RemoteOptions, depth: Int = 0
    ) throws -> ObjectID? {
        try Remote(repository: self, url: url, options: options).fetch(
            branch: branch, into: localReference, depth: depth)
    }

    /// Pushes through a one-off `Remote`; see `Remote.push(_:toBranch:)`.
    ///
    /// - Throws: `PushRejected`, `GitError`.
    public func push(_ commit: ObjectID, toBranch branch: String, of url: String, options: RemoteOptions) throws {
        try Remote(repository: self, url: url, options: options).push(commit, toBranch: branch)
    }
}
