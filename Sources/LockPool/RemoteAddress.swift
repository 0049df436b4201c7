import FoundationEssentials
import StringSupport

/// A lock repository URI split into what is shown and given to libgit2 (no userinfo) and the credential it carried.
public struct RemoteAddress: Sendable, Equatable, CustomStringConvertible {
    /// The URL without userinfo: printed, stored in caches and given to libgit2.
    public let url: String
    /// The user name from the URI's userinfo, if any.
    public let user: String?
    /// The password from the URI's userinfo, if any (a secret).
    public let password: String?

    /// Parses `uri`: local paths (made absolute), `file://`, `git://`, `ssh://`, scp-like `user@host:path`,
    /// `http(s)://`.
    ///
    /// - Parameters:
    ///   - uri: the URI as configured.
    ///   - workingDirectory: the base for relative local paths.
    public init(_ uri: String, workingDirectory: String = FileManager.default.currentDirectoryPath) {
        if let schemeEnd = uri.firstRange(of: "://") {
            let scheme = uri[..<schemeEnd.lowerBound]
            if let info = URLUserinfo(in: uri) {
                let decode = { (s: Substring) in s.percentDecoded ?? String(s) }
                let user = decode(info.user)
                let password = info.password.map(decode)
                // ssh keeps its user in the URL (it names the account, not a secret); http(s) moves it out.
                url = scheme == "ssh" ? "\(info.beforeUserinfo)\(user)@\(info.afterUserinfo)" : info.withoutUserinfo
                self.user = user.isEmpty ? nil : user
                self.password = password?.isEmpty == true ? nil : password
            } else {
                url = uri
                user = nil
                password = nil
            }
            return
        }
        user = nil
        password = nil
        if Self.isSCPLike(uri) {
            url = uri
        } else if uri.hasPrefix("/") {
            url = uri
        } else {
            url =
                URL(fileURLWithPath: uri, relativeTo: URL(fileURLWithPath: workingDirectory, isDirectory: true))
                .standardizedFileURL.path
        }
    }

    /// `[user@]host:path` with a `:` before the first `/`.
    static func isSCPLike(_ uri: String) -> Bool {
        guard let colon = uri.firstIndex(of: ":") else { return false }
        let slash = uri.firstIndex(of: "/") ?? uri.endIndex
        return colon < slash && colon != uri.startIndex
    }

    /// How lockpool talks to a remote.
    public enum Transport: Sendable, Equatable { case local, git, ssh, http }

    /// The transport, from the URL's scheme (scp-like addresses are ssh).
    public var transport: Transport {
        if url.hasPrefix("ssh://") || url.hasPrefix("git+ssh://") || url.hasPrefix("ssh+git://") { return .ssh }
        if url.hasPrefix("git://") { return .git }
        if url.hasPrefix("http://") || url.hasPrefix("https://") { return .http }
        if url.hasPrefix("/") || url.hasPrefix("file://") { return .local }
        return Self.isSCPLike(url) ? .ssh : .local
    }

    /// The host name, for ssh, git and http(s) URLs and scp-like addresses.
    public var host: String? {
        authority.map { authority in
            let hostPort = authority.split(separator: "@").last.map(String.init) ?? authority
            if hostPort.hasPrefix("["), let close = hostPort.firstIndex(of: "]") {
                return String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            }
            return String(hostPort.split(separator: ":").first ?? "")
        }
    }

    /// The port when the URL names one.
    public var port: Int? {
        guard let authority, !Self.isSCPLike(url) || url.contains("://") else { return nil }
        let hostPort = authority.split(separator: "@").last.map(String.init) ?? authority
        guard let colon = hostPort.lastIndex(of: ":"), !hostPort.hasSuffix("]") else { return nil }
        return Int(hostPort[hostPort.index(after: colon)...])
    }

    private var authority: String? {
        if let schemeEnd = url.firstRange(of: "://") {
            let rest = url[schemeEnd.upperBound...]
            return String(rest[..<(rest.firstIndex(of: "/") ?? rest.endIndex)])
        }
        guard Self.isSCPLike(url), let colon = url.firstIndex(of: ":") else { return nil }
        return String(url[..<colon])
    }

    public var description: String { url }
}
