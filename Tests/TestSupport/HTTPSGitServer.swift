import Foundation

/// A test certificate authority and a server certificate it signed, made with `openssl`.
///
/// By default the server certificate names `127.0.0.1` (also its subject CN) and `localhost` in its subjectAltName and
/// is valid for 30 days from now. Clients trust it through `caCertificateURL` (`http.sslCAInfo`).
public struct TestCertificates: Sendable {
    /// The CA certificate (PEM).
    public let caCertificateURL: URL
    /// The CA's private key (PEM), for signing more certificates.
    public let caPrivateKeyURL: URL
    /// The server certificate (PEM), signed by the CA.
    public let certificateURL: URL
    /// The server certificate's private key (PEM, unencrypted).
    public let privateKeyURL: URL

    /// The CA certificate's text.
    public var caCertificate: String { (try? String(contentsOf: caCertificateURL, encoding: .utf8)) ?? "" }

    /// Whether `openssl` can be found.
    public static var areAvailable: Bool { ExternalTool.areAvailable("openssl") }

    /// Makes a CA (`CN=lockpool test CA`) and a server certificate signed by it in `directory`.
    ///
    /// - Parameters:
    ///   - ipAddresses: the server certificate's IP subjectAltNames; the first is also its CN.
    ///   - dnsNames: its DNS subjectAltNames.
    /// - Throws: `ToolError` or `ChildProcessError` from `openssl`, or a file-system error.
    ///   - selfSigned: make the server certificate self-signed (the CA is still made, and signs nothing).
    public static func generate(
        in directory: URL, ipAddresses: [String] = ["127.0.0.1"], dnsNames: [String] = ["localhost"],
        selfSigned: Bool = false
    ) throws -> TestCertificates {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = { (name: String) in directory.appendingPathComponent(name) }
        let certificates = TestCertificates(
            caCertificateURL: file("ca.pem"), caPrivateKeyURL: file("ca.key"), certificateURL: file("server.pem"),
            privateKeyURL: file("server.key"))
        let environment = ExternalTool.baseEnvironment(home: directory)
        let run = { (arguments: [String]) in
            _ = try ExternalTool.run("openssl", arguments, environment: environment, directory: directory)
        }
        try run([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", certificates.caPrivateKeyURL.path, "-out",
            certificates.caCertificateURL.path, "-days", "30", "-subj", "/CN=lockpool test CA", "-addext",
            "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])
        let request = file("server.csr")
        let commonName = ipAddresses.first ?? dnsNames.first ?? "localhost"
        try run([
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", certificates.privateKeyURL.path, "-out",
            request.path, "-subj", "/CN=\(commonName)",
        ])
        let alternativeNames = ipAddresses.map { "IP:\($0)" } + dnsNames.map { "DNS:\($0)" }
        let extensions = file("server.ext")
        try Data(
            """
            subjectAltName=\(alternativeNames.joined(separator: ","))
            basicConstraints=critical,CA:FALSE
            keyUsage=critical,digitalSignature,keyEncipherment
            extendedKeyUsage=serverAuth
            subjectKeyIdentifier=hash
            authorityKeyIdentifier=keyid

            """.utf8
        ).write(to: extensions)
        // A self-signed certificate has no issuer key to name.
        try Data(
            "subjectAltName=\(alternativeNames.joined(separator: ","))\nextendedKeyUsage=serverAuth\n".utf8
        ).write(to: file("self.ext"))
        if selfSigned {
            try run([
                "x509", "-req", "-in", request.path, "-signkey", certificates.privateKeyURL.path, "-days", "30",
                "-extfile", extensions.path.replacingOccurrences(of: "server.ext", with: "self.ext"), "-out",
                certificates.certificateURL.path,
            ])
            return certificates
        }
        let serial = "0x" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16)
        try run([
            "x509", "-req", "-in", request.path, "-CA", certificates.caCertificateURL.path, "-CAkey",
            certificates.caPrivateKeyURL.path, "-set_serial", String(serial), "-days", "30", "-extfile",
            extensions.path, "-out", certificates.certificateURL.path,
        ])
        return certificates
    }
}

/// lighttpd on 127.0.0.1 serving smart HTTP through `git http-backend`, over TLS (default) or plain HTTP, with
/// optional basic authentication.
///
/// Every bare repository under `projectRoot` (`GIT_PROJECT_ROOT`, exported without `git-daemon-export-ok`) is served
/// at `/git/<path>`, for fetching and pushing (`http.receivepack` is on for the backend). With `user` and `password`
/// every request under `/git/` needs them (mod_auth, basic, plain user file). TLS uses a fresh `TestCertificates`; pass
/// `caCertificatePath` as `http.sslCAInfo`. Stopped by `stop()` or when the last reference goes away. Use it from
/// `.serialized` suites.
public final class HTTPSGitServer: Sendable {
    /// The directory whose repositories are served (`GIT_PROJECT_ROOT`).
    public let projectRoot: URL
    /// Where the configuration, certificates and logs live.
    public let directory: URL
    /// The TCP port on 127.0.0.1.
    public let port: Int
    /// Whether the server speaks TLS (`https`) rather than plain `http`.
    public let usesTLS: Bool
    /// The certificates, when `usesTLS`.
    public let certificates: TestCertificates?
    /// The basic-auth user, when authentication is required.
    public let user: String?
    /// The basic-auth password, when authentication is required.
    public let password: String?
    /// lighttpd's error log (startup, authentication failures, CGI errors).
    public let errorLogURL: URL
    /// lighttpd's access log (one line per request, with the status).
    public let accessLogURL: URL
    private let stderrURL: URL
    private let server: LoopbackServerProcess

    /// The server's process id.
    public var pid: Int32 { server.pid }

    /// `https` or `http`.
    public var scheme: String { usesTLS ? "https" : "http" }

    /// The CA certificate to trust (`http.sslCAInfo`), when `usesTLS`.
    public var caCertificatePath: String? { certificates?.caCertificateURL.path }

    /// The error log, lighttpd's stderr and the access log, as text.
    public var log: String {
        [errorLogURL, stderrURL, accessLogURL].map { (try? String(contentsOf: $0, encoding: .utf8)) ?? "" }
            .joined()
    }

    /// Whether `lighttpd`, `git-http-backend` and, for TLS, `openssl` and lighttpd's `mod_openssl` can be found
    /// (for `.enabled(if:)`).
    public static func isAvailable(tls: Bool = true) -> Bool {
        guard ExternalTool.areAvailable("lighttpd"), httpBackend() != nil, let modules = moduleDirectory() else {
            return false
        }
        guard tls else { return true }
        return TestCertificates.areAvailable
            && FileManager.default.fileExists(atPath: modules.appendingPathComponent("mod_openssl.so").path)
    }

    /// Starts lighttpd serving `projectRoot` with its files in `directory` and waits until its port accepts
    /// connections.
    ///
    /// - Parameters:
    ///   - projectRoot: the directory whose bare repositories are served, e.g. the scratch directory.
    ///   - directory: a directory of its own (created if needed).
    ///   - tls: serve `https` with a fresh `TestCertificates`; else plain `http`.
    ///   - user: with `password`, require basic authentication for every request.
    ///   - password: the password of `user`; must not contain a newline.
    ///   - startTimeout: how long to wait for the port.
    /// - Throws: `LoopbackServerError`, `ToolError` from `openssl`, or a file-system error.
    ///   - certificate: the names and kind of the server certificate (TLS only).
    ///   - onlyFrom: when set, a request from any other client address gets `403 Forbidden` (e.g. `127.0.0.2`, the
    ///     address a proxy connects from, so that only requests through it are served).
    public init(
        serving projectRoot: URL, directory: URL, tls: Bool = true, user: String? = nil, password: String? = nil,
        certificate: CertificateNames = CertificateNames(), onlyFrom: String? = nil,
        startTimeout: Duration = .seconds(10)
    ) throws {
        guard let lighttpd = ExternalTool.locate("lighttpd") else { throw ChildProcessError.notFound("lighttpd") }
        guard let backend = Self.httpBackend() else { throw ChildProcessError.notFound("git-http-backend") }
        guard let moduleDirectory = Self.moduleDirectory() else {
            throw LoopbackServerError.unavailable("lighttpd's modules (mod_cgi.so) not found")
        }
        let fileManager = FileManager.default
        try fileManager.createDirectory(at: directory, withIntermediateDirectories: true)
        let certificates =
            tls
            ? try TestCertificates.generate(
                in: directory.appendingPathComponent("tls"), ipAddresses: certificate.ipAddresses,
                dnsNames: certificate.dnsNames, selfSigned: certificate.selfSigned) : nil
        let documentRoot = directory.appendingPathComponent("htdocs", isDirectory: true)
        let uploads = directory.appendingPathComponent("uploads", isDirectory: true)
        for created in [documentRoot, uploads] {
            try fileManager.createDirectory(at: created, withIntermediateDirectories: true)
        }
        let emptyConfig = directory.appendingPathComponent("empty-gitconfig")
        try Data().write(to: emptyConfig)
        let errorLog = directory.appendingPathComponent("error.log")
        let accessLog = directory.appendingPathComponent("access.log")
        let stderrLog = directory.appendingPathComponent("lighttpd.stderr")
        let configURL = directory.appendingPathComponent("lighttpd.conf")
        let pidURL = directory.appendingPathComponent("lighttpd.pid")
        let authenticated = user != nil && password != nil
        if let user, let password {
            try Data("\(user):\(password)\n".utf8).write(to: directory.appendingPathComponent("users"))
        }
        self.server = try LoopbackServerProcess.start(
            name: "lighttpd", environment: ExternalTool.baseEnvironment(home: directory),
            startTimeout: startTimeout,
            extraLog: { _ in (try? String(contentsOf: errorLog, encoding: .utf8)) ?? "" }
        ) { port in
            let quoted = Self.quoted
            // mod_auth must come before the modules it protects (mod_cgi).
            var modules = [
                "mod_access", "mod_auth", "mod_authn_file", "mod_alias", "mod_setenv", "mod_cgi", "mod_accesslog",
            ]
            if tls { modules.insert("mod_openssl", at: 0) }
            var lines = [
                "server.modules-dir = \(quoted(moduleDirectory.path))",
                "server.modules = (\(modules.map(quoted).joined(separator: ", ")))",
                "server.bind = \"127.0.0.1\"",
                "server.port = \(port)",
                "server.document-root = \(quoted(documentRoot.path))",
                "server.upload-dirs = (\(quoted(uploads.path)))",
                "server.pid-file = \(quoted(pidURL.path))",
                "server.errorlog = \(quoted(errorLog.path))",
                "accesslog.filename = \(quoted(accessLog.path))",
                "alias.url = (\"/git/\" => \(quoted(backend.path + "/")))",
                "$HTTP[\"url\"] =~ \"^/git/\" {",
                "    cgi.assign = (\"\" => \"\")",
                "    setenv.set-environment = (",
                "        \"GIT_PROJECT_ROOT\" => \(quoted(projectRoot.path)),",
                "        \"GIT_HTTP_EXPORT_ALL\" => \"1\",",
                "        \"GIT_CONFIG_PARAMETERS\" => \"'http.receivepack=true'\",",
                "        \"GIT_CONFIG_NOSYSTEM\" => \"1\",",
                "        \"GIT_CONFIG_GLOBAL\" => \(quoted(emptyConfig.path)),",
                "        \"HOME\" => \(quoted(directory.path)),",
                "        \"PATH\" => \(quoted(ExternalTool.searchPath)),",
                "    )",
                "}",
            ]
            if let onlyFrom {
                lines += ["$HTTP[\"remoteip\"] != \(quoted(onlyFrom)) {", "    url.access-deny = (\"\")", "}"]
            }
            if let certificates {
                lines += [
                    "ssl.engine = \"enable\"",
                    "ssl.pemfile = \(quoted(certificates.certificateURL.path))",
                    "ssl.privkey = \(quoted(certificates.privateKeyURL.path))",
                ]
            }
            if authenticated {
                lines += [
                    "auth.backend = \"plain\"",
                    "auth.backend.plain.userfile = \(quoted(directory.appendingPathComponent("users").path))",
                    "auth.require = (\"/git/\" => (\"method\" => \"basic\", \"realm\" => \"lockpool-test\","
                        + " \"require\" => \"valid-user\"))",
                ]
            }
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: configURL)
            return LoopbackServerProcess.Launch(
                executable: lighttpd, arguments: ["-D", "-f", configURL.path], logURL: stderrLog)
        }
        self.projectRoot = projectRoot
        self.directory = directory
        self.port = server.port
        self.usesTLS = tls
        self.certificates = certificates
        self.user = authenticated ? user : nil
        self.password = authenticated ? password : nil
        self.errorLogURL = errorLog
        self.accessLogURL = accessLog
        self.stderrURL = stderrLog
    }

    /// Starts lighttpd serving the scratch directory, with its files in a new directory of `scratch`.
    ///
    /// - Throws: as `init(serving:directory:tls:user:password:startTimeout:)`.
    public convenience init(
        scratch: Scratch, tls: Bool = true, user: String? = nil, password: String? = nil,
        certificate: CertificateNames = CertificateNames(), onlyFrom: String? = nil,
        startTimeout: Duration = .seconds(10)
    ) throws {
        try self.init(
            serving: scratch.url, directory: try scratch.uniqueDirectory("lighttpd"), tls: tls, user: user,
            password: password, certificate: certificate, onlyFrom: onlyFrom, startTimeout: startTimeout)
    }

    /// What the server certificate names, and whether the test CA signs it.
    public struct CertificateNames: Sendable {
        public var ipAddresses: [String]
        public var dnsNames: [String]
        public var selfSigned: Bool
        public init(ipAddresses: [String] = ["127.0.0.1"], dnsNames: [String] = ["localhost"], selfSigned: Bool = false)
        {
            self.ipAddresses = ipAddresses
            self.dnsNames = dnsNames
            self.selfSigned = selfSigned
        }
    }

    deinit { stop() }

    /// `https://[user:password@]127.0.0.1:PORT/git/NAME.git` for repository `name` (a path relative to
    /// `projectRoot`; `.git` is appended unless present). User and password are percent-encoded.
    public func url(for name: String, user: String? = nil, password: String? = nil) -> String {
        var userinfo = ""
        if let user {
            userinfo = Self.percentEncoded(user)
            if let password { userinfo += ":" + Self.percentEncoded(password) }
            userinfo += "@"
        }
        let trimmed = name.hasPrefix("/") ? String(name.dropFirst()) : name
        let path = trimmed.hasSuffix(".git") ? trimmed : trimmed + ".git"
        return "\(scheme)://\(userinfo)127.0.0.1:\(port)/git/\(path)"
    }

    /// The URL of `repository`, which must lie inside `projectRoot`.
    public func url(for repository: LockRepository, user: String? = nil, password: String? = nil) -> String {
        let base = projectRoot.resolvingSymlinksInPath().path
        let path = repository.url.resolvingSymlinksInPath().path
        precondition(path.hasPrefix(base + "/"), "\(path) is not served by lighttpd at \(base)")
        return url(for: String(path.dropFirst(base.count + 1)), user: user, password: password)
    }

    /// Stops lighttpd and its CGI children (SIGTERM to the process group, SIGKILL after 5 s) and waits for it.
    /// Safe to call more than once.
    public func stop() { server.stop() }

    /// `/usr/lib/git-core/git-http-backend`, or wherever `git --exec-path` says.
    static func httpBackend() -> URL? {
        let standard = "/usr/lib/git-core/git-http-backend"
        if FileManager.default.isExecutableFile(atPath: standard) { return URL(fileURLWithPath: standard) }
        guard let result = try? ExternalTool.run("git", ["--exec-path"], timeout: .seconds(10)) else { return nil }
        let path = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) + "/git-http-backend"
        return FileManager.default.isExecutableFile(atPath: path) ? URL(fileURLWithPath: path) : nil
    }

    /// The directory holding lighttpd's modules (`mod_cgi.so`).
    static func moduleDirectory() -> URL? {
        let candidates = [
            "/usr/lib/lighttpd", "/usr/lib64/lighttpd", "/usr/local/lib/lighttpd", "/usr/lib/x86_64-linux-gnu/lighttpd",
            "/usr/lib/aarch64-linux-gnu/lighttpd", "/opt/homebrew/lib/lighttpd",
        ]
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/mod_cgi.so") }
            .map { URL(fileURLWithPath: $0, isDirectory: true) }
    }

    private static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    private static func percentEncoded(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
