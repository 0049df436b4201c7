import ArgumentParser
import ConcourseResource
import Foundation
import LockPoolCLI
import Testing
import Yams

/// Every pipeline in `examples/` parses as YAML, and every lockpool step in it is a request the resource accepts,
/// without a warning: the `source` of each lockpool resource through the `check` decoder, each `put` through the `out`
/// decoder and each `get` through the `in` decoder; a task that runs `lockpool` parses as a `lockpool` command line.
@Suite struct ExamplePipelineTests {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("examples")

    static var pipelineFiles: [String] {
        let directory = examples.appendingPathComponent("pipelines")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return ["pipeline.yml"] + names.filter { $0.hasSuffix(".yml") }.sorted().map { "pipelines/\($0)" }
    }

    /// One pipeline's lockpool steps, found by walking every job's plan.
    struct Pipeline {
        /// Sources of resources whose type is a resource type with a lockpool image, by resource name.
        var sources: [String: Any] = [:]
        var puts: [(resource: String, params: Any?)] = []
        var gets: [(resource: String, params: Any?)] = []
        var lockpoolCommands: [[String]] = []

        init(_ document: [String: Any]) {
            let types = (document["resource_types"] as? [[String: Any]] ?? []).filter { type in
                let source = type["source"] as? [String: Any]
                return (source?["repository"] as? String)?.contains("lockpool") == true
            }.compactMap { $0["name"] as? String }
            for resource in document["resources"] as? [[String: Any]] ?? [] {
                guard let type = resource["type"] as? String, types.contains(type),
                    let name = resource["name"] as? String
                else { continue }
                sources[name] = resource["source"] ?? [String: Any]()
            }
            for job in document["jobs"] as? [[String: Any]] ?? [] {
                walk(job)
            }
        }

        /// Visits a job or a step and everything nested in it (`plan`, `do`, `in_parallel`, hooks, `try`).
        private mutating func walk(_ step: [String: Any]) {
            if let put = step["put"] as? String {
                let resource = step["resource"] as? String ?? put
                if sources[resource] != nil { puts.append((resource, step["params"])) }
            }
            if let get = step["get"] as? String {
                let resource = step["resource"] as? String ?? get
                if sources[resource] != nil { gets.append((resource, step["params"])) }
            }
            if let config = step["config"] as? [String: Any], let run = config["run"] as? [String: Any],
                run["path"] as? String == "lockpool"
            {
                lockpoolCommands.append((run["args"] as? [Any] ?? []).map { "\($0)" })
            }
            for key in ["plan", "do", "in_parallel", "steps"] {
                if let steps = step[key] as? [[String: Any]] { steps.forEach { walk($0) } }
                if let nested = step[key] as? [String: Any] { walk(nested) }
            }
            for key in ["ensure", "on_success", "on_failure", "on_abort", "on_error", "try"] {
                if let nested = step[key] as? [String: Any] { walk(nested) }
            }
        }
    }

    /// `((var))` placeholders become plain strings, as Concourse would interpolate them.
    static func interpolated(_ value: Any) -> Any {
        switch value {
        case let text as String:
            guard let regex = try? NSRegularExpression(pattern: #"\(\(([^)]+)\)\)"#) else { return text }
            let range = NSRange(text.startIndex..., in: text)
            return regex.stringByReplacingMatches(in: text, range: range, withTemplate: "example-$1")
        case let array as [Any]: return array.map(interpolated)
        case let object as [String: Any]: return object.mapValues(interpolated)
        default: return value
        }
    }

    static func request(_ fields: [String: Any?]) throws -> [UInt8] {
        let object = fields.compactMapValues { $0 }.mapValues(interpolated)
        return Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }

    static func load(_ file: String) throws -> Pipeline {
        let text = try String(contentsOf: examples.appendingPathComponent(file), encoding: .utf8)
        let document = try #require(try Yams.load(yaml: text) as? [String: Any], "\(file) is not a YAML mapping")
        return Pipeline(document)
    }

    @Test(arguments: pipelineFiles)
    func everyLockpoolStepIsAValidRequest(_ file: String) throws {
        let pipeline = try Self.load(file)
        #expect(!pipeline.puts.isEmpty || !pipeline.lockpoolCommands.isEmpty, "\(file) uses no lockpool step")
        for (name, source) in pipeline.sources {
            let decoded = RequestDecoder.decodeCheck(try Self.request(["source": source]))
            #expect(throws: Never.self, "\(file): resource \(name)") { try decoded.get() }
            #expect((try? decoded.get())?.warnings == [], "\(file): resource \(name)")
        }
        for (resource, params) in pipeline.puts {
            let decoded = RequestDecoder.decodeOut(
                try Self.request(["source": pipeline.sources[resource], "params": params]))
            #expect(throws: Never.self, "\(file): put \(resource) \(String(describing: params))") { try decoded.get() }
            #expect((try? decoded.get())?.warnings == [], "\(file): put \(resource)")
        }
        for (resource, params) in pipeline.gets {
            let decoded = RequestDecoder.decodeIn(
                try Self.request([
                    "source": pipeline.sources[resource], "params": params,
                    "version": ["ref": String(repeating: "a", count: 40)],
                ]))
            #expect(throws: Never.self, "\(file): get \(resource)") { try decoded.get() }
            #expect((try? decoded.get())?.warnings == [], "\(file): get \(resource)")
        }
        for arguments in pipeline.lockpoolCommands {
            #expect(throws: Never.self, "\(file): lockpool \(arguments)") {
                _ = try LockPoolCommand.parseAsRoot(arguments)
            }
        }
    }

    /// The examples show every common use the README points to.
    @Test func theExamplesCoverEveryCommonUse() throws {
        var params = Set<String>()
        var sourceKeys = Set<String>()
        var subcommands = Set<String>()
        for file in Self.pipelineFiles {
            let pipeline = try Self.load(file)
            for (_, value) in pipeline.puts { params.formUnion((value as? [String: Any]).map { Array($0.keys) } ?? []) }
            for (_, source) in pipeline.sources {
                sourceKeys.formUnion((source as? [String: Any]).map { Array($0.keys) } ?? [])
            }
            subcommands.formUnion(pipeline.lockpoolCommands.compactMap(\.first))
        }
        #expect(params.isSuperset(of: ["acquire", "release", "claim", "add", "remove", "update", "check", "count"]))
        #expect(sourceKeys.isSuperset(of: ["prometheus_push_gateway", "fair", "private_key", "username", "password"]))
        #expect(subcommands.contains("reap"))
    }
}
