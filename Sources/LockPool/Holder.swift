import FoundationEssentials
import StringSupport

/// Who made a commit, as shown in lines such as `claimed by main/deploy/apply build 42`
/// (docs/commits.md#reading-history).
public struct Holder: Sendable, Equatable, CustomStringConvertible {
    /// A short human description: `main/deploy/apply build 42`, `one-off build 77`, a build URL, `Pool Boy`, or
    /// `Name <email>`.
    public var description: String
    /// The build, as far as the message names one; `nil` when the message names none.
    public var build: BuildInfo?

    /// Creates a holder from its parts.
    public init(description: String, build: BuildInfo? = nil) {
        self.description = description
        self.build = build
    }

    /// Works out who made a commit from its message, falling back to its committer.
    ///
    /// Tried in order: schema-1 trailers (`Build-Team`, `Build-Pipeline`, `Build-Job` and `Build-Name`, then
    /// `Build-Id`); a subject prefix of the forms `T/P/J build N`, `T/P/V/J build N` (V: instance vars),
    /// `P/J build N`, `P/J #N`, `` P/J `#N` ``, `one-off build N` or `one-off #N` before the verb; the build URL
    /// (`Build-URL` trailer or a `Build URL: <url>` line); Pool Boy's `Freshening up the pool with N changes`; and
    /// last `committerName <committerEmail>`. Descriptions are normalised to `… build N`.
    /// - Parameters:
    ///   - message: the full commit message.
    ///   - committerName: the commit's committer name.
    ///   - committerEmail: the commit's committer email.
    /// - Returns: the holder; `build` is set whenever the message names any part of a build.
    public static func from(message: String, committerName: String, committerEmail: String) -> Holder {
        let trailers = Trailers.parse(message)
        func trailer(_ key: String) -> String? {
            let wanted = key.lowercased()
            return trailers.first { $0.key.lowercased() == wanted && !$0.value.isEmpty }?.value
        }
        let lines = Trailers.lines(of: message)
        var build = BuildInfo(
            team: trailer("Build-Team"), pipeline: trailer("Build-Pipeline"), job: trailer("Build-Job"),
            name: trailer("Build-Name"), id: trailer("Build-Id"),
            instanceVars: trailer("Build-Pipeline-Instance-Vars"), url: trailer("Build-URL") ?? buildURLLine(in: lines))

        if let team = build.team, let pipeline = build.pipeline, let job = build.job, let name = build.name {
            return Holder(description: "\(team)/\(pipeline)/\(job) build \(name)", build: build)
        }
        if let id = build.id { return Holder(description: "one-off build \(id)", build: build) }
        let subject = lines.first ?? ""
        if let found = parse(subject: subject) {
            let (description, named) = found
            build.team = build.team ?? named.team
            build.pipeline = build.pipeline ?? named.pipeline
            build.job = build.job ?? named.job
            build.name = build.name ?? named.name
            build.id = build.id ?? named.id
            build.instanceVars = build.instanceVars ?? named.instanceVars
            return Holder(description: description, build: build)
        }
        if let url = build.url {
            if let named = jobBuild(fromURL: url) {
                // The URL fills in what the trailers leave out; a part the trailers name wins, as with the subject.
                let team = build.team ?? named.team!
                let pipeline = build.pipeline ?? named.pipeline!
                let job = build.job ?? named.job!
                let name = build.name ?? named.name!
                (build.team, build.pipeline, build.job, build.name) = (team, pipeline, job, name)
                return Holder(description: "\(team)/\(pipeline)/\(job) build \(name)", build: build)
            }
            return Holder(description: url, build: build)
        }
        if subject.hasPrefix("Freshening up the pool with ") { return Holder(description: "Pool Boy") }
        if build != BuildInfo.none {
            return Holder(description: committer(committerName, committerEmail), build: build)
        }
        return Holder(description: committer(committerName, committerEmail))
    }

    /// The `Lease-Expires` trailer of `message` as a date, or `nil` when absent or not RFC 3339.
    public static func leaseExpiry(in message: String) -> Date? {
        guard let value = Trailers.value("Lease-Expires", in: message) else { return nil }
        if let date = try? Date(value, strategy: .iso8601) { return date }
        return try? Date(value, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    /// The `Lock-Claim` trailer of `message`: the claim commit that a release or remove ended, or `nil`.
    public static func claimCommit(in message: String) -> String? {
        guard let value = Trailers.value("Lock-Claim", in: message), !value.isEmpty else { return nil }
        return value
    }

    private static let verbs = ["claiming", "unclaiming", "removing", "adding unclaimed", "adding claimed", "updating"]

    /// The holder named by a subject prefix before `<verb>:`, or `nil` for a bare or unrecognised subject.
    ///
    /// The verb is searched at the start of the subject or after a space; the first occurrence whose prefix parses
    /// and whose lock part has no `/` wins, so a lock or job name containing a verb does not mislead.
    private static func parse(subject: String) -> (String, BuildInfo)? {
        var candidates: [String.Index] = []
        for verb in verbs {
            for range in occurrences(of: verb + ":", in: subject[...])
            where range.lowerBound == subject.startIndex || subject[subject.index(before: range.lowerBound)] == " " {
                candidates.append(range.lowerBound)
            }
        }
        for start in candidates.sorted() {
            guard !subject[start...].contains("/") else { continue }
            if start == subject.startIndex { return nil }
            let prefix = subject[..<subject.index(before: start)]
            if let found = parse(prefix: prefix) { return found }
        }
        return nil
    }

    /// The occurrences of `needle` in `text` that do not overlap, from the left, compared Character by Character:
    /// what `text.ranges(of: needle)` finds, without its searcher's copies (this runs for every commit a history
    /// read walks). An ASCII text is searched byte by byte, where bytes are Characters; so `needle` must be ASCII
    /// without CR or LF, and not empty, as the subject patterns here are.
    static func occurrences(of needle: String, in text: Substring) -> [Range<String.Index>] {
        guard let first = needle.first else { return [] }
        if text.utf8.allSatisfy({ $0 < 0x80 }) { return asciiOccurrences(of: Array(needle.utf8), in: text) }
        var found: [Range<String.Index>] = []
        var rest = text[...]
        while let start = rest.firstIndex(of: first) {
            if text[start...].starts(with: needle) {
                let end = text.index(start, offsetBy: needle.count)
                found.append(start..<end)
                rest = text[end...]
            } else {
                rest = text[text.index(after: start)...]
            }
        }
        return found
    }

    private static func asciiOccurrences(of needle: [UInt8], in text: Substring) -> [Range<String.Index>] {
        let bytes = text.utf8
        var found: [Range<String.Index>] = []
        var index = bytes.startIndex
        while let start = bytes[index...].firstIndex(of: needle[0]) {
            if bytes[start...].starts(with: needle) {
                let end = bytes.index(start, offsetBy: needle.count)
                found.append(start..<end)
                index = end
            } else {
                index = bytes.index(after: start)
            }
        }
        return found
    }

    private static func parse(prefix: Substring) -> (String, BuildInfo)? {
        for oneOff in ["one-off build ", "one-off #"] where prefix.hasPrefix(oneOff) {
            let id = prefix.dropFirst(oneOff.count)
            guard isBuildName(id) else { return nil }
            return ("one-off build \(id)", BuildInfo(id: String(id)))
        }
        let path: Substring
        let name: Substring
        if let range = occurrences(of: " build ", in: prefix).last {
            (path, name) = (prefix[..<range.lowerBound], prefix[range.upperBound...])
        } else if prefix.hasSuffix("`"), let range = occurrences(of: " `#", in: prefix).last {
            (path, name) = (prefix[..<range.lowerBound], prefix[range.upperBound...].dropLast())
        } else if let range = occurrences(of: " #", in: prefix).last {
            (path, name) = (prefix[..<range.lowerBound], prefix[range.upperBound...])
        } else {
            return nil
        }
        guard isBuildName(name) else { return nil }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 2, !parts.contains(where: \.isEmpty) else { return nil }
        let build: BuildInfo
        switch parts.count {
        case 2:
            build = BuildInfo(pipeline: String(parts[0]), job: String(parts[1]), name: String(name))
        case 3:
            build = BuildInfo(
                team: String(parts[0]), pipeline: String(parts[1]), job: String(parts[2]), name: String(name))
        default:
            build = BuildInfo(
                team: String(parts[0]), pipeline: String(parts[1]), job: String(parts[parts.count - 1]),
                name: String(name), instanceVars: parts[2..<(parts.count - 1)].joined(separator: "/"))
        }
        return ("\(path) build \(name)", build)
    }

    /// Team, pipeline, job and build name from a job build URL `…/teams/T/pipelines/P/jobs/J/builds/N`, as the
    /// upstream resource has written them since 2026; nil for other URLs and for URLs with a query (instance vars,
    /// which would name another pipeline instance if dropped).
    static func jobBuild(fromURL url: String) -> BuildInfo? {
        guard !url.contains("?"), let range = url.firstRange(of: "/teams/") else { return nil }
        let parts = url[range.upperBound...].split(separator: "/", omittingEmptySubsequences: false).map {
            String($0).percentDecoded ?? String($0)
        }
        guard parts.count == 7, parts[1] == "pipelines", parts[3] == "jobs", parts[5] == "builds",
            ![parts[0], parts[2], parts[4], parts[6]].contains(where: \.isEmpty)
        else { return nil }
        return BuildInfo(team: parts[0], pipeline: parts[2], job: parts[4], name: parts[6])
    }

    private static func isBuildName(_ name: Substring) -> Bool {
        !name.isEmpty && !name.contains(" ") && !name.contains("`")
    }

    private static func buildURLLine(in lines: [String]) -> String? {
        for line in lines where line.hasPrefix("Build URL:") {
            let url = line.dropFirst("Build URL:".count).trimming(.whitespaces)
            if !url.isEmpty { return url }
        }
        return nil
    }

    private static func committer(_ name: String, _ email: String) -> String {
        switch (name.isEmpty, email.isEmpty) {
        case (false, false): "\(name) <\(email)>"
        case (false, true): name
        case (true, false): "<\(email)>"
        case (true, true): "unknown committer"
        }
    }
}
