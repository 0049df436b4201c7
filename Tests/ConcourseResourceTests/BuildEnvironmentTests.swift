import ConcourseResource
import LockPool
import Testing

struct EnvironmentCase: Sendable, CustomTestStringConvertible {
    let name: String
    let environment: [String: String]
    let expected: BuildInfo
    var testDescription: String { name }
}

private let pipelineBuild = [
    "BUILD_TEAM_NAME": "main", "BUILD_PIPELINE_NAME": "deploy", "BUILD_JOB_NAME": "apply", "BUILD_NAME": "42",
    "BUILD_ID": "1234",
]

@Test(arguments: [
    EnvironmentCase(name: "nothing set", environment: [:], expected: .none),
    EnvironmentCase(
        name: "pipeline build, URL derived from ATC_EXTERNAL_URL without its trailing slash",
        environment: pipelineBuild.merging(["ATC_EXTERNAL_URL": "https://ci.example.com/"]) { $1 },
        expected: BuildInfo(
            team: "main", pipeline: "deploy", job: "apply", name: "42", id: "1234",
            url: "https://ci.example.com/teams/main/pipelines/deploy/jobs/apply/builds/42")),
    EnvironmentCase(
        name: "BUILD_URL wins over ATC_EXTERNAL_URL",
        environment: pipelineBuild.merging(
            ["ATC_EXTERNAL_URL": "https://ci.example.com", "BUILD_URL": "https://other/b/1"]) { $1 },
        expected: BuildInfo(
            team: "main", pipeline: "deploy", job: "apply", name: "42", id: "1234", url: "https://other/b/1")),
    EnvironmentCase(
        name: "segments are percent-encoded",
        environment: [
            "BUILD_TEAM_NAME": "my team", "BUILD_PIPELINE_NAME": "p/q?", "BUILD_JOB_NAME": "jöb#1",
            "BUILD_NAME": "7.1", "ATC_EXTERNAL_URL": "http://ci:8080",
        ],
        expected: BuildInfo(
            team: "my team", pipeline: "p/q?", job: "jöb#1", name: "7.1",
            url: "http://ci:8080/teams/my%20team/pipelines/p%2Fq%3F/jobs/j%C3%B6b%231/builds/7.1")),
    EnvironmentCase(
        name: "instance vars appended as the web UI does, nested keys joined by dots",
        environment: pipelineBuild.merging([
            "ATC_EXTERNAL_URL": "https://ci",
            "BUILD_PIPELINE_INSTANCE_VARS":
                #"{"version": {"tag": "a b", "major": 1}, "branch": "feature/x", "on": true, "list": [1, "é"]}"#,
        ]) { $1 },
        expected: BuildInfo(
            team: "main", pipeline: "deploy", job: "apply", name: "42", id: "1234",
            instanceVars:
                #"{"version": {"tag": "a b", "major": 1}, "branch": "feature/x", "on": true, "list": [1, "é"]}"#,
            url: "https://ci/teams/main/pipelines/deploy/jobs/apply/builds/42"
                + "?vars.branch=%22feature%2Fx%22&vars.list=%5B1%2C%22%C3%A9%22%5D&vars.on=true"
                + "&vars.version.major=1&vars.version.tag=%22a%20b%22")),
    EnvironmentCase(
        name: "instance var strings re-escaped compactly",
        environment: pipelineBuild.merging([
            "ATC_EXTERNAL_URL": "https://ci", "BUILD_PIPELINE_INSTANCE_VARS": #"{"k":"q\"\u00e9\n"}"#,
        ]) { $1 },
        expected: BuildInfo(
            team: "main", pipeline: "deploy", job: "apply", name: "42", id: "1234",
            instanceVars: #"{"k":"q\"\u00e9\n"}"#,
            url: "https://ci/teams/main/pipelines/deploy/jobs/apply/builds/42?vars.k=%22q%5C%22%C3%A9%5Cn%22")),
    EnvironmentCase(
        name: "instance vars that are not a JSON object add no query",
        environment: pipelineBuild.merging([
            "ATC_EXTERNAL_URL": "https://ci", "BUILD_PIPELINE_INSTANCE_VARS": "{not json",
        ]) { $1 },
        expected: BuildInfo(
            team: "main", pipeline: "deploy", job: "apply", name: "42", id: "1234", instanceVars: "{not json",
            url: "https://ci/teams/main/pipelines/deploy/jobs/apply/builds/42")),
    EnvironmentCase(
        name: "one-off build",
        environment: ["BUILD_ID": "77", "BUILD_NAME": "77", "ATC_EXTERNAL_URL": "https://ci//"],
        expected: BuildInfo(name: "77", id: "77", url: "https://ci/builds/77")),
    EnvironmentCase(
        name: "no ATC_EXTERNAL_URL, no URL", environment: pipelineBuild,
        expected: BuildInfo(team: "main", pipeline: "deploy", job: "apply", name: "42", id: "1234")),
    EnvironmentCase(
        name: "empty variables count as unset",
        environment: [
            "BUILD_TEAM_NAME": "", "BUILD_PIPELINE_NAME": "deploy", "BUILD_JOB_NAME": "apply", "BUILD_NAME": "42",
            "BUILD_ID": "", "BUILD_PIPELINE_INSTANCE_VARS": "", "BUILD_URL": "", "ATC_EXTERNAL_URL": "https://ci",
        ],
        expected: BuildInfo(pipeline: "deploy", job: "apply", name: "42")),
])
func buildInfoFromEnvironment(_ c: EnvironmentCase) {
    #expect(BuildInfo(environment: c.environment) == c.expected)
}

@Test func environmentToRenderedMessage() {
    let environment = pipelineBuild.merging([
        "ATC_EXTERNAL_URL": "https://ci.example.com", "BUILD_PIPELINE_INSTANCE_VARS": #"{"branch":"main"}"#,
    ]) { $1 }
    let message = CommitMessage(
        operation: .claim, pool: "envs", lock: "env-1", build: BuildInfo(environment: environment),
        tool: "lockpool 0.1.0 (resource)", nonce: "ffffffffffffffffffffffffffffffff")
    #expect(
        message.rendered() == """
            main/deploy/apply build 42 claiming: env-1

            Build URL: https://ci.example.com/teams/main/pipelines/deploy/jobs/apply/builds/42?vars.branch=%22main%22

            Lock-Schema: 1
            Lock-Operation: claim
            Lock-Pool: envs
            Lock-Name: env-1
            Lock-State: claimed
            Build-Team: main
            Build-Pipeline: deploy
            Build-Job: apply
            Build-Name: 42
            Build-Id: 1234
            Build-Pipeline-Instance-Vars: {"branch":"main"}
            Build-URL: https://ci.example.com/teams/main/pipelines/deploy/jobs/apply/builds/42?vars.branch=%22main%22
            Lock-Tool: lockpool 0.1.0 (resource)
            Lock-Nonce: ffffffffffffffffffffffffffffffff

            """)
}
