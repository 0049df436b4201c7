import FoundationEssentials
import StringSupport

/// Checks an SSH private key held in memory before libssh2 sees it, so that a missing passphrase or an unusable key
/// fails with a clear message (docs/transports.md#keys). The key is never written anywhere.
public enum PrivateKey {
    /// Why a key cannot be used.
    public enum Problem: Error, Sendable, Equatable, CustomStringConvertible {
        /// The key is encrypted and no passphrase was given (the upstream resource's text).
        case passphraseMissing
        /// The key cannot be loaded; the reason never quotes the key.
        case unusable(String)

        public var description: String {
            switch self {
            case .passphraseMissing: "Private key has a passphrase but private_key_passphrase has not been set."
            case .unusable(let reason): "private_key could not be loaded: \(reason)"
            }
        }
    }

    /// Normalises `text` (CRLF to LF, surrounding whitespace trimmed, a final newline) and checks its format and
    /// encryption.
    ///
    /// - Returns: the normalised key text.
    /// - Throws: `Problem`.
    public static func prepare(_ text: String, passphrase: String?) throws(Problem) -> String {
        let key = text.replacing("\r\n", with: "\n").trimming(.whitespacesAndNewlines) + "\n"
        guard let begin = key.firstRange(of: "-----BEGIN "),
            let end = key[begin.upperBound...].firstRange(of: "-----END ")
        else {
            throw .unusable("not a PEM or OpenSSH private key (no BEGIN/END lines)")
        }
        // The label ends at the dashes or the line's end: a BEGIN line without its dashes must not pull the key's
        // body into the message below.
        let label = key[begin.upperBound...].prefix { $0 != "-" && $0 != "\n" }
        let encrypted: Bool
        switch label {
        case "OPENSSH PRIVATE KEY":
            guard let lineEnd = key[begin.upperBound...].firstIndex(of: "\n"), lineEnd <= end.lowerBound else {
                throw .unusable("the OpenSSH key has no body")
            }
            let body = key[lineEnd..<end.lowerBound].filter { !$0.isWhitespace }
            guard let data = Data(base64Encoded: String(body)) else { throw .unusable("the OpenSSH key is not base64") }
            encrypted = try openSSHCipher(Array(data)) != "none"
        case "RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY":
            encrypted = key.contains("Proc-Type: 4,ENCRYPTED")
        case "PRIVATE KEY": encrypted = false
        case "ENCRYPTED PRIVATE KEY": encrypted = true
        default:
            let isLabel = label.count <= 40 && label.allSatisfy { ("A"..."Z").contains($0) || $0 == " " || $0.isNumber }
            throw .unusable(isLabel ? "unsupported key type \"\(label)\"" : "the BEGIN line names no key type")
        }
        if encrypted && (passphrase ?? "").isEmpty { throw .passphraseMissing }
        return key
    }

    /// The cipher name of an `openssh-key-v1` blob.
    static func openSSHCipher(_ bytes: [UInt8]) throws(Problem) -> String {
        let magic = Array("openssh-key-v1\0".utf8)
        guard bytes.count > magic.count + 4, Array(bytes[0..<magic.count]) == magic else {
            throw .unusable("the OpenSSH key has no openssh-key-v1 header")
        }
        let start = magic.count
        let length = bytes[start..<start + 4].reduce(0) { $0 << 8 | Int($1) }
        guard bytes.count >= start + 4 + length else { throw .unusable("the OpenSSH key is truncated") }
        return String(decoding: bytes[start + 4..<start + 4 + length], as: UTF8.self)
    }
}
