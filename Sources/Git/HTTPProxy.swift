import FoundationEssentials
import Glibc
import StringSupport
import Synchronization

/// The HTTP proxy of an http(s) remote, and the connections lockpool's stream routes to it while an operation uses it
/// (docs/transports.md#proxies).
///
/// libgit2 1.8.4 uses a proxy only for https (a CONNECT tunnel): for a plain http:// remote it connects straight to the
/// server even with `GIT_PROXY_SPECIFIED` (httpclient.c, `use_connect_proxy`), though it writes request lines in
/// absolute form for a proxy. lockpool's stream (ConnectTunnel.swift), which libgit2 uses for every plain socket,
/// therefore connects to the proxy instead while a `Remote` for an http:// URL with a proxy connects to the URL's host
/// and port, and makes each request fit a forward proxy (`forwardProxyRequest`). For https, libgit2 connects to the
/// proxy through the same stream, which then only names the proxy when it cannot be reached.
///
/// The password never prints: `description` hides it.
struct HTTPProxy: Sendable, Equatable, CustomStringConvertible {
    /// The proxy's host, without brackets.
    let host: String
    let port: Int
    /// The proxy URL as libgit2 gets it (`GIT_PROXY_SPECIFIED`).
    let url: String
    let user: String?
    let password: String?

    /// `host:port`, with an IPv6 address in brackets: how messages name the proxy.
    var endpoint: String { Self.authority(host: host, port: port) }

    var description: String { "HTTPProxy(\(endpoint)\(user == nil ? "" : ", credentials: ****"))" }

    /// The `Proxy-Authorization` value for the credentials, if any.
    var authorization: String? {
        user.map { "Basic " + Data("\($0):\(password ?? "")".utf8).base64EncodedString() }
    }

    /// The proxy an operation on `remoteURL` goes through: `options.proxyURL` with `options.proxyCredentials`, else for
    /// an http(s) URL the environment's `http_proxy`/`HTTP_PROXY` (`https_proxy`/`HTTPS_PROXY` for https) unless
    /// `no_proxy`/`NO_PROXY` names the host, as libgit2 and git read them. Nil for another scheme, no proxy, or a proxy
    /// URL that does not parse (libgit2 then reports it).
    static func resolve(
        for remoteURL: String, options: RemoteOptions, environment: (String) -> String? = Self.processEnvironment
    ) -> HTTPProxy? {
        guard let remote = Endpoint(remoteURL), remote.scheme == "http" || remote.scheme == "https" else { return nil }
        if let configured = options.proxyURL {
            guard var proxy = parse(configured) else { return nil }
            if case .userPassword(let user, let password)? = options.proxyCredentials?.kind {
                proxy = HTTPProxy(
                    host: proxy.host, port: proxy.port, url: proxy.url, user: user, password: password)
            }
            return proxy
        }
        let names = remote.scheme == "https" ? ["https_proxy", "HTTPS_PROXY"] : ["http_proxy", "HTTP_PROXY"]
        guard let value = names.lazy.compactMap(environment).first, !value.isEmpty else { return nil }
        let exceptions = environment("no_proxy") ?? environment("NO_PROXY") ?? ""
        guard !matches(noProxy: exceptions, host: remote.host, port: remote.port) else { return nil }
        return parse(value)
    }

    static func processEnvironment(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }

    /// Reads `http://[user[:password]@]host[:port][/]` (no scheme reads as http, as libgit2 does); the port defaults
    /// to the scheme's. The userinfo is percent-decoded into `user` and `password`.
    static func parse(_ text: String) -> HTTPProxy? {
        let full = text.contains("://") ? text : "http://\(text)"
        var user: String?
        var password: String?
        var plain = full
        if let userinfo = URLUserinfo(in: full) {
            user = String(userinfo.user).percentDecoded ?? String(userinfo.user)
            password = userinfo.password.map { String($0).percentDecoded ?? String($0) }
            plain = userinfo.withoutUserinfo
        }
        guard let endpoint = Endpoint(plain), endpoint.scheme == "http" || endpoint.scheme == "https" else {
            return nil
        }
        return HTTPProxy(host: endpoint.host, port: endpoint.port, url: full, user: user, password: password)
    }

    /// Whether the `no_proxy` list names `host` (libgit2's rules, net.c `matches_pattern`, with blanks around entries
    /// ignored and names compared without case): `*` for all, `.domain` or `*.domain` for the domain and its
    /// subdomains, `host` exactly, each optionally with `:port`.
    static func matches(noProxy list: String, host: String, port: Int) -> Bool {
        let host = host.lowercased()
        for entry in list.split(separator: ",") {
            var pattern = entry.trimming(.whitespaces).lowercased()
            if pattern.isEmpty { continue }
            if pattern == "*" { return true }
            if let colon = pattern.lastIndex(of: ":"), !pattern.hasSuffix("]"), pattern.filter({ $0 == ":" }).count == 1
            {
                guard Int(pattern[pattern.index(after: colon)...]) == port else { continue }
                pattern = String(pattern[..<colon])
            }
            if pattern.hasPrefix("[") && pattern.hasSuffix("]") { pattern = String(pattern.dropFirst().dropLast()) }
            if pattern.hasPrefix("*.") || pattern.hasPrefix(".") {
                let domain = String(pattern.drop { $0 == "*" || $0 == "." })
                if host == domain || host.hasSuffix("." + domain) { return true }
            } else if host == pattern {
                return true
            }
        }
        return false
    }

    static func authority(host: String, port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// The scheme, host and port of an http(s) URL (userinfo tolerated and ignored).
    struct Endpoint: Equatable {
        let scheme: String
        let host: String
        let port: Int

        init?(_ url: String) {
            let plain = URLUserinfo(in: url)?.withoutUserinfo ?? url
            guard let separator = plain.firstRange(of: "://") else { return nil }
            scheme = plain[..<separator.lowerBound].lowercased()
            let rest = plain[separator.upperBound...]
            var authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
            var port = scheme == "https" ? 443 : 80
            if authority.hasPrefix("[") {
                guard let close = authority.firstIndex(of: "]") else { return nil }
                let after = authority[authority.index(after: close)...]
                if after.hasPrefix(":") {
                    guard let number = Int(after.dropFirst()) else { return nil }
                    port = number
                }
                authority = authority[authority.index(after: authority.startIndex)..<close]
            } else if let colon = authority.lastIndex(of: ":") {
                guard let number = Int(authority[authority.index(after: colon)...]) else { return nil }
                port = number
                authority = authority[..<colon]
            }
            guard !authority.isEmpty, (1...65535).contains(port) else { return nil }
            host = String(authority)
            self.port = port
        }
    }

    // MARK: - Routes for lockpool's stream

    /// What lockpool's stream does with a connection libgit2 asks for.
    enum Route: Equatable {
        /// A plain http:// remote: connect to the proxy and make every request on the connection fit a forward proxy,
        /// for `origin` (`http://host:port`).
        case forward(HTTPProxy, origin: String)
        /// The proxy itself (libgit2's CONNECT for https): connect as usual, and name the proxy when that fails.
        case proxy(HTTPProxy)
    }

    private struct Registration: Sendable {
        let token: UInt64
        let proxy: HTTPProxy
        /// The http:// remote routed through the proxy; nil for https.
        let target: Endpoint?
    }

    private static let registrations = Mutex<(next: UInt64, active: [Registration])>((0, []))

    /// Runs `body` (a libgit2 call on `remoteURL`) with the stream routing the remote's connections through `proxy`.
    static func routing<Result>(_ proxy: HTTPProxy?, for remoteURL: String, _ body: () throws -> Result) rethrows
        -> Result
    {
        guard let proxy, let remote = Endpoint(remoteURL) else { return try body() }
        let target = remote.scheme == "http" ? remote : nil
        let token = registrations.withLock { state in
            state.next += 1
            state.active.append(Registration(token: state.next, proxy: proxy, target: target))
            return state.next
        }
        defer { registrations.withLock { $0.active.removeAll { $0.token == token } } }
        return try body()
    }

    /// The route for a connection to `host` and `port` (as libgit2 gives them to the stream), or nil for a direct one.
    static func route(host: String, port: String) -> Route? {
        guard let port = Int(port) else { return nil }
        let host = host.lowercased()
        return registrations.withLock { state in
            for registration in state.active.reversed() {
                if let target = registration.target, target.host.lowercased() == host, target.port == port {
                    return .forward(registration.proxy, origin: "http://" + authority(host: target.host, port: port))
                }
            }
            for registration in state.active.reversed()
            where registration.proxy.host.lowercased() == host && registration.proxy.port == port {
                return .proxy(registration.proxy)
            }
            return nil
        }
    }

    /// The request head `bytes` made fit for a forward proxy: the request line in absolute form
    /// (`POST http://host:port/path HTTP/1.1`) and, with `authorization`, a `Proxy-Authorization` header unless the
    /// head has one. Nil when `bytes` is not the start of a request (a body).
    ///
    /// libgit2 1.8.4's http client writes a request's whole head in one write, starting with the method
    /// (httpclient.c `client_write_request`); the body follows in other writes.
    static func forwardProxyRequest(_ bytes: UnsafeRawBufferPointer, origin: String, authorization: String?)
        -> [UInt8]?
    {
        let head = bytes.prefix(16 * 1024)
        guard let lineEnd = head.firstRange(of: [13, 10]) else { return nil }
        let line = head[..<lineEnd.lowerBound]
        let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3, (1...16).contains(parts[0].count),
            parts[0].allSatisfy({ (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }),
            parts[2].starts(with: "HTTP/1.".utf8)
        else { return nil }
        var request = Array(parts[0]) + [UInt8(ascii: " ")]
        if parts[1].first == UInt8(ascii: "/") { request += Array(origin.utf8) }
        request += Array(parts[1]) + [UInt8(ascii: " ")] + Array(parts[2]) + [13, 10]
        let headers = bytes[lineEnd.upperBound...]
        if let authorization {
            let text = String(decoding: headers.prefix(16 * 1024), as: UTF8.self).lowercased()
            if !text.hasPrefix("proxy-authorization:") && !text.contains("\r\nproxy-authorization:") {
                request += Array("Proxy-Authorization: \(authorization)\r\n".utf8)
            }
        }
        return request + Array(headers)
    }
}

extension HTTPProxy {
    /// Makes a proxy's close-delimited responses chunked, on one forward-proxy connection (owned by the stream).
    ///
    /// A proxy that speaks HTTP/1.0 to the server (tinyproxy) relays a response whose body ends when the connection
    /// closes: no `Content-Length`, no chunked encoding. libgit2 1.8.4's http client reports such an end as
    /// `unexpected EOF` (httpclient.c, `client_read_and_parse`), where curl, and so git, reads the body to the close.
    /// Such a response reaches libgit2 with `Transfer-Encoding: chunked` added, its body in chunks as it arrives, and
    /// the last chunk at the close. Any other response passes unchanged. Not `Sendable`: used by the thread that reads
    /// the stream.
    final class ResponseFraming {
        private enum State { case head, passThrough, rechunking, finished }
        private var state = State.head
        private var head: [UInt8] = []
        private var pending: [UInt8] = []
        private var pendingOffset = 0

        /// Fills `buffer` with the next bytes for libgit2, reading the socket with `receive` (recv's contract: the
        /// count, 0 at the close, negative on error).
        func read(into buffer: UnsafeMutableRawBufferPointer, receive: (UnsafeMutableRawBufferPointer) -> Int) -> Int {
            while pendingOffset == pending.count {
                pending = []
                pendingOffset = 0
                switch state {
                case .passThrough: return receive(buffer)
                case .finished: return 0
                case .head, .rechunking:
                    var incoming = [UInt8](repeating: 0, count: max(buffer.count, 16 * 1024))
                    let count = incoming.withUnsafeMutableBytes { receive($0) }
                    if count < 0 { return count }
                    feed(incoming[..<count], closed: count == 0)
                }
            }
            let count = min(buffer.count, pending.count - pendingOffset)
            pending[pendingOffset..<(pendingOffset + count)].withUnsafeBytes { buffer.copyMemory(from: $0) }
            pendingOffset += count
            return count
        }

        private func feed(_ bytes: ArraySlice<UInt8>, closed: Bool) {
            if state == .rechunking {
                pending += closed ? Array("0\r\n\r\n".utf8) : Self.chunk(bytes)
                if closed { state = .finished }
                return
            }
            head += bytes
            while state == .head, let end = head.firstRange(of: [13, 10, 13, 10]) {
                let response = Array(head[..<end.upperBound])
                let rest = Array(head[end.upperBound...])
                head = []
                switch Self.framing(of: response) {
                case .interim:
                    pending += response
                    head = rest
                case .delimited:
                    pending += Self.closing(response) + rest
                    state = .passThrough
                case .untilClose:
                    pending += Self.closing(response).dropLast(2) + Array("Transfer-Encoding: chunked\r\n\r\n".utf8)
                    if !rest.isEmpty { pending += Self.chunk(rest[...]) }
                    state = .rechunking
                }
            }
            if closed {
                // The connection closed: what is left goes as it is, then the close.
                if state == .rechunking {
                    pending += Array("0\r\n\r\n".utf8)
                } else {
                    pending += head
                }
                head = []
                state = .finished
            }
        }

        /// Makes ready for the response to the request being written (keep-alive).
        func expectResponse() {
            guard state == .passThrough || state == .finished, pendingOffset == pending.count else { return }
            state = .head
            head = []
        }

        /// `response` with `Connection: close` unless it says `keep-alive`: tinyproxy answers an HTTP/1.1 request
        /// with an HTTP/1.1 response that has no `Connection` header and then closes, and libgit2, reusing the
        /// connection as HTTP/1.1 allows, wrote its next request into the closed connection (`unexpected EOF`).
        /// libgit2 opens a new connection (to the proxy again) for the next request instead.
        private static func closing(_ response: [UInt8]) -> [UInt8] {
            let text = String(decoding: response, as: UTF8.self).lowercased()
            if text.contains("\r\nconnection: keep-alive") || text.contains("\r\nproxy-connection: keep-alive")
                || text.contains("\r\nconnection: close")
            {
                return response
            }
            return response.dropLast(2) + Array("Connection: close\r\n\r\n".utf8)
        }

        private enum Framing { case interim, delimited, untilClose }

        /// How the body of the response with head `response` ends (RFC 9112 section 6.3).
        private static func framing(of response: [UInt8]) -> Framing {
            let text = String(decoding: response, as: UTF8.self).lowercased()
            let status = text.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap { Int($0) } ?? 0
            if (100..<200).contains(status) { return .interim }
            if status == 204 || status == 304 || text.contains("\r\ncontent-length:")
                || text.contains("\r\ntransfer-encoding:")
            {
                return .delimited
            }
            return .untilClose
        }

        private static func chunk(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
            guard !bytes.isEmpty else { return [] }
            return Array("\(String(bytes.count, radix: 16))\r\n".utf8) + bytes + [13, 10]
        }
    }
}
