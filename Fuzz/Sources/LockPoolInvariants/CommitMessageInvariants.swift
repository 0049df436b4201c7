import Foundation
import LockPool

/// What must hold for the commit-message readers (`Trailers`, `Holder.from`, `Holder.leaseExpiry`,
/// `Holder.claimCommit`, `CommitMessage.lockNames`, as `PoolTimeline` and `PoolHistory` use them) and for
/// `CommitMessage.rendered()`. Used by the `fuzz-commit-message` target and by the main package's FuzzRegressionTests.
///
/// An input whose first byte is even is a free-form message (the rest of the bytes); an odd first byte makes the rest
/// the fields of a `CommitMessage`, which is rendered and must read back as written (round trip).
public enum CommitMessageInvariants {
    /// Checks one input.
    ///
    /// - Returns: a description of every invariant broken; empty when all hold.
    public static func check(_ bytes: [UInt8]) -> [String] {
        guard let mode = bytes.first else { return [] }
        let rest = Array(bytes.dropFirst())
        if mode % 2 == 0 { return checkReaders(String(decoding: rest, as: UTF8.self)) }
        let message = structured(rest, mode: mode)
        let text = message.rendered()
        return checkReaders(text) + checkRoundTrip(message, text)
    }

    /// Invariants of the readers on any message.
    static func checkReaders(_ message: String) -> [String] {
        var violations: [String] = []
        let trailers = Trailers.parse(message)
        if !trailers.elementsEqual(Trailers.parse(message), by: same) { violations.append("Trailers.parse varies") }
        for (key, value) in trailers {
            if key.isEmpty || !key.unicodeScalars.allSatisfy(isKeyScalar) {
                violations.append("trailer key \(NameRule.jsonQuoted(key)) is not [A-Za-z0-9-]+")
            }
            if value.contains("\n") { violations.append("trailer value \(NameRule.jsonQuoted(value)) spans lines") }
            if let first = value.unicodeScalars.first, let last = value.unicodeScalars.last,
                isSpace(first) || isSpace(last)
            {
                violations.append("trailer value \(NameRule.jsonQuoted(value)) is not trimmed")
            }
        }
        for key in Set(trailers.map { $0.key.lowercased() }) {
            let expected = trailers.first { $0.key.lowercased() == key }?.value
            if Trailers.value(key.uppercased(), in: message) != expected {
                violations.append("Trailers.value(\(key)) is not the first such trailer")
            }
        }
        let holder = Holder.from(message: message, committerName: "C", committerEmail: "c@example.com")
        if holder.description.isEmpty { violations.append("Holder.from gave an empty description") }
        if holder != Holder.from(message: message, committerName: "C", committerEmail: "c@example.com") {
            violations.append("Holder.from varies")
        }
        _ = Holder.leaseExpiry(in: message)
        if let claim = Holder.claimCommit(in: message), claim.isEmpty { violations.append("empty Lock-Claim") }
        _ = CommitMessage.lockNames(in: message)
        return violations
    }

    /// Invariants of a rendered message read back.
    static func checkRoundTrip(_ message: CommitMessage, _ text: String) -> [String] {
        var violations: [String] = []
        let shown = NameRule.jsonQuoted(text)
        let expected = message.trailers
        let parsed = Trailers.parse(text)
        if !parsed.elementsEqual(expected, by: same) {
            violations.append("trailers of \(shown) read back as \(parsed), written \(expected)")
        }
        func written(_ key: String) -> String? { expected.first { $0.key.lowercased() == key.lowercased() }?.value }
        if !text.hasPrefix(message.subject + "\n\n") || message.subject.contains("\n") {
            violations.append("subject of \(shown) is not one line")
        }
        // Lock names: the set when there is one, else the lock.
        let names = CommitMessage.lockNames(in: text)
        let wantNames = message.lockSet.count > 1 ? message.lockSet : written("Lock-Name").map { [$0] } ?? []
        if names != wantNames { violations.append("lockNames of \(shown) = \(names), expected \(wantNames)") }
        // The build, as far as trailers name it.
        let holder = Holder.from(message: text, committerName: "C", committerEmail: "c@example.com")
        let fields: [(String, String?)] = [
            ("Build-Team", holder.build?.team), ("Build-Pipeline", holder.build?.pipeline),
            ("Build-Job", holder.build?.job), ("Build-Name", holder.build?.name), ("Build-Id", holder.build?.id),
            ("Build-Pipeline-Instance-Vars", holder.build?.instanceVars), ("Build-URL", holder.build?.url),
        ]
        for (key, read) in fields {
            if let want = written(key), read != want {
                violations.append("Holder.from(\(shown)) reads \(key) as \(read ?? "nil"), written \(want)")
            }
        }
        // Lease, claim and wait.
        let lease = Holder.leaseExpiry(in: text)
        let wantLease = message.leaseExpires.map {
            Date(timeIntervalSince1970: $0.timeIntervalSince1970.rounded(.down))
        }
        if lease != wantLease { violations.append("lease of \(shown) = \(String(describing: lease))") }
        if Holder.claimCommit(in: text) != written("Lock-Claim") { violations.append("Lock-Claim of \(shown) differs") }
        if let waited = message.waited {
            let read = written("Lock-Waited").flatMap { try? GoDuration.parse($0) }
            let (seconds, attoseconds) = max(waited, .zero).components
            let want = Duration.seconds(seconds) + .milliseconds(attoseconds / 1_000_000_000_000_000)
            if read != want { violations.append("Lock-Waited of \(shown) = \(String(describing: read)), want \(want)") }
        }
        return violations
    }

    /// A message built from fields separated by NUL bytes; `mode` picks the operation and which optional parts exist.
    static func structured(_ bytes: [UInt8], mode: UInt8) -> CommitMessage {
        var fields = bytes.split(separator: 0, omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self)
        }
        func next() -> String? { fields.isEmpty ? nil : fields.removeFirst() }
        let operations = LockOperation.allCases
        let operation = operations[Int(mode / 2) % operations.count]
        let pool = next() ?? "pool"
        let lock = next() ?? "lock"
        let build = BuildInfo(
            team: next(), pipeline: next(), job: next(), name: next(), id: next(), instanceVars: next(), url: next())
        let claim = next()
        let numbers = Array((next() ?? "").utf8)
        func number(_ offset: Int) -> UInt32 {
            numbers.dropFirst(offset).prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        }
        let lease = mode & 0x20 != 0 ? Date(timeIntervalSince1970: Double(number(0)) + Double(number(4)) / 1e9) : nil
        let waited = mode & 0x40 != 0 ? Duration.milliseconds(Int64(number(8))) + .nanoseconds(number(12)) : nil
        var extra: [TrailerField] = []
        if let reason = next() { extra.append(TrailerField("Reap-Reason", reason)) }
        if let key = next(), let value = next() {
            let safeKey = "X-" + String(key.unicodeScalars.filter(isKeyScalar).map(Character.init))
            extra.append(TrailerField(safeKey, value))
        }
        let lockSet = mode & 0x80 != 0 ? Array(fields.prefix(5)) : []
        return CommitMessage(
            operation: operation, pool: pool, lock: lockSet.first ?? lock, claimCommit: claim, leaseExpires: lease,
            waited: waited, build: build, tool: "lockpool fuzz", nonce: "0123456789abcdef0123456789abcdef",
            extraTrailers: extra, lockSet: lockSet)
    }

    private static func same(_ a: (key: String, value: String), _ b: (key: String, value: String)) -> Bool {
        a.key == b.key && a.value == b.value
    }

    static func isKeyScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", "-": true
        default: false
        }
    }

    private static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        scalar == " " || scalar == "\t" || scalar == "\n" || scalar == "\r"
    }
}
