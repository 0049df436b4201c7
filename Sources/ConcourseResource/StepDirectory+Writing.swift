import Git
import ProcessIO
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

extension StepDirectory {
    /// Writes the files `in` leaves for a lock (docs/resource.md#the-get-step), which this type reads back: `name` (one
    /// lock per line), `metadata` (the first lock's content) and `claim_ref` (the claim's commit, the fence of its
    /// release; removed when there is none). Each goes through a temporary file renamed into place, with `mode`.
    ///
    /// - Throws: `FileReplacement.Failure` for the first file that cannot be written.
    public static func write(
        locks: [String], metadata: [UInt8], claim: ObjectID?, to directory: String, mode: mode_t
    ) throws(FileReplacement.Failure) {
        let path = FilePath(directory)
        let name = Array(locks.map { $0 + "\n" }.joined().utf8)
        try FileReplacement.replace(path.appending("name").string, with: name, mode: mode)
        try FileReplacement.replace(path.appending("metadata").string, with: metadata, mode: mode)
        let claimRef = path.appending("claim_ref").string
        guard let claim else {
            unlink(claimRef)
            return
        }
        try FileReplacement.replace(claimRef, with: Array((claim.hex + "\n").utf8), mode: mode)
    }
}
