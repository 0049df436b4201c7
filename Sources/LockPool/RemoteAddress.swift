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

    /// Where the authority ends in `rest`, a URL's text after `://`: at the first `/`, `?` or `#`, unless an http(s)
    /// password holds one of them unencoded (`https://user:pa/ss@host/…`), which would otherwise leave the whole
    /// userinfo in the URL that is printed and given to libgit2. A `:` followed by anything but a port before that
    /// delimiter, and an `@` after it, mark such a password; the authority then ends at the first delimiter after the
    /// `@`. Every place that takes userinfo out of a URL (or lists it as a secret) reads the authority this way.
    public static func authorityEnd(of rest: Substring, scheme: some StringProtocol) -> Substring.Index {
        let isDelimiter = { (character: Character) in character == "/" || character == "?" || character == "#" }
        let end = rest.firstIndex(where: isDelimiter) ?? rest.endIndex
        let web = scheme.lowercased() == "http" || scheme.lowercased() == "https"
        guard web, !rest.hasPrefix("["), !rest[..<end].contains("@"), let colon = rest[..<end].firstIndex(of: ":"),
            !rest[rest.index(after: colon)..<end].allSatisfy(\.isNumber), let at = rest[end...].firstIndex(of: "@")
        else { return end }
        return rest[at...].firstIndex(where: isDelimiter) ?? rest.endIndex
    }

    /// Parses `uri`: local paths (made absolute), `file://`, `git://`, `ssh://`, scp-like `user@host:path`,
    /// `http(s)://`.
    ///
    /// - Parameters:
    ///   - uri: the URI as configured.
    ///   - workingDirectory: the base for relative local paths.
    public init(_ uri: String, workingDirectory: String = FileManager.default.currentDirectoryPath) {
        if let schemeEnd = uri.firstRange(of: "://") {
            let scheme = uri[..<schemeEnd.lowerBound]
            let rest = uri[schemeEnd.upperBound...]
            let authorityEnd = Self.authorityEnd(of: rest, scheme: scheme)
            let authority = rest[..<authorityEnd]
            if let at = authority.lastIndex(of: "@") {
                let userinfo = authority[..<at]
                let parts = userinfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                let decode = { (s: Substring) in s.percentDecoded ?? String(s) }
                let user = parts.first.map(decode)
                let password = parts.count > 1 ? decode(parts[1]) : nil
                // ssh keeps its user in the URL (it names the account, not a secret); http(s) moves it out.
                if scheme == "ssh" {
                    url =
                        "\(scheme)://\(user.map { "\($0)@" } ?? "")\(authority[authority.index(after: at)...])\(rest[authorityEnd...])"
                } else {
                    url = "\(scheme)://\(authority[authority.index(after: at)...])\(rest[authorityEnd...])"
                }
                self.user = user?.isEmpty == true ? nil : user
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
