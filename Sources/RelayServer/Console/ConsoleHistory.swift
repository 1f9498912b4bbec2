import Foundation
import RelayCore
import RelayStore

/// The overview's last hour, per minute, read from the tables (so it survives restarts and covers
/// every relay on a shared database): events received, deliveries created, delivered and dead.
/// Queue depth is worked back from the current count: the depth a minute ago is today's minus what
/// was created since plus what was delivered or went dead since.
enum ConsoleHistory {
    /// The minutes shown.
    static let minuteCount = 60

    /// Counts per minute, oldest first; index `minuteCount - 1` is the current minute.
    struct Minutes: Sendable {
        var received = [Int](repeating: 0, count: minuteCount)
        var created = [Int](repeating: 0, count: minuteCount)
        var delivered = [Int](repeating: 0, count: minuteCount)
        var dead = [Int](repeating: 0, count: minuteCount)
    }

    /// The start of the minute `now` is in.
    static func minuteStart(_ now: Date) -> Date {
        Date(timeIntervalSince1970: (now.timeIntervalSince1970 / 60).rounded(.down) * 60)
    }

    /// Reads the last hour: a bisection of each numbered table's primary key for the hour's first
    /// row, then that row onwards grouped by minute; delivered rows through their index.
    static func minutes(_ console: any ConsoleStore, now: Date) throws -> Minutes {
        let first = minuteStart(now).addingTimeInterval(-Double(minuteCount - 1) * 60)
        var minutes = Minutes()
        func place(_ counts: [MinuteCount], into series: inout [Int]) {
            for count in counts {
                let index = Int((count.minute.timeIntervalSince(first) / 60).rounded(.down))
                if series.indices.contains(index) { series[index] += count.count }
            }
        }
        if let id = try console.firstID(of: .events, since: first) {
            place(try console.perMinute(of: .events, fromID: id), into: &minutes.received)
        }
        if let id = try console.firstID(of: .deliveries, since: first) {
            place(try console.perMinute(of: .deliveries, fromID: id), into: &minutes.created)
        }
        place(try console.deliveredPerMinute(since: first), into: &minutes.delivered)
        place(try console.deadPerMinute(since: first), into: &minutes.dead)
        return minutes
    }

    /// Queue depth at the end of each minute, from the depth now.
    static func depth(_ minutes: Minutes, now depthNow: Int) -> [Int] {
        var depth = [Int](repeating: 0, count: minuteCount)
        var running = depthNow
        for index in stride(from: minuteCount - 1, through: 0, by: -1) {
            depth[index] = max(0, running)
            running += minutes.delivered[index] + minutes.dead[index] - minutes.created[index]
        }
        return depth
    }

    /// The overview's three charts as template rows (`title`, `svg`, `last`, `peak`).
    static func charts(_ minutes: Minutes, depthNow: Int, now: Date) -> [[String: Any]] {
        [
            ("Events received per minute", minutes.received),
            ("Deliveries delivered per minute", minutes.delivered),
            ("Queue depth", depth(minutes, now: depthNow)),
        ].map { title, series in
            ["title": title, "svg": svg(series, label: title), "last": series.last ?? 0, "peak": series.max() ?? 0]
        }
    }

    /// A small line chart: the series scaled to its peak, with the peak and the hour marked.
    static func svg(_ series: [Int], label: String, width: Int = 320, height: Int = 80) -> String {
        let peak = max(series.max() ?? 0, 1)
        let top = 12.0
        let bottom = Double(height) - 14
        let step = Double(width) / Double(max(series.count - 1, 1))
        let points = series.enumerated().map { index, value in
            let x = Double(index) * step
            let y = bottom - (bottom - top) * Double(value) / Double(peak)
            return String(format: "%.1f,%.1f", x, y)
        }
        let line = points.joined(separator: " ")
        let area = "0,\(bottom) " + line + String(format: " %.1f,%.1f", Double(width), bottom)
        // Only numbers and the fixed title go into the markup.
        return """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" viewBox="0 0 \(width) \(height)" role="img" aria-label="\(label)">\
            <title>\(label)</title>\
            <polygon class="area" points="\(area)"/><polyline class="line" points="\(line)"/>\
            <text x="0" y="9">\(peak)</text><text x="0" y="\(height - 2)">−60 min</text>\
            <text x="\(width)" y="\(height - 2)" text-anchor="end">now</text></svg>
            """
    }
}
