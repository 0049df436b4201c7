import FoundationEssentials
import HTTPClient
import LockPool
import StringSupport

/// Asks a Concourse server whether the build that holds a lock is still running (`GET /api/v1/builds/:id`, or
/// `/api/v1/teams/:team/pipelines/:pipeline/jobs/:job/builds/:name` when the claim names no build id).
struct ConcourseAPI: Sendable {
    /// The server's base URL, without a trailing `/`.
    let baseURL: String
    /// A bearer token (a secret), from `fly -t T status`'s `~/.flyrc` or a service account.
    let token: String?
    /// Bound on one request.
    var requestTimeout: Duration = .seconds(10)

    /// `baseURL` without userinfo: what messages, the reap report and Reap-* trailers show.
    var shownURL: String { URLUserinfo(in: baseURL)?.withoutUserinfo ?? baseURL }

    /// The secrets of this client: the token and any userinfo in `baseURL`, for redaction.
    var secrets: [String] {
        var found = [token].compactMap { $0 }.filter { !$0.isEmpty }
        if let info = URLUserinfo(in: baseURL) {
            found.append(String(info.userinfo))
            found += info.passwordSecrets.dropFirst().filter { !$0.isEmpty }
        }
        return found
    }

    /// The token was refused: liveness cannot be trusted for any lock, so the reaper stops before changing anything.
    struct Refused: Error, CustomStringConvertible {
        let url: String
        let status: Int
        var description: String {
            "the Concourse API at \(url) refused the request (HTTP \(status)); check --concourse-token, "
                + "--concourse-token-file or LOCKPOOL_CONCOURSE_TOKEN (a bearer token with access to the team)"
        }
    }

    init(baseURL: String, token: String?) {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.token = token
    }

    /// The API path of `build`, or nil when the claim names too little of it.
    ///
    /// Built as a string: every segment is percent-encoded here, `/` included, which `URLComponents` would keep as a
    /// separator in a job name, so it would only wrap strings that are already encoded.
    func path(of build: BuildInfo) -> String? {
        func segment(_ text: String) -> String {
            text.percentEncoded(allowing: .pathSegment)
        }
        if let id = build.id, !id.isEmpty { return "/api/v1/builds/\(segment(id))" }
        guard let team = build.team, let pipeline = build.pipeline, let job = build.job, let name = build.name else {
            return nil
        }
        var path =
            "/api/v1/teams/\(segment(team))/pipelines/\(segment(pipeline))/jobs/\(segment(job))/builds/\(segment(name))"
        if let vars = build.instanceVars {
            // Instance vars read from a subject (`T/P/V/J build N`) are not the JSON the API needs; asking without
            // them would name the pipeline's other instance, whose build of the same name may have finished.
            guard vars.hasPrefix("{") else { return nil }
            path += "?vars=\(vars.percentEncoded(allowing: .alphanumerics))"
        }
        return path
    }

    /// The part of the server's answer about a build that is read: `{"status": "started", …}`.
    private struct BuildAnswer: Decodable {
        let status: String
    }

    /// What the server says about `build`.
    ///
    /// - Throws: `Refused` on 401 or 403.
    func liveness(of build: BuildInfo?) async throws -> BuildLiveness {
        guard let build, let path = path(of: build) else {
            return .unknown(reason: "the claim names no build")
        }
        var headers: [(name: String, value: String)] = [("Accept", "application/json")]
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        let response: HTTPResponse
        do {
            response = try await HTTPClient.send(
                HTTPRequest(url: baseURL + path, headers: headers, timeout: requestTimeout))
        } catch {
            return .unavailable(reason: "GET \(shownURL)\(path) failed: \(error)")
        }
        let status = response.status
        switch status {
        case 200:
            guard let buildStatus = try? JSONDecoder().decode(BuildAnswer.self, from: Data(response.body)).status else {
                return .unavailable(reason: "GET \(shownURL)\(path): the answer names no build status")
            }
            switch buildStatus {
            case "pending", "started": return .running(status: buildStatus)
            case "succeeded", "failed", "errored", "aborted": return .finished(status: buildStatus)
            default:
                let shown = buildStatus.count > 40 ? buildStatus.prefix(40) + "…" : Substring(buildStatus)
                return .unavailable(reason: "unknown build status \(NameRule.jsonQuoted(String(shown)))")
            }
        case 404: return .unknown(reason: "the build is not known to Concourse (HTTP 404)")
        case 401, 403: throw Refused(url: shownURL, status: status)
        default: return .unavailable(reason: "GET \(shownURL)\(path) answered HTTP \(status)")
        }
    }
}
