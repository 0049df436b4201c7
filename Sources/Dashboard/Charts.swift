import FoundationEssentials
import LockPool

/// The dashboard's charts, drawn on the server as inline SVG so that they need no script (docs/dashboard.md#charts).
/// Every bar carries a `<title>`: the browser shows it as a tooltip.
enum Chart {
    /// Utilisation over time: one bar per sample, 0 to 100%.
    static func utilisation(_ samples: [UtilisationSample], width: Int = 720, height: Int = 120) -> String {
        guard let first = samples.first, let last = samples.last else { return "" }
        let plot = Plot(from: first.start, to: last.end, left: 40, width: width - 48)
        let top = 8
        let bottom = height - 20
        var svg = svgOpen(width: width, height: height, label: "Utilisation per hour")
        for (fraction, label) in [(0.0, "0%"), (0.5, "50%"), (1.0, "100%")] {
            let y = bottom - Int(Double(bottom - top) * fraction)
            svg += "<line class=\"grid\" x1=\"40\" x2=\"\(width - 8)\" y1=\"\(y)\" y2=\"\(y)\"/>"
            svg += "<text class=\"axis\" x=\"34\" y=\"\(y + 4)\" text-anchor=\"end\">\(label)</text>"
        }
        for sample in samples {
            guard let ratio = sample.ratio else { continue }
            let x = plot.x(sample.start)
            let barWidth = max(1, plot.x(sample.end) - x - 1)
            let barHeight = max(ratio > 0 ? 1 : 0, Int((Double(bottom - top) * ratio).rounded()))
            svg +=
                "<rect class=\"use\" x=\"\(x)\" y=\"\(bottom - barHeight)\" width=\"\(barWidth)\" height=\"\(barHeight)\">"
                + "<title>\(HumanTime.timestamp(sample.start)): \(HTML.percent(ratio))</title></rect>"
        }
        svg += plot.ticks(y: height - 6)
        return svg + "</svg>"
    }

    /// A Gantt-style timeline: one row per lock, one bar per hold from `from` to `to`.
    static func timeline(rows: [(lock: String, holds: [Hold])], from: Date, to: Date, width: Int = 720) -> String {
        let rowHeight = 22
        let labelWidth = 150
        let height = rows.count * rowHeight + 24
        let plot = Plot(from: from, to: to, left: labelWidth, width: width - labelWidth - 8)
        var svg = svgOpen(width: width, height: height, label: "Holds per lock")
        for (index, row) in rows.enumerated() {
            let y = index * rowHeight
            svg +=
                "<text class=\"label\" x=\"\(labelWidth - 6)\" y=\"\(y + 15)\" text-anchor=\"end\">"
                + "\(HTML.escape(clipped(row.lock, 18)))</text>"
            svg += "<line class=\"grid\" x1=\"\(labelWidth)\" x2=\"\(width - 8)\" y1=\"\(y + rowHeight)\" "
            svg += "y2=\"\(y + rowHeight)\"/>"
            for hold in row.holds where (hold.end ?? to) > from && hold.start < to {
                let x = plot.x(max(hold.start, from))
                let barWidth = max(2, plot.x(min(hold.end ?? to, to)) - x)
                let who = hold.holder?.description ?? "claimed before the window"
                let until = hold.end.map { HumanTime.timestamp($0) } ?? "now"
                svg +=
                    "<rect class=\"hold\(hold.end == nil ? " open" : "")\" x=\"\(x)\" y=\"\(y + 3)\" "
                    + "width=\"\(barWidth)\" height=\"\(rowHeight - 6)\" style=\"fill:\(color(who))\">"
                    + "<title>\(HTML.escape(who)): \(HumanTime.timestamp(hold.start)) to \(until)</title></rect>"
                if barWidth > 60 {
                    svg +=
                        "<text class=\"bar\" x=\"\(x + 4)\" y=\"\(y + 15)\">"
                        + "\(HTML.escape(clipped(who, barWidth / 7)))</text>"
                }
            }
        }
        svg += plot.ticks(y: height - 6)
        return svg + "</svg>"
    }

    /// The wait-time distribution: how many recorded waits fell in each range.
    static func waits(_ waits: [Duration], width: Int = 480, height: Int = 140) -> String {
        let edges: [(Duration, String)] = [
            (.seconds(10), "<10s"), (.seconds(60), "10s–1m"), (.seconds(300), "1–5m"), (.seconds(900), "5–15m"),
            (.seconds(3600), "15m–1h"), (.seconds(14400), "1–4h"), (.zero, ">4h"),
        ]
        var counts = [Int](repeating: 0, count: edges.count)
        // The last range has no upper edge: a wait under no other edge falls in it.
        for wait in waits { counts[edges.dropLast().firstIndex { wait < $0.0 } ?? edges.count - 1] += 1 }
        let highest = max(1, counts.max() ?? 1)
        let slot = (width - 16) / edges.count
        let bottom = height - 22
        var svg = svgOpen(width: width, height: height, label: "Wait-time distribution")
        for (index, (_, label)) in edges.enumerated() {
            let barHeight = Int(Double(bottom - 16) * Double(counts[index]) / Double(highest))
            let x = 8 + index * slot
            svg +=
                "<rect class=\"wait\" x=\"\(x + 4)\" y=\"\(bottom - barHeight)\" width=\"\(slot - 8)\" "
                + "height=\"\(barHeight)\"><title>\(HTML.escape(label)): \(counts[index])</title></rect>"
            svg +=
                "<text class=\"axis\" x=\"\(x + slot / 2)\" y=\"\(bottom - barHeight - 4)\" text-anchor=\"middle\">"
                + "\(counts[index])</text>"
            svg +=
                "<text class=\"axis\" x=\"\(x + slot / 2)\" y=\"\(height - 6)\" text-anchor=\"middle\">\(HTML.escape(label))</text>"
        }
        return svg + "</svg>"
    }

    private static func svgOpen(width: Int, height: Int, label: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"\(label)\" viewBox=\"0 0 \(width) "
            + "\(height)\" width=\"\(width)\" height=\"\(height)\">"
    }

    /// `text`, shortened to `count` characters with an ellipsis.
    static func clipped(_ text: String, _ count: Int) -> String {
        text.count <= count ? text : String(text.prefix(max(1, count - 1))) + "…"
    }

    /// A stable colour per holder (same holder, same colour on every page).
    static func color(_ holder: String) -> String {
        var hash: UInt32 = 2_166_136_261
        for byte in holder.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return "hsl(\(hash % 360),55%,55%)"
    }
}

/// The time axis of a chart: maps dates to x positions and draws day or hour ticks.
private struct Plot {
    let from: Date
    let to: Date
    let left: Int
    let width: Int

    func x(_ date: Date) -> Int {
        let span = max(1, to.timeIntervalSince(from))
        return left + Int((Double(width) * date.timeIntervalSince(from) / span).rounded())
    }

    /// Ticks at each UTC midnight for spans over two days, else every three hours.
    func ticks(y: Int) -> String {
        let span = to.timeIntervalSince(from)
        let step: TimeInterval = span > 2 * 86400 ? 86400 : span > 6 * 3600 ? 3 * 3600 : 3600
        var tick = Date(timeIntervalSince1970: (from.timeIntervalSince1970 / step).rounded(.up) * step)
        var svg = ""
        while tick <= to {
            let stamp = HumanTime.timestamp(tick)
            // `2026-12-07T15:00:00Z`: the date for day ticks, the hour for the others.
            let label = step >= 86400 ? String(stamp.dropFirst(5).prefix(5)) : String(stamp.dropFirst(11).prefix(5))
            svg +=
                "<text class=\"axis\" x=\"\(x(tick))\" y=\"\(y)\" text-anchor=\"middle\">\(HTML.escape(label))</text>"
            tick += step
        }
        return svg
    }
}
