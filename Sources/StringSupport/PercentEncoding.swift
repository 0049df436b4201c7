/// Percent-encoding (RFC 3986 §2.1) of URL parts: userinfo, path segments, query values.
///
/// Foundation's `addingPercentEncoding(withAllowedCharacters:)` and `removingPercentEncoding` live outside
/// FoundationEssentials (with `CharacterSet`, next to the ICU-backed internationalisation), and linking them grows the
/// image's binary by ICU's 34 MB of data; these do the same work over UTF-8 bytes.
public struct URLCharacters: Sendable, Equatable {
    /// One bit per ASCII byte; a non-ASCII byte is never allowed (it is always encoded).
    private var low: UInt64 = 0
    private var high: UInt64 = 0

    /// The set of the ASCII characters in `characters`; anything else in it is ignored.
    public init(_ characters: String) {
        for byte in characters.utf8 where byte < 128 { insert(byte) }
    }

    public func contains(_ byte: UInt8) -> Bool {
        switch byte {
        case 0..<64: low & (1 << UInt64(byte)) != 0
        case 64..<128: high & (1 << UInt64(byte - 64)) != 0
        default: false
        }
    }

    private mutating func insert(_ byte: UInt8) {
        if byte < 64 { low |= 1 << UInt64(byte) } else { high |= 1 << UInt64(byte - 64) }
    }

    public func union(_ other: URLCharacters) -> URLCharacters {
        var both = self
        both.low |= other.low
        both.high |= other.high
        return both
    }

    public func subtracting(_ characters: String) -> URLCharacters {
        let removed = URLCharacters(characters)
        var rest = self
        rest.low &= ~removed.low
        rest.high &= ~removed.high
        return rest
    }

    /// `A–Z a–z 0–9`.
    public static let alphanumerics = URLCharacters("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
    /// RFC 3986's unreserved characters: alphanumerics and `-._~`.
    public static let unreserved = alphanumerics.union(URLCharacters("-._~"))
    /// What a user or password may carry unencoded: unreserved and the sub-delimiters `!$&'()*+,;=` (Foundation's
    /// `.urlUserAllowed`, which is also its `.urlPasswordAllowed`).
    public static let userinfo = unreserved.union(URLCharacters("!$&'()*+,;="))
    /// What one path segment may carry unencoded: unreserved and `!$&'()*+,=:@` (Foundation's `.urlPathAllowed`
    /// without `/`; `;` is encoded).
    public static let pathSegment = unreserved.union(URLCharacters("!$&'()*+,=:@"))
    /// What JavaScript's `encodeURIComponent` leaves unencoded: alphanumerics and `-_.!~*'()` (the Concourse web UI's
    /// addresses).
    public static let uriComponent = alphanumerics.union(URLCharacters("-_.!~*'()"))
}

extension StringProtocol {
    /// This text with every UTF-8 byte outside `allowed` written as `%XX` (upper-case hex digits).
    public func percentEncoded(allowing allowed: URLCharacters) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        for byte in utf8 {
            if allowed.contains(byte) {
                bytes.append(byte)
            } else {
                bytes += [UInt8(ascii: "%"), digits[Int(byte >> 4)], digits[Int(byte & 0xF)]]
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// This text with every `%XX` replaced by its byte; nil when a `%` is not followed by two hex digits or the
    /// bytes are not UTF-8 (as Foundation's `removingPercentEncoding`).
    public var percentDecoded: String? {
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        let source = Array(utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(source.count)
        var index = 0
        while index < source.count {
            guard source[index] == UInt8(ascii: "%") else {
                bytes.append(source[index])
                index += 1
                continue
            }
            guard index + 2 < source.count, let high = value(source[index + 1]), let low = value(source[index + 2])
            else { return nil }
            bytes.append(high << 4 | low)
            index += 3
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
