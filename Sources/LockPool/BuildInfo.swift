/// The CI build on whose behalf a commit is made or was made.
///
/// Every field is optional: the resource fills in what Concourse provides (`BUILD_*`), the CLI usually knows nothing,
/// and history read back from older tools may name only part of a build. An empty string is treated as unknown
/// wherever a value is used.
public struct BuildInfo: Sendable, Equatable {
    /// The team name (`BUILD_TEAM_NAME`).
    public var team: String?
    /// The pipeline name (`BUILD_PIPELINE_NAME`).
    public var pipeline: String?
    /// The job name (`BUILD_JOB_NAME`).
    public var job: String?
    /// The build name within its job, such as `42` or `42.1` (`BUILD_NAME`).
    public var name: String?
    /// The build's global id (`BUILD_ID`); the only name a one-off build has.
    public var id: String?
    /// The pipeline's instance vars as JSON, exactly as given (`BUILD_PIPELINE_INSTANCE_VARS`).
    public var instanceVars: String?
    /// The build's web page.
    public var url: String?

    /// Creates a description of a build from whatever parts are known.
    public init(
        team: String? = nil, pipeline: String? = nil, job: String? = nil, name: String? = nil, id: String? = nil,
        instanceVars: String? = nil, url: String? = nil
    ) {
        self.team = team
        self.pipeline = pipeline
        self.job = job
        self.name = name
        self.id = id
        self.instanceVars = instanceVars
        self.url = url
    }

    /// No build at all, as for the CLI.
    public static let none = BuildInfo()
}
