import Foundation
import RelayCore
import Synchronization

/// A clock that moves only when a test says so: sleepers wake when ``advance(by:)`` passes their
/// deadline (or when their task is cancelled), and ``time`` gives the relay a wall clock that moves
/// with it. Retry, timeout and retention tests advance it instead of waiting.
public final class ManualClock: Clock, Sendable {
    /// A point on the manual clock: the time advanced since it was made.
    public struct Instant: InstantProtocol {
        /// Time advanced since the clock was made.
        public var offset: Duration

        public func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        public func duration(to other: Instant) -> Duration { other.offset - offset }
        public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private struct Sleeper {
        let deadline: Instant
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now = Instant(offset: .zero)
        var nextID: UInt64 = 0
        var sleepers: [UInt64: Sleeper] = [:]
    }

    private let state = Mutex(State())
    /// The wall-clock time at offset zero.
    public let start: Date

    /// A clock at `start` (by default, the real time now).
    public init(start: Date = Date()) {
        self.start = start
    }

    public var now: Instant { state.withLock { $0.now } }
    public var minimumResolution: Duration { .zero }

    /// The wall-clock time: ``start`` plus the time advanced.
    public var date: Date { start.addingTimeInterval(DurationText.seconds(now.offset)) }

    /// The relay's time on this clock.
    public var time: RelayTime { RelayTime(now: { self.date }, clock: self) }

    /// Tasks sleeping on the clock now.
    public var sleepers: Int { state.withLock { $0.sleepers.count } }

    /// How far ahead of now each sleeping task's deadline is.
    public var sleeps: [Duration] {
        state.withLock { state in state.sleepers.values.map { state.now.duration(to: $0.deadline) } }
    }

    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        let id = state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let result = state.withLock { state -> Result<Void, any Error>? in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if deadline <= state.now { return .success(()) }
                    state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return nil
                }
                if let result { continuation.resume(with: result) }
            }
        } onCancel: {
            state.withLock { $0.sleepers.removeValue(forKey: id) }?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves the clock forward `step` at a time (checking between steps, on the real clock) until
    /// `condition` holds: "wait for the retry" without waiting for it.
    public func advance(
        by step: Duration, until what: String, timeout: Duration = .seconds(20), _ condition: () async throws -> Bool
    ) async throws {
        try await poll(until: what, timeout: timeout) {
            if try await condition() { return true }
            advance(by: step)
            return false
        }
    }

    /// Moves the clock forward by `duration` and wakes every sleeper whose deadline has passed.
    public func advance(by duration: Duration) {
        let due = state.withLock { state -> [Sleeper] in
            state.now = state.now.advanced(by: duration)
            let now = state.now
            let due = state.sleepers.filter { $0.value.deadline <= now }
            for id in due.keys { state.sleepers.removeValue(forKey: id) }
            return Array(due.values)
        }
        for sleeper in due { sleeper.continuation.resume() }
    }
}
