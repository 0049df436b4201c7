/// A credential offered to a remote. Never printed: `description`, `debugDescription` and `customMirror` hide it.
public struct Credentials: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    enum Kind: Sendable {
        case userPassword(user: String, password: String)
    }

    let kind: Kind

    /// A user name and password (HTTP basic authentication).
    public static func userPassword(user: String, password: String) -> Credentials {
        Credentials(kind: .userPassword(user: user, password: password))
    }

    /// The secret values, for redaction of messages.
    public var secrets: [String] {
        switch kind {
        case .userPassword(_, let password): [password]
        }
    }

    /// What kind of credential this is, for error messages ("username and password").
    public var kindDescription: String {
        switch kind {
        case .userPassword: "username and password"
        }
    }

    public var description: String { "Credentials(\(kindDescription), ****)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}
