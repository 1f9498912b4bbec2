import Foundation

/// Where the relay's background parts get the time from: `now` for what they store and compare
/// (due times, leases, retention horizons) and `clock` for how long they wait. Production uses the
/// system's; tests pass a manual clock and move time forward instead of sleeping.
public struct RelayTime: Sendable {
    /// The current wall-clock time.
    public let now: @Sendable () -> Date
    /// What waits (retry backoff, request timeouts, poll intervals, retention intervals) sleep on.
    public let clock: any Clock<Duration>

    /// A time source of `now` and `clock`; they must advance together.
    public init(now: @escaping @Sendable () -> Date, clock: any Clock<Duration>) {
        self.now = now
        self.clock = clock
    }

    /// The system's wall clock and `ContinuousClock`.
    public static let system = RelayTime(now: { Date() }, clock: ContinuousClock())

    /// Sleeps for `duration` on ``clock``; throws when the task is cancelled.
    public func sleep(for duration: Duration) async throws {
        try await clock.sleep(for: duration, tolerance: nil)
    }
}
