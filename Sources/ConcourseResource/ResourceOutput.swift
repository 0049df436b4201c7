import Foundation
import Git

/// The JSON a resource step prints on success.
struct VersionJSON: Codable, Equatable {
    let ref: String
}

struct MetadataField: Codable, Equatable {
    let name: String
    let value: String
}

struct StepOutput: Codable, Equatable {
    let version: VersionJSON
    let metadata: [MetadataField]

    /// `in` and `out` output: the version and `lock_name` (when known) then `pool_name`.
    init(version: ObjectID, lock: String?, pool: String) {
        self.version = VersionJSON(ref: version.hex)
        metadata = (lock.map { [MetadataField(name: "lock_name", value: $0)] } ?? []) + [
            MetadataField(name: "pool_name", value: pool)
        ]
    }
}

/// Compact JSON with a final newline, slashes unescaped.
func encodeLine(_ value: some Encodable) -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.withoutEscapingSlashes]
    let data = (try? encoder.encode(value)) ?? Data("null".utf8)
    return Array(data) + [0x0A]
}
