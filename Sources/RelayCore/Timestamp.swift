import Foundation

/// SQLite's own UTC text form, `2026-11-22 08:30:00.123`: how every timestamp is stored and shown.
public enum Timestamp {
    /// Formats `date` as SQLite text (UTC, milliseconds).
    public static func format(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        // Round to the millisecond first: Date's binary fraction would otherwise print .122 for .123.
        let total = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let (seconds, ms) = (total.quotientAndRemainder(dividingBy: 1000))
        let whole = Date(timeIntervalSince1970: TimeInterval(ms < 0 ? seconds - 1 : seconds))
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: whole)
        return String(
            format: "%04d-%02d-%02d %02d:%02d:%02d.%03d",
            c.year ?? 0, c.month ?? 0, c.day ?? 0, c.hour ?? 0, c.minute ?? 0, c.second ?? 0, ms < 0 ? ms + 1000 : ms)
    }

    /// Reads `2026-11-22 08:30:00[.123]`, `2026-11-22T08:30:00Z` or `2026-11-22` as UTC.
    public static func parse(_ text: String) -> Date? {
        let formats = [
            "yyyy-MM-dd HH:mm:ss.SSS", "yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ss.SSSXXXXX",
            "yyyy-MM-dd'T'HH:mm:ssXXXXX", "yyyy-MM-dd",
        ]
        for format in formats {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = format
            if let date = formatter.date(from: text) { return date }
        }
        return nil
    }
}
