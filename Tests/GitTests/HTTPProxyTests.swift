import Foundation
import Testing

@testable import Git

/// The http(s) proxy's pieces that need no server (docs/transports.md#proxies); the end-to-end cases are in
/// TransportTests.
@Suite struct HTTPProxyTests {
    @Test func aRequestHeadIsMadeAbsoluteWithProxyCredentials() {
        let head = Array("POST /git/locks.git/git-upload-pack HTTP/1.1\r\nHost: h:8080\r\n\r\n".utf8)
        let rewritten = head.withUnsafeBytes {
            HTTPProxy.forwardProxyRequest($0, origin: "http://h:8080", authorization: "Basic dTpw")
        }
        #expect(
            rewritten.map { String(decoding: $0, as: UTF8.self) }
                == "POST http://h:8080/git/locks.git/git-upload-pack HTTP/1.1\r\nProxy-Authorization: Basic dTpw\r\n"
                + "Host: h:8080\r\n\r\n")
        // Already absolute (libgit2 writes that when it knows the proxy): kept; a body is not a request.
        let absolute = Array("GET http://h:8080/x HTTP/1.1\r\nHost: h:8080\r\n\r\n".utf8)
        #expect(
            absolute.withUnsafeBytes { HTTPProxy.forwardProxyRequest($0, origin: "http://h:8080", authorization: nil) }
                == absolute)
        let body = Array("0032want 0123456789012345678901234567890123456789\n".utf8)
        #expect(
            body.withUnsafeBytes { HTTPProxy.forwardProxyRequest($0, origin: "http://h", authorization: nil) } == nil)
    }

    @Test(arguments: [
        ("*", "git.example.com", true), ("example.com", "git.example.com", false),
        (".example.com", "git.example.com", true), ("*.example.com", "example.com", true),
        ("other.org, git.example.com", "git.example.com", true), ("git.example.com:8080", "git.example.com", false),
        ("git.example.com:80", "git.example.com", true), ("", "git.example.com", false),
    ])
    func noProxyNamesHosts(_ list: String, _ host: String, _ matches: Bool) {
        #expect(HTTPProxy.matches(noProxy: list, host: host, port: 80) == matches)
    }

    @Test func theEnvironmentProxyIsUsedForHTTPUnlessNoProxySaysOtherwise() {
        let environment = ["http_proxy": "http://u:p%40ss@proxy.example:3128", "no_proxy": "internal.example"]
        let proxy = HTTPProxy.resolve(for: "http://git.example/locks.git", options: RemoteOptions()) { environment[$0] }
        #expect(proxy?.endpoint == "proxy.example:3128")
        #expect(proxy?.user == "u" && proxy?.password == "p@ss")
        #expect(!"\(proxy.map { "\($0)" } ?? "")".contains("p@ss"))
        #expect(
            HTTPProxy.resolve(for: "http://internal.example/l.git", options: RemoteOptions()) { environment[$0] } == nil
        )
        #expect(
            HTTPProxy.resolve(for: "https://git.example/l.git", options: RemoteOptions()) { environment[$0] } == nil)
        #expect(HTTPProxy.resolve(for: "git://git.example/l.git", options: RemoteOptions()) { environment[$0] } == nil)
        let configured = HTTPProxy.resolve(
            for: "http://git.example/l.git",
            options: RemoteOptions(
                proxyURL: "http://10.0.0.1:8080", proxyCredentials: .userPassword(user: "a", password: "b"))
        ) { environment[$0] }
        #expect(configured?.endpoint == "10.0.0.1:8080" && configured?.authorization == "Basic YTpi")
    }

    @Test func aResponseThatEndsAtTheCloseIsMadeChunkedAndClosing() {
        let framing = HTTPProxy.ResponseFraming()
        var incoming = [Array("HTTP/1.0 200 OK\r\nContent-Type: x\r\n\r\nabc".utf8), Array("de".utf8), []]
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 7)
        while true {
            let count = buffer.withUnsafeMutableBytes { target in
                framing.read(into: target) { socketBuffer in
                    let next = incoming.removeFirst()
                    socketBuffer.copyBytes(from: next)
                    return next.count
                }
            }
            if count == 0 { break }
            output += buffer[..<count]
        }
        #expect(
            String(decoding: output, as: UTF8.self)
                == "HTTP/1.0 200 OK\r\nContent-Type: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    }
}
