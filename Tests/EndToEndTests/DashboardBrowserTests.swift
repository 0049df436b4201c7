import Foundation
import TestSupport
import Testing

/// The dashboard in a real browser (headless chromium): pages of a repository with a week of history
/// (`DashboardFixture`), a claim appearing on an open page, the report offline. With `LOCKPOOL_SCREENSHOT_DIR` set,
/// the screenshots of the README are written there (`make screenshots`).
@Suite(.serialized, .enabled(if: WebDriver.isAvailable), .timeLimit(.minutes(3)))
struct DashboardBrowserTests {
    static let markupLock = "<img src=x onerror=alert(1)>"

    /// The fixture, a lock whose name is markup, and a server over them.
    struct Setup {
        let harness: Harness
        let summary: DashboardFixture.Summary
        let server: ServedDashboard
    }

    struct Harness {
        let scratch: Scratch
        let executables: Executables
        let environment: [String: String]
        let repository: String

        @discardableResult
        func cli(_ arguments: [String]) throws -> ExecutableResult {
            let result = try executables.lockpool(arguments + ["--repo", repository], environment: environment)
            guard result.status == 0 else { throw HarnessFailure(description: "lockpool \(arguments): \(result)") }
            return result
        }
    }

    static func setUp(_ label: String) async throws -> Setup {
        let scratch = try Scratch(label: label)
        let path = scratch.url("locks.git").path
        let summary = try await DashboardFixture.build(at: path, now: Date())
        let harness = Harness(
            scratch: scratch, executables: try Executables(scratch: scratch),
            environment: [
                "HOME": try scratch.directory("home").path, "GIT_COMMITTER_NAME": "Dana Ops",
                "GIT_COMMITTER_EMAIL": "dana@example.com",
            ], repository: path)
        try harness.cli(["add", "environments", markupLock])
        let server = try await ServedDashboard(
            executables: harness.executables, arguments: ["--repo", path, "--refresh", "300ms"],
            environment: harness.environment)
        return Setup(harness: harness, summary: summary, server: server)
    }

    @Test func pagesShowHoldersLeasesAndTheQueue() async throws {
        let setup = try await Self.setUp("dashboard-browser-pages")
        defer { _ = try? setup.server.stop() }
        let summary = setup.summary
        let base = setup.server.url

        let overview = try await Browser.dumpDOM(base + "/")
        for pool in summary.pools.keys {
            #expect(overview.contains("data-pool=\"\(pool)\""), "overview lacks \(pool)")
        }
        // environments: staging and perf claimed, qa-1, qa-2 and the markup lock free, two waiters.
        #expect(overview.contains("<b>2</b> claimed</span> <span class=\"unclaimed\"><b>3</b> free</span>"))
        #expect(overview.contains("<b>2</b> waiting"))
        let longest = try #require(summary.longestHeld)
        #expect(
            overview.contains(
                "Held longest: <a href=\"lock?pool=\(longest.lock.pool)&amp;name=\(longest.lock.lock)\">"))

        let pool = try await Browser.dumpDOM(base + "/pool?name=environments")
        for (lock, claim) in summary.holdings where lock.pool == "environments" {
            let row = try #require(Self.row(of: lock.lock, in: pool), "no row for \(lock)")
            #expect(row.contains("data-state=\"claimed\""))
            #expect(row.contains(claim.holder), "\(lock) row lacks \(claim.holder)")
            if let url = claim.buildURL { #expect(row.contains("href=\"\(url)\"")) }
            #expect(row.contains(claim.leaseHasExpired(at: Date()) ? "expired" : "ends in"), "\(row)")
        }
        // The queue, first in line first.
        let waiters = summary.tickets.filter { $0.pool == "environments" }.sorted { $0.name < $1.name }
        #expect(waiters.count == 2)
        let positions = waiters.map { pool.range(of: "data-ticket=\"\($0.name)\"")?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil })
        #expect(positions[0]! < positions[1]!)
        for waiter in waiters { #expect(pool.contains(waiter.holder)) }
        // Markup in a name is text: no element comes of it, and no secret shows.
        #expect(pool.contains("&lt;img src=x onerror=alert(1)&gt;"))
        #expect(!pool.contains("<img"))
        #expect(!pool.contains("FIXTURE-SECRET"))

        let staging = try await Browser.dumpDOM(base + "/lock?pool=environments&name=staging")
        let claim = try #require(summary.holdings[DashboardFixture.LockID("environments", "staging")])
        #expect(staging.contains(claim.holder))
        #expect(staging.contains("Timeline, last 7 days"))
        #expect(staging.contains("<th>Holds (7 days)</th>"))
        let holds = summary.claims.filter { $0.lock.lock == "staging" && $0.lock.pool == "environments" }
        let shown = staging.components(separatedBy: "<rect class=\"hold").count - 1
        #expect(shown >= holds.filter { $0.claimedAt > Date() - 7 * 86400 }.count, "bars: \(shown)")
    }

    @Test func aClaimAppearsOnAnOpenPageWithoutAReload() async throws {
        let setup = try await Self.setUp("dashboard-browser-live")
        defer { _ = try? setup.server.stop() }
        let driver = try await WebDriver.start()
        defer { driver.stop() }
        try await driver.newSession(width: 1280, height: 1400)
        try await driver.navigate(to: setup.server.url + "/pool?name=environments")
        #expect(try await driver.pageSource().contains("data-lock=\"qa-1\" data-state=\"unclaimed\""))
        _ = try await driver.executeScript("window.__marker = 42; return 1")

        try setup.harness.cli(["claim", "environments", "qa-1"])
        let page = try await driver.waitUntil(timeout: .seconds(15)) {
            $0.contains("data-lock=\"qa-1\" data-state=\"claimed\"")
        }
        #expect(page.contains("Dana Ops"))
        #expect(try await driver.executeScript("return window.__marker") == "42")
        try await Self.saveScreenshots(driver: driver, base: setup.server.url)
    }

    @Test func theReportRendersWithTheNetworkOff() async throws {
        let scratch = try Scratch(label: "dashboard-browser-report")
        let path = scratch.url("locks.git").path
        let summary = try await DashboardFixture.build(at: path, now: Date())
        let executables = try Executables(scratch: scratch)
        let file = scratch.url("report.html")
        let result = try executables.lockpool(
            ["report", "--html", file.path, "--repo", path], environment: ["HOME": try scratch.directory("h").path])
        #expect(result.status == 0, "\(result)")
        let dom = try await Browser.dumpDOM(file.absoluteString, offline: true)
        for (lock, claim) in summary.holdings {
            #expect(dom.contains("data-lock=\"\(lock.lock)\" data-state=\"claimed\""))
            #expect(dom.contains(claim.holder))
        }
        #expect(dom.contains("<svg"))
        #expect(!dom.contains("FIXTURE-SECRET"))
    }

    /// The `<tr>` of `lock` in a pool page's table.
    static func row(of lock: String, in page: String) -> String? {
        guard let start = page.range(of: "<tr data-lock=\"\(lock)\"") else { return nil }
        guard let end = page.range(of: "</tr>", range: start.upperBound..<page.endIndex) else { return nil }
        return String(page[start.lowerBound..<end.upperBound])
    }

    /// With `LOCKPOOL_SCREENSHOT_DIR`, the README's screenshots: the overview, a pool page and a lock page.
    static func saveScreenshots(driver: WebDriver, base: String) async throws {
        guard let directory = ProcessInfo.processInfo.environment["LOCKPOOL_SCREENSHOT_DIR"], !directory.isEmpty
        else { return }
        for (name, path, height) in [
            ("dashboard-overview", "/", 760), ("dashboard-pool", "/pool?name=environments", 1500),
            ("dashboard-lock", "/lock?pool=environments&name=staging", 1100),
        ] {
            try await driver.newSession(width: 1280, height: height)
            try await driver.navigate(to: base + path)
            let png = try await driver.screenshotPNG()
            #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
            try Data(png).write(to: URL(fileURLWithPath: directory).appendingPathComponent("\(name).png"))
        }
    }
}
