import LockPool
import StringSupport

/// The objects of a request whose keys are known, and the warnings for keys that are not
/// (docs/resource.md#unknown-and-misspelt-keys).
enum KeyedObject: CaseIterable, Sendable {
    case source
    case httpsTunnel
    case putParams
    case getParams

    /// The keys this object knows, in the order of the tables of docs/resource.md.
    var knownKeys: [String] {
        switch self {
        case .source:
            [
                "uri", "branch", "pool", "private_key", "private_key_user", "private_key_passphrase", "forward_agent",
                "username", "password", "git_config", "https_tunnel", "skip_ssl_verification", "retry_delay",
                "prometheus_push_gateway", "known_hosts", "fair",
            ]
        case .httpsTunnel: ["proxy_host", "proxy_port", "proxy_user", "proxy_password"]
        case .putParams:
            [
                "acquire", "claim", "release", "add", "add_claimed", "remove", "update", "check", "check_unclaimed",
                "renew", "timeout", "lease", "count",
            ]
        case .getParams: ["depth"]
        }
    }

    /// The path of the object in messages.
    var path: String {
        switch self {
        case .source: "source"
        case .httpsTunnel: "source.https_tunnel"
        case .putParams, .getParams: "params"
        }
    }

    /// Where a key of this object belongs, said to someone who put it in `other`.
    func home(seenFrom other: KeyedObject) -> String {
        switch (self, other) {
        case (.putParams, .getParams): "the params of a put step"
        case (.getParams, .putParams): "the params of a get step"
        default: path
        }
    }

    /// The warning for `key` found in this object, or `nil` when the key is known or nothing like a known key.
    ///
    /// A key equal to a known key once letter case is ignored and `-` read as `_`, or within Levenshtein distance 2 of
    /// one, gets `did you mean`; a key known to another object gets `it belongs in …`.
    func warning(forKey key: String) -> String? {
        if knownKeys.contains(key) { return nil }
        let normalized = Self.normalized(key)
        let shown = "'\(path).\(Self.displayed(key))'"
        if let match = knownKeys.first(where: { $0 == normalized }) {
            return "warning: unknown key \(shown) ignored (did you mean '\(match)'?)"
        }
        if let owner = Self.allCases.first(where: { $0 != self && $0.knownKeys.contains(normalized) }) {
            return "warning: \(shown) is ignored; it belongs in \(owner.home(seenFrom: self))"
        }
        guard let best = closest(to: normalized, among: knownKeys), best.distance <= 2 else { return nil }
        return "warning: unknown key \(shown) ignored (did you mean '\(best.candidate)'?)"
    }

    /// `key` in lower case with `-` as `_`, the form known keys are compared in.
    static func normalized(_ key: String) -> String {
        key.lowercased().replacing("-", with: "_")
    }

    /// `text` as it can be shown inside quotes on one line: control characters, quotes and backslashes escaped.
    static func displayed(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F || $0 == "\\" }) else {
            return text
        }
        return String(NameRule.jsonQuoted(text).dropFirst().dropLast())
    }
}
