import Foundation
import LockPool
import Testing

@testable import PoolMetrics

/// Checks `examples/grafana/lockpool-pools.json` against what lockpool emits: its structure, its panels, and every
/// PromQL expression's metric names, variables and `operation` label values.
@Suite struct GrafanaDashboardTests {
    /// The metrics `lockpool stats --format prometheus` writes for node_exporter's textfile collector.
    static let statsMetrics: Set<String> = [
        "lockpool_stats_utilisation_ratio", "lockpool_stats_hold_seconds", "lockpool_stats_wait_seconds",
        "lockpool_stats_operations_per_day",
    ]
    /// Variables Grafana defines by itself.
    static let builtInVariables: Set<String> = [
        "__range", "__range_s", "__range_ms", "__interval", "__interval_ms", "__rate_interval", "__from", "__to",
        "__all", "__dashboard", "__org", "__user", "__name", "__timezone",
    ]

    /// The repository's root, three levels above this file (`Tests/PoolMetricsTests/…`).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let dashboardURL = root.appendingPathComponent("examples/grafana/lockpool-pools.json")

    /// The dashboard, parsed.
    let dashboard: [String: Any]

    init() throws {
        let data = try Data(contentsOf: Self.dashboardURL)
        dashboard = try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// Every panel, those inside collapsed rows included, rows included.
    var allPanels: [[String: Any]] {
        let top = dashboard["panels"] as? [[String: Any]] ?? []
        return top.flatMap { panel in [panel] + (panel["panels"] as? [[String: Any]] ?? []) }
    }

    /// The template variables.
    var variables: [[String: Any]] {
        (dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []
    }

    /// The query of a query variable, stored as a string or as `{"query": …}`.
    static func variableQuery(_ variable: [String: Any]) -> String? {
        if let query = variable["query"] as? String { return query }
        return (variable["query"] as? [String: Any])?["query"] as? String
    }

    /// Every PromQL expression: the targets' and the query variables'.
    var expressions: [String] {
        let targets = allPanels.flatMap { $0["targets"] as? [[String: Any]] ?? [] }.compactMap { $0["expr"] as? String }
        let queries = variables.filter { $0["type"] as? String == "query" }.compactMap(Self.variableQuery)
        return targets + queries
    }

    /// Every string anywhere in `value`.
    static func strings(in value: Any) -> [String] {
        if let string = value as? String { return [string] }
        if let array = value as? [Any] { return array.flatMap(strings(in:)) }
        if let object = value as? [String: Any] { return object.values.flatMap(strings(in:)) }
        return []
    }

    /// The captures of `pattern`'s first group in `text`.
    static func captures(_ pattern: String, in text: String) throws -> [String] {
        let regex = try NSRegularExpression(pattern: pattern)
        let range = NSRange(text.startIndex..., in: text)
        return regex.matches(in: text, range: range).compactMap { match in
            Range(match.range(at: 1), in: text).map { String(text[$0]) }
        }
    }

    /// `expr` with its quoted strings removed, or nil when brackets or quotes do not balance.
    static func unquoted(_ expr: String) -> String? {
        var stack: [Character] = []
        var quote: Character?
        var escaped = false
        var outside = ""
        let closing: [Character: Character] = [")": "(", "]": "[", "}": "{"]
        for character in expr {
            if let open = quote {
                if escaped {
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == open {
                    quote = nil
                }
                continue
            }
            switch character {
            case "\"", "'", "`": quote = character
            case "(", "[", "{": stack.append(character)
            case ")", "]", "}":
                guard stack.popLast() == closing[character] else { return nil }
            default: break
            }
            outside.append(character)
        }
        return stack.isEmpty && quote == nil ? outside : nil
    }

    @Test func isADashboardWithTheRequiredFields() throws {
        #expect(dashboard["title"] as? String != nil)
        #expect(dashboard["uid"] as? String == "lockpool-pools")
        #expect(dashboard["schemaVersion"] as? Int == 39)
        #expect(dashboard["panels"] as? [[String: Any]] != nil)
        #expect(dashboard["templating"] as? [String: Any] != nil)
        let inputs = try #require(dashboard["__inputs"] as? [[String: Any]])
        let input = try #require(inputs.first { $0["name"] as? String == "DS_PROMETHEUS" })
        #expect(input["pluginId"] as? String == "prometheus")
    }

    @Test func definesTheDatasourcePoolAndBranchVariables() throws {
        let byName = Dictionary(variables.compactMap { v in (v["name"] as? String).map { ($0, v) } }) { a, _ in a }
        let datasource = try #require(byName["datasource"])
        #expect(datasource["type"] as? String == "datasource")
        #expect(datasource["query"] as? String == "prometheus")
        for name in ["pool", "branch"] {
            let variable = try #require(byName[name])
            #expect(variable["type"] as? String == "query")
            #expect(variable["multi"] as? Bool == true)
            #expect(variable["includeAll"] as? Bool == true)
            #expect(Self.variableQuery(variable)?.contains("label_values(") == true)
            #expect(Self.variableQuery(variable)?.contains(OperationMetrics.Name.availableLocks) == true)
        }
    }

    @Test func panelIDsAreUnique() {
        let ids = allPanels.compactMap { $0["id"] as? Int }
        #expect(ids.count == allPanels.count)
        #expect(Set(ids).count == ids.count)
    }

    @Test func everyPanelHasATitleTypeDescriptionAndTarget() {
        for panel in allPanels {
            let title = panel["title"] as? String ?? ""
            #expect(!title.isEmpty)
            let type = panel["type"] as? String ?? ""
            #expect(!type.isEmpty, "\(title)")
            if type == "row" { continue }
            #expect(!(panel["description"] as? String ?? "").isEmpty, "\(title)")
            let targets = panel["targets"] as? [[String: Any]] ?? []
            #expect(!targets.isEmpty, "\(title)")
            for target in targets {
                #expect(!(target["expr"] as? String ?? "").isEmpty, "\(title)")
                let uid = (target["datasource"] as? [String: Any])?["uid"] as? String
                #expect(uid == "${datasource}", "\(title)")
            }
        }
        #expect(allPanels.contains { $0["type"] as? String == "row" && $0["collapsed"] as? Bool == true })
    }

    @Test func theHistoryAnalyticsRowIsCollapsedAndHoldsTheStatsPanels() throws {
        let rows = allPanels.filter { $0["type"] as? String == "row" }
        let history = try #require(rows.first { $0["title"] as? String == "History analytics (lockpool stats)" })
        #expect(history["collapsed"] as? Bool == true)
        let inner = history["panels"] as? [[String: Any]] ?? []
        let exprs = inner.flatMap { $0["targets"] as? [[String: Any]] ?? [] }.compactMap { $0["expr"] as? String }
        for metric in Self.statsMetrics {
            #expect(exprs.contains { $0.contains(metric) }, "\(metric)")
        }
    }

    @Test func everyExpressionBalancesBracketsAndQuotes() {
        #expect(!expressions.isEmpty)
        for expr in expressions {
            #expect(Self.unquoted(expr) != nil, "\(expr)")
        }
    }

    @Test func everyMetricNameIsOneLockpoolEmits() throws {
        let gauges: Set<String> = [
            OperationMetrics.Name.availableLocks, OperationMetrics.Name.claimedLocks, OperationMetrics.Name.waitTime,
            OperationMetrics.Name.lostRaces, OperationMetrics.Name.waiting,
        ]
        let histogram = OperationMetrics.Name.executionTime
        let emitted = gauges.union(["_bucket", "_sum", "_count"].map { histogram + $0 })
        var used: Set<String> = []
        for expr in expressions {
            let code = try #require(Self.unquoted(expr), "\(expr)")
            let names = try Self.captures(#"\b(resource_pool_\w+|lockpool_stats_\w+|push_time_seconds)\b"#, in: code)
            #expect(!names.isEmpty, "\(expr)")
            for name in names {
                if name.hasPrefix("lockpool_stats_") {
                    #expect(Self.statsMetrics.contains(name), "\(name) in \(expr)")
                } else if name.hasPrefix("resource_pool_") {
                    #expect(emitted.contains(name), "\(name) in \(expr)")
                }
                used.insert(name)
            }
            for job in try Self.captures(#"\bjob\s*=~?\s*"([^"]*)""#, in: expr) {
                #expect(job == OperationMetrics.job, "\(expr)")
            }
        }
        #expect(used.contains(OperationMetrics.Name.availableLocks))
        #expect(used.contains(OperationMetrics.Name.claimedLocks))
        #expect(used.contains(OperationMetrics.Name.waitTime))
        #expect(used.contains(OperationMetrics.Name.lostRaces))
        #expect(used.contains(histogram + "_bucket"))
        #expect(used.contains("push_time_seconds"))
    }

    @Test func everyVariableUsedIsDefined() throws {
        let defined = Set(variables.compactMap { $0["name"] as? String })
        let inputs = Set((dashboard["__inputs"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String })
        var checked = 0
        for string in Self.strings(in: dashboard) {
            let names =
                try Self.captures(#"\$\{(\w+)"#, in: string) + Self.captures(#"\$(\w+)"#, in: string)
                + Self.captures(#"\[\[(\w+)"#, in: string)
            for name in names {
                checked += 1
                let known = defined.contains(name) || Self.builtInVariables.contains(name) || inputs.contains(name)
                #expect(known, "$\(name) in \(string)")
            }
        }
        #expect(checked > 0)
    }

    @Test func operationLabelValuesAreOnesLockpoolPushes() throws {
        let labels = Set(OperationKind.allCases.map(OperationMetrics.operationLabel))
        var filtered: Set<String> = []
        for expr in expressions {
            for value in try Self.captures(#"\boperation\s*=~?\s*"([^"]*)""#, in: expr) where !value.contains("$") {
                filtered.formUnion(value.split(separator: "|").map(String.init))
            }
        }
        #expect(!filtered.isEmpty)
        #expect(filtered.isSubset(of: labels), "\(filtered.subtracting(labels))")
    }
}
