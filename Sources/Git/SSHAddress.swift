/// Where an ssh remote is: its user, host, port and the repository path its git commands are given, read the way git
/// reads them (docs/transports.md#url-forms).
///
/// - `ssh://[user@]host[:port]/path` (also `ssh+git://`, `git+ssh://`): the path from its `/`; a path that starts with
///   `/~` loses the `/`, so that `ssh://host/~/locks.git` names `~/locks.git` as git does.
/// - scp-like `[user@]host:path`: the path as written, relative to the login's home unless it starts with `/`.
/// - `[…]` brackets an IPv6 address in both forms.
struct SSHAddress: Equatable, Sendable {
    let user: String?
    let host: String
    let port: Int?
    let path: String

    /// The address of `url`, or nil when it is no ssh URL.
    init?(_ url: String) {
        let lowered = url.lowercased()
        if let scheme = ["ssh://", "ssh+git://", "git+ssh://"].first(where: { lowered.hasPrefix($0) }) {
            let rest = url.dropFirst(scheme.count)
            guard let slash = rest.firstIndex(of: "/") else { return nil }
            let (user, hostAndPort) = Self.splitUser(rest[..<slash])
            guard let (host, port) = Self.splitPort(hostAndPort) else { return nil }
            let path = rest[slash...]
            self.init(user: user, host: host, port: port, path: String(path.hasPrefix("/~") ? path.dropFirst() : path))
        } else {
            // scp-like: a `:` before any `/` (after an optional bracketed host).
            guard !url.contains("://") else { return nil }
            let (user, rest) = Self.splitUser(url[...])
            let host: Substring
            let path: Substring
            if rest.hasPrefix("[") {
                guard let close = rest.firstIndex(of: "]"), rest[rest.index(after: close)...].hasPrefix(":") else {
                    return nil
                }
                host = rest[rest.index(after: rest.startIndex)..<close]
                path = rest[rest.index(close, offsetBy: 2)...]
            } else {
                guard let colon = rest.firstIndex(of: ":"), !rest[..<colon].contains("/") else { return nil }
                host = rest[..<colon]
                path = rest[rest.index(after: colon)...]
            }
            self.init(user: user, host: String(host), port: nil, path: String(path))
        }
        guard !host.isEmpty, !path.isEmpty else { return nil }
    }

    init(user: String?, host: String, port: Int?, path: String) {
        self.user = user
        self.host = host
        self.port = port
        self.path = path
    }

    /// The remote command for a git service, quoted for the server's shell as git quotes it: `git-upload-pack
    /// '/srv/locks.git'`, a `'` inside written `'\''`.
    func command(_ service: String) -> String {
        "\(service) '\(path.replacing("'", with: "'\\''"))'"
    }

    /// `user@` … split off at the last `@` before the host.
    private static func splitUser(_ text: Substring) -> (String?, Substring) {
        let end = text.firstIndex(of: "/") ?? text.endIndex
        guard let at = text[..<end].lastIndex(of: "@") else { return (nil, text) }
        let user = text[..<at]
        return (user.isEmpty ? nil : String(user), text[text.index(after: at)...])
    }

    /// `host[:port]` or `[v6][:port]`; nil for a port that is not a number from 1 to 65535.
    private static func splitPort(_ text: Substring) -> (String, Int?)? {
        var host = text
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty { return nil }
        } else if let colon = text.firstIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard let portText, !portText.isEmpty else { return (String(host), nil) }
        guard let port = Int(portText), (1...65535).contains(port) else { return nil }
        return (String(host), port)
    }
}
