import Dashboard
import FoundationEssentials

/// The state the pages are served from: the last good read of the lock repository and how fresh it is
/// (docs/dashboard.md#a-remote-that-goes-away). Pages never wait for the remote: they read what is here.
actor DashboardStore {
    private(set) var state: DashboardState?
    private(set) var freshness: Freshness?
    /// Grows with every published change; the live pages reload when it does.
    private var counter = 0
    /// Tells this process's versions from those of a server started again (whose counter starts over).
    private let epoch = String(UInt32.random(in: .min ... .max), radix: 36)
    /// The version pages and events carry: `<epoch>-<counter>`.
    var version: String { "\(epoch)-\(counter)" }
    private var subscribers: [Int: AsyncStream<String>.Continuation] = [:]
    private var nextSubscriber = 0

    /// The state, its freshness and its version, read together (a page must not claim a version it does not show).
    func snapshot() -> (state: DashboardState, freshness: Freshness, version: String)? {
        guard let state, let freshness else { return nil }
        return (state, freshness, version)
    }

    /// A refresh worked: `state` is the new state, or nil when the tip did not move and the old one still holds.
    func fetched(_ state: DashboardState?, at time: Date) {
        let wasFailing = freshness?.failure != nil
        if let state { self.state = state }
        freshness = Freshness(fetchedAt: time)
        if state != nil || wasFailing { publish() }
    }

    /// A refresh failed with `message` (redacted): the last good state stays, with a warning.
    func failed(_ message: String, at time: Date) {
        let previous = freshness
        freshness = Freshness(
            fetchedAt: previous?.fetchedAt ?? time, failure: message, failingSince: previous?.failingSince ?? time)
        if previous?.failure != message { publish() }
    }

    /// A stream of versions, one each time the state or its freshness changes, until the client goes away.
    func subscribe() -> AsyncStream<String> {
        let (stream, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = nextSubscriber
        nextSubscriber += 1
        subscribers[id] = continuation
        continuation.onTermination = { _ in Task { await self.unsubscribe(id) } }
        return stream
    }

    private func unsubscribe(_ id: Int) { subscribers[id] = nil }

    private func publish() {
        counter += 1
        for continuation in subscribers.values { continuation.yield(version) }
    }
}
