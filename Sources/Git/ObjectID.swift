import CLibgit2

/// A git object id (SHA-1), kept as 40 lower-case hexadecimal digits.
public struct ObjectID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The full lower-case hexadecimal id.
    public let hex: String

    /// Parses a full 40-digit hexadecimal id; returns nil for anything else.
    public init?(hex: String) {
        let lower = hex.lowercased()
        guard lower.utf8.count == 40, lower.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) })
        else { return nil }
        self.hex = lower
    }

    init(_ oid: git_oid) {
        var oid = oid
        var buffer = [CChar](repeating: 0, count: 41)
        git_oid_tostr(&buffer, 41, &oid)
        hex = String(decoding: buffer.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    init(_ pointer: UnsafePointer<git_oid>) { self.init(pointer.pointee) }

    /// The libgit2 form of this id.
    var oid: git_oid {
        var oid = git_oid()
        _ = git_oid_fromstr(&oid, hex)
        return oid
    }

    /// The first seven digits, as `git log --oneline` shows them.
    public var short: String { String(hex.prefix(7)) }

    public var description: String { hex }

    public static func < (lhs: ObjectID, rhs: ObjectID) -> Bool { lhs.hex < rhs.hex }
}
