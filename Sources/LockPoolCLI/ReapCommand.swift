import ArgumentParser
import FoundationEssentials
import Git
import LockPool
import StringSupport

/// One lock in `reap --json`.
struct ReapReport: Encodable {
    let pool: String
    let lock: String
    let holder: String?
    let since: Date?
    let claim: String?
    /// `reaped`, `would-reap`, `kept`, or `skipped` (the claim changed before the release).
    let action: String
    let reason: String
    let evidence: [String: String]
    let commit: String?
}

struct ReapCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reap",
        abstract: "Release stale claimed locks, never one whose build is still running.",
        discussion: """
            A claimed lock is released when its lease (Lease-Expires) has passed, when the Concourse API says its \
            build finished (succeeded, failed, errored, aborted), or, only when liveness cannot be determined (no \
            API, no build named, build unknown to Concourse), when it is older than --stale-after. A pending or \
            started build's lock is always kept. Without --stale-after only leases and finished builds free locks. The release commit records the evidence in Reap-* trailers and \
            is fenced on the claim it ends, so a lock claimed again meanwhile is left alone. Exits 1 when \
            Concourse could not be asked about some build (those locks are kept). \(ExitStatus.help)
            """)

    @OptionGroup var options: ConnectionOptions
    @Argument(help: "The pools to reap.") var pools: [String]
    @Option(
        help: ArgumentHelp(
            "Age after which a claim of unknown liveness and without a lease is stale (default: never).",
            valueName: "duration"))
    var staleAfter: DurationArgument?
    @Option(help: ArgumentHelp("Concourse base URL (env LOCKPOOL_CONCOURSE_URL).", valueName: "url"))
    var concourseURL: String?
    @Option(
        help: ArgumentHelp(
            "Concourse bearer token; prefer LOCKPOOL_CONCOURSE_TOKEN or --concourse-token-file (argv is visible).",
            valueName: "token"))
    var concourseToken: String?
    @Option(help: ArgumentHelp("File holding the Concourse bearer token.", valueName: "file"), completion: .file())
    var concourseTokenFile: String?
    @Flag(help: "Print what would be done and change nothing.") var dryRun = false
    @Flag(help: "Print JSON for scripts.") var json = false

    func validate() throws {
        for pool in pools { try validateNames(pool: pool) }
        if let staleAfter, staleAfter.duration <= .zero {
            throw ValidationError("--stale-after must be a positive duration")
        }
        try rejectLease(options)
    }

    func run() async throws {
        // The token file is read again below, where an unreadable file fails; here it only joins the redaction.
        let tokenFromFile = concourseTokenFile.flatMap { FileManager.default.contents(atPath: $0) }.map {
            String(decoding: $0, as: UTF8.self).trimming(.whitespacesAndNewlines)
        }
        let environment = ProcessInfo.processInfo.environment
        let shownAPI = (concourseURL ?? environment["LOCKPOOL_CONCOURSE_URL"]).map {
            ConcourseAPI(baseURL: $0, token: nil)
        }
        let session = Session(
            options: options,
            additionalSecrets: [concourseToken, tokenFromFile].compactMap { $0 } + (shownAPI?.secrets ?? []))
        try await session.run {
            let environment = session.environment
            var token = concourseToken ?? environment["LOCKPOOL_CONCOURSE_TOKEN"]
            if let file = concourseTokenFile {
                token = String(
                    decoding: try ConnectionOptions.read(file, what: "--concourse-token-file"), as: UTF8.self
                )
                .trimming(.whitespacesAndNewlines)
            }
            let api = (concourseURL ?? environment["LOCKPOOL_CONCOURSE_URL"]).map {
                ConcourseAPI(baseURL: $0, token: token)
            }
            let secrets = (api?.secrets ?? []) + [token].compactMap { $0 } + session.additionalSecrets
            let now = Date()
            let reaper = Reaper(staleAfter: staleAfter?.duration, now: now)
            var reports: [ReapReport] = []
            var unavailable = 0
            // Every verdict of every pool first: a refused token stops the run before anything changes.
            var plans: [(configuration: PoolConfiguration, decisions: [ReapDecision])] = []
            // One configuration for every pool: resolving the branch may ask the remote for its HEAD.
            let base = try session.configuration(pool: pools[0])
            for pool in pools {
                var configuration = base
                configuration.pool = pool
                let statuses = try await session.withFreshTip(configuration) { repository, tip in
                    let snapshot = try PoolSnapshot(repository: repository, commit: tip, pool: pool)
                    guard snapshot.exists else {
                        throw LockPoolError.poolMissing(pool: pool, branch: configuration.branch)
                    }
                    return try LockStatus.read(repository: repository, snapshot: snapshot, locks: snapshot.heldLocks)
                }
                var decisions: [ReapDecision] = []
                for status in statuses {
                    let liveness: BuildLiveness
                    if let api {
                        do { liveness = try await api.liveness(of: status.holder?.build) } catch {
                            throw CLIError.failure(redact(String(describing: error), secrets))
                        }
                    } else {
                        liveness = .unknown(reason: "no --concourse-url to ask")
                    }
                    if case .unavailable = liveness { unavailable += 1 }
                    decisions.append(reaper.decide(status, liveness: liveness))
                }
                plans.append((configuration, decisions))
            }
            for (configuration, decisions) in plans {
                for decision in decisions {
                    reports.append(
                        try await act(on: decision, configuration: configuration, session: session))
                }
            }
            if json {
                session.print(try JSONOutput.encode(reports))
            } else {
                for report in reports {
                    let who =
                        report.holder.map {
                            " (held by \($0)\(report.since.map { " since \(HumanTime.timestamp($0))" } ?? ""))"
                        } ?? ""
                    let commit = report.commit.map { " in \($0.prefix(7))" } ?? ""
                    session.print("\(report.action) \(report.pool)/\(report.lock): \(report.reason)\(who)\(commit)")
                }
                let reaped = reports.filter { $0.action == "reaped" || $0.action == "would-reap" }.count
                session.print(
                    "\(reaped) \(dryRun ? "would be reaped" : "reaped"), \(reports.count - reaped) kept or skipped")
            }
            if unavailable > 0 {
                throw CLIError.failure(
                    "could not ask Concourse about \(unavailable) build\(unavailable == 1 ? "" : "s"); their locks were kept"
                )
            }
        }
    }

    private func act(on decision: ReapDecision, configuration: PoolConfiguration, session: Session) async throws
        -> ReapReport
    {
        let status = decision.status
        func report(_ action: String, _ reason: String, _ evidence: [TrailerField] = [], commit: String? = nil)
            -> ReapReport
        {
            ReapReport(
                pool: status.pool, lock: status.lock, holder: status.holder?.description, since: status.since,
                claim: status.commit?.hex, action: action, reason: reason,
                evidence: Dictionary(evidence.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 }), commit: commit)
        }
        guard case .reap(let reason, let evidence) = decision.verdict, let claim = status.commit else {
            return report("kept", decision.reason)
        }
        if dryRun { return report("would-reap", reason, evidence) }
        do {
            let result = try await LockPoolClient(configuration: configuration).perform(
                .reap(lock: status.lock, claim: claim, evidence: evidence), timeout: try session.timeLeft(),
                clock: ContinuousClock(),
                events: { _ in }, logger: session.logger)
            return report("reaped", reason, evidence, commit: result.version.hex)
        } catch LockPoolError.notClaimed {
            return report("skipped", "released meanwhile")
        } catch LockPoolError.fenceBroken {
            return report("skipped", "claimed again meanwhile")
        }
    }
}
