/// The userinfo of a URL (`scheme://user:password@host…`), found the one way every part of lockpool reads it: the
/// remote's address, descriptions and redaction lists of a request, the Pushgateway and Concourse URLs, libcurl's
/// messages.
public struct URLUserinfo: Sendable {
    /// The URL's scheme (`https`), or the default it was read with when it has none.
    public let scheme: Substring
    /// The userinfo, without its `@`.
    public let userinfo: Substring
    /// The text before the userinfo (`https://`, or nothing for a URL read without a scheme).
    public let beforeUserinfo: Substring
    /// The text after the userinfo's `@`: host, port, path and the rest.
    public let afterUserinfo: Substring

    /// Finds the userinfo of `url`; nil when it has none. A URL without `://` is read as starting with its authority,
    /// with `defaultScheme`, or not at all when that is nil (scp-like `git@host:path` names only an SSH user).
    public init?(in url: some StringProtocol, defaultScheme: String? = nil) {
        let text = Substring(url)
        let scheme: Substring
        let rest: Substring
        if let separator = text.firstRange(of: "://") {
            scheme = text[..<separator.lowerBound]
            rest = text[separator.upperBound...]
        } else if let defaultScheme {
            scheme = Substring(defaultScheme)
            rest = text
        } else {
            return nil
        }
        guard let at = rest[..<Self.authorityEnd(of: rest, scheme: scheme)].lastIndex(of: "@") else { return nil }
        self.scheme = scheme
        userinfo = rest[..<at]
        beforeUserinfo = text[..<rest.startIndex]
        afterUserinfo = rest[rest.index(after: at)...]
    }

    /// The user: the userinfo up to its first `:`, or all of it.
    public var user: Substring { userinfo.prefix { $0 != ":" } }

    /// The password: the userinfo after its first `:`; nil when it has none.
    public var password: Substring? {
        userinfo.firstIndex(of: ":").map { userinfo[userinfo.index(after: $0)...] }
    }

    /// The URL without the userinfo and its `@`.
    public var withoutUserinfo: String { String(beforeUserinfo) + afterUserinfo }

    /// What to redact when the URL has a password: the whole userinfo, the password as written and percent-decoded.
    /// Empty without a password.
    public var passwordSecrets: [String] {
        guard let password, !password.isEmpty else { return [] }
        return [String(userinfo), String(password)] + (password.percentDecoded.map { [$0] } ?? [])
    }

    /// Where the authority ends in `rest`, a URL's text after `://`: at the first `/`, `?` or `#`, unless an http(s)
    /// password holds one of them unencoded (`https://user:pa/ss@host/…`), which would otherwise leave the whole
    /// userinfo in a URL that is printed or given to libgit2 (security review, finding 11). A `:` followed by anything
    /// but a port before that delimiter, and an `@` after it, mark such a password; the authority then ends at the
    /// first delimiter after the `@`.
    public static func authorityEnd(of rest: Substring, scheme: some StringProtocol) -> Substring.Index {
        let isDelimiter = { (character: Character) in character == "/" || character == "?" || character == "#" }
        let end = rest.firstIndex(where: isDelimiter) ?? rest.endIndex
        let web = scheme.lowercased() == "http" || scheme.lowercased() == "https"
        guard web, !rest.hasPrefix("["), !rest[..<end].contains("@"), let colon = rest[..<end].firstIndex(of: ":"),
            !rest[rest.index(after: colon)..<end].allSatisfy(\.isNumber), let at = rest[end...].firstIndex(of: "@")
        else { return end }
        return rest[at...].firstIndex(where: isDelimiter) ?? rest.endIndex
    }
}
