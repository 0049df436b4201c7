import LockPool
import StringSupport

extension BuildInfo {
    /// Reads the build from Concourse's build metadata variables (docs/resource.md#environment), as `out` does.
    ///
    /// Reads `BUILD_TEAM_NAME`, `BUILD_PIPELINE_NAME`, `BUILD_JOB_NAME`, `BUILD_NAME`, `BUILD_ID`,
    /// `BUILD_PIPELINE_INSTANCE_VARS`, `BUILD_URL` and `ATC_EXTERNAL_URL`; an empty variable counts as unset. The URL
    /// is `BUILD_URL` when set; otherwise it is derived from `ATC_EXTERNAL_URL` (trailing `/` removed) as
    /// `/teams/T/pipelines/P/jobs/J/builds/N` with percent-encoded segments and the instance vars appended as the
    /// Concourse web UI does (`?vars.branch=%22main%22`, nested keys joined by `.`, sorted, joined by `&`), or as
    /// `/builds/ID` for a build without the four names. Without `ATC_EXTERNAL_URL` there is no URL.
    /// - Parameter environment: the process environment, such as `ProcessInfo.processInfo.environment`.
    public init(environment: [String: String]) {
        func value(_ key: String) -> String? {
            guard let value = environment[key], !value.isEmpty else { return nil }
            return value
        }
        self.init(
            team: value("BUILD_TEAM_NAME"), pipeline: value("BUILD_PIPELINE_NAME"), job: value("BUILD_JOB_NAME"),
            name: value("BUILD_NAME"), id: value("BUILD_ID"), instanceVars: value("BUILD_PIPELINE_INSTANCE_VARS"))
        url = value("BUILD_URL") ?? ConcourseWebURL.build(self, externalURL: value("ATC_EXTERNAL_URL"))
    }
}

/// Builds Concourse web UI addresses.
private enum ConcourseWebURL {
    static func build(_ build: BuildInfo, externalURL: String?) -> String? {
        guard var base = externalURL else { return nil }
        while base.hasSuffix("/") { base.removeLast() }
        guard !base.isEmpty else { return nil }
        if let team = build.team, let pipeline = build.pipeline, let job = build.job, let name = build.name {
            let path = [("teams", team), ("pipelines", pipeline), ("jobs", job), ("builds", name)]
                .map { "/\($0.0)/\(percentEncoded($0.1))" }.joined()
            return base + path + query(instanceVars: build.instanceVars)
        }
        if let id = build.id { return base + "/builds/" + percentEncoded(id) }
        return nil
    }

    /// `?vars.<key>=<JSON value>&…` for a JSON object of instance vars; empty when there are none or the JSON is not
    /// an object.
    ///
    /// Nested objects are flattened with `.`-joined keys and the pairs sorted by key, as the web UI does; other values
    /// are written as compact JSON. Numbers keep their text as given.
    static func query(instanceVars: String?) -> String {
        guard let instanceVars, case .object(let members)? = JSONValue.parse(Array(instanceVars.utf8)) else {
            return ""
        }
        var flat: [String: String] = [:]
        func flatten(_ members: [JSONMember], under prefix: String) {
            for member in members {
                if case .object(let nested) = member.value {
                    flatten(nested, under: prefix + member.key + ".")
                } else {
                    flat[prefix + member.key] = member.value.json
                }
            }
        }
        flatten(members, under: "")
        guard !flat.isEmpty else { return "" }
        let pairs = flat.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            .map { "vars.\(percentEncoded($0.key))=\(percentEncoded($0.value))" }
        return "?" + pairs.joined(separator: "&")
    }

    /// `text` percent-encoded as JavaScript's `encodeURIComponent` does.
    static func percentEncoded(_ text: String) -> String { text.percentEncoded(allowing: .uriComponent) }
}
