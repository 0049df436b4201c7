import ConcourseResource
import FoundationEssentials
import LockPool
import Synchronization

/// Shows an operation's progress on stderr: a live status line on a terminal, plain lines otherwise.
public protocol ProgressView: Sendable {
    /// Renders one event.
    func handle(_ event: PoolEvent)
    /// Prints a line of its own (a warning, a result note), keeping the live line intact.
    func line(_ text: String)
    /// Stops any live rendering; the line is cleared.
    func finish()
}

/// Plain lines for logs and pipes: the upstream resource's lines without the dots, the waiting line at most every
/// 30 s (as the core sends it), and the outcome.
public final class PlainProgress: ProgressView {
    private let write: @Sendable (String) -> Void

    public init(write: @escaping @Sendable (String) -> Void) { self.write = write }

    public func line(_ text: String) { write(text + "\n") }

    public func handle(_ event: PoolEvent) {
        let printer = ProgressPrinter(write: write)
        switch event {
        case .poll, .lostRace, .holders: break
        case .succeeded(let kind):
            let word = kind.successWord
            if let word { line(word) }
        default: printer.handle(event)
        }
    }

    public func finish() {}
}

/// The live status line of a terminal: who holds the locks waited for and since when, the elapsed wait, polls and
/// lost races, redrawn in place every second and whenever something changes. Colour unless `NO_COLOR`.
public final class LiveStatusLine: ProgressView {
    private struct State {
        var waitingSince: ContinuousClock.Instant?
        var kind: OperationKind = .acquire
        var pool = ""
        var holders: [LockStatus] = []
        var total = 0
        var waitingForClaim = false
        var polls = 0
        var lostRaces = 0
        var shown = false
        var ticker: Task<Void, Never>?
    }

    private let state = Mutex(State())
    private let write: @Sendable (String) -> Void
    private let terminal: Terminal
    private let width: @Sendable () -> Int
    private let now: @Sendable () -> Date

    public init(
        terminal: Terminal, write: @escaping @Sendable (String) -> Void,
        width: @escaping @Sendable () -> Int = { Terminal.stderrWidth }, now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.terminal = terminal
        self.write = write
        self.width = width
        self.now = now
    }

    public func line(_ text: String) {
        state.withLock { state in
            var output = state.shown ? "\r\u{1B}[2K" : ""
            output += text + "\n"
            if state.waitingSince != nil { output += render(state) }
            write(output)
        }
    }

    public func handle(_ event: PoolEvent) {
        switch event {
        case .started(let kind, let lock, let pool, let claimed):
            state.withLock {
                $0.kind = kind
                $0.pool = pool
            }
            let what = lock.map { "'\($0)' in pool '\(pool)'" } ?? "a lock in pool '\(pool)'"
            let verb =
                switch kind {
                case .acquire, .claim: "claiming"
                case .release: "releasing"
                case .remove: "removing"
                case .add, .addClaimed: claimed ? "adding claimed" : "adding"
                case .update: "updating"
                case .check, .checkUnclaimed: "checking"
                case .renew: "renewing the lease of"
                }
            line(terminal.styled("\(verb) \(what)", .dim))
        case .waitingStarted:
            state.withLock { state in
                state.waitingSince = .now
                state.shown = true
                write(render(state))
                state.ticker = Task { [weak self] in
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(1))
                        self?.redraw()
                    }
                }
            }
        case .poll: update { $0.polls += 1 }
        case .lostRace: update { $0.lostRaces += 1 }
        case .holders(let holders, let total, let waitingForClaim):
            update {
                $0.holders = holders
                $0.total = total
                $0.waitingForClaim = waitingForClaim
            }
        case .waitingStatus: break
        case .nothingToCommit(let lock, let pool):
            line("lock '\(lock)' in pool '\(pool)' already has this content; nothing to commit")
        case .networkRetry(let attempt, let of, let cause):
            line(terminal.styled("network error, retrying (attempt \(attempt) of \(of)): \(cause)", .yellow))
        case .warning(let text): line(terminal.styled("warning: \(text)", .yellow))
        case .succeeded(let kind):
            finish()
            let word = kind.successWord
            if let word { line(terminal.styled(word, .green)) }
        }
    }

    public func finish() {
        state.withLock { state in
            state.ticker?.cancel()
            state.ticker = nil
            state.waitingSince = nil
            if state.shown { write("\r\u{1B}[2K") }
            state.shown = false
        }
    }

    private func update(_ change: (inout State) -> Void) {
        state.withLock { state in
            change(&state)
            if state.waitingSince != nil { write(render(state)) }
        }
    }

    private func redraw() { update { _ in } }

    /// The line, truncated to the terminal width, after a carriage return and erase-line.
    private func render(_ state: State) -> String {
        let elapsed = state.waitingSince.map { Duration.seconds($0.duration(to: .now).components.seconds) } ?? .zero
        let head = "waiting \(elapsed.goDescription)"
        var parts: [String] = []
        let date = now()
        for holder in state.holders {
            let age = holder.since.map { " for \(HumanTime.rough(date.timeIntervalSince($0)))" } ?? ""
            if state.waitingForClaim {
                parts.append("\(holder.lock) unclaimed\(age)")
                continue
            }
            var part = "\(holder.lock) claimed" + (holder.holder.map { " by \($0.description)" } ?? "") + age
            if let expiry = holder.leaseExpires {
                part +=
                    expiry <= date
                    ? ", lease expired \(HumanTime.rough(date.timeIntervalSince(expiry))) ago (lockpool reap frees it)"
                    : ", lease ends in \(HumanTime.rough(expiry.timeIntervalSince(date)))"
            }
            parts.append(part)
        }
        if state.total > state.holders.count, !state.holders.isEmpty {
            parts.append("and \(state.total - state.holders.count) more")
        }
        if parts.isEmpty {
            parts.append(
                state.kind == .acquire ? "no unclaimed lock in pool '\(state.pool)'" : "checking pool '\(state.pool)'")
        }
        parts.append("\(state.polls) poll\(state.polls == 1 ? "" : "s")")
        if state.lostRaces > 0 { parts.append("\(state.lostRaces) lost race\(state.lostRaces == 1 ? "" : "s")") }
        var rest = ": " + parts.joined(separator: " · ")
        let room = max(10, width() - 1) - head.count
        if rest.count > room { rest = String(rest.prefix(max(0, room - 1))) + "…" }
        return "\r\u{1B}[2K" + terminal.styled(head, .yellow) + rest
    }
}
