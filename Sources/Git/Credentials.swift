/// A credential offered to a remote. Never printed: `description`, `debugDescription` and `customMirror` hide it.
public struct Credentials: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    enum Kind: Sendable {
        case userPassword(user: String, password: String)
        case sshKey(user: String?, privateKey: String, passphrase: String?)
        case sshAgent(user: String?)
    }

    let kind: Kind

    /// A user name and password (HTTP basic authentication).
    public static func userPassword(user: String, password: String) -> Credentials {
        Credentials(kind: .userPassword(user: user, password: password))
    }

    /// An SSH private key held in memory (PEM or OpenSSH format); the public key is derived from it.
    ///
    /// - Parameter user: the SSH user when the URL names none.
    public static func sshKey(user: String?, privateKey: String, passphrase: String?) -> Credentials {
        Credentials(kind: .sshKey(user: user, privateKey: privateKey, passphrase: passphrase))
    }

    /// The identities of the ssh-agent at `SSH_AUTH_SOCK`.
    ///
    /// - Parameter user: the SSH user when the URL names none.
    public static func sshAgent(user: String?) -> Credentials { Credentials(kind: .sshAgent(user: user)) }

    /// The secret values, for redaction of messages.
    public var secrets: [String] {
        switch kind {
        case .userPassword(_, let password): [password]
        case .sshKey(_, let key, let passphrase): [key] + (passphrase.map { [$0] } ?? [])
        case .sshAgent: []
        }
    }

    /// The SSH user to use when the URL names none.
    var defaultUser: String? {
        switch kind {
        case .userPassword: nil
        case .sshKey(let user, _, _), .sshAgent(let user): user
        }
    }

    /// What kind of credential this is, for error messages ("username and password", "ssh key").
    public var kindDescription: String {
        switch kind {
        case .userPassword(let user, _): "username and password for user '\(user)'"
        case .sshKey: "ssh private key"
        case .sshAgent: "ssh-agent identities"
        }
    }

    public var description: String { "Credentials(\(kindDescription), ****)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}

/// The remote refused the credential offered (or no credential was available).
public struct AuthenticationRefused: Error, Sendable, CustomStringConvertible {
    /// What was tried, e.g. "ssh private key for user 'git'"; nil when nothing could be offered.
    public let tried: String?
    public var description: String { tried.map { "\($0) refused" } ?? "no credential available" }
}

/// The server's host key or TLS certificate was not accepted.
public struct CertificateRejected: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}
