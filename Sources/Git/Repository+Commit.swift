import CLibgit2
import FoundationEssentials

/// Who made a commit and when.
public struct Signature: Sendable, Hashable {
    public var name: String
    public var email: String
    /// The time, to the second.
    public var time: Date
    /// The time zone offset in minutes east of UTC.
    public var offsetMinutes: Int

    public init(name: String, email: String, time: Date = Date(), offsetMinutes: Int = 0) {
        self.name = name
        self.email = email
        self.time = time
        self.offsetMinutes = offsetMinutes
    }
}

/// What lockpool reads of a commit.
public struct Commit: Sendable, Hashable {
    public let id: ObjectID
    public let tree: ObjectID
    public let parents: [ObjectID]
    /// The full raw message.
    public let message: String
    public let author: Signature
    public let committer: Signature

    /// The first line of the message.
    public var subject: String { String(message.prefix { $0 != "\n" }) }
}

extension Repository {
    /// Reads a commit. Calls `git_commit_lookup`.
    ///
    /// - Throws: `GitError` (`.notFound` when there is no such commit).
    public func commit(_ id: ObjectID) throws -> Commit {
        var oid = id.oid
        var raw: OpaquePointer?
        try check(git_commit_lookup(&raw, pointer, &oid), "git_commit_lookup")
        defer { git_commit_free(raw) }
        var parents: [ObjectID] = []
        for index in 0..<git_commit_parentcount(raw) {
            if let parent = git_commit_parent_id(raw, index) { parents.append(ObjectID(parent)) }
        }
        let message = git_commit_message_raw(raw).map { String(cString: $0) } ?? ""
        return Commit(
            id: id, tree: ObjectID(git_commit_tree_id(raw)), parents: parents, message: message,
            author: Self.signature(git_commit_author(raw)), committer: Self.signature(git_commit_committer(raw)))
    }

    /// Writes a commit object without moving any reference. Calls `git_commit_create`.
    ///
    /// - Parameters:
    ///   - tree: the commit's tree.
    ///   - parents: its parents, first parent first.
    ///   - message: the message, stored verbatim.
    ///   - author: the author.
    ///   - committer: the committer.
    /// - Returns: the new commit's id.
    /// - Throws: `GitError`.
    public func createCommit(
        tree: ObjectID, parents: [ObjectID], message: String, author: Signature, committer: Signature
    ) throws -> ObjectID {
        var treeOID = tree.oid
        var treeObject: OpaquePointer?
        try check(git_tree_lookup(&treeObject, pointer, &treeOID), "git_tree_lookup")
        defer { git_tree_free(treeObject) }
        var parentObjects: [OpaquePointer?] = []
        defer { parentObjects.forEach { git_commit_free($0) } }
        for parent in parents {
            var oid = parent.oid
            var raw: OpaquePointer?
            try check(git_commit_lookup(&raw, pointer, &oid), "git_commit_lookup")
            parentObjects.append(raw)
        }
        let authorSignature = try makeSignature(author)
        defer { git_signature_free(authorSignature) }
        let committerSignature = try makeSignature(committer)
        defer { git_signature_free(committerSignature) }
        var out = git_oid()
        _ = try parentObjects.withUnsafeMutableBufferPointer { buffer in
            try check(
                git_commit_create(
                    &out, pointer, nil, authorSignature, committerSignature, "UTF-8", message, treeObject,
                    buffer.count, buffer.baseAddress),
                "git_commit_create")
        }
        return ObjectID(out)
    }

    private func makeSignature(_ signature: Signature) throws -> UnsafeMutablePointer<git_signature> {
        var raw: UnsafeMutablePointer<git_signature>?
        try check(
            git_signature_new(
                &raw, signature.name, signature.email, git_time_t(signature.time.timeIntervalSince1970.rounded(.down)),
                Int32(signature.offsetMinutes)),
            "git_signature_new")
        return raw!
    }

    static func signature(_ raw: UnsafePointer<git_signature>?) -> Signature {
        guard let raw else { return Signature(name: "", email: "", time: Date(timeIntervalSince1970: 0)) }
        return Signature(
            name: raw.pointee.name.map { String(cString: $0) } ?? "",
            email: raw.pointee.email.map { String(cString: $0) } ?? "",
            time: Date(timeIntervalSince1970: TimeInterval(raw.pointee.when.time)),
            offsetMinutes: Int(raw.pointee.when.offset))
    }
}
