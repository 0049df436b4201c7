import FoundationEssentials
import Git
import LockPool
import PoolMetrics

#if canImport(Glibc)
    import Glibc
#endif

extension Source {
    /// The URI after `git_config` `url.<base>.insteadOf` rewriting (the longest matching base wins).
    public var rewrittenURI: String { rewritten(by: "insteadof") ?? uri }

    /// The URI for pushes: `url.<base>.pushInsteadOf` rewriting (longest base wins), else `rewrittenURI`.
    public var rewrittenPushURI: String { rewritten(by: "pushinsteadof") ?? rewrittenURI }

    /// `uri` rewritten by the `url.<base>.<key>` entry with the longest matching value, or nil when none matches.
    private func rewritten(by key: String) -> String? {
        var best: (base: String, prefix: String)?
        for entry in gitConfig {
            let lower = entry.name.lowercased()
            guard lower.hasPrefix("url."), lower.hasSuffix(".\(key)") else { continue }
            let base = String(entry.name.dropFirst(4).dropLast(key.count + 1))
            if uri.hasPrefix(entry.value), entry.value.count > (best?.prefix.count ?? -1) { best = (base, entry.value) }
        }
        return best.map { $0.base + uri.dropFirst($0.prefix.count) }
    }

    /// The value of a `git_config` key (the last one wins, as in git), compared case-insensitively.
    public func gitConfigValue(_ key: String) -> String? {
        gitConfig.last { $0.name.lowercased() == key.lowercased() }?.value
    }

    /// The Pushgateway of `prometheus_push_gateway`, if set (the request decoder has checked the URL).
    public var pushgateway: Pushgateway? {
        prometheusPushGateway.flatMap { try? PushgatewayAddress($0) }.map { Pushgateway(address: $0) }
    }

    /// Whether TLS certificates of the git server are checked (`skip_ssl_verification`, `http.sslVerify`).
    var verifiesCertificates: Bool {
        if skipSSLVerification { return false }
        if let value = gitConfigValue("http.sslVerify")?.lowercased() {
            return !["false", "no", "off", "0"].contains(value)
        }
        return true
    }

    /// The pool configuration for this source.
    ///
    /// - Parameters:
    ///   - environment: the process environment (`TMPDIR`, `BUILD_*`, `SSH_AUTH_SOCK`, `USER`).
    ///   - tool: the `Lock-Tool` trailer value.
    ///   - readsBuild: whether `BUILD_*` variables are read (`out` only).
    /// - Throws: `LockPoolError.privateKey` for an unusable `private_key` or a missing passphrase.
    public func poolConfiguration(environment: [String: String], tool: String, readsBuild: Bool) throws
        -> PoolConfiguration
    {
        let address = RemoteAddress(rewrittenURI)
        let pushAddress = RemoteAddress(rewrittenPushURI)
        var secrets = self.secrets
        for password in [address.password, pushAddress.password].compactMap({ $0 }) { secrets.append(password) }
        var credentials: Credentials?
        switch address.transport {
        case .ssh:
            let user = privateKeyUser ?? Self.loginName(environment)
            if let privateKey {
                do {
                    let key = try PrivateKey.prepare(privateKey, passphrase: privateKeyPassphrase)
                    credentials = .sshKey(user: user, privateKey: key, passphrase: privateKeyPassphrase)
                } catch { throw LockPoolError.privateKey(error) }
            } else if environment["SSH_AUTH_SOCK"] != nil {
                credentials = .sshAgent(user: user)
            }
        case .http:
            if let username, let password {
                credentials = .userPassword(user: username, password: password)
            } else if let user = address.user, let password = address.password {
                credentials = .userPassword(user: user, password: password)
            }
        case .git, .local:
            break
        }
        var proxyURL: String?
        var proxyCredentials: Credentials?
        if let proxy = gitConfigValue("http.proxy"), !proxy.isEmpty {
            let proxyAddress = RemoteAddress(proxy.contains("://") ? proxy : "http://\(proxy)")
            proxyURL = proxyAddress.url
            if let user = proxyAddress.user {
                proxyCredentials = .userPassword(user: user, password: proxyAddress.password ?? "")
                if let password = proxyAddress.password { secrets.append(password) }
            }
        }
        let redirects: RemoteOptions.RedirectPolicy? =
            switch gitConfigValue("http.followRedirects")?.lowercased() {
            case "true"?: .all
            case "false"?: RemoteOptions.RedirectPolicy.none
            case "initial"?: .initial
            default: nil
            }
        let headers = gitConfig.filter { $0.name.lowercased() == "http.extraheader" }.map(\.value)
        return PoolConfiguration(
            remoteURL: address.url, pushURL: pushAddress.url == address.url ? nil : pushAddress.url, branch: branch,
            pool: pool,
            remoteOptions: RemoteOptions(
                credentials: credentials, customHeaders: headers, secrets: secrets,
                acceptsInvalidCertificates: !verifiesCertificates,
                knownHosts: address.transport == .ssh ? knownHosts : nil, forwardsAgent: forwardAgent,
                sshCommand: gitConfigValue("core.sshCommand").flatMap { $0.isEmpty ? nil : $0 }, proxyURL: proxyURL,
                proxyCredentials: proxyCredentials, followRedirects: redirects),
            cacheRoot: PoolConfiguration.cacheRoot(temporaryDirectory: environment["TMPDIR"]),
            retryDelay: retryDelay,
            identityName: gitConfigValue("user.name") ?? "CI Pool Resource",
            identityEmail: gitConfigValue("user.email") ?? "ci-pool@localhost",
            build: readsBuild ? BuildInfo(environment: environment) : BuildInfo(), tool: tool, fair: fair)
    }

    /// The pool configuration for this source after applying its process-wide settings (`applyProcessSettings`) and
    /// installing its `https_tunnel` for ssh and git:// remotes.
    ///
    /// - Parameters:
    ///   - environment: the process environment.
    ///   - tool: the `Lock-Tool` trailer value.
    ///   - readsBuild: whether `BUILD_*` variables are read.
    ///   - announce: receives warnings and the tunnel's `Via …` lines.
    /// - Throws: `LockPoolError`.
    public func preparedConfiguration(
        environment: [String: String], tool: String, readsBuild: Bool, announce: @escaping @Sendable (String) -> Void
    ) throws -> PoolConfiguration {
        for warning in try applyProcessSettings() { announce(warning) }
        let transport = RemoteAddress(rewrittenURI).transport
        if let tunnel = httpsTunnel, let host = tunnel.proxyHost, let port = tunnel.proxyPort,
            transport == .ssh || transport == .git
        {
            do {
                try ConnectTunnel(
                    proxyHost: host, proxyPort: port, proxyUser: tunnel.proxyUser, proxyPassword: tunnel.proxyPassword,
                    announce: announce
                ).install()
            } catch let error as GitError {
                throw LockPoolError.gitFailed(operation: "set up https_tunnel", underlying: error)
            }
        }
        return try poolConfiguration(environment: environment, tool: tool, readsBuild: readsBuild)
    }

    /// Applies the process-wide settings of this source (`http.sslCAInfo`, `http.sslCAPath`, `http.userAgent`) and
    /// returns the warnings about keys that cannot take effect for this remote.
    ///
    /// - Throws: `LockPoolError.certificateRejected` when the CA file or directory cannot be loaded.
    public func applyProcessSettings() throws -> [String] {
        let caFile = gitConfigValue("http.sslCAInfo")
        let caPath = gitConfigValue("http.sslCAPath")
        if caFile != nil || caPath != nil {
            do { try GlobalOptions.setCertificateLocations(file: caFile, directory: caPath) } catch {
                throw LockPoolError.certificateRejected(
                    reason:
                        "could not load git_config http.sslCAInfo/http.sslCAPath: \((error as? GitError)?.message ?? "\(error)")"
                )
            }
        }
        if let agent = gitConfigValue("http.userAgent") { try? GlobalOptions.setUserAgent(agent) }
        var warnings: [String] = []
        let transport = RemoteAddress(rewrittenURI).transport
        if let tunnel = httpsTunnel, tunnel.proxyHost != nil, tunnel.proxyPort != nil,
            transport == .http || transport == .local
        {
            warnings.append(
                "warning: https_tunnel has no effect for http(s) and local remotes; use git_config http.proxy instead")
        }
        return warnings
    }

    /// The local login name, as OpenSSH uses it when neither the URI nor `private_key_user` names a user.
    static func loginName(_ environment: [String: String]) -> String? {
        if let entry = getpwuid(getuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return environment["USER"] ?? environment["LOGNAME"]
    }
}
