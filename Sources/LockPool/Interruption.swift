import Synchronization

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
