import CLibgit2
import Glibc

/// How to reach a remote: credentials and the secrets to redact from messages.
public struct RemoteOptions: Sendable {
    /// The credential to offer when the remote asks for one; offered once.
    public var credentials: Credentials?
    /// Extra HTTP headers (`Name: value`) for http(s) remotes.
    public var customHeaders: [String]
    /// Values to replace with `****` in any message from libgit2 or the server.
    public var secrets: [String]

    public init(credentials: Credentials? = nil, customHeaders: [String] = [], secrets: [String] = []) {
        self.credentials = credentials
        self.customHeaders = customHeaders
        self.secrets = secrets
    }

    var allSecrets: [String] { secrets + (credentials?.secrets ?? []) }
}

/// The server refused to update a reference during a push.
public struct PushRejected: Error, Sendable, CustomStringConvertible {
    /// The remote reference, e.g. `refs/heads/master`.
    public let reference: String
    /// The reason as the server or libgit2 gave it, e.g. `non-fast-forward` or `pre-receive hook declined`.
    public let reason: String
    /// What the server printed on its side channel (`remote: …` lines), redacted.
    public let serverMessages: String

    /// Whether the refusal means the branch moved since the fetch (a lost race), not a policy refusal.
    public var isStaleTip: Bool {
        let reason = reason.lowercased()
        return [
            "non-fast-forward", "fetch first", "stale info", "failed to lock", "cannot lock ref", "non-fastforward",
            "not present locally", "failed to update ref",
        ].contains { reason.contains($0) }
    }

    public var description: String { "push of \(reference) was rejected: \(reason)" }
}

/// Per-call state shared with libgit2's C callbacks through `payload`.
final class RemoteCallbackState {
    let options: RemoteOptions
    var credentialAttempts = 0
    var refusedReferences: [(reference: String, reason: String)] = []
    var acknowledgedReferences: [String] = []
    var serverMessages = ""
    var storedError: (any Error)?

    init(options: RemoteOptions) { self.options = options }

    func callbacks() -> git_remote_callbacks {
        var callbacks = git_remote_callbacks()
        git_remote_init_callbacks(&callbacks, UInt32(GIT_REMOTE_CALLBACKS_VERSION))
        callbacks.payload = Unmanaged.passUnretained(self).toOpaque()
        callbacks.credentials = { out, _, usernameFromURL, allowedTypes, payload in
            let state = Unmanaged<RemoteCallbackState>.fromOpaque(payload!).takeUnretainedValue()
            return state.credential(out, usernameFromURL, allowedTypes)
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

    /// Offers the configured credential once; libgit2 asks again after a refusal, which must not loop.
    private func credential(
        _ out: UnsafeMutablePointer<UnsafeMutablePointer<git_credential>?>?, _ usernameFromURL: UnsafePointer<CChar>?,
        _ allowedTypes: UInt32
    ) -> Int32 {
        credentialAttempts += 1
        guard let credentials = options.credentials else { return GIT_PASSTHROUGH.rawValue }
        if credentialAttempts > 1 { return GIT_EAUTH.rawValue }
        switch credentials.kind {
        case .userPassword(let user, let password):
            guard allowedTypes & GIT_CREDENTIAL_USERPASS_PLAINTEXT.rawValue != 0 else {
                return GIT_PASSTHROUGH.rawValue
            }
            return git_credential_userpass_plaintext_new(out, user, password)
        }
    }

    /// The server's side-channel text, redacted and trimmed, one `remote: ` line each.
    var redactedServerMessages: String {
        redact(serverMessages, options.allSecrets)
            .split(whereSeparator: { $0 == "\n" || $0 == "\r" })
            .map { "remote: \($0)" }
            .joined(separator: "\n")
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
public final class Remote {
    let pointer: OpaquePointer  // owned
    /// Keeps the repository alive: a `git_remote` must not outlive it.
    public let repository: Repository
    public let url: String
    public let options: RemoteOptions

    /// An anonymous remote (no configuration written). Calls `git_remote_create_anonymous`.
    ///
    /// - Parameters:
    ///   - repository: the local repository objects go to and come from.
    ///   - url: the remote URL, without userinfo.
    ///   - options: credentials and secrets.
    /// - Throws: `GitError`.
    public init(repository: Repository, url: String, options: RemoteOptions) throws {
        var raw: OpaquePointer?
        try check(
            git_remote_create_anonymous(&raw, repository.pointer, url), "git_remote_create_anonymous",
            redacting: options.allSecrets)
        pointer = raw!
        self.repository = repository
        self.url = url
        self.options = options
    }

    deinit { git_remote_free(pointer) }

    /// Brings `branch` into the repository and points `localReference` at its tip.
    ///
    /// One connection: the advertised references are listed first, and objects are downloaded only when the tip is
    /// not already here, so a warm cache costs one round trip. Calls `git_remote_connect`, `git_remote_ls` and
    /// `git_remote_download`; writes no `FETCH_HEAD` and no remote configuration.
    ///
    /// - Parameters:
    ///   - branch: the branch name without `refs/heads/`.
    ///   - localReference: the reference to point at the fetched tip (forced: a rewritten branch is followed).
    /// - Returns: the tip, or nil when the remote has no such branch (the local reference is then left alone).
    /// - Throws: `GitError` for connection, authentication or transfer failures.
    public func fetch(branch: String, into localReference: String) throws -> ObjectID? {
        let secrets = options.allSecrets
        let remote = pointer
        let state = RemoteCallbackState(options: options)
        return try withExtendedLifetime(state) {
            var callbacks = state.callbacks()
            var proxy = git_proxy_options()
            git_proxy_options_init(&proxy, UInt32(GIT_PROXY_OPTIONS_VERSION))
            defer { git_remote_disconnect(remote) }
            let tip: ObjectID? = try withStringArray(options.customHeaders) { headers in
                let status = git_remote_connect(remote, GIT_DIRECTION_FETCH, &callbacks, &proxy, headers)
                if status < 0 { throw state.storedError ?? lastError(status, "git_remote_connect", redacting: secrets) }
                var heads: UnsafeMutablePointer<UnsafePointer<git_remote_head>?>?
                var count = 0
                try check(git_remote_ls(&heads, &count, remote), "git_remote_ls", redacting: secrets)
                let wanted = "refs/heads/\(branch)"
                for index in 0..<count {
                    guard let head = heads?[index], String(cString: head.pointee.name) == wanted else { continue }
                    return ObjectID(head.pointee.oid)
                }
                return nil
            }
            guard let tip else { return nil }
            if !repository.contains(tip) {
                var fetchOptions = git_fetch_options()
                git_fetch_options_init(&fetchOptions, UInt32(GIT_FETCH_OPTIONS_VERSION))
                fetchOptions.callbacks = callbacks
                fetchOptions.update_fetchhead = 0
                fetchOptions.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE
                try withStringArray(["+refs/heads/\(branch):\(localReference)"]) { refspecs in
                    try withStringArray(options.customHeaders) { headers in
                        fetchOptions.custom_headers = headers.pointee
                        let status = git_remote_download(remote, refspecs, &fetchOptions)
                        if status < 0 {
                            throw state.storedError ?? lastError(status, "git_remote_download", redacting: secrets)
                        }
                    }
                }
            }
            try repository.setReference(localReference, to: tip, message: "lockpool: fetch")
            return tip
        }
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
        let state = RemoteCallbackState(options: options)
        let target = "refs/heads/\(branch)"
        try withExtendedLifetime(state) {
            var pushOptions = git_push_options()
            git_push_options_init(&pushOptions, UInt32(GIT_PUSH_OPTIONS_VERSION))
            pushOptions.callbacks = state.callbacks()
            defer { git_remote_disconnect(remote) }
            try withStringArray(["\(outgoing):\(target)"]) { refspecs in
                try withStringArray(options.customHeaders) { headers in
                    pushOptions.custom_headers = headers.pointee
                    let status = git_remote_push(remote, refspecs, &pushOptions)
                    guard status < 0 else { return }
                    let error = lastError(status, "git_remote_push", redacting: secrets)
                    // libgit2 refuses locally when the remote tip is unknown here or not an ancestor: the branch moved.
                    if status == GIT_ENONFASTFORWARD.rawValue || error.message.contains("not present locally")
                        || error.message.contains("non-fastforward")
                    {
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
    public func fetch(branch: String, from url: String, into localReference: String, options: RemoteOptions) throws
        -> ObjectID?
    {
        try Remote(repository: self, url: url, options: options).fetch(branch: branch, into: localReference)
    }

    /// Pushes through a one-off `Remote`; see `Remote.push(_:toBranch:)`.
    ///
    /// - Throws: `PushRejected`, `GitError`.
    public func push(_ commit: ObjectID, toBranch branch: String, of url: String, options: RemoteOptions) throws {
        try Remote(repository: self, url: url, options: options).push(commit, toBranch: branch)
    }
}
