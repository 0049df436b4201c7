// What a failed libgit2 call means, for the callers that decide whether to retry, rebuild or give up.
//
// libgit2 reports most conditions only through an error class and an English message (1.5 has no finer codes and
// does not translate its messages), so each predicate below reads them here, next to the libgit2 1.5 source line it
// rests on; no other module matches a `GitError.message` or names a class number. The predicates that decide a retry
// are exclusive: a failure that is an authentication failure, a missing repository, a refusal, an unusable URL, a
// certificate, a private key, a stale tip or damage is never transient. Tests/GitTests/ErrorClassificationTests.swift
// provokes each for real.

import Glibc

extension GitError {
    /// Whether the failure came from `git_remote_push`: the same server words mean other things in a fetch.
    var isPush: Bool { function == "git_remote_push" }

    /// The function lockpool's ssh transport names when OpenSSH could not load the private key (`SSHFailure`).
    static let privateKeyFunction = "ssh_load_key"

    /// The function `Remote.init` names when it refuses a URL before libgit2 sees it (`Remote.unusableURLMessage`).
    static let urlCheckFunction = "lockpool_check_url"

    /// The status of an HTTP response libgit2 did not accept, e.g. 404 or 503.
    ///
    /// transports/http.c (`handle_response`):
    /// `git_error_set(GIT_ERROR_HTTP, "unexpected http status code: %d", response->status)`.
    public var httpStatus: Int? {
        let prefix = "unexpected http status code: "
        guard errorClass == .http, message.hasPrefix(prefix) else { return nil }
        return Int(message.dropFirst(prefix.count).prefix { $0.isNumber })
    }

    /// What the server said when it ended the conversation with an error, in its own words.
    ///
    /// - git protocol and smart HTTP: an `ERR` pkt-line. transports/smart_protocol.c (`git_smart__store_refs`):
    ///   `git_error_set(GIT_ERROR_NET, "remote error: %s", ((git_pkt_err *)pkt)->error)`. git daemon sends
    ///   `ERR <reason>: <path>` (daemon.c `daemon_error`): `access denied or repository not exported: /x.git`, or
    ///   with `--informative-errors` `no such repository`, `repository not exported`, `service not enabled`, or the
    ///   first line its `--access-hook` printed when it said no (`service rejected` when it printed nothing).
    /// - ssh: what the remote command wrote on stderr when it wrote nothing on stdout. transports/ssh.c
    ///   (`ssh_stream_read`): `git_error_set(GIT_ERROR_SSH, "%*s", rc, buffer); return GIT_EEOF;`, e.g. git's
    ///   `fatal: '/x.git' does not appear to be a git repository`.
    public var serverMessage: String? {
        let text: Substring
        if errorClass == .net, message.hasPrefix("remote error: ") {
            text = message.dropFirst("remote error: ".count)
        } else if errorClass == .ssh, code == .endOfFile {
            text = Substring(message)
        } else {
            return nil
        }
        let trimmed = text.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed()
        return trimmed.isEmpty ? nil : String(trimmed)
    }

    /// Server words that say the repository is not there (git daemon, git upload-pack, hosting services).
    private static let notFoundWords = [
        "no such repository", "not exported", "does not appear to be a git repository", "not a git repository",
        "repository not found", "could not find repository", "could not be found",
    ]

    /// Whether the repository does not exist, or the server does not serve it, as far as a fetch can tell.
    ///
    /// - A local directory that is no repository: repository.c (`find_repo`): `git_error_set(GIT_ERROR_REPOSITORY,
    ///   "could not find repository from '%s'", start_path)` (transports/local.c `local_connect` returns -1).
    /// - A local path that is no directory: transport.c (`git_transport_new`): `git_error_set(GIT_ERROR_NET,
    ///   "unsupported URL protocol")`. `transport_find_fn` sends every URL containing `:` to the ssh transport, so on
    ///   Linux this message only comes from a name without `:` that is not an existing directory, never from an
    ///   unknown scheme (see `isUnsupportedURL`).
    /// - A `file://` URL of nothing: util/fs_path.c (`git_fs_path_prettify`): `git_error_set(GIT_ERROR_OS, "failed
    ///   to resolve path '%s'", path)`, to which libgit2 adds `: No such file or directory`.
    /// - HTTP 404 (`httpStatus`).
    /// - In a fetch, server words (`serverMessage`) such as git daemon's `access denied or repository not exported`
    ///   (all it says without `--informative-errors`), `no such repository`, or git's `does not appear to be a git
    ///   repository`. In a push, after a fetch from the same URL worked, the same words are a refusal
    ///   (`serverRefusal`).
    public var isRepositoryNotFound: Bool {
        if errorClass == .repository && message.hasPrefix("could not find repository") { return true }
        if errorClass == .net && message == "unsupported URL protocol" { return true }
        if errorClass == .os && function.hasPrefix("git_remote_") && message.hasPrefix("failed to resolve path '") {
            return true
        }
        if httpStatus == 404 { return true }
        guard !isPush, let text = serverMessage?.lowercased() else { return false }
        return Self.notFoundWords.contains { text.contains($0) }
    }

    /// The server's own words when it refused the operation, e.g. `access denied or repository not exported:
    /// /origin.git` from git daemon when its access hook refuses `receive-pack` (a push) although the fetch from the
    /// same URL worked; nil when the server did not refuse. See `serverMessage` for the libgit2 code paths. A refusal
    /// is permanent: retrying gets the same answer.
    public var serverRefusal: String? {
        guard let text = serverMessage, !isRepositoryNotFound else { return nil }
        return text
    }

    /// Whether the URL cannot be used at all: an unknown scheme (`ftp://`) or a malformed URL (`http://` without a
    /// host). Permanent: never worth a retry.
    ///
    /// - libgit2 1.5's util/net.c (`git_net_url_parse`, reached through the ssh transport for any unknown scheme):
    ///   `git_error_set(GIT_ERROR_NET, "unknown scheme for URL '%s'", given)` and
    ///   `git_error_set(GIT_ERROR_NET, "malformed URL '%s'", given)`. libgit2 1.8 no longer reports these (it fails
    ///   later on an assertion), so `Remote.init` checks the scheme and host first (`urlCheckFunction`).
    /// - transports/git.c (`gen_proto`): `git_error_set(GIT_ERROR_NET, "malformed URL")`.
    /// - transports/ssh.c (`gen_proto`): `git_error_set(GIT_ERROR_NET, "malformed git protocol URL")`.
    /// - remote.c (`canonicalize_url`, from `git_remote_create_anonymous` with an empty URL):
    ///   `git_error_set(GIT_ERROR_INVALID, "cannot set empty URL")`.
    public var isUnsupportedURL: Bool {
        if function == Self.urlCheckFunction { return true }
        return switch errorClass {
        case .net:
            message.hasPrefix("unknown scheme for URL") || message.hasPrefix("malformed URL")
                || message == "malformed git protocol URL"
        case .invalid: message == "cannot set empty URL"
        default: false
        }
    }

    /// Whether the host name did not resolve (getaddrinfo failed), for whatever reason.
    ///
    /// streams/socket.c (`socket_connect`): `git_error_set(GIT_ERROR_NET, "failed to resolve address for %s: %s",
    /// st->host, p_gai_strerror(ret))`; `ConnectTunnel`, which replaces that stream, and lockpool's ssh transport use
    /// the same words.
    public var isUnresolvableHost: Bool {
        errorClass == .net && message.hasPrefix("failed to resolve address for ")
    }

    /// Whether the resolver said the name does not exist (`EAI_NONAME`, `EAI_NODATA`, …): permanent, never worth a
    /// retry, unlike its "temporary failure in name resolution" (`EAI_AGAIN`), which may pass and is transient
    /// (docs/transports.md#errors).
    public var isUnknownHost: Bool {
        isUnresolvableHost && !message.hasSuffix(String(cString: gai_strerror(EAI_AGAIN)))
            && !message.hasSuffix(String(cString: gai_strerror(EAI_SYSTEM)))
    }

    /// Whether the remote refused the credential, or asked for one that could not be given.
    ///
    /// - `GIT_EAUTH`: transports/http.c `"unexpected authentication failure"`, `"%s authentication required but no
    ///   callback set"`, `"server requires authentication that we do not support"`; transports/ssh.c
    ///   `"authentication required but no callback set"`, `"Failed to retrieve list of SSH authentication methods"`.
    /// - HTTP 401, 403 and 407 (`httpStatus`).
    /// - transports/ssh.c (1.8: ssh_libssh2.c) `ssh_error(session, "failed to authenticate SSH session")` (capitalised
    ///   in 1.5), `"error authenticating"` and (1.8) `"remote rejected authentication"`;
    ///   transports/auth_ntlm.c `"ntlm authentication failed: %s"`.
    ///
    /// Not when the private key itself is unusable (`isUnusablePrivateKey`), nor for the server's own words
    /// (`serverRefusal`). A refusal found in the credentials callback is thrown as `AuthenticationRefused` instead.
    public var isAuthenticationFailure: Bool {
        guard !isUnusablePrivateKey, serverMessage == nil else { return false }
        if code == .auth { return true }
        if let status = httpStatus { return [401, 403, 407].contains(status) }
        return message.lowercased().contains("authenticat")
    }

    /// Whether the SSH private key offered cannot be used: unreadable, a wrong passphrase. OpenSSH's words after
    /// `Load key "…": `, e.g. `incorrect passphrase supplied to decrypt private key` or `invalid format`, which
    /// lockpool's ssh transport reports under `privateKeyFunction` (`SSHFailure.keyProblem`).
    public var isUnusablePrivateKey: Bool { function == Self.privateKeyFunction }

    /// Whether the server's TLS certificate or SSH host key was not accepted by libgit2 itself.
    ///
    /// `GIT_ECERTIFICATE`: streams/mbedtls.c (`verify_server_cert`) `"the SSL certificate is invalid: %#04x - %s"`
    /// and (`ssl_set_error`) `"SSL error: %#04x [%x] - %s"` for `MBEDTLS_ERR_X509_CERT_VERIFY_FAILED`;
    /// transports/ssh.c `"invalid or unknown remote ssh hostkey"`; or another `GIT_ERROR_SSL` message naming the
    /// certificate. A rejection by the certificate callback is thrown as `CertificateRejected` instead.
    public var isCertificateFailure: Bool {
        code == .certificate || (errorClass == .ssl && message.lowercased().contains("certificate"))
    }

    /// Whether the `https_tunnel` proxy answered the CONNECT request with a refusal (`ConnectTunnel`'s words:
    /// `https_tunnel proxy HOST:PORT refused the tunnel: HTTP return code: …`).
    public var isTunnelRefused: Bool {
        errorClass == .net && message.contains(" refused the tunnel")
    }

    /// Whether a push failed because the remote branch is not an ancestor of the pushed commit: the branch moved
    /// since the fetch (a lost race), found before sending anything.
    ///
    /// push.c (`queue_objects`, from `git_push_finish`): `GIT_ENONFASTFORWARD` with
    /// `git_error_set(GIT_ERROR_REFERENCE, "cannot push non-fastforwardable reference")`, or, when the remote tip is
    /// not here, `"cannot push because a reference that you are trying to update on the remote contains commits that
    /// are not present locally."`.
    public var isStaleTip: Bool {
        code == .nonFastForward
            || (errorClass == .reference
                && (message.contains("non-fastforwardable") || message.contains("not present locally")))
    }

    /// Whether the failure shows a damaged local object store or reference database: rebuilding it from the remote
    /// is the fix.
    ///
    /// - Classes `GIT_ERROR_ODB` (odb.c `"object not found - %s"` for a deleted object, pack.c `"invalid pack file -
    ///   %s"`), `GIT_ERROR_ZLIB` (pack.c `"error inflating zlib stream"`), `GIT_ERROR_INDEXER` (indexer.c) and
    ///   `GIT_ERROR_OBJECT` (a loose object that does not parse, e.g. commit.c `"failed to parse bad commit
    ///   object"`).
    /// - A truncated pack: pack.c (`packfile_open_locked`) finds its size or trailer wrong and sets
    ///   `git_error_set(GIT_ERROR_OS, "invalid packfile '%s'", p->pack_name)`; the lookup then goes on without the
    ///   pack and fails as `"object not found - no match for id (%s)"` (`GIT_ERROR_ODB`, `GIT_ENOTFOUND`).
    /// - `GIT_EMISMATCH` (odb.c `"object hash mismatch - expected %s but got %s"`).
    /// - `GIT_ELOCKED`: util/filebuf.c (`lock_file`) `git_error_set(GIT_ERROR_OS, "failed to lock file '%s' for
    ///   writing", …)`. lockpool holds its own lock during all git work, so such a `.lock` file is stale: its writer
    ///   was killed.
    /// - `GIT_ERROR_REFERENCE` other than `GIT_ENOTFOUND` and a stale tip, e.g. refdb_fs.c `"corrupted loose
    ///   reference file: %s"`.
    /// - A missing object met while building a tree: tree.c (`check_entry`) `git_error_set(GIT_ERROR_TREE, "%s - %s",
    ///   "failed to insert entry: invalid object specified", filename)`.
    public var isDamagedObjectStore: Bool {
        if [.odb, .zlib, .indexer, .object].contains(errorClass) { return true }
        if code == .mismatch || code == .locked { return true }
        if errorClass == .reference { return code != .notFound && !isStaleTip }
        if errorClass == .os && (message.hasPrefix("failed to lock file") || message.hasPrefix("invalid packfile '")) {
            return true
        }
        return errorClass == .tree && message.hasPrefix("failed to insert entry: invalid object specified")
    }

    /// Whether the failure may go away by itself, so that the operation is worth repeating after a pause: connection
    /// refused, reset or timed out, a temporary resolver failure, a stalled or cut transfer,
    /// an interrupted TLS or SSH handshake, HTTP 5xx, 408 or 429.
    ///
    /// Rests on the error class, since libgit2 reports network failures with the C library's words: `GIT_ERROR_NET`
    /// (transports/smart_protocol.c `"early EOF"` with `GIT_EEOF`; streams/socket.c `"failed to resolve address for
    /// %s: %s"`, `"error sending data: %s"`, `"error receiving socket data: %s"`), `GIT_ERROR_OS` (socket.c
    /// `"failed to connect to %s"`), `GIT_ERROR_SSH`, `GIT_ERROR_SSL`, `GIT_ERROR_HTTP` and `GIT_ERROR_CALLBACK`,
    /// or `GIT_EEOF`. Never one of the permanent kinds above, and never another HTTP 4xx (the server answered;
    /// asking again gets the same answer).
    public var isTransient: Bool {
        if isAuthenticationFailure || isRepositoryNotFound || serverRefusal != nil || isUnsupportedURL || isUnknownHost
            || isUnusablePrivateKey || isCertificateFailure || isTunnelRefused || isStaleTip || isDamagedObjectStore
        {
            return false
        }
        if let status = httpStatus { return status >= 500 || status == 408 || status == 429 }
        return [.net, .os, .ssh, .http, .ssl, .callback].contains(errorClass) || code == .endOfFile
    }
}

extension PushRejected {
    /// Whether the refusal means the branch moved since the fetch (a lost race), not a policy refusal.
    ///
    /// The reason is the status of the reference as the server reported it (libgit2's `push_update_reference`
    /// callback), or `Remote`'s own for a stale tip found locally:
    /// - git receive-pack (builtin/receive-pack.c `update`): `non-fast-forward`, `failed to lock`, `failed to update
    ///   ref`; refs.c `cannot lock ref '%s'`;
    /// - the git CLI's names for the same events, which servers relay: `fetch first`, `stale info`;
    /// - libgit2 push.c (`GitError.isStaleTip`): `non-fastforwardable`, `not present locally`.
    ///
    /// A hook's refusal (`pre-receive hook declined`), a protected branch or a permission is not a stale tip.
    public var isStaleTip: Bool {
        let reason = reason.lowercased()
        return [
            "non-fast-forward", "fetch first", "stale info", "failed to lock", "cannot lock ref", "non-fastforward",
            "not present locally", "failed to update ref",
        ].contains { reason.contains($0) }
    }
}
