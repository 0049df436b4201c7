import Crypto
import Dashboard
import FoundationEssentials
import Git
import HTTPTypes
import Hummingbird
import LockPool
import LockPoolCLI
import PoolMetrics

/// The server's URLs (docs/dashboard.md#urls): pages, the JSON API under `api/v1/`, server-sent events and `metrics`.
struct DashboardRoutes: Sendable {
    let store: DashboardStore
    let showMetadata: Bool

    func router() -> Router<BasicRequestContext> {
        // HEAD answers as GET without the body (health checks, link checkers).
        let router = Router(options: .autoGenerateHeadEndpoints)
        router.add(middleware: NotFoundPage())
        router.get("/") { _, _ in try await page { $0.overview() } }
        router.get("pool") { request, _ in
            let name = request.uri.queryParameters.get("name") ?? ""
            return try await page { $0.pool(name) }
                ?? Self.notFound("no pool \(NameRule.jsonQuoted(name)) on this branch")
        }
        router.get("lock") { request, _ in
            let pool = request.uri.queryParameters.get("pool") ?? ""
            let lock = request.uri.queryParameters.get("name") ?? ""
            return try await page { $0.lock(lock, pool: pool) }
                ?? Self.notFound("no lock \(NameRule.jsonQuoted(lock)) in pool \(NameRule.jsonQuoted(pool))")
        }
        router.get("api/v1/status") { _, _ in try await json { state, _ in status(state) } }
        router.get("api/v1/history") { request, _ in
            let query = request.uri.queryParameters.map { (key: String($0.key), value: String($0.value)) }
            return try await json { state, _ in try history(state, query: query) }
        }
        router.get("api/v1/stats") { request, _ in
            try await json { state, _ in try statistics(state, window: request.uri.queryParameters.get("window")) }
        }
        router.get("api/v1/freshness") { _, _ in
            try await json { state, freshness in FreshnessReport(state, freshness) }
        }
        router.get("api/v1/events") { _, _ in await events() }
        router.get("metrics") { _, _ in
            guard let state = await store.state else { return unavailable() }
            let text = StatisticsExposition.text(state.pools.map(\.week))
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        return router
    }

    // MARK: - Pages

    private func page(_ render: (DashboardPages) -> String?) async throws -> Response? {
        guard let (state, freshness, version) = await store.snapshot() else { return unavailable() }
        let pages = DashboardPages(
            state: state, freshness: freshness, links: .server, showMetadata: showMetadata, version: version)
        guard let html = render(pages) else { return nil }
        return Response(status: .ok, headers: Self.pageHeaders, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// Pages allow their one inline script (by its hash), inline styles and requests to this server only.
    static let pageHeaders: HTTPFields = {
        let digest = Data(SHA256.hash(data: Array(DashboardPages.script.utf8))).base64EncodedString()
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"]
        headers[HTTPField.Name("Content-Security-Policy")!] =
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-\(digest)'; connect-src 'self'; "
            + "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        return headers
    }()

    static func notFound(_ message: String) -> Response {
        let html =
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not found · lockpool</title></head>"
            + "<body><h1>Not found</h1><p>\(HTML.escape(message)). <a href=\"./\">All pools</a></p></body></html>"
        return Response(status: .notFound, headers: Self.pageHeaders, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// Before the first read: 503, with a reason a script can retry on.
    private func unavailable() -> Response {
        Response(
            status: .serviceUnavailable, headers: [.contentType: "text/plain; charset=utf-8", .retryAfter: "2"],
            body: .init(byteBuffer: ByteBuffer(string: "the lock repository has not been read yet\n")))
    }

    // MARK: - JSON API

    private func json(_ body: (DashboardState, Freshness) throws -> any Encodable) async throws -> Response {
        guard let (state, freshness, _) = await store.snapshot() else { return unavailable() }
        let (status, document): (HTTPResponse.Status, any Encodable)
        do {
            (status, document) = (.ok, try body(state, freshness))
        } catch let error as QueryError {
            (status, document) = (.badRequest, ["error": error.message])
        }
        return Response(
            status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: try JSONOutput.encode(document) + "\n")))
    }

    /// `status --json`, with contents only under `--show-metadata`.
    private func status(_ state: DashboardState) -> StatusReport {
        let now = Date()
        let pools = state.pools.map { pool in
            let locks = pool.locks.map { status in
                var report = LockReport(status, now: now)
                if showMetadata, let bytes = pool.contents[status.lock] {
                    report.content = ContentReport(lock: status.lock, bytes: bytes)
                }
                return report
            }
            return PoolReport(
                pool: pool.name, claimed: pool.count(.claimed) + pool.count(.both),
                unclaimed: pool.count(.unclaimed) + pool.count(.both), locks: locks)
        }
        return StatusReport(branch: state.branch, tip: state.tip.hex, pools: pools)
    }

    /// `history --json` over the server's 7 days: `pool` (repeatable), `lock`, `since`, `until`, `limit`.
    private func history(_ state: DashboardState, query: [(key: String, value: String)]) throws -> [EventReport] {
        // The first of repeated values, as the other routes read them.
        func get(_ key: String) -> String? { query.first { $0.key == key }?.value }
        let pools = Set(query.filter { $0.key == "pool" }.map(\.value))
        // The events are those of the pools at the tip, so a pool the state lacks has none either.
        for pool in pools where state.pool(pool) == nil {
            throw QueryError(message: "no pool \(NameRule.jsonQuoted(pool)) on branch '\(state.branch)'")
        }
        let lock = get("lock")
        if let lock, let problem = NameRule.lockProblem(lock) {
            throw QueryError(message: "invalid lock name \(NameRule.jsonQuoted(lock)): \(problem)")
        }
        let since = try get("since").map { try time($0, name: "since") }
        let until = try get("until").map { try time($0, name: "until") }
        if let since, let until, since > until { throw QueryError(message: "since must not be after until") }
        var limit = Int.max
        if let text = get("limit") {
            guard let value = Int(text), value >= 1 else { throw QueryError(message: "limit must be a number ≥ 1") }
            limit = value
        }
        let events = state.events.filter { event in
            (pools.isEmpty || pools.contains(event.pool)) && (lock == nil || event.lock == lock)
                && (since.map { event.time >= $0 } ?? true) && (until.map { event.time <= $0 } ?? true)
        }
        return events.suffix(limit).map(EventReport.init)
    }

    /// `stats --json` over the last 24 h (`window=24h`) or 7 days (the default, `window=7d`).
    private func statistics(_ state: DashboardState, window: String?) throws -> StatsReport {
        let day: Bool
        switch window {
        case nil, "7d": day = false
        case "24h": day = true
        default: throw QueryError(message: "window must be 24h or 7d")
        }
        return StatsReport(
            branch: state.branch, tip: state.tip.hex,
            pools: state.pools.map { PoolStatsReport(day ? $0.day : $0.week) })
    }

    private func time(_ text: String, name: String) throws -> Date {
        guard let time = TimeArgument(text, now: Date()) else {
            throw QueryError(message: "\(name) must be RFC 3339, a date, or an age (36h, 7d)")
        }
        return time.date
    }

    // MARK: - Live updates

    /// Server-sent events: a `data:` line with the store's version at once and whenever the state changes, and a
    /// comment every 15 s so that proxies keep the connection.
    private func events() async -> Response {
        let stream = await store.subscribe()
        let version = await store.version
        var headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-store"]
        headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                // The current version first: a page loaded before a change it missed fetches itself again.
                try await writer.write(ByteBuffer(string: "retry: 3000\ndata: \(version)\n\n"))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    let (beats, beat) = AsyncStream<String>.makeStream()
                    group.addTask {
                        for await version in stream { beat.yield("data: \(version)\n\n") }
                        beat.finish()
                    }
                    group.addTask {
                        while !Task.isCancelled {
                            try await Task.sleep(for: .seconds(15))
                            beat.yield(": keep-alive\n\n")
                        }
                    }
                    for await text in beats { try await writer.write(ByteBuffer(string: text)) }
                    group.cancelAll()
                }
                try await writer.finish(nil)
            })
    }
}

/// Any other path: the HTML "Not found" page instead of an empty 404.
struct NotFoundPage<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            return DashboardRoutes.notFound("nothing at \(NameRule.jsonQuoted(request.uri.path))")
        }
    }
}

/// A query parameter that cannot be used: 400 with this message.
struct QueryError: Error {
    let message: String
}

/// `api/v1/freshness`: when the state was read and fetched, and why refreshes fail, if they do.
struct FreshnessReport: Encodable {
    let branch: String
    let tip: String
    let readAt: Date
    let fetchedAt: Date
    let failure: String?
    let failingSince: Date?

    enum CodingKeys: String, CodingKey {
        case branch, tip, failure
        case readAt = "read_at"
        case fetchedAt = "fetched_at"
        case failingSince = "failing_since"
    }

    init(_ state: DashboardState, _ freshness: Freshness) {
        (branch, tip, readAt) = (state.branch, state.tip.hex, state.readAt)
        (fetchedAt, failure, failingSince) = (freshness.fetchedAt, freshness.failure, freshness.failingSince)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(branch, forKey: .branch)
        try container.encode(tip, forKey: .tip)
        try container.encode(readAt, forKey: .readAt)
        try container.encode(fetchedAt, forKey: .fetchedAt)
        try container.encode(failure, forKey: .failure)
        try container.encode(failingSince, forKey: .failingSince)
    }
}
