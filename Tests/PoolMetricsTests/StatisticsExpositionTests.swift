import Foundation
import LockPool
import Testing

@testable import PoolMetrics

/// One parsed line of the text exposition format.
private enum ExpositionLine: Equatable {
    case help(name: String, text: String)
    case type(name: String, type: String)
    case sample(name: String, labels: [String: String], value: Double)
}

private struct ParseError: Error, CustomStringConvertible {
    let line: String
    let reason: String
    var description: String { "\(reason): \(line)" }
}

/// Parses one line: `# HELP name text`, `# TYPE name type`, or `name{label="value",…} value` with `\\`, `\"` and
/// `\n` escapes in label values.
private func parse(_ line: String) throws -> ExpositionLine {
    for (prefix, isHelp) in [("# HELP ", true), ("# TYPE ", false)] where line.hasPrefix(prefix) {
        let rest = line.dropFirst(prefix.count)
        guard let space = rest.firstIndex(of: " ") else { throw ParseError(line: line, reason: "no text") }
        let name = String(rest[..<space])
        let text = String(rest[rest.index(after: space)...])
        return isHelp ? .help(name: name, text: text) : .type(name: name, type: text)
    }
    var characters = Substring(line)
    let name = String(characters.prefix { $0.isLetter || $0 == "_" || $0 == ":" || $0.isNumber })
    guard !name.isEmpty else { throw ParseError(line: line, reason: "no metric name") }
    characters = characters.dropFirst(name.count)
    var labels: [String: String] = [:]
    if characters.first == "{" {
        characters = characters.dropFirst()
        while characters.first != "}" {
            let key = String(characters.prefix { $0 != "=" })
            characters = characters.dropFirst(key.count)
            guard characters.hasPrefix("=\"") else { throw ParseError(line: line, reason: "no label value") }
            characters = characters.dropFirst(2)
            var value = ""
            while let character = characters.first, character != "\"" {
                characters = characters.dropFirst()
                guard character == "\\" else {
                    value.append(character)
                    continue
                }
                guard let escaped = characters.first else { throw ParseError(line: line, reason: "bad escape") }
                characters = characters.dropFirst()
                switch escaped {
                case "\\": value.append("\\")
                case "\"": value.append("\"")
                case "n": value.append("\n")
                default: throw ParseError(line: line, reason: "unknown escape")
                }
            }
            guard characters.first == "\"" else { throw ParseError(line: line, reason: "unterminated value") }
            characters = characters.dropFirst()
            guard labels.updateValue(value, forKey: key) == nil else {
                throw ParseError(line: line, reason: "repeated label")
            }
            if characters.first == "," { characters = characters.dropFirst() }
        }
        characters = characters.dropFirst()
    }
    guard characters.first == " ", let value = Double(characters.dropFirst()) else {
        throw ParseError(line: line, reason: "no value")
    }
    return .sample(name: name, labels: labels, value: value)
}

/// A sample as a comparable key: `name{k=v,…}` with labels sorted.
private func key(_ name: String, _ labels: [String: String]) -> String {
    name + "{" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") + "}"
}

private let start = Date(timeIntervalSince1970: 1_777_716_000)  // 2026-05-02T10:00:00Z
private let lockName = "env \"1\" ü"
private let quotedHolder = "main/dé\"ploy\"/apply"
private let slashHolder = #"back\slash"#

/// Two pools: `ops/eu` with every figure, `idle` with an empty window and nothing else.
private let statistics = [
    PoolStatistics(
        pool: "ops/eu", since: start, until: start.addingTimeInterval(10800), claimedTime: .seconds(5400),
        lockTime: .seconds(10800),
        holds: PoolStatistics.Holds(
            ended: PoolStatistics.Percentiles(count: 3, p50: .seconds(3600), p90: .seconds(7200), max: .seconds(7200)),
            open: 1, oldestOpen: .seconds(1200)),
        waits: PoolStatistics.Percentiles(count: 2, p50: .milliseconds(1500), p90: .seconds(40), max: .seconds(40)),
        operations: PoolStatistics.Operations(
            total: 11, claims: 4, releases: 2, adds: 3, removes: 1, updates: 1, perDay: 88),
        locks: [
            PoolStatistics.Lock(
                lock: lockName, state: .claimed, claimedTime: .seconds(2700), lockTime: .seconds(3600), claims: 2,
                holds: PoolStatistics.Holds(ended: nil, open: 1, oldestOpen: .seconds(1200))),
            PoolStatistics.Lock(
                lock: "gone", state: .absent, claimedTime: .zero, lockTime: .zero, claims: 0,
                holds: PoolStatistics.Holds(ended: nil, open: 0, oldestOpen: nil)),
        ],
        topHolders: [
            PoolStatistics.TopHolder(name: quotedHolder, claims: 2, holdTime: .seconds(10800)),
            PoolStatistics.TopHolder(name: slashHolder, claims: 1, holdTime: .seconds(1800)),
        ], holderCount: 2),
    PoolStatistics(
        pool: "idle", since: start.addingTimeInterval(10800), until: start.addingTimeInterval(10800),
        claimedTime: .zero, lockTime: .zero, holds: PoolStatistics.Holds(ended: nil, open: 0, oldestOpen: nil),
        waits: nil,
        operations: PoolStatistics.Operations(
            total: 0, claims: 0, releases: 0, adds: 0, removes: 0, updates: 0, perDay: 0),
        locks: [], topHolders: [], holderCount: 0),
]

@Suite struct StatisticsExpositionTests {
    @Test func everyLineParsesAndEveryFamilyHasHelpAndType() throws {
        let text = StatisticsExposition.text(statistics)
        #expect(text.hasSuffix("\n") && !text.hasSuffix("\n\n"))
        let lines = try text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map {
            try parse(String($0))
        }
        var names: [String] = []
        var current: String?
        for (index, line) in lines.enumerated() {
            switch line {
            case .help(let name, let help):
                #expect(!names.contains(name), "family \(name) appears twice")
                #expect(name.hasPrefix("lockpool_stats_"))
                #expect(!help.isEmpty)
                #expect(index + 1 < lines.count && lines[index + 1] == .type(name: name, type: "gauge"))
                names.append(name)
                current = name
            case .type(let name, _):
                #expect(name == current)
            case .sample(let name, _, _):
                #expect(name == current, "sample of \(name) outside its family")
            }
        }
        #expect(
            names == [
                "lockpool_stats_window_seconds", "lockpool_stats_window_start_timestamp_seconds",
                "lockpool_stats_pool_utilisation_ratio", "lockpool_stats_utilisation_ratio",
                "lockpool_stats_hold_seconds", "lockpool_stats_holds", "lockpool_stats_open_holds",
                "lockpool_stats_oldest_open_hold_seconds", "lockpool_stats_wait_seconds",
                "lockpool_stats_waits_recorded", "lockpool_stats_operations_per_day", "lockpool_stats_operations",
                "lockpool_stats_claims", "lockpool_stats_holder_hold_seconds",
            ])
    }

    @Test func exactSamplesAndLabels() throws {
        let lines = try StatisticsExposition.text(statistics).split(separator: "\n").map { try parse(String($0)) }
        var samples: [String: Double] = [:]
        for case .sample(let name, let labels, let value) in lines {
            #expect(samples.updateValue(value, forKey: key(name, labels)) == nil, "duplicate \(name) \(labels)")
        }
        var expected: [String: Double] = [:]
        func add(_ name: String, _ labels: [String: String], _ value: Double) {
            expected[key("lockpool_stats_" + name, labels)] = value
        }
        let ops = ["pool": "ops/eu"]
        let idle = ["pool": "idle"]
        add("window_seconds", ops, 10800)
        add("window_seconds", idle, 0)
        add("window_start_timestamp_seconds", ops, 1_777_716_000)
        add("window_start_timestamp_seconds", idle, 1_777_726_800)
        add("pool_utilisation_ratio", ops, 0.5)
        add("utilisation_ratio", ["pool": "ops/eu", "lock": lockName], 0.75)
        for (quantile, value) in [("0.5", 3600.0), ("0.9", 7200), ("1", 7200)] {
            add("hold_seconds", ["pool": "ops/eu", "quantile": quantile], value)
        }
        add("holds", ops, 3)
        add("holds", idle, 0)
        add("open_holds", ops, 1)
        add("open_holds", idle, 0)
        add("oldest_open_hold_seconds", ops, 1200)
        for (quantile, value) in [("0.5", 1.5), ("0.9", 40), ("1", 40)] {
            add("wait_seconds", ["pool": "ops/eu", "quantile": quantile], value)
        }
        add("waits_recorded", ops, 2)
        add("waits_recorded", idle, 0)
        add("operations_per_day", ops, 88)
        add("operations_per_day", idle, 0)
        for (kind, count) in [("claim", 4.0), ("release", 2), ("add", 3), ("remove", 1), ("update", 1)] {
            add("operations", ["pool": "ops/eu", "kind": kind], count)
            add("operations", ["pool": "idle", "kind": kind], 0)
        }
        add("claims", ["pool": "ops/eu", "holder": quotedHolder], 2)
        add("claims", ["pool": "ops/eu", "holder": slashHolder], 1)
        add("holder_hold_seconds", ["pool": "ops/eu", "holder": quotedHolder], 10800)
        add("holder_hold_seconds", ["pool": "ops/eu", "holder": slashHolder], 1800)
        #expect(samples == expected)
    }

    @Test func labelValuesAreEscapedAndTheOrderIsStable() {
        let text = StatisticsExposition.text(statistics)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.contains(#"lockpool_stats_utilisation_ratio{pool="ops/eu",lock="env \"1\" ü"} 0.75"#))
        #expect(lines.contains(#"lockpool_stats_claims{pool="ops/eu",holder="main/dé\"ploy\"/apply"} 2.0"#))
        #expect(lines.contains(#"lockpool_stats_claims{pool="ops/eu",holder="back\\slash"} 1.0"#))
        #expect(
            lines.filter { $0.hasPrefix("lockpool_stats_hold_seconds") } == [
                #"lockpool_stats_hold_seconds{pool="ops/eu",quantile="0.5"} 3600.0"#,
                #"lockpool_stats_hold_seconds{pool="ops/eu",quantile="0.9"} 7200.0"#,
                #"lockpool_stats_hold_seconds{pool="ops/eu",quantile="1"} 7200.0"#,
            ])
        #expect(
            lines.prefix(4) == [
                "# HELP lockpool_stats_window_seconds Length of the statistics window (--since to --until) in seconds",
                "# TYPE lockpool_stats_window_seconds gauge",
                #"lockpool_stats_window_seconds{pool="idle"} 0.0"#,
                #"lockpool_stats_window_seconds{pool="ops/eu"} 10800.0"#,
            ])
        #expect(StatisticsExposition.text(statistics) == text)
    }

    @Test func aNewlineInALabelValueStaysOnOneLine() throws {
        var stats = statistics[1]
        stats.pool = "two\nlines"
        let lines = StatisticsExposition.text([stats]).split(separator: "\n").map(String.init)
        #expect(lines.contains(#"lockpool_stats_window_seconds{pool="two\nlines"} 0.0"#))
        #expect(
            try lines.map(parse).contains(
                .sample(name: "lockpool_stats_holds", labels: ["pool": "two\nlines"], value: 0)))
    }

    @Test func noStatisticsGiveNoText() {
        #expect(StatisticsExposition.text([]) == "")
    }
}
