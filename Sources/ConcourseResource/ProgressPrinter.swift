import LockPool
import Synchronization

extension OperationKind {
    /// The line printed once the change was pushed (`acquired!`, …); checks print none.
    public var successWord: String? {
        switch self {
        case .acquire: "acquired!"
        case .claim: "claimed!"
        case .update: "updated!"
        case .release: "released!"
        case .remove: "removed!"
        case .add, .addClaimed: "added!"
        case .renew: "renewed!"
        case .check, .checkUnclaimed: nil
        }
    }
}

/// Renders `PoolEvent`s as the upstream resource's stderr lines, keeping track of the dots line.
public final class ProgressPrinter: Sendable {
    private let write: @Sendable (String) -> Void
    private let midLine = Mutex(false)

    /// - Parameter write: receives text to append to stderr (or a terminal), already with newlines.
    public init(write: @escaping @Sendable (String) -> Void) { self.write = write }

    /// Prints a full line, ending a dots line first.
    public func line(_ text: String) {
        let prefix = midLine.withLock { midLine in
            defer { midLine = false }
            return midLine ? "\n" : ""
        }
        write(prefix + text + "\n")
    }

    /// Renders one event.
    public func handle(_ event: PoolEvent) {
        switch event {
        case .started(let kind, let lock, let pool, let claimed):
            let lock = lock ?? ""
            switch kind {
            case .acquire: line("acquiring lock on: \(pool)")
            case .claim: line("claiming lock on: \(lock)")
            case .update: line("updating lock: \(lock) in pool: \(pool)")
            case .release: line("releasing lock: \(lock) on pool: \(pool)")
            case .remove: line("removing lock: \(lock) on pool: \(pool)")
            case .add, .addClaimed:
                line("adding \(claimed ? "claimed" : "unclaimed") lock: \(lock) to pool: \(pool)")
            case .check, .checkUnclaimed: line("checking lock: \(lock) in pool: \(pool)")
            case .renew: line("renewing the lease of lock: \(lock) in pool: \(pool)")
            }
        case .waitingStarted(let kind):
            switch kind {
            case .check: line("waiting for lock to become unclaimed")
            case .checkUnclaimed: line("waiting for lock to become claimed")
            default: line("waiting for lock")
            }
        case .poll, .lostRace:
            midLine.withLock { $0 = true }
            write(".")
        case .waitingStatus(let text): line(text)
        case .holders: break
        case .nothingToCommit(let lock, let pool):
            line("lock '\(lock)' in pool '\(pool)' already has this content; nothing to commit")
        case .networkRetry(let attempt, let of, let cause):
            line("network error, retrying (attempt \(attempt) of \(of)): \(cause)")
        case .warning(let text): line("warning: \(text)")
        case .succeeded(let kind):
            let word = kind.successWord
            let wasMidLine = midLine.withLock { midLine in
                defer { midLine = false }
                return midLine
            }
            if let word {
                write("\n\(word)\n")
            } else if wasMidLine {
                write("\n")
            }
        }
    }
}
