import Foundation
import Testing

@testable import LockPool

@Suite struct FairQueueTests {
    private let now = Date(timeIntervalSince1970: 1_777_730_400)

    private func ticket(_ name: String, _ demand: QueueTicket.Demand, expiresIn seconds: Double = 60) -> QueueTicket {
        QueueTicket(name: name, expires: now + seconds, demand: demand, holder: "h")
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        /// Queued tickets: name, demand, whether expired.
        let queue: [(String, QueueTicket.Demand, Bool)]
        let demand: QueueTicket.Demand
        let mine: String?
        let free: [String]
        let expected: Bool
        var testDescription: String { name }
    }

    @Test(arguments: [
        Case(name: "empty queue", queue: [], demand: .any(1), mine: nil, free: ["a"], expected: true),
        Case(
            name: "no ticket while someone waits", queue: [("001", .any(1), false)], demand: .any(1), mine: nil,
            free: ["a"], expected: false),
        Case(
            name: "oldest ticket", queue: [("001", .any(1), false), ("002", .any(1), false)], demand: .any(1),
            mine: "001", free: ["a"], expected: true),
        Case(
            name: "second ticket, one free", queue: [("001", .any(1), false), ("002", .any(1), false)],
            demand: .any(1), mine: "002", free: ["a"], expected: false),
        Case(
            name: "second ticket, two free", queue: [("001", .any(1), false), ("002", .any(1), false)],
            demand: .any(1), mine: "002", free: ["a", "b"], expected: true),
        Case(
            name: "an expired ticket ahead is skipped", queue: [("001", .any(1), true), ("002", .any(1), false)],
            demand: .any(1), mine: "002", free: ["a"], expected: true),
        Case(
            name: "a set ahead reserves two", queue: [("001", .any(2), false), ("002", .any(1), false)],
            demand: .any(1), mine: "002", free: ["a", "b"], expected: false),
        Case(
            name: "a set ahead leaves the third", queue: [("001", .any(2), false), ("002", .any(1), false)],
            demand: .any(1), mine: "002", free: ["a", "b", "c"], expected: true),
        Case(
            name: "claim of a lock an older claim wants", queue: [("001", .lock("b"), false)], demand: .lock("b"),
            mine: "002", free: ["a", "b"], expected: false),
        Case(
            name: "claim of another free lock", queue: [("001", .lock("b"), false)], demand: .lock("a"),
            mine: "002", free: ["a", "b"], expected: true),
        Case(name: "claim of a claimed lock", queue: [], demand: .lock("z"), mine: nil, free: ["a"], expected: false),
        Case(
            name: "an older claim of a claimed lock reserves nothing", queue: [("001", .lock("z"), false)],
            demand: .any(1), mine: "002", free: ["a"], expected: true),
    ])
    func mayProceed(_ c: Case) {
        let tickets = c.queue.map { ticket($0.0, $0.1, expiresIn: $0.2 ? -1 : 60) }
        #expect(FairQueue.mayProceed(c.demand, mine: c.mine, tickets: tickets, free: c.free, now: now) == c.expected)
    }

    @Test func ticketsRoundTripThroughTheirFile() throws {
        let original = QueueTicket(
            name: "001777730400000-0000abcd", expires: Date(timeIntervalSince1970: 1_777_730_460.25),
            demand: .any(3), holder: "main/deploy/apply build 42")
        let text = String(decoding: original.content, as: UTF8.self)
        #expect(text == "expires: 2026-05-02T14:01:00.250Z\nwants: any 3\nholder: main/deploy/apply build 42\n")
        #expect(QueueTicket.parse(name: original.name, content: original.content) == original)
        let claim = QueueTicket(name: "x", expires: original.expires, demand: .lock("env 1"), holder: "a\nb")
        #expect(QueueTicket.parse(name: "x", content: claim.content)?.demand == .lock("env 1"))
        #expect(QueueTicket.parse(name: "x", content: claim.content)?.holder == "a b")
        #expect(QueueTicket.parse(name: "x", content: Array("wants: any 1\n".utf8)) == nil)
        #expect(QueueTicket.parse(name: "x", content: Array("expires: soon\nwants: any 1\n".utf8)) == nil)
    }

    @Test func freshTicketsSortByCreationTime() {
        let first = QueueTicket.fresh(now: now, lifetime: .seconds(5), demand: .any(1), holder: "")
        let second = QueueTicket.fresh(now: now + 0.001, lifetime: .seconds(5), demand: .any(1), holder: "")
        #expect(first.name < second.name)
        #expect(first.name.count == 24)
        #expect(first.expires == now + 5)
        #expect(FairQueue.lifetime(retryDelay: .milliseconds(100)) == .seconds(5))
        #expect(FairQueue.lifetime(retryDelay: .seconds(10)) == .seconds(100))
    }
}
