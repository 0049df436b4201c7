import Glibc
import StringSupport

/// What an `ssh` that ended said, in the terms `Remote` reports (docs/transports.md#errors).
///
/// OpenSSH exits with 255 for its own failures and writes one line about each on standard error (`LogLevel=ERROR`);
/// any other status is the remote command's, whose standard error is the server's words.
struct SSHFailure {
    /// The error to throw.
    let error: any Error

    /// `ssh` could not be started (or its files made): errno's words.
    static func notStarted(_ code: Int32) -> GitError {
        GitError(
            code: .generic, errorClass: .os, function: "ssh",
            message:
                "could not start ssh (the OpenSSH client, Debian's openssh-client): \(String(cString: strerror(code)))")
    }

    init(process: SpawnedProcess, session: SSHSession) {
        let text = redact(process.errorMessage, session.options.allSecrets)
        guard process.exitCode == 255 || process.exitCode == nil else {
            // The remote command's words, as libgit2's own ssh transport reports them (GitError.serverMessage).
            error = GitError(
                code: .endOfFile, errorClass: text.isEmpty ? .net : .ssh, function: "ssh",
                message: text.isEmpty ? "early EOF" : text)
            return
        }
        error = Self.classify(text, session: session)
    }

    /// OpenSSH's own failure (exit status 255), by its words.
    static func classify(_ text: String, session: SSHSession) -> any Error {
        let lowered = text.lowercased()
        let address = session.address
        if let resolver = text.firstRange(of: "Could not resolve hostname ") {
            // `ssh: Could not resolve hostname HOST: <gai_strerror>`: the words of libgit2's socket stream.
            let detail = text[resolver.upperBound...].split(separator: "\n").first.map(String.init) ?? ""
            let reason = detail.split(separator: ": ", maxSplits: 1).last.map(String.init) ?? detail
            return GitError(
                code: .generic, errorClass: .net, function: "ssh",
                message: "failed to resolve address for \(address.host): \(reason)")
        }
        if let connect = text.firstRange(of: "connect to host "),
            let colon = text[connect.upperBound...].firstRange(of: ": ")
        {
            // `ssh: connect to host HOST port PORT: Connection refused`.
            let reason = text[colon.upperBound...].prefix { $0 != "\n" }
            return GitError(
                code: .generic, errorClass: .net, function: "ssh",
                message: "failed to connect to \(address.host): \(reason)")
        }
        let name = SSHSession.knownHostsName(address)
        if lowered.contains("revoked") && lowered.contains("host key") {
            return CertificateRejected(reason: "host key for \(name) is revoked in known_hosts")
        }
        if lowered.contains("remote host identification has changed") {
            return CertificateRejected(reason: "host key for \(name) does not match known_hosts")
        }
        if lowered.contains("host key verification failed") || lowered.contains("host key is known for") {
            return CertificateRejected(reason: "host key for \(name) is not in known_hosts")
        }
        if let problem = keyProblem(text) {
            return GitError(
                code: .auth, errorClass: .ssh, function: GitError.privateKeyFunction, message: problem)
        }
        if lowered.contains("permission denied") {
            return AuthenticationRefused(tried: session.triedDescription)
        }
        return GitError(code: .generic, errorClass: .ssh, function: "ssh", message: text.isEmpty ? "ssh failed" : text)
    }

    /// OpenSSH's words when it could not load the key: `Load key "/proc/…": incorrect passphrase supplied to decrypt
    /// private key`, `… invalid format`, `… error in libcrypto`. The file name (a /proc path) is left out.
    static func keyProblem(_ text: String) -> String? {
        for line in text.split(separator: "\n") where line.hasPrefix("Load key ") {
            guard let colon = line.firstRange(of: "\": ") else { return String(line) }
            return String(line[colon.upperBound...])
        }
        return nil
    }
}

extension SSHSession {
    /// What was offered, for `AuthenticationRefused`: nil when nothing could be.
    var triedDescription: String? {
        let user = address.user ?? options.credentials?.defaultUser ?? ""
        switch options.credentials?.kind {
        case .sshKey?: return "ssh private key for user '\(user)'"
        case .sshAgent?: return "ssh-agent identities for user '\(user)'"
        case .userPassword?, nil: return nil
        }
    }
}
