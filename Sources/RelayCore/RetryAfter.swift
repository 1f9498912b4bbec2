import Foundation

/// Reads an HTTP `Retry-After` header: delay seconds (`120`) or an HTTP date.
public enum RetryAfter {
    /// The wait the header asks for, from `now`; nil when absent or unreadable. A date in the past is zero.
    public static func parse(_ value: String?, now: Date) -> Duration? {
        guard let text = value?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        if let seconds = Int64(text) { return seconds >= 0 ? .seconds(seconds) : nil }
        for format in ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = format
            if let date = formatter.date(from: text) {
                return .milliseconds(max(0, Int64(date.timeIntervalSince(now) * 1000)))
            }
        }
        return nil
    }
}
