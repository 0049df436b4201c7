import Dispatch
import FoundationEssentials
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The kind of operation a user asked for, as events and metrics name it.
public enum OperationKind: String, Sendable, CaseIterable {
    case acquire, claim, release, add, addClaimed = "add_claimed", remove, update
    case check, checkUnclaimed = "check_unclaimed"

    /// The line printed once the change was pushed (`acquired!`, …); checks print none.
    public var successWord: String? {
        switch self {
        case .acquire: "acquired!"
        case .claim: "claimed!"
        case .update: "updated!"
        case .release: "released!"
        case .remove: "removed!"
        case .add, .addClaimed: "added!"
        case .check, .checkUnclaimed: nil
        }
    }
}

/// Something a user should see while an operation runs; `ProgressPrinter` renders the SPEC's texts.
public enum PoolEvent: Sendable, Equatable {
    /// The operation began (`acquiring lock on: P`, …).
    case started(OperationKind, lock: String?, pool: String, claimed: Bool)
    /// Waiting began: for a free lock, for the lock to become unclaimed, or to become claimed.
    case waitingStarted(OperationKind)
    /// One poll while waiting.
    case poll
    /// A lost push race.
    case lostRace
    /// The holders of the locks waited for (at most five of `total`), sent when the tip moved, if asked for.
    case holders([LockStatus], total: Int, waitingForClaim: Bool)
    /// The periodic line naming holders: `waiting 1m30s: env-1 claimed by … since …`.
    case waitingStatus(String)
    /// A no-op add or update.
    case nothingToCommit(lock: String, pool: String)
    /// A transient network failure that will be retried.
    case networkRetry(attempt: Int, of: Int, cause: String)
    /// A warning that does not fail the operation.
    case warning(String)
    /// The change was pushed (or the check condition holds).
    case succeeded(OperationKind)
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

/// Coordinates SIGTERM/SIGINT with a push in flight: outside a push, a signal ends the process at once; during a
/// push it is remembered, so that a won claim can be undone before exiting.
public final class Interruption: Sendable {
    private enum Phase { case idle, pushing, interruptedDuringPush, finishing }
    private let phase = Mutex(Phase.idle)

    public init() {}

    /// What the signal handler should do now.
    public enum Response: Sendable { case exitNow, deferred }

    /// Called from the signal handler.
    public func signalReceived() -> Response {
        phase.withLock { phase in
            switch phase {
            case .idle: return .exitNow
            case .pushing, .interruptedDuringPush:
                phase = .interruptedDuringPush
                return .deferred
            case .finishing: return .deferred
            }
        }
    }

    /// Marks a push as in flight.
    func beginPush() { phase.withLock { $0 = .pushing } }

    /// Ends the push; returns whether a signal arrived during it. `keepDeferring` keeps later signals deferred
    /// (the operation is finishing: compensating or reporting a won change).
    func endPush(keepDeferring: Bool) -> Bool {
        phase.withLock { phase in
            let interrupted = phase == .interruptedDuringPush
            phase = keepDeferring ? .finishing : .idle
            return interrupted
        }
    }
}

extension Interruption {
    /// Handles SIGTERM and SIGINT: outside a push, `exitNow` runs at once (it prints and exits); during a push the
    /// signal is remembered, so that a won claim can be undone. Keep the returned sources alive while running.
    public func installSignalHandlers(exitNow: @escaping @Sendable () -> Void) -> [any DispatchSourceSignal] {
        [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in
                if signalReceived() == .exitNow { exitNow() }
            }
            source.resume()
            return source
        }
    }
}
