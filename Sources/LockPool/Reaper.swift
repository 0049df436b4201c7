import FoundationEssentials
import Git

/// What the CI system says about the build that holds a lock.
public enum BuildLiveness: Sendable, Equatable {
    /// The build is pending or started: its lock is never reaped.
    case running(status: String)
    /// The build succeeded, failed, errored or was aborted.
    case finished(status: String)
    /// Liveness cannot be determined (no API configured, no build named, build not found).
    case unknown(reason: String)
    /// The CI system could not be asked (network error, server error): the lock is kept, since the build may be
    /// running.
    case unavailable(reason: String)
}

/// The reaper's verdict on one claimed lock.
public struct ReapDecision: Sendable, Equatable {
    /// Reap or keep, with the reason in words.
    public enum Verdict: Sendable, Equatable {
        /// Release the lock; `evidence` becomes trailers of the release commit.
        case reap(reason: String, evidence: [TrailerField])
        /// Leave it alone.
        case keep(reason: String)
    }

    /// The lock and who holds it.
    public var status: LockStatus
    /// What to do.
    public var verdict: Verdict

    /// Whether the lock is to be released.
    public var reaps: Bool { if case .reap = verdict { true } else { false } }

    /// The reason in words.
    public var reason: String {
        switch verdict {
        case .reap(let reason, _), .keep(let reason): reason
        }
    }
}

/// Decides which claimed locks are stale: a lease that has passed, a build that has finished, or — only when
/// liveness cannot be determined — a claim older than `staleAfter`. A running build's lock is always kept.
public struct Reaper: Sendable {
    /// The age after which a claim whose liveness is unknown (and that has no lease) counts as stale; nil: never,
    /// only leases and finished builds free locks.
    public var staleAfter: Duration?
    /// The time decisions are made at.
    public var now: Date

    public init(staleAfter: Duration?, now: Date) {
        self.staleAfter = staleAfter
        self.now = now
    }

    /// The verdict on one lock.
    ///
    /// - Parameters:
    ///   - status: a claimed lock's status (other states are kept).
    ///   - liveness: what the CI system says about its holder's build.
    public func decide(_ status: LockStatus, liveness: BuildLiveness) -> ReapDecision {
        guard status.state == .claimed else {
            return ReapDecision(status: status, verdict: .keep(reason: "not claimed"))
        }
        guard let claim = status.commit, let since = status.since else {
            return ReapDecision(status: status, verdict: .keep(reason: "claim commit not found in the history"))
        }
        let age = now.timeIntervalSince(since)
        let ageText = Duration.seconds(Int64(max(0, age))).goDescription
        var evidence = [TrailerField("Reap-Claim-Commit", claim.hex), TrailerField("Reap-Claim-Age", ageText)]
        switch liveness {
        case .running(let buildStatus):
            return ReapDecision(status: status, verdict: .keep(reason: "build is \(buildStatus)"))
        case .unavailable(let why):
            return ReapDecision(status: status, verdict: .keep(reason: "liveness unknown: \(why)"))
        case .finished(let buildStatus):
            evidence.insert(TrailerField("Reap-Reason", "build-finished"), at: 0)
            evidence.append(TrailerField("Reap-Build-Status", buildStatus))
            return ReapDecision(
                status: status, verdict: .reap(reason: "build \(buildStatus)", evidence: evidence))
        case .unknown(let why):
            if let expiry = status.leaseExpires {
                if expiry <= now {
                    evidence.insert(TrailerField("Reap-Reason", "lease-expired"), at: 0)
                    evidence.append(TrailerField("Reap-Lease-Expired", CommitMessage.timestamp(expiry)))
                    evidence.append(TrailerField("Reap-Build-Status", "unknown"))
                    return ReapDecision(
                        status: status,
                        verdict: .reap(
                            reason: "lease expired \(HumanTime.rough(now.timeIntervalSince(expiry))) ago",
                            evidence: evidence))
                }
                return ReapDecision(
                    status: status,
                    verdict: .keep(reason: "lease valid until \(CommitMessage.timestamp(expiry)) (\(why))"))
            }
            guard let staleAfter else {
                return ReapDecision(
                    status: status,
                    verdict: .keep(
                        reason: "claimed \(HumanTime.rough(age)) ago without a lease, and no stale age given (\(why))"))
            }
            // Compared as durations: `staleAfter` may have a fraction of a second (`1.5s`).
            if Duration.seconds(age) >= staleAfter {
                evidence.insert(TrailerField("Reap-Reason", "stale"), at: 0)
                evidence.append(TrailerField("Reap-Build-Status", "unknown"))
                evidence.append(TrailerField("Reap-Stale-After", staleAfter.goDescription))
                return ReapDecision(
                    status: status,
                    verdict: .reap(reason: "claimed \(HumanTime.rough(age)) ago and \(why)", evidence: evidence))
            }
            return ReapDecision(
                status: status,
                verdict: .keep(reason: "claimed \(HumanTime.rough(age)) ago, younger than the stale age (\(why))"))
        }
    }
}
