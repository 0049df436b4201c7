import Foundation
import HTTPClient
import LockPool

/// Asks a Concourse server whether the build that holds a lock is still running (`GET /api/v1/builds/:id`, or
/// `/api/v1/teams/:team/pipelines/:pipeline/jobs/:job/builds/:name` when the claim names no build id).
struct ConcourseAPI: Sendable {
    /// The server's base URL, without a trailing `/`.
    let baseURL: String
    /// A bearer token (a secret), from `fly -t T status`'s `~/.flyrc` or a service account.
    let token: String?
    /// Bound on one request.
    var requestTimeout: Duration = .seconds(10)

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
    func path(of build: BuildInfo) -> String? {
        func segment(_ text: String) -> String {
            text.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/", "?", "#"])) ?? text
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
            guard vars.hasPrefix("{"), let encoded = vars.addingPercentEncoding(withAllowedCharacters: .alphanumerics)
            else { return nil }
            path += "?vars=\(encoded)"
        }
        return path
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
            return .unavailable(reason: "GET \(baseURL)\(path) failed: \(error)")
        }
        let status = response.status
        let data = Data(response.body)
        switch status {
        case 200:
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let buildStatus = object["status"] as? String
            else { return .unavailable(reason: "GET \(baseURL)\(path): the answer names no build status") }
            switch buildStatus {
            case "pending", "started": return .running(status: buildStatus)
            case "succeeded", "failed", "errored", "aborted": return .finished(status: buildStatus)
            default: return .unavailable(reason: "unknown build status '\(buildStatus)'")
            }
        case 404: return .unknown(reason: "the build is not known to Concourse (HTTP 404)")
        case 401, 403: throw Refused(url: baseURL, status: status)
        default: return .unavailable(reason: "GET \(baseURL)\(path) answered HTTP \(status)")
        }
    }
}
