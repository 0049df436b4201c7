import ConcourseResource
import FoundationEssentials
import Git
import LockPool
import ProcessIO

#if canImport(Glibc)
    import Glibc
#endif

/// A lock's content in JSON output: the text when it is UTF-8, otherwise base64, as `content_encoding` says.
package struct ContentReport: Encodable, Equatable {
    let lock: String
    let content: String
    let contentEncoding: String

    enum CodingKeys: String, CodingKey {
        case lock, content
        case contentEncoding = "content_encoding"
    }

    package init(lock: String, bytes: [UInt8]) {
        self.lock = lock
        if let text = String(validating: bytes, as: UTF8.self) {
            (content, contentEncoding) = (text, "utf-8")
        } else {
            (content, contentEncoding) = (Data(bytes).base64EncodedString(), "base64")
        }
    }
}

/// The files `in` writes for a lock (docs/resource.md#the-get-step), written by `acquire`/`claim --output DIR` so that
/// `release --from DIR` can follow: `name` (one lock per line), `metadata` (the first lock's content) and, for a claim
/// made by this command, `claim_ref` (its commit, the fence of the release).
enum StepFiles {
    /// Makes `directory` (and its parents) before the operation, so that a path that cannot be written fails before
    /// anything is claimed (exit 64).
    static func prepare(_ directory: String) throws {
        var isDirectory = false
        if !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory,
            access(directory, W_OK) == 0
        else { throw CLIError.usage("--output \(directory): not a writable directory, and it cannot be made one") }
    }

    /// The step directory's files (`StepDirectory.write`), mode 0600: lock contents often hold tokens.
    static func write(to directory: String, locks: [String], metadata: [UInt8], claim: ObjectID?) throws {
        do throws(FileReplacement.Failure) {
            try StepDirectory.write(locks: locks, metadata: metadata, claim: claim, to: directory, mode: 0o600)
        } catch {
            throw CLIError.failure("the locks are taken, but \(error.path) could not be written: \(error.reason)")
        }
    }
}
