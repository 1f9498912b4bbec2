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
        guard let date = HTTPDate.parse(text) else { return nil }
        let seconds = date.timeIntervalSince(now)
        guard seconds.isFinite, seconds > 0 else { return .zero }
        return seconds >= DurationText.seconds(maximum) ? maximum : .milliseconds(Int64(seconds * 1000))
    }
}

/// HTTP's date formats (RFC 9110 §5.6.7): IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`, and the
/// obsolete `Sunday, 06-Nov-94 08:49:37 GMT` and `Sun Nov  6 08:49:37 1994`. Read by hand:
/// Foundation's DateFormatter leaked on every parse here (found by the FuzzStreamMessage fuzzer).
enum HTTPDate {
    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    static func parse(_ text: String) -> Date? {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "-" }).map { $0.lowercased() }
        guard parts.count == 5 || parts.count == 6 else { return nil }
        let day: Int?
        let month: Int?
        var year: Int?
        let time: Substring
        if parts.count == 6 {  // weekday day month year time GMT (IMF-fixdate and RFC 850)
            guard parts[5] == "gmt" else { return nil }
            day = Int(parts[1])
            month = months.firstIndex(of: parts[2]).map { $0 + 1 }
            year = Int(parts[3])
            time = Substring(parts[4])
            // RFC 9110: a two-digit year more than 50 years ahead is in the past century.
            if let two = year, parts[3].count == 2 { year = two < 50 ? 2000 + two : 1900 + two }
        } else {  // asctime: weekday month day time year
            month = months.firstIndex(of: parts[1]).map { $0 + 1 }
            day = Int(parts[2])
            time = Substring(parts[3])
            year = Int(parts[4])
        }
        let clock = time.split(separator: ":").map { Int($0) }
        guard let day, let month, let year, (1...31).contains(day), (1...9999).contains(year), clock.count == 3,
            let hour = clock[0], let minute = clock[1], let second = clock[2], (0...23).contains(hour),
            (0...59).contains(minute), (0...60).contains(second)
        else { return nil }
        let seconds = daysSinceEpoch(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }

    /// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    private static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}

extension Character {
    /// `0`…`9` only (not other scripts' digits, which `Int64` would refuse anyway).
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
