import FoundationEssentials
import StringSupport

/// A Pushgateway base URL as `source.prometheus_push_gateway` gives it (docs/resource.md#metrics): `http://` is
/// prepended when the text names no scheme, trailing `/`s are removed, and userinfo becomes HTTP basic authentication.
///
/// The description is the URL without userinfo; the password never prints, not even through `dump`.
public struct PushgatewayAddress: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// `scheme://host[:port][/path]`, without userinfo and without a trailing `/`.
    public let url: String
    /// The basic-authentication user and password from the userinfo, percent-decoded.
    let user: String?
    let password: String?

    /// Why a gateway URL cannot be used.
    public enum Problem: Error, Sendable, Equatable, CustomStringConvertible {
        /// Not a URL (spaces, a bad port, …).
        case notAURL
        /// A scheme other than `http` or `https`.
        case unsupportedScheme(String)
        /// No host between the scheme and the path.
        case missingHost
        /// A `?query` or `#fragment`, which the Pushgateway's paths cannot carry.
        case queryOrFragment

        /// A message fragment following the quoted URL.
        public var description: String {
            switch self {
            case .notAURL: "is not a URL; use e.g. \"http://pushgateway:9091\""
            case .unsupportedScheme(let scheme): "uses the scheme '\(scheme)'; use http or https"
            case .missingHost: "names no host; use e.g. \"http://pushgateway:9091\""
            case .queryOrFragment: "has a query or fragment; give only the base URL"
            }
        }
    }

    /// Reads a gateway URL.
    ///
    /// - Throws: `Problem` when the text is not an http(s) URL with a host.
    public init(_ text: String) throws(Problem) {
        var rest = Substring(text)
        var scheme = "http"
        if let range = rest.firstRange(of: "://") {
            scheme = rest[..<range.lowerBound].lowercased()
            rest = rest[range.upperBound...]
        }
        guard scheme == "http" || scheme == "https" else { throw .unsupportedScheme(scheme) }
        var user: String?
        var password: String?
        if let info = URLUserinfo(in: text, defaultScheme: "http") {
            user = info.user.percentDecoded ?? String(info.user)
            password = info.password.map { $0.percentDecoded ?? String($0) }
            rest = info.afterUserinfo
        }
        let authorityEnd = rest.firstIndex { "/?#".contains($0) } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var path = rest[authorityEnd...]
        guard !path.contains("?"), !path.contains("#") else { throw .queryOrFragment }
        guard !authority.isEmpty, !authority.hasPrefix(":") else { throw .missingHost }
        while path.hasSuffix("/") { path.removeLast() }
        let url = "\(scheme)://\(authority)\(path)"
        guard let parsed = URLComponents(string: url), parsed.host?.isEmpty == false else { throw .notAURL }
        self.url = url
        self.user = user
        self.password = password
    }

    /// Whether the URL carried userinfo (basic-authentication credentials).
    public var hasCredentials: Bool { user != nil }

    /// The `Authorization` header value, when the URL carried userinfo.
    var authorization: String? {
        guard let user else { return nil }
        return "Basic " + Data("\(user):\(password ?? "")".utf8).base64EncodedString()
    }

    /// `text` with the credentials replaced by `****`: the password (as given and percent-encoded), and the
    /// `Authorization` token, for a message that could echo them (the gateway's answer).
    public func redacting(_ text: String) -> String {
        guard let user else { return text }
        var secrets: [String] = []
        if let authorization { secrets.append(String(authorization.dropFirst("Basic ".count))) }
        if let password, !password.isEmpty {
            secrets.append(password)
            secrets.append(password.percentEncoded(allowing: .userinfo))
            secrets.append("\(user):\(password)")
        }
        var result = text
        for secret in secrets where !secret.isEmpty { result = result.replacing(secret, with: "****") }
        return result
    }

    /// The URL without userinfo.
    public var description: String { url }
    /// The URL without userinfo, and whether credentials are set.
    public var debugDescription: String { "PushgatewayAddress(\(url)\(user == nil ? "" : ", credentials: ****"))" }
    /// A mirror that shows no secret, for `dump`.
    public var customMirror: Mirror {
        Mirror(self, children: ["url": url, "credentials": user == nil ? "none" : "****"])
    }
}
