#if canImport(Glibc)
    import Glibc
#endif

/// Standard output and standard error, written with `write(2)`, and standard input, read with `read(2)`
/// (Foundation's `FileHandle` is outside FoundationEssentials, the only Foundation the image's binary links).
public enum StandardStream: Int32, Sendable {
    case output = 1
    case error = 2

    /// Writes all of `bytes`, resuming after a signal or a partial write. A failed write (a closed pipe) drops the
    /// rest: there is nowhere left to report it.
    public func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(rawValue, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return }
                offset += written
            }
        }
    }

    public func write(_ text: String) { write(Array(text.utf8)) }

    /// Reads standard input to end of file with `read(2)` into one growing buffer, or returns nil as soon as it holds
    /// more than `limit` bytes: the rest is never read, so a runaway producer costs at most that much memory (plus one
    /// growth step), not its whole output. A read error ends the input.
    public static func readInput(atMost limit: Int) -> [UInt8]? {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            guard bytes.count + count <= limit else { return nil }
            bytes.append(contentsOf: chunk[..<count])
        }
        return bytes
    }
}
