import Foundation
import Git
import Testing

@testable import Dashboard
@testable import LockPool

/// 2026-05-02T10:00:00Z plus `minutes`.
private func at(_ minutes: Double) -> Date { Date(timeIntervalSince1970: 1_777_716_000 + minutes * 60) }

private let commit = ObjectID(hex: String(repeating: "ab", count: 20))!

private func event(
    _ action: HistoryEvent.Action, _ lock: String, at minutes: Double, holder: Holder = Holder(description: "someone"),
    waited: Duration? = nil
) -> HistoryEvent {
    HistoryEvent(
        commit: commit, time: at(minutes), pool: "envs", lock: lock, action: action, operation: action.rawValue,
        holder: holder, format: .lockpool, subject: "\(action.rawValue): \(lock)", claim: nil, leaseExpires: nil,
        reapReason: nil, waited: waited)
}

/// A pool board built from events and statuses without a repository: window from minute 0 to `now`.
private func board(
    locks: [LockStatus], events: [HistoryEvent], now: Double, waiters: [QueueTicket] = [],
    contents: [String: [UInt8]] = [:]
) -> PoolBoard {
    let statistics = PoolStatistics(pool: "envs", since: at(0), until: at(now), start: [], events: events)
    return PoolBoard(
        name: "envs", locks: locks, waiters: waiters, day: statistics, week: statistics, events: events,
        windowStart: at(0), now: at(now), contents: contents)
}

private let hostileName = "<script>alert(1)</script>"
private let hostileHolder = Holder(
    description: "<img src=x onerror=alert(2)>", build: BuildInfo(url: "javascript:alert(3)"))
private let buildHolder = Holder(
    description: "main/deploy/apply build 42",
    build: BuildInfo(team: "main", pipeline: "deploy", job: "apply", name: "42", url: "https://ci.example.com/b/42"))

/// A state with one pool: a claimed lock with a hostile name and holder, one claimed by a build with a lease that
/// passed, a free one, and a waiter.
private func hostileState() -> DashboardState {
    let locks = [
        LockStatus(pool: "envs", lock: hostileName, state: .claimed, holder: hostileHolder, since: at(10)),
        LockStatus(
            pool: "envs", lock: "staging", state: .claimed, holder: buildHolder, since: at(20), leaseExpires: at(50)),
        LockStatus(pool: "envs", lock: "qa", state: .unclaimed, since: at(5)),
    ]
    let events = [
        event(.add, hostileName, at: 1), event(.add, "staging", at: 1), event(.add, "qa", at: 5),
        event(.claim, hostileName, at: 10, holder: hostileHolder, waited: .seconds(30)),
        event(.claim, "staging", at: 20, holder: buildHolder, waited: .seconds(90)),
    ]
    let ticket = QueueTicket(
        name: "000001777716000000-0000abcd", expires: at(70), demand: .any(1), holder: "main/e2e/test build 7")
    let pool = board(
        locks: locks, events: events, now: 60, waiters: [ticket],
        contents: ["staging": Array("token: SECRET-TOKEN".utf8)])
    return DashboardState(branch: "main", tip: commit, readAt: at(60), pools: [pool], events: events)
}

@Suite struct DashboardPagesTests {
    @Test func escapeReplacesEveryMarkupCharacter() {
        #expect(HTML.escape("a&b<c>d\"e'f") == "a&amp;b&lt;c&gt;d&quot;e&#39;f")
    }

    /// As `lockpool stats` writes it: a tie goes to the even tenth (a quarter of a percent is 0.2%, not 0.3%).
    @Test func percentagesAreWrittenAsStatsWritesThem() {
        #expect(HTML.percent(0.0025) == "0.2%")
        #expect(HTML.percent(0.456) == "45.6%")
        #expect(HTML.percent(nil) == "–")
    }

    @Test func onlyHTTPLinksBecomeAnchors() {
        #expect(HTML.link("x", url: "javascript:alert(1)") == "x")
        #expect(HTML.link("x", url: "JAVASCRIPT:alert(1)") == "x")
        #expect(HTML.link("<b>", url: nil) == "&lt;b&gt;")
        #expect(
            HTML.link("b", url: "https://ci.example.com/?a=1&b=\"")
                == "<a href=\"https://ci.example.com/?a=1&amp;b=&quot;\">b</a>")
    }

    @Test func namesFromTheRepositoryAreShownAsText() throws {
        let pages = DashboardPages(
            state: hostileState(), freshness: Freshness(fetchedAt: at(60)), links: .server, showMetadata: false)
        let rendered = [
            pages.overview(), try #require(pages.pool("envs")), try #require(pages.lock(hostileName, pool: "envs")),
        ]
        for html in rendered {
            #expect(!html.contains("<script>alert"))
            #expect(!html.contains("<img src=x"))
            #expect(!html.contains("javascript:"))
            // The one script is the page's own live-update script; without script, a refresh.
            #expect(html.components(separatedBy: "<script").count == 2)
            #expect(html.contains("<noscript><meta http-equiv=\"refresh\" content=\"30\"></noscript>"))
        }
        #expect(rendered[1].contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(rendered[1].contains("&lt;img src=x onerror=alert(2)&gt;"))
    }

    @Test func poolPageShowsHoldersLeasesAndTheQueue() throws {
        let pages = DashboardPages(
            state: hostileState(), freshness: Freshness(fetchedAt: at(60)), links: .server, showMetadata: false)
        let html = try #require(pages.pool("envs"))
        #expect(html.contains("<a href=\"https://ci.example.com/b/42\">main/deploy/apply build 42</a>"))
        #expect(html.contains("expired 10m ago"))
        #expect(html.contains("<b>main/e2e/test build 7</b> wants any 1 lock"))
        #expect(html.contains("Waiting (1)"))
        #expect(!html.contains("SECRET-TOKEN"))
        #expect(pages.pool("nope") == nil)
        #expect(pages.lock("nope", pool: "envs") == nil)
    }

    @Test func metadataOnlyWhenAskedFor() throws {
        let shown = DashboardPages(
            state: hostileState(), freshness: Freshness(fetchedAt: at(60)), links: .server, showMetadata: true)
        #expect(try #require(shown.pool("envs")).contains("token: SECRET-TOKEN"))
        #expect(try #require(shown.lock("staging", pool: "envs")).contains("token: SECRET-TOKEN"))
    }

    @Test func reportIsOneFileWithAnchorsAndNoScript() {
        let pages = DashboardPages(
            state: hostileState(), freshness: Freshness(fetchedAt: at(60)), links: .report, showMetadata: false)
        let html = pages.report()
        #expect(!html.contains("<script"))
        #expect(!html.contains("http-equiv=\"refresh\""))
        #expect(!html.contains("src=\"http"))
        #expect(!html.contains("href=\"pool?"))
        // Every internal link points at a section of the file.
        let anchors = html.components(separatedBy: "href=\"#").dropFirst().map { $0.prefix { $0 != "\"" } }
        #expect(!anchors.isEmpty)
        for anchor in anchors { #expect(html.contains("id=\"\(anchor)\""), "no section \(anchor)") }
    }

    @Test func staleStateCarriesAWarning() {
        let freshness = Freshness(fetchedAt: at(50), failure: "connection refused", failingSince: at(55))
        let html = DashboardPages(state: hostileState(), freshness: freshness, links: .server, showMetadata: false)
            .overview()
        #expect(html.contains("role=\"alert\""))
        #expect(html.contains("cannot be read since"))
        #expect(html.contains("connection refused"))
    }
}

@Suite struct DashboardStateTests {
    @Test func holdsPairClaimsWithReleases() {
        let events = [
            event(.release, "a", at: 5),  // claimed before the window
            event(.claim, "a", at: 10), event(.release, "a", at: 40), event(.claim, "b", at: 20),
        ]
        let locks = [
            LockStatus(pool: "envs", lock: "a", state: .unclaimed),
            LockStatus(pool: "envs", lock: "b", state: .claimed, holder: buildHolder, since: at(20)),
            LockStatus(pool: "envs", lock: "c", state: .claimed, holder: hostileHolder, since: at(-300)),
        ]
        let holds = Hold.holds(events: events, locks: locks, windowStart: at(0))
        #expect(holds.count == 4)
        #expect(holds[0] == Hold(lock: "c", holder: hostileHolder, start: at(-300), startKnown: true, end: nil))
        #expect(holds[1] == Hold(lock: "a", holder: nil, start: at(0), startKnown: false, end: at(5)))
        #expect(holds[2].lock == "a" && holds[2].start == at(10) && holds[2].end == at(40))
        #expect(holds[3] == Hold(lock: "b", holder: buildHolder, start: at(20), startKnown: true, end: nil))
    }

    @Test func utilisationIsClaimedTimeOverExistingTime() {
        // Two locks for two hours; lock a claimed for the first 30 minutes, b added after the first hour.
        let events = [
            event(.add, "a", at: 0), event(.claim, "a", at: 0), event(.release, "a", at: 30), event(.add, "b", at: 60),
        ]
        let locks = [
            LockStatus(pool: "envs", lock: "a", state: .unclaimed),
            LockStatus(pool: "envs", lock: "b", state: .unclaimed),
        ]
        let pool = board(locks: locks, events: events, now: 120)
        #expect(pool.utilisation.count == 2)
        #expect(pool.utilisation[0].ratio == 0.5)
        #expect(pool.utilisation[1].ratio == 0)
    }

    @Test func waitsAreTheRecordedOnes() {
        let state = hostileState()
        let pool = state.pools[0]
        #expect(pool.waits() == [.seconds(30), .seconds(90)])
        #expect(pool.waits(lock: "staging") == [.seconds(90)])
        #expect(pool.longestHeld?.lock == hostileName)
        #expect(pool.count(.claimed) == 2)
    }

    @Test func waitChartCountsEachRange() {
        let svg = Chart.waits([.seconds(1), .seconds(5), .seconds(30), .seconds(7200), .seconds(99999)])
        #expect(svg.contains("<title>&lt;10s: 2</title>"))
        #expect(svg.contains("<title>10s–1m: 1</title>"))
        #expect(svg.contains("<title>1–4h: 1</title>"))
        #expect(svg.contains("<title>&gt;4h: 1</title>"))
        #expect(!svg.contains(">>") && !svg.contains("><1"))
    }
}
