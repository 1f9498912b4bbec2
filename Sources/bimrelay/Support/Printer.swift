import Foundation
import RelayCore

/// Prints command results as an aligned table or as JSON.
enum Printer {
    /// Prints rows under headers, columns padded to their widest cell. Control characters in cells
    /// (a topic description, a service's response) are printed escaped.
    static func table(_ headers: [String], _ rows: [[String]]) {
        let rows = rows.map { $0.map(ControlCharacters.escaped) }
        var widths = headers.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        print(line(headers))
        for row in rows { print(line(row)) }
        if rows.isEmpty { print("(none)") }
    }

    /// Prints `key: value` lines, keys aligned, control characters in values escaped.
    static func fields(_ pairs: [(String, String)]) {
        let width = pairs.map(\.0.count).max() ?? 0
        for (key, value) in pairs {
            print(
                (key + ":").padding(toLength: width + 1, withPad: " ", startingAt: 0) + " "
                    + ControlCharacters.escaped(value))
        }
    }

    /// Prints `value` as pretty JSON with snake_case keys and SQLite-style timestamps.
    static func json(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Timestamp.format(date))
        }
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// A cell for an optional value: the value, or `-`.
    static func cell(_ value: (some CustomStringConvertible)?) -> String {
        value.map(\.description) ?? "-"
    }

    /// A cell for an optional timestamp.
    static func cell(_ date: Date?) -> String {
        date.map(Timestamp.format) ?? "-"
    }
}
