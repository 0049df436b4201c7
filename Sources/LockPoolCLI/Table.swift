/// A plain text table: columns padded to their widest cell, two spaces apart, the last column not padded.
struct Table {
    var header: [String]
    var rows: [[String]] = []

    init(_ header: String...) { self.header = header }

    mutating func add(_ cells: String...) { rows.append(cells) }

    /// The rendered lines; `style` decorates each cell after padding (for colour), given its row (-1 for the header)
    /// and column.
    func render(style: (String, Int, Int) -> String = { text, _, _ in text }) -> String {
        var widths = header.map(\.count)
        for row in rows {
            for (column, cell) in row.enumerated() where column < widths.count {
                widths[column] = max(widths[column], cell.count)
            }
        }
        var lines: [String] = []
        for (index, row) in ([header] + rows).enumerated() {
            var line = ""
            for (column, cell) in row.enumerated() {
                let isLast = column == row.count - 1
                let padded = isLast ? cell : cell + String(repeating: " ", count: widths[column] - cell.count)
                line += style(padded, index - 1, column) + (isLast ? "" : "  ")
            }
            while line.hasSuffix(" ") { line.removeLast() }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}
