import FoundationEssentials
import Git
import LockPool
import StringSupport

/// How fresh the state on a page is: when the remote was last read, and why the latest reads failed, if they did
/// (docs/dashboard.md#a-remote-that-goes-away).
public struct Freshness: Sendable, Equatable {
    /// When the shown state was fetched.
    public var fetchedAt: Date
    /// The error of the latest refresh, already redacted; nil when it worked.
    public var failure: String?
    /// When refreshes started failing.
    public var failingSince: Date?

    public init(fetchedAt: Date, failure: String? = nil, failingSince: Date? = nil) {
        self.fetchedAt = fetchedAt
        self.failure = failure
        self.failingSince = failingSince
    }
}

/// The dashboard's pages (docs/dashboard.md#pages): the overview, a pool page and a lock page, for the server (one page
/// per URL, updated live) or for `report --html` (one self-contained file, every page a section of it).
public struct DashboardPages: Sendable {
    /// Where the pages link to.
    public enum Links: Sendable {
        /// `lockpool serve`: `./`, `pool?name=P`, `lock?pool=P&name=L`, and the live-update script.
        case server
        /// `report --html`: anchors within the one file, no script.
        case report
    }

    public let state: DashboardState
    public let freshness: Freshness
    public let links: Links
    /// Whether lock contents are shown (`--show-metadata`).
    public let showMetadata: Bool
    /// The server's version of this state: the live script fetches the page again only for another version.
    public let version: String

    public init(state: DashboardState, freshness: Freshness, links: Links, showMetadata: Bool, version: String = "") {
        self.state = state
        self.freshness = freshness
        self.links = links
        self.showMetadata = showMetadata
        self.version = version
    }

    /// The overview page.
    public func overview() -> String {
        document(title: "Pools", body: overviewSection())
    }

    /// The page of `pool`; nil when there is no such pool.
    public func pool(_ name: String) -> String? {
        state.pool(name).map { document(title: $0.name, body: poolSection($0)) }
    }

    /// The page of `lock` in `pool`; nil when there is no such lock.
    public func lock(_ lock: String, pool name: String) -> String? {
        guard let pool = state.pool(name), let status = pool.locks.first(where: { $0.lock == lock }) else {
            return nil
        }
        return document(title: "\(lock) in \(name)", body: lockSection(status, pool: pool))
    }

    /// Every page in one file, linked by anchors: what `report --html` writes.
    public func report() -> String {
        var body = overviewSection()
        for pool in state.pools {
            body += poolSection(pool)
            for status in pool.locks { body += lockSection(status, pool: pool) }
        }
        return document(title: "Lock pools report", body: body)
    }

    // MARK: - Sections

    private func overviewSection() -> String {
        var html = "<section id=\"overview\"><h1>Pools on \(HTML.escape(state.branch))</h1>"
        if state.pools.isEmpty {
            html += "<p class=\"empty\">No pools on this branch.</p>"
        }
        html += "<div class=\"cards\">"
        for pool in state.pools {
            let claimed = pool.count(.claimed) + pool.count(.both)
            html += "<article class=\"card\" data-pool=\"\(HTML.escape(pool.name))\">"
            html += "<h2><a href=\"\(poolHref(pool.name))\">\(HTML.escape(pool.name))</a></h2>"
            html += "<p class=\"counts\">"
            html += "<span class=\"claimed\"><b>\(claimed)</b> claimed</span> "
            html += "<span class=\"unclaimed\"><b>\(pool.count(.unclaimed))</b> free</span> "
            html += "<span class=\"waiting\"><b>\(pool.waiters.count)</b> waiting</span></p>"
            html += "<p>Utilisation <b>\(HTML.percent(pool.day.utilisation))</b> over 24 h, "
            html += "<b>\(HTML.percent(pool.week.utilisation))</b> over 7 days</p>"
            if let longest = pool.longestHeld, let since = longest.since {
                html += "<p class=\"longest\">Held longest: <a href=\"\(lockHref(longest.lock, pool: pool.name))\">"
                html += "\(HTML.escape(longest.lock))</a> by \(holder(longest.holder)), "
                html += "\(HTML.duration(.seconds(state.readAt.timeIntervalSince(since)))) "
                html += "(since \(HTML.time(since)))</p>"
            } else {
                html += "<p class=\"longest\">No lock is claimed.</p>"
            }
            html += chips(pool)
            html += Chart.utilisation(pool.utilisation, width: 360, height: 70)
            html += "</article>"
        }
        return html + "</div></section>"
    }

    private func poolSection(_ pool: PoolBoard) -> String {
        var html = "<section id=\"\(poolAnchor(pool.name))\" class=\"pool\" data-pool=\"\(HTML.escape(pool.name))\">"
        html += "<h1>Pool \(HTML.escape(pool.name))</h1>"
        html += "<table class=\"locks\"><thead><tr><th>Lock</th><th>State</th><th>Holder</th><th>Since</th>"
        html += "<th>Lease</th>\(showMetadata ? "<th>Metadata</th>" : "")</tr></thead><tbody>"
        for status in pool.locks {
            html += "<tr data-lock=\"\(HTML.escape(status.lock))\" data-state=\"\(status.state.rawValue)\">"
            html += "<td><a href=\"\(lockHref(status.lock, pool: pool.name))\">\(HTML.escape(status.lock))</a></td>"
            html += "<td><span class=\"state \(status.state.rawValue)\">\(stateName(status.state))</span></td>"
            html += "<td>\(status.state.isHeld ? holder(status.holder) : "–")</td>"
            html += "<td>\(since(status.since))</td><td>\(lease(status))</td>"
            if showMetadata { html += "<td><pre>\(content(pool.contents[status.lock]))</pre></td>" }
            html += "</tr>"
        }
        html += "</tbody></table>"
        html += "<h2>Waiting (\(pool.waiters.count))</h2>"
        if pool.waiters.isEmpty {
            html += "<p class=\"empty\">Nobody is waiting.</p>"
        } else {
            html += "<ol class=\"queue\">"
            for ticket in pool.waiters {
                let wants =
                    switch ticket.demand {
                    case .any(let count): "any \(count) lock\(count == 1 ? "" : "s")"
                    case .lock(let lock): "lock \(HTML.escape(lock))"
                    }
                html += "<li data-ticket=\"\(HTML.escape(ticket.name))\"><b>\(HTML.escape(ticket.holder))</b> wants "
                html += "\(wants) (ticket expires \(HTML.time(ticket.expires)) unless renewed)</li>"
            }
            html += "</ol>"
        }
        html += "<h2>Statistics</h2>" + statistics(pool)
        html += "<h2>Utilisation per hour, last 7 days</h2>" + Chart.utilisation(pool.utilisation)
        html += "<h2>Holds, last 24 hours</h2>"
        html += Chart.timeline(
            rows: pool.locks.map { status in (status.lock, pool.holds.filter { $0.lock == status.lock }) },
            from: state.readAt - DashboardState.day.timeInterval, to: state.readAt)
        let waits = pool.waits()
        html += "<h2>Wait times, last 7 days (\(waits.count) recorded)</h2>" + Chart.waits(waits)
        return html + "</section>"
    }

    private func lockSection(_ status: LockStatus, pool: PoolBoard) -> String {
        let holds = pool.holds.filter { $0.lock == status.lock }
        var html = "<section id=\"\(lockAnchor(status.lock, pool: pool.name))\" class=\"lock\" "
        html += "data-pool=\"\(HTML.escape(pool.name))\" data-lock=\"\(HTML.escape(status.lock))\">"
        html += "<h1>Lock \(HTML.escape(status.lock)) <small>in <a href=\"\(poolHref(pool.name))\">"
        html += "\(HTML.escape(pool.name))</a></small></h1>"
        html += "<p><span class=\"state \(status.state.rawValue)\">\(stateName(status.state))</span> "
        if status.state.isHeld {
            html += "by \(holder(status.holder)) since \(since(status.since)); lease: \(lease(status))"
        } else {
            html += "since \(since(status.since))"
        }
        html += "</p>"
        if showMetadata { html += "<h2>Metadata</h2><pre>\(content(pool.contents[status.lock]))</pre>" }
        html += "<h2>Timeline, last 7 days</h2>"
        html += Chart.timeline(
            rows: [(status.lock, holds)], from: state.readAt - DashboardState.week.timeInterval, to: state.readAt)
        let lockStatistics = pool.week.locks.first { $0.lock == status.lock }
        let waits = PoolStatistics.Percentiles(pool.waits(lock: status.lock))
        html +=
            "<h2>Hold and wait times, last 7 days</h2><table class=\"figures\"><tr><th></th><th>count</th><th>p50</th><th>p90</th><th>max</th></tr>"
        html += percentileRow("Holds (7 days)", lockStatistics?.holds.ended)
        html += percentileRow("Waits (7 days)", waits)
        html += "</table>"
        html += "<p>Utilisation over 7 days: \(HTML.percent(lockStatistics?.utilisation)), "
        html += "\(count(lockStatistics?.claims ?? 0, "claim")).</p>"
        html += "<h2>Holds</h2><table class=\"holds\"><thead><tr><th>Holder</th><th>From</th><th>To</th>"
        html += "<th>Length</th></tr></thead><tbody>"
        for hold in holds.reversed() {
            let end = hold.end ?? state.readAt
            html += "<tr><td>\(hold.holder.map { holder($0) } ?? "claimed before the window")</td>"
            html += "<td>\(hold.startKnown ? "" : "before ")\(HTML.time(hold.start))</td>"
            html += "<td>\(hold.end.map(HTML.time) ?? "now")</td>"
            html += "<td>\(HTML.duration(.seconds(end.timeIntervalSince(hold.start))))</td></tr>"
        }
        if holds.isEmpty { html += "<tr><td colspan=\"4\" class=\"empty\">No holds in the last 7 days.</td></tr>" }
        return html + "</tbody></table></section>"
    }

    // MARK: - Parts

    private func statistics(_ pool: PoolBoard) -> String {
        var html = "<table class=\"figures\"><tr><th></th><th>count</th><th>p50</th><th>p90</th><th>max</th></tr>"
        html += percentileRow("Holds (24 h)", pool.day.holds.ended)
        html += percentileRow("Holds (7 days)", pool.week.holds.ended)
        html += percentileRow("Waits (24 h)", pool.day.waits)
        html += percentileRow("Waits (7 days)", pool.week.waits)
        html += "</table>"
        let operations = pool.week.operations
        html += "<p>\(count(operations.total, "operation")) in 7 days: \(count(operations.claims, "claim")), "
        html += "\(count(operations.releases, "release")), \(count(operations.adds, "add")), "
        html += "\(count(operations.removes, "remove")), \(count(operations.updates, "update")).</p>"
        return html
    }

    /// `1 claim`, `2 claims`.
    private func count(_ number: Int, _ noun: String) -> String { "\(number) \(noun)\(number == 1 ? "" : "s")" }

    /// Every lock of `pool` as a coloured chip (free, claimed, lease passed), linked to its page: the pool at a glance.
    private func chips(_ pool: PoolBoard) -> String {
        var html = "<ul class=\"chips\">"
        for status in pool.locks {
            let expired = status.leaseHasExpired(at: state.readAt) ? " expired" : ""
            let title =
                status.state.isHeld
                ? "claimed by \(status.holder?.description ?? "unknown")" : stateName(status.state)
            html += "<li class=\"chip \(status.state.rawValue)\(expired)\" title=\"\(HTML.escape(title))\">"
            html += "<a href=\"\(lockHref(status.lock, pool: pool.name))\">\(HTML.escape(status.lock))</a></li>"
        }
        return html + "</ul>"
    }

    private func percentileRow(_ label: String, _ figures: PoolStatistics.Percentiles?) -> String {
        guard let figures else { return "<tr><th>\(label)</th><td>0</td><td>–</td><td>–</td><td>–</td></tr>" }
        return "<tr><th>\(label)</th><td>\(figures.count)</td><td>\(HTML.duration(figures.p50))</td>"
            + "<td>\(HTML.duration(figures.p90))</td><td>\(HTML.duration(figures.max))</td></tr>"
    }

    private func holder(_ holder: Holder?) -> String {
        guard let holder else { return "unknown" }
        return "<span class=\"holder\">\(HTML.link(holder.description, url: holder.build?.url))</span>"
    }

    private func since(_ date: Date?) -> String {
        guard let date else { return "–" }
        return "\(HTML.time(date)) (\(HTML.duration(.seconds(state.readAt.timeIntervalSince(date)))) ago)"
    }

    private func lease(_ status: LockStatus) -> String {
        guard let expiry = status.leaseExpires, status.state.isHeld else { return "–" }
        if expiry <= state.readAt {
            let ago = HTML.duration(.seconds(state.readAt.timeIntervalSince(expiry)))
            return "<span class=\"lease expired\">expired \(ago) ago</span>"
        }
        let left = HTML.duration(.seconds(expiry.timeIntervalSince(state.readAt)))
        return "<span class=\"lease\">ends in \(left) (\(HTML.time(expiry)))</span>"
    }

    private func content(_ bytes: [UInt8]?) -> String {
        guard let bytes else { return "" }
        guard let text = String(validating: bytes, as: UTF8.self) else { return "(\(bytes.count) bytes, not UTF-8)" }
        return HTML.escape(text)
    }

    private func stateName(_ state: LockState) -> String {
        switch state {
        case .claimed: "claimed"
        case .unclaimed: "free"
        case .both: "in both states"
        case .absent: "absent"
        }
    }

    // MARK: - Links

    private func poolHref(_ pool: String) -> String {
        switch links {
        case .server: HTML.escape("pool?name=\(QueryText.encode(pool))")
        case .report: "#\(poolAnchor(pool))"
        }
    }

    private func lockHref(_ lock: String, pool: String) -> String {
        switch links {
        case .server: HTML.escape("lock?pool=\(QueryText.encode(pool))&name=\(QueryText.encode(lock))")
        case .report: "#\(lockAnchor(lock, pool: pool))"
        }
    }

    /// Anchors are made of the names' bytes in hex: any name, one valid id.
    private func poolAnchor(_ pool: String) -> String { "pool-" + QueryText.hex(pool) }
    private func lockAnchor(_ lock: String, pool: String) -> String {
        "lock-" + QueryText.hex(pool) + "-" + QueryText.hex(lock)
    }

    // MARK: - Document

    private func document(title: String, body: String) -> String {
        var html = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        html += "<title>\(HTML.escape(title)) · lockpool</title><style>\(Self.style)</style>"
        // Without script, a wall screen still shows the new state: the page reloads itself every 30 s.
        if links == .server { html += "<noscript><meta http-equiv=\"refresh\" content=\"30\"></noscript>" }
        html += "</head><body>"
        html += "<header><a class=\"home\" href=\"\(links == .server ? "./" : "#overview")\">lockpool</a> "
        html += "<span class=\"branch\">\(HTML.escape(state.branch)) at \(state.tip.short)</span></header>"
        html += "<main data-version=\"\(HTML.escape(version))\">\(banner())\(body)</main>"
        if links == .server { html += "<script>\(Self.script)</script>" }
        return html + "</body></html>"
    }

    private func banner() -> String {
        let fetched = "State of \(HTML.time(state.readAt)), fetched \(HTML.time(freshness.fetchedAt))"
        guard let failure = freshness.failure else { return "<p class=\"fresh\">\(fetched).</p>" }
        let since = freshness.failingSince.map { " since \(HTML.time($0))" } ?? ""
        return "<p class=\"stale\" role=\"alert\">⚠ The lock repository cannot be read\(since): "
            + "\(HTML.escape(failure)). Showing the last good state: \(fetched).</p>"
    }

    /// Reloads `<main>` whenever the server announces a version of the state other than the page's (server-sent
    /// events); pages work without it.
    public static let script = """
        (function(){if(!window.EventSource)return;var s=new EventSource("api/v1/events");\
        s.onmessage=function(e){if(e.data===document.querySelector("main").dataset.version)return;\
        fetch(location.href,{cache:"no-store"}).then(function(r){return r.text()})\
        .then(function(t){var m=new DOMParser().parseFromString(t,"text/html").querySelector("main");\
        if(m)document.querySelector("main").replaceWith(m)})}})();
        """

    static let style = """
        body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2430;background:#f5f6f8}\
        header{background:#1d2430;color:#fff;padding:8px 20px}header a{color:#fff;font-weight:700;text-decoration:none}\
        .branch{opacity:.7;margin-left:8px}main{padding:12px 20px}section{margin-bottom:32px}\
        h1{font-size:22px;margin:8px 0 12px}h2{font-size:17px;margin:20px 0 8px}h1 small{font-weight:400;font-size:15px}\
        .cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:14px}\
        .card{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 3px #0002}.card h2{margin:0 0 6px}\
        .counts b{font-size:28px;margin-right:2px}.counts span{margin-right:14px}.claimed b{color:#b7791f}\
        .unclaimed b{color:#2f855a}.waiting b{color:#2b6cb0}table{border-collapse:collapse;background:#fff}\
        th,td{text-align:left;padding:5px 10px;border-bottom:1px solid #e2e6ea;vertical-align:top}\
        .state{border-radius:4px;padding:1px 7px;font-size:13px;color:#fff}.state.claimed{background:#b7791f}\
        .state.unclaimed{background:#2f855a}.state.both,.state.absent{background:#c53030}\
        .lease.expired{color:#c53030;font-weight:700}.stale{background:#fed7d7;border:1px solid #c53030;padding:8px 12px;\
        border-radius:6px;font-weight:600}.fresh{color:#5a6472;font-size:13px}.empty{color:#5a6472}\
        pre{margin:0;white-space:pre-wrap;max-width:420px}svg{display:block;background:#fff;border-radius:6px;margin:6px 0}\
        svg .grid{stroke:#e2e6ea}svg .axis{font-size:10px;fill:#5a6472}svg .label{font-size:12px;fill:#1d2430}\
        svg .bar{font-size:11px;fill:#fff}svg .use{fill:#b7791f}svg .wait{fill:#2b6cb0}svg .open{stroke:#1d2430}\
        ol.queue li{margin:4px 0}.chips{list-style:none;padding:0;margin:6px 0;display:flex;flex-wrap:wrap;gap:5px}\
        .chip{border-radius:4px;padding:1px 8px;font-size:13px;background:#2f855a}.chip a{color:#fff;text-decoration:none}\
        .chip.claimed{background:#b7791f}.chip.both,.chip.absent,.chip.expired{background:#c53030}
        """
}

/// Names in URLs and anchors.
enum QueryText {
    /// `text` percent-encoded for a query value: everything but unreserved characters.
    static func encode(_ text: String) -> String { text.percentEncoded(allowing: .unreserved) }

    /// `text`'s UTF-8 bytes in lower-case hex.
    static func hex(_ text: String) -> String {
        let digits = Array("0123456789abcdef")
        return String(text.utf8.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
    }
}
