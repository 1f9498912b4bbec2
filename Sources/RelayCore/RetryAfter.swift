import Foundation

/// Reads an HTTP `Retry-After` header: delay seconds (`120`) or an HTTP date.
///
/// The header comes from a peer: whatever it says, the result lies between zero and
/// ``RetrySchedule/maximumRetryAfter``, and no arithmetic on it can overflow.
public enum RetryAfter {
    /// The wait the header asks for, from `now`, clamped to 0…24 h; nil when absent, negative or
    /// unreadable. A date in the past is zero.
    public static func parse(_ value: String?, now: Date) -> Duration? {
        guard let text = value?.trimmingCharacters(in: .whitespaces), !text.isEmpty, text.count <= 64 else {
            return nil
        }
        let maximum = RetrySchedule.maximumRetryAfter
        if text.allSatisfy(\.isASCIIDigit) {
            // Any number of digits: too many for an Int64 is simply "longer than the maximum".
            guard let seconds = Int64(text) else { return maximum }
            return seconds >= maximum.components.seconds ? maximum : .seconds(seconds)
        }
        for format in ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = format
            if let date = formatter.date(from: text) {
                let seconds = date.timeIntervalSince(now)
                guard seconds.isFinite, seconds > 0 else { return .zero }
                return seconds >= DurationText.seconds(maximum) ? maximum : .milliseconds(Int64(seconds * 1000))
            }
        }
        return nil
    }
}

extension Character {
    /// `0`…`9` only (not other scripts' digits, which `Int64` would refuse anyway).
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
