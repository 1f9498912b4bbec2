import Foundation

/// Reads and writes durations as people type them: `500ms`, `5s`, `5m`, `2h`, `7d`.
public enum DurationText {
    private static let units: [(suffix: String, milliseconds: Int64)] = [
        ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000),
    ]

    /// Parses one duration with a unit suffix; a bare number is refused (is `5` seconds or minutes?).
    public static func parse(_ text: String) throws(RelayError) -> Duration {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        // "ms" must be tried before "m" and "s".
        for unit in units.sorted(by: { $0.suffix.count > $1.suffix.count }) where trimmed.hasSuffix(unit.suffix) {
            let number = trimmed.dropLast(unit.suffix.count)
            if let value = Int64(number), value >= 0, value <= Int64.max / unit.milliseconds {
                return .milliseconds(value * unit.milliseconds)
            }
            if let value = Double(number), value.isFinite, value >= 0, value * Double(unit.milliseconds) < 1e15 {
                return .milliseconds(Int64((value * Double(unit.milliseconds)).rounded()))
            }
            break
        }
        throw .invalidArgument("invalid duration '\(text)': use a number with ms, s, m, h or d, e.g. 5s or 2h")
    }

    /// Parses a comma-separated list of durations (`1s,5m,2h`).
    public static func parseList(_ text: String) throws(RelayError) -> [Duration] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        var result: [Duration] = []
        for part in parts { result.append(try parse(String(part))) }
        return result
    }

    /// The shortest exact form: `90s` stays `90s`, `300s` becomes `5m`, `1500ms` stays `1500ms`.
    public static func format(_ duration: Duration) -> String {
        let ms = milliseconds(duration)
        for unit in units.reversed() where ms != 0 && ms % unit.milliseconds == 0 {
            return "\(ms / unit.milliseconds)\(unit.suffix)"
        }
        return "\(ms)ms"
    }

    /// A list in the form ``parseList(_:)`` reads.
    public static func formatList(_ durations: [Duration]) -> String {
        durations.map(format).joined(separator: ",")
    }

    /// Whole milliseconds of a duration (rounded down), saturating at `Int64`'s bounds rather than
    /// trapping: durations can come from peers.
    public static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return seconds < 0 ? .min : .max }
        let (total, overflowed) = whole.addingReportingOverflow(attoseconds / 1_000_000_000_000_000)
        if overflowed { return seconds < 0 ? .min : .max }
        return total
    }

    /// The duration as seconds in a `Double`, for `Date` arithmetic.
    public static func seconds(_ duration: Duration) -> Double {
        Double(milliseconds(duration)) / 1000
    }
}
