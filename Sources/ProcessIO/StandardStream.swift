import SystemPackage

/// Standard output and standard error, written through swift-system's `FileDescriptor`, and standard input, read
/// through it (Foundation's `FileHandle` is outside FoundationEssentials, the only Foundation the image's binary links).
public enum StandardStream: Sendable {
    /// Standard output (descriptor 1): results only, JSON for Concourse and plain lines for `lockpool`.
    case output
    /// Standard error (descriptor 2): progress, warnings, errors and log lines.
    case error

    /// The file descriptor: 1 or 2.
    public var fileDescriptor: FileDescriptor {
        switch self {
        case .output: .standardOutput
        case .error: .standardError
        }
    }

    /// Writes all of `bytes`, resuming after a signal (`EINTR`) or a partial write. A failed write (a closed pipe)
    /// drops the rest: there is nowhere left to report it.
    public func write(_ bytes: [UInt8]) {
        let descriptor = fileDescriptor
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let rest = UnsafeRawBufferPointer(rebasing: buffer[offset...])
                guard let written = try? descriptor.write(rest, retryOnInterrupt: true), written > 0 else { return }
                offset += written
            }
        }
    }

    /// Writes `text` as UTF-8.
    public func write(_ text: String) { write(Array(text.utf8)) }

    /// Reads standard input to end of file into one growing buffer, or returns nil as soon as it holds more than
    /// `limit` bytes: the rest is never read, so a runaway producer costs at most that much memory (plus one growth
    /// step), not its whole output. A read is resumed after a signal (`EINTR`); a read error ends the input.
    public static func readInput(atMost limit: Int) -> [UInt8]? {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes {
                (try? FileDescriptor.standardInput.read(into: $0, retryOnInterrupt: true)) ?? 0
            }
            guard count > 0 else { break }
            guard bytes.count + count <= limit else { return nil }
            bytes.append(contentsOf: chunk[..<count])
        }
        return bytes
    }
}
