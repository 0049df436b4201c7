import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// MARK: - Running command-line tools

/// The outcome of one run of a command-line tool (`ssh-keygen`, `openssl`, `ssh`, …).
public struct ToolResult: Sendable, CustomStringConvertible {
    /// The command line, for messages.
    public let command: String
    /// The exit status; 128 + the signal number when a signal ended the process.
    public let status: Int32
    /// stdout decoded as UTF-8.
    public let stdout: String
    /// stderr decoded as UTF-8.
    public let stderr: String

    public var description: String {
        "\(command): status \(status)\nstdout: \(stdout)\nstderr: \(stderr)"
    }
}

/// A command-line tool that exited with a non-zero status.
public struct ToolError: Error, Sendable, CustomStringConvertible {
    /// What the tool did.
    public let result: ToolResult

    public var description: String { "\(result.command) failed: status \(result.status)\nstderr: \(result.stderr)" }
}

/// Runs the command-line tools behind the server fixtures, isolated from the machine's environment.
///
/// Every run gets only the environment passed (by default `ExternalTool.baseEnvironment`): the machine may set
/// `GIT_SSL_CAINFO`, `SSL_CERT_FILE`, `CURL_CA_BUNDLE` and the like, which would silently override what a test
/// configures.
public enum ExternalTool {
    /// `PATH` (the test's own plus the `sbin` directories, where `sshd` and `lighttpd` live), `LC_ALL=C`, and `HOME`
    /// when given.
    public static func baseEnvironment(home: URL? = nil) -> [String: String] {
        var environment = ["PATH": searchPath, "LC_ALL": "C", "LANG": "C"]
        if let home { environment["HOME"] = home.path }
        return environment
    }

    /// The test's `PATH` followed by the usual `sbin` directories.
    public static var searchPath: String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        var parts = path.split(separator: ":").map(String.init)
        for extra in ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"] where !parts.contains(extra) {
            parts.append(extra)
        }
        return parts.joined(separator: ":")
    }

    /// The executable `name` (a bare name searched in `searchPath`, or a path), if it exists.
    public static func locate(_ name: String) -> URL? {
        if name.contains("/") {
            return FileManager.default.isExecutableFile(atPath: name) ? URL(fileURLWithPath: name) : nil
        }
        return try? ChildProcess.findExecutable(name, path: searchPath)
    }

    /// Whether every executable in `names` can be found.
    public static func areAvailable(_ names: String...) -> Bool {
        names.allSatisfy { locate($0) != nil }
    }

    /// Runs `executable arguments…` and returns its result whatever the exit status.
    ///
    /// - Parameters:
    ///   - executable: a bare name searched in `searchPath`, or a path.
    ///   - environment: the whole environment; `baseEnvironment()` when `nil`.
    ///   - directory: the working directory; the system temporary directory when `nil`.
    ///   - stdin: bytes for the tool's standard input.
    ///   - timeout: how long the tool may run before it is killed.
    /// - Throws: `ChildProcessError` when the tool cannot be found or started, or runs longer than `timeout`.
    public static func result(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, directory: URL? = nil,
        stdin: Data = Data(), timeout: Duration = .seconds(30)
    ) throws -> ToolResult {
        guard let url = locate(executable) else { throw ChildProcessError.notFound(executable) }
        let outcome = try ChildProcess.run(
            executable: url, arguments: arguments, environment: environment ?? baseEnvironment(),
            directory: directory ?? URL(fileURLWithPath: NSTemporaryDirectory(), isDirectory: true), stdin: stdin,
            timeout: timeout)
        return ToolResult(
            command: ([executable] + arguments).joined(separator: " "), status: outcome.status,
            stdout: String(decoding: outcome.stdout, as: UTF8.self),
            stderr: String(decoding: outcome.stderr, as: UTF8.self))
    }

    /// Runs `executable arguments…`, throwing when the exit status is not 0.
    ///
    /// - Throws: `ToolError` on a non-zero exit status; `ChildProcessError` as `result(_:_:…)`.
    @discardableResult
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, directory: URL? = nil,
        stdin: Data = Data(), timeout: Duration = .seconds(30)
    ) throws -> ToolResult {
        let result = try result(
            executable, arguments, environment: environment, directory: directory, stdin: stdin, timeout: timeout)
        guard result.status == 0 else { throw ToolError(result: result) }
        return result
    }
}

// MARK: - SSH keys

/// The key algorithms `ssh-keygen -t` makes.
public enum SSHKeyType: String, Sendable, CaseIterable {
    case rsa, ecdsa, ed25519
}

/// How `ssh-keygen` writes a private key (`-m`).
public enum SSHKeyFormat: String, Sendable, CaseIterable {
    /// `-----BEGIN OPENSSH PRIVATE KEY-----` (the default; always used for Ed25519).
    case openSSH
    /// `-m PEM`: PKCS#1 `RSA PRIVATE KEY` or SEC1 `EC PRIVATE KEY` (encrypted: `Proc-Type: 4,ENCRYPTED`).
    case pem
    /// `-m PKCS8`: `PRIVATE KEY` (encrypted: `ENCRYPTED PRIVATE KEY`).
    case pkcs8
}

/// A key pair made by `ssh-keygen`, kept on disk in a scratch directory.
///
/// `description` never shows the private key or the passphrase.
public struct SSHKey: Sendable, CustomStringConvertible {
    /// The algorithm.
    public let type: SSHKeyType
    /// The format asked for. Ed25519 keys are written in OpenSSH format whatever the format asked for.
    public let format: SSHKeyFormat
    /// The passphrase protecting the private key, if any.
    public let passphrase: String?
    /// The private key file's text.
    public let privateKey: String
    /// The public key line, `ssh-ed25519 AAAA… comment` (no newline).
    public let publicKey: String
    /// The private key file (mode 0600).
    public let privateKeyURL: URL
    /// The public key file (`<private>.pub`).
    public let publicKeyURL: URL

    /// The private key file's path.
    public var privateKeyPath: String { privateKeyURL.path }
    /// The public key file's path.
    public var publicKeyPath: String { publicKeyURL.path }
    /// The public key without its comment: `ssh-ed25519 AAAA…`.
    public var publicKeyBlob: String { SSHKeys.keyBlob(publicKey) }
    /// The key's algorithm name as it appears in the public key line (`ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`).
    public var algorithm: String { String(publicKey.split(separator: " ").first ?? "") }

    public var description: String {
        "\(type.rawValue) key (\(format.rawValue)\(passphrase == nil ? "" : ", encrypted")) \(privateKeyURL.path)"
    }
}

/// Generates SSH keys with `ssh-keygen` and writes `known_hosts` entries.
public enum SSHKeys {
    /// Whether `ssh-keygen` can be found.
    public static var areAvailable: Bool { ExternalTool.areAvailable("ssh-keygen") }

    /// Generates a key pair in `directory`.
    ///
    /// - Parameters:
    ///   - type: the algorithm; RSA keys have 2048 bits, ECDSA keys 256.
    ///   - format: the private key format (`-m`); ignored by `ssh-keygen` for Ed25519.
    ///   - passphrase: encrypts the private key when given (`-N`).
    ///   - comment: the public key's comment (`-C`).
    ///   - name: the private key's file name; `id_<type>-<random>` when `nil`.
    ///   - directory: where the files go (created if needed).
    /// - Throws: `ToolError` or `ChildProcessError` from `ssh-keygen`, or a file-system error.
    public static func generate(
        _ type: SSHKeyType = .ed25519, format: SSHKeyFormat = .openSSH, passphrase: String? = nil,
        comment: String = "lockpool-test", name: String? = nil, in directory: URL
    ) throws -> SSHKey {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let fileName = name ?? "id_\(type.rawValue)-\(UUID().uuidString.prefix(8).lowercased())"
        let privateURL = directory.appendingPathComponent(fileName)
        let publicURL = directory.appendingPathComponent(fileName + ".pub")
        var arguments = ["-q", "-t", type.rawValue, "-N", passphrase ?? "", "-C", comment, "-f", privateURL.path]
        switch type {
        case .rsa: arguments += ["-b", "2048"]
        case .ecdsa: arguments += ["-b", "256"]
        case .ed25519: break
        }
        switch format {
        case .openSSH: break
        case .pem: arguments += ["-m", "PEM"]
        case .pkcs8: arguments += ["-m", "PKCS8"]
        }
        try ExternalTool.run("ssh-keygen", arguments, directory: directory)
        let privateKey = try String(contentsOf: privateURL, encoding: .utf8)
        let publicKey = try String(contentsOf: publicURL, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return SSHKey(
            type: type, format: format, passphrase: passphrase, privateKey: privateKey, publicKey: publicKey,
            privateKeyURL: privateURL, publicKeyURL: publicURL)
    }

    /// Generates a key pair in `<scratch>/ssh-keys`.
    ///
    /// - Throws: as `generate(_:format:passphrase:comment:name:in:)`.
    public static func generate(
        _ type: SSHKeyType = .ed25519, format: SSHKeyFormat = .openSSH, passphrase: String? = nil,
        comment: String = "lockpool-test", name: String? = nil, scratch: Scratch
    ) throws -> SSHKey {
        try generate(
            type, format: format, passphrase: passphrase, comment: comment, name: name,
            in: try scratch.directory("ssh-keys"))
    }

    /// A plain `known_hosts` line for `host:port`: `[127.0.0.1]:2222 ssh-ed25519 AAAA…` (just `host` on port 22).
    ///
    /// - Parameter publicKey: a public key line; its comment is dropped.
    public static func knownHostsLine(host: String, port: Int, publicKey: String) -> String {
        "\(knownHostsName(host: host, port: port)) \(keyBlob(publicKey))"
    }

    /// The host name as `known_hosts` spells it: `[host]:port`, or `host` on port 22.
    public static func knownHostsName(host: String, port: Int) -> String {
        port == 22 ? host : "[\(host)]:\(port)"
    }

    /// `known_hosts` text with every host name hashed by `ssh-keygen -H` (`|1|salt|hash ssh-ed25519 AAAA…`).
    ///
    /// - Parameters:
    ///   - knownHosts: plain `known_hosts` text.
    ///   - directory: where the temporary file is written (and removed again).
    /// - Throws: `ToolError` or `ChildProcessError` from `ssh-keygen`, or a file-system error.
    public static func hashedKnownHosts(_ knownHosts: String, in directory: URL) throws -> String {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("known_hosts-\(UUID().uuidString.prefix(8).lowercased())")
        let text = knownHosts.hasSuffix("\n") ? knownHosts : knownHosts + "\n"
        try Data(text.utf8).write(to: file)
        defer {
            try? FileManager.default.removeItem(at: file)
            try? FileManager.default.removeItem(at: URL(fileURLWithPath: file.path + ".old"))
        }
        try ExternalTool.run("ssh-keygen", ["-H", "-f", file.path], directory: directory)
        return try String(contentsOf: file, encoding: .utf8)
    }

    /// The first two fields of a public key line (`type base64`), without the comment.
    public static func keyBlob(_ publicKeyLine: String) -> String {
        publicKeyLine.trimmingCharacters(in: .whitespacesAndNewlines).split(
            separator: " ", omittingEmptySubsequences: true
        )
        .prefix(2).joined(separator: " ")
    }
}
