import Crypto
import FoundationEssentials
import Git

/// OpenSSH `known_hosts` text, for checking a server's host key (the `known_hosts` source key).
///
/// Plain and hashed (`|1|salt|hash`) host entries, comma-separated patterns with `*` and `?` wildcards and `!`
/// negation, `[host]:port` for ports other than 22, and `@revoked` markers are understood; `@cert-authority` lines are
/// ignored (certificates are not supported), as are comments and blank lines.
public struct KnownHosts: Sendable {
    struct Entry: Sendable {
        let revoked: Bool
        let patterns: String
        let keyType: String
        let key: [UInt8]
    }

    let entries: [Entry]

    /// Parses `text`; lines that cannot be read are skipped.
    public init(_ text: String) {
        var entries: [Entry] = []
        for rawLine in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            var fields = rawLine.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let first = fields.first, !first.hasPrefix("#") else { continue }
            var revoked = false
            if first.hasPrefix("@") {
                guard first == "@revoked" else { continue }
                revoked = true
                fields.removeFirst()
            }
            guard fields.count >= 3, let key = Data(base64Encoded: fields[2]) else { continue }
            entries.append(Entry(revoked: revoked, patterns: fields[0], keyType: fields[1], key: Array(key)))
        }
        self.entries = entries
    }

    /// The name a host has in `known_hosts`: `host` for port 22, else `[host]:port`.
    public static func name(host: String, port: Int?) -> String {
        guard let port, port != 22 else { return host }
        return "[\(host)]:\(port)"
    }

    /// Checks `key` for the host named `name` (see `name(host:port:)`).
    ///
    /// - Returns: nil when a matching, non-revoked entry exists; else the message to fail with.
    public func problem(with key: HostKey, name: String) -> String? {
        let forHost = entries.filter { Self.matches($0.patterns, name) }
        if forHost.contains(where: { $0.revoked && $0.key == key.blob }) {
            return "host key for \(name) is revoked in known_hosts"
        }
        if forHost.contains(where: { !$0.revoked && $0.keyType == key.type && $0.key == key.blob }) { return nil }
        if forHost.isEmpty { return "host key for \(name) is not in known_hosts" }
        return "host key for \(name) does not match known_hosts"
    }

    /// Whether a comma-separated pattern list matches `name`: some positive pattern matches and no negated one does.
    static func matches(_ patterns: String, _ name: String) -> Bool {
        if patterns.hasPrefix("|1|") { return hashedMatches(patterns, name) }
        var matched = false
        for pattern in patterns.split(separator: ",") {
            if pattern.hasPrefix("!") {
                if wildcard(pattern.dropFirst(), name) { return false }
            } else if wildcard(pattern, name) {
                matched = true
            }
        }
        return matched
    }

    /// `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`.
    static func hashedMatches(_ field: String, _ name: String) -> Bool {
        let parts = field.split(separator: "|", omittingEmptySubsequences: true)
        guard parts.count == 3, parts[0] == "1", let salt = Data(base64Encoded: String(parts[1])),
            let hash = Data(base64Encoded: String(parts[2]))
        else { return false }
        let code = HMAC<Insecure.SHA1>.authenticationCode(for: Data(name.utf8), using: SymmetricKey(data: salt))
        return Data(code) == hash
    }

    /// OpenSSH's `*` and `?` wildcards, case-insensitively.
    static func wildcard(_ pattern: Substring, _ name: String) -> Bool {
        let p = Array(pattern.lowercased().unicodeScalars)
        let n = Array(name.lowercased().unicodeScalars)
        var memo: [Int: Bool] = [:]
        func match(_ i: Int, _ j: Int) -> Bool {
            if let known = memo[i * (n.count + 1) + j] { return known }
            let result: Bool
            if i == p.count {
                result = j == n.count
            } else if p[i] == "*" {
                result = match(i + 1, j) || (j < n.count && match(i, j + 1))
            } else if j < n.count && (p[i] == "?" || p[i] == n[j]) {
                result = match(i + 1, j + 1)
            } else {
                result = false
            }
            memo[i * (n.count + 1) + j] = result
            return result
        }
        return match(0, 0)
    }
}
