import Foundation

/// When to try a failed delivery again, and when to give up.
///
/// The first attempt is immediate; `delays[i]` is the wait before attempt `i + 2`. Each wait gets
/// ±``jitter`` so that a receiver coming back is not hit by every retry at once. A `Retry-After`
/// hint on 429/503 is honoured (never retried sooner, capped at ``maximumRetryAfter``); 429 and
/// timeouts without a hint wait at least ``throttleFloor``, unless the schedule itself is shorter.
public struct RetrySchedule: Sendable, Equatable, CustomStringConvertible {
    /// Standard Webhooks' schedule: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
    public static let standard = RetrySchedule(delays: [
        .seconds(5), .seconds(300), .seconds(1800), .seconds(7200), .seconds(18_000),
        .seconds(36_000), .seconds(50_400), .seconds(72_000), .seconds(86_400),
    ])
    /// The relative spread applied to every delay (0.2 = ±20 %).
    public static let jitter = 0.2
    /// The longest `Retry-After` the relay accepts.
    public static let maximumRetryAfter = Duration.seconds(86_400)
    /// The least wait after a 429 or a timeout that came without `Retry-After`.
    public static let throttleFloor = Duration.seconds(60)

    /// Waits before attempts 2, 3, …
    public let delays: [Duration]

    /// A schedule with the given waits before attempts 2, 3, …
    public init(delays: [Duration]) {
        self.delays = delays
    }

    /// Reads the command-line form, `1s,5m,2h`.
    public init(parsing text: String) throws(RelayError) {
        let delays = try DurationText.parseList(text)
        guard delays.count <= 100 else { throw .invalidArgument("a retry schedule has at most 100 delays") }
        self.init(delays: delays)
    }

    /// The total number of attempts, the first included.
    public var maximumAttempts: Int { delays.count + 1 }

    /// The command-line form.
    public var description: String { DurationText.formatList(delays) }

    /// What a failed attempt should lead to.
    public enum Decision: Sendable, Equatable {
        /// Try again at this time.
        case retry(at: Date)
        /// No attempts are left.
        case dead
    }

    /// Decides what follows a failed attempt.
    /// - Parameters:
    ///   - attempt: the number of the attempt that just failed, 1 for the first.
    ///   - now: the time the failure was seen.
    ///   - failure: how it failed (for the Retry-After and throttling rules).
    ///   - random: the jitter source (inject a seeded one in tests).
    public func decide<R: RandomNumberGenerator>(
        afterFailedAttempt attempt: Int, now: Date, failure: FailureHint, using random: inout R
    ) -> Decision {
        guard attempt >= 1, attempt <= delays.count else { return .dead }
        let base = DurationText.seconds(delays[attempt - 1])
        var wait = base * Double.random(in: (1 - Self.jitter)...(1 + Self.jitter), using: &random)
        if let hint = failure.retryAfter, failure.honoursRetryAfter {
            wait = max(wait, min(DurationText.seconds(hint), DurationText.seconds(Self.maximumRetryAfter)))
        } else if failure.isThrottle {
            let longest = delays.map(DurationText.seconds).max() ?? 0
            wait = max(wait, min(DurationText.seconds(Self.throttleFloor), longest))
        }
        return .retry(at: now.addingTimeInterval(wait))
    }

    /// The facts about a failure that change the wait.
    public struct FailureHint: Sendable, Equatable {
        /// The HTTP status, when a response came.
        public var statusCode: Int?
        /// Whether the request timed out.
        public var timedOut: Bool
        /// The parsed `Retry-After` header.
        public var retryAfter: Duration?

        /// Describes one failure.
        public init(statusCode: Int? = nil, timedOut: Bool = false, retryAfter: Duration? = nil) {
            self.statusCode = statusCode
            self.timedOut = timedOut
            self.retryAfter = retryAfter
        }

        /// `Retry-After` counts on 429 and 503 only.
        var honoursRetryAfter: Bool { statusCode == 429 || statusCode == 503 }
        /// A receiver asking us to slow down, or too slow to answer.
        var isThrottle: Bool { statusCode == 429 || timedOut }
    }
}
