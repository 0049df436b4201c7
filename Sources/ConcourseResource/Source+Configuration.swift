import Foundation
import Git
import LockPool

extension Source {
    /// The URI after `git_config` `url.<base>.insteadOf` rewriting (the longest matching base wins).
    public var rewrittenURI: String {
        var best: (base: String, prefix: String)?
        for entry in gitConfig {
            let lower = entry.name.lowercased()
            guard lower.hasPrefix("url."), lower.hasSuffix(".insteadof") else { continue }
            let base = String(entry.name.dropFirst(4).dropLast(10))
            if uri.hasPrefix(entry.value), entry.value.count > (best?.prefix.count ?? -1) {
                best = (base, entry.value)
            }
        }
        guard let best else { return uri }
        return best.base + uri.dropFirst(best.prefix.count)
    }

    /// The value of a `git_config` key (the last one wins, as in git), compared case-insensitively.
    public func gitConfigValue(_ key: String) -> String? {
        gitConfig.last { $0.name.lowercased() == key.lowercased() }?.value
    }

    /// The pool configuration for this source.
    ///
    /// - Parameters:
    ///   - environment: the process environment (`TMPDIR`, `BUILD_*`).
    ///   - tool: the `Lock-Tool` trailer value.
    ///   - readsBuild: whether `BUILD_*` variables are read (`out` only).
    public func poolConfiguration(environment: [String: String], tool: String, readsBuild: Bool) -> PoolConfiguration {
        let address = RemoteAddress(rewrittenURI)
        var secrets = self.secrets
        if let password = address.password { secrets.append(password) }
        var credentials: Credentials?
        if let username, let password, !username.isEmpty, !password.isEmpty {
            credentials = .userPassword(user: username, password: password)
        } else if let user = address.user, let password = address.password {
            credentials = .userPassword(user: user, password: password)
        }
        let headers = gitConfig.filter { $0.name.lowercased() == "http.extraheader" }.map(\.value)
        return PoolConfiguration(
            remoteURL: address.url, branch: branch, pool: pool,
            remoteOptions: RemoteOptions(credentials: credentials, customHeaders: headers, secrets: secrets),
            cacheRoot: PoolConfiguration.cacheRoot(temporaryDirectory: environment["TMPDIR"]),
            retryDelay: retryDelay,
            identityName: gitConfigValue("user.name") ?? "CI Pool Resource",
            identityEmail: gitConfigValue("user.email") ?? "ci-pool@localhost",
            build: readsBuild ? BuildInfo(environment: environment) : BuildInfo(), tool: tool)
    }
}
