import Git

/// How a push ended when it did not fail for good.
enum PushOutcome: Equatable {
    case won
    /// The branch moved (docs/concurrency.md#lost-races).
    case lost
    /// A network failure (docs/concurrency.md#retry-bounds-at-a-glance); the push may still have landed.
    case transient(String)
}

/// A commit on its way to the branch, with the interruption state of its push (docs/concurrency.md#interruption).
///
/// Until its outcome is known it is the operation's pending push: when the push fails with an unknown outcome (the
/// connection broke after the pack left) or the cache turns out damaged after it, the next attempt asks whether the
/// tip it fetched descends from the commit, and if so the push had won.
struct PushInFlight: Equatable {
    let commit: ObjectID
    /// The tip the commit was made on (its first parent).
    let parent: ObjectID
    /// The locks the commit changes.
    let locks: [String]

    /// What became of the push.
    enum Outcome: Equatable {
        /// On the branch. `interrupted`: SIGTERM or SIGINT arrived while it was in flight; later signals stay
        /// deferred while the operation finishes (undoing a claim, or reporting the change).
        case won(interrupted: Bool)
        case lost
        /// Not known: the next attempt judges it with `landed(on:in:)`.
        case unknown(cause: String)
    }

    /// Sends the commit with `send`, marking the push phase on `interruption`: a signal that arrives meanwhile is
    /// deferred until the outcome is known.
    ///
    /// - Throws: `LockPoolError.interrupted` when a signal arrived during a push that did not win; what `send` throws.
    func send(interruption: Interruption?, _ send: (ObjectID) throws -> PushOutcome) throws -> Outcome {
        interruption?.beginPush()
        let outcome: PushOutcome
        do {
            outcome = try send(commit)
        } catch {
            if interruption?.endPush(keepDeferring: false) == true { throw LockPoolError.interrupted }
            throw error
        }
        switch outcome {
        case .won:
            return .won(interrupted: interruption?.endPush(keepDeferring: true) ?? false)
        case .lost, .transient:
            if interruption?.endPush(keepDeferring: false) == true { throw LockPoolError.interrupted }
            if case .transient(let cause) = outcome { return .unknown(cause: cause) }
            return .lost
        }
    }

    /// Whether the push landed after all: the first-parent walk from `tip` meets the commit before its parent. Meeting
    /// the parent first means another commit took the place after it. Only ids are compared, so the answer does not
    /// depend on the commit being in `repository` (a rebuilt or deepened cache may not hold it).
    ///
    /// - Throws: `HistoryTruncated` when a shallow cache ends before either is met (docs/concurrency.md#a-shallow-cache).
    func landed(on tip: ObjectID, in repository: Repository) throws -> Bool {
        var landed = false
        try repository.walkFirstParentIDs(from: tip) { id in
            landed = id == commit
            return !landed && id != parent
        }
        return landed
    }
}
