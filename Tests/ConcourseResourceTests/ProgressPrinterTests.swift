import ConcourseResource
import LockPool
import Synchronization
import Testing

/// Renders events into one string, exactly as they would reach stderr.
private func render(_ events: [PoolEvent]) -> String {
    let output = Mutex("")
    let printer = ProgressPrinter { text in output.withLock { $0 += text } }
    for event in events { printer.handle(event) }
    return output.withLock { $0 }
}

struct RenderedCase: Sendable, CustomTestStringConvertible {
    let name: String
    let events: [PoolEvent]
    let expected: String
    var testDescription: String { name }
}

@Suite struct ProgressPrinterTests {
    static let startedCases: [RenderedCase] = [
        RenderedCase(
            name: "acquire", events: [.started(.acquire, lock: nil, pool: "envs", claimed: false)],
            expected: "acquiring lock on: envs\n"),
        RenderedCase(
            name: "claim", events: [.started(.claim, lock: "env-1", pool: "envs", claimed: false)],
            expected: "claiming lock on: env-1\n"),
        RenderedCase(
            name: "update", events: [.started(.update, lock: "env-1", pool: "envs", claimed: false)],
            expected: "updating lock: env-1 in pool: envs\n"),
        RenderedCase(
            name: "release", events: [.started(.release, lock: "env-1", pool: "envs", claimed: false)],
            expected: "releasing lock: env-1 on pool: envs\n"),
        RenderedCase(
            name: "remove", events: [.started(.remove, lock: "env-1", pool: "envs", claimed: false)],
            expected: "removing lock: env-1 on pool: envs\n"),
        RenderedCase(
            name: "add", events: [.started(.add, lock: "env-1", pool: "envs", claimed: false)],
            expected: "adding unclaimed lock: env-1 to pool: envs\n"),
        RenderedCase(
            name: "add_claimed", events: [.started(.addClaimed, lock: "env-1", pool: "envs", claimed: true)],
            expected: "adding claimed lock: env-1 to pool: envs\n"),
        RenderedCase(
            name: "check", events: [.started(.check, lock: "env-1", pool: "envs", claimed: false)],
            expected: "checking lock: env-1 in pool: envs\n"),
        RenderedCase(
            name: "check_unclaimed", events: [.started(.checkUnclaimed, lock: "env-1", pool: "envs", claimed: false)],
            expected: "checking lock: env-1 in pool: envs\n"),
        RenderedCase(
            name: "names printed as given",
            events: [.started(.claim, lock: "%s {x} é", pool: "ops/%d", claimed: false)],
            expected: "claiming lock on: %s {x} é\n"),
    ]

    static let waitingCases: [RenderedCase] = [
        RenderedCase(name: "acquire", events: [.waitingStarted(.acquire)], expected: "waiting for lock\n"),
        RenderedCase(name: "claim", events: [.waitingStarted(.claim)], expected: "waiting for lock\n"),
        RenderedCase(name: "update", events: [.waitingStarted(.update)], expected: "waiting for lock\n"),
        RenderedCase(
            name: "check", events: [.waitingStarted(.check)], expected: "waiting for lock to become unclaimed\n"),
        RenderedCase(
            name: "check_unclaimed", events: [.waitingStarted(.checkUnclaimed)],
            expected: "waiting for lock to become claimed\n"),
    ]

    static let successCases: [RenderedCase] = [
        RenderedCase(name: "acquire", events: [.succeeded(.acquire)], expected: "\nacquired!\n"),
        RenderedCase(name: "claim", events: [.succeeded(.claim)], expected: "\nclaimed!\n"),
        RenderedCase(name: "update", events: [.succeeded(.update)], expected: "\nupdated!\n"),
        RenderedCase(name: "release", events: [.succeeded(.release)], expected: "\nreleased!\n"),
        RenderedCase(name: "remove", events: [.succeeded(.remove)], expected: "\nremoved!\n"),
        RenderedCase(name: "add", events: [.succeeded(.add)], expected: "\nadded!\n"),
        RenderedCase(name: "add_claimed", events: [.succeeded(.addClaimed)], expected: "\nadded!\n"),
        RenderedCase(name: "check prints nothing", events: [.succeeded(.check)], expected: ""),
        RenderedCase(name: "check_unclaimed prints nothing", events: [.succeeded(.checkUnclaimed)], expected: ""),
    ]

    static let sequenceCases: [RenderedCase] = [
        RenderedCase(
            name: "acquire without waiting",
            events: [.started(.acquire, lock: nil, pool: "envs", claimed: false), .succeeded(.acquire)],
            expected: "acquiring lock on: envs\n\nacquired!\n"),
        RenderedCase(
            name: "acquire after waiting: dots end before acquired!",
            events: [
                .started(.acquire, lock: nil, pool: "envs", claimed: false), .waitingStarted(.acquire),
                .waitingStatus("waiting 0s: env-1 claimed by one-off build 77 since 2026-05-02T09:58:00Z"), .poll,
                .poll, .poll, .succeeded(.acquire),
            ],
            expected:
                "acquiring lock on: envs\nwaiting for lock\nwaiting 0s: env-1 claimed by one-off build 77 since 2026-05-02T09:58:00Z\n...\nacquired!\n"
        ),
        RenderedCase(
            name: "a status line after dots starts on a new line",
            events: [.waitingStarted(.claim), .poll, .poll, .waitingStatus("waiting 30s: env-1 claimed"), .poll],
            expected: "waiting for lock\n..\nwaiting 30s: env-1 claimed\n."),
        RenderedCase(
            name: "lost races print one dot each",
            events: [.started(.claim, lock: "a", pool: "p", claimed: false), .lostRace, .lostRace, .succeeded(.claim)],
            expected: "claiming lock on: a\n..\nclaimed!\n"),
        RenderedCase(
            name: "no-op add",
            events: [
                .started(.add, lock: "l", pool: "p", claimed: false), .nothingToCommit(lock: "l", pool: "p"),
                .succeeded(.add),
            ],
            expected:
                "adding unclaimed lock: l to pool: p\nlock 'l' in pool 'p' already has this content; nothing to commit\n\nadded!\n"
        ),
        RenderedCase(
            name: "warning", events: [.warning("forward_agent has no effect in lockpool")],
            expected: "warning: forward_agent has no effect in lockpool\n"),
        RenderedCase(
            name: "warning after dots", events: [.poll, .warning("x")], expected: ".\nwarning: x\n"),
        RenderedCase(
            name: "network retry", events: [.networkRetry(attempt: 2, of: 5, cause: "connection refused")],
            expected: "network error, retrying (attempt 2 of 5): connection refused\n"),
        RenderedCase(
            name: "network retry after dots",
            events: [.poll, .networkRetry(attempt: 5, of: 5, cause: "timed out"), .poll],
            expected: ".\nnetwork error, retrying (attempt 5 of 5): timed out\n."),
    ]

    @Test(arguments: startedCases) func startedLines(_ c: RenderedCase) { #expect(render(c.events) == c.expected) }
    @Test(arguments: waitingCases) func waitingLines(_ c: RenderedCase) { #expect(render(c.events) == c.expected) }
    @Test(arguments: successCases) func successLines(_ c: RenderedCase) { #expect(render(c.events) == c.expected) }
    @Test(arguments: sequenceCases) func sequences(_ c: RenderedCase) { #expect(render(c.events) == c.expected) }

    @Test func checkThatWaitedStillEndsTheDotsLineBeforeALaterLine() {
        // A check prints no success word, but a later line (e.g. the metrics warning of docs/resource.md#metrics) must
        // not be glued to the dots.
        #expect(
            render([.waitingStarted(.check), .poll, .succeeded(.check), .warning("late")])
                == "waiting for lock to become unclaimed\n.\nwarning: late\n")
    }

    @Test func lineEndsADotsLine() {
        let output = Mutex("")
        let printer = ProgressPrinter { text in output.withLock { $0 += text } }
        printer.line("first")
        printer.handle(.poll)
        printer.line("second")
        printer.line("third")
        #expect(output.withLock { $0 } == "first\n.\nsecond\nthird\n")
    }

    /// Every event whose text is progress, waiting or a lost race (not a warning or a network retry).
    static var progressEvents: [PoolEvent] {
        var events: [PoolEvent] = []
        for kind in OperationKind.allCases {
            events.append(.started(kind, lock: "env-1", pool: "envs", claimed: kind == .addClaimed))
            events.append(.started(kind, lock: "env-1", pool: "envs", claimed: false))
            events.append(.waitingStarted(kind))
            events.append(.succeeded(kind))
        }
        events += [
            .poll, .lostRace, .nothingToCommit(lock: "env-1", pool: "envs"),
            .waitingStatus("waiting 1m30s: env-1 claimed by main/deploy/apply build 42 since 2026-05-02T10:04:11Z"),
        ]
        return events
    }

    @Test func progressWaitingAndLostRaceTextNeverContainsErr() {
        for event in Self.progressEvents {
            let text = render([.poll, event, .lostRace])
            #expect(!text.lowercased().contains("err"), "\(event): \(text)")
        }
    }

    @Test func onlyWarningsAndNetworkRetriesMayContainErr() {
        #expect(render([.networkRetry(attempt: 2, of: 5, cause: "reset")]).contains("error"))
        #expect(render([.warning("x")]).hasPrefix("warning: "))
    }
}
