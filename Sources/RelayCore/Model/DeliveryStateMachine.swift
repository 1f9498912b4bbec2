import Foundation

/// Every change of a delivery's state, decided without I/O: from the state, what happened, and
/// the facts of the moment (service enabled or ordered, the time, the retry schedule, a random
/// source for jitter) to the next state, when it is due and what to stamp on the row. The store
/// runs its state changes through it (a bulk `UPDATE` asks it once per value of the service's
/// `enabled` and binds the answers); the worker asks it what an attempt's outcome means.
///
/// Pairs that do not apply (a claim of a dead delivery, a success reported for a pending one: a
/// result of an attempt whose lease was taken over) leave the delivery unchanged (`nil`).
public enum DeliveryStateMachine {
    /// What happened to a delivery.
    public enum Event: Sendable, Equatable {
        /// A worker claims it (takes a lease and counts the attempt).
        case claim
        /// The service took the notification.
        case attemptSucceeded
        /// The attempt failed (`gone`: the service answered 410 and is being disabled).
        case attemptFailed(RetrySchedule.FailureHint, gone: Bool = false)
        /// Its lease ended without a result: the relay restarted, or the lease expired.
        case leaseReleased
        /// Its service was disabled.
        case serviceDisabled
        /// Its service was enabled.
        case serviceEnabled
        /// An admin requeued it (`queue retry`): a fresh schedule, due now.
        case requeue

        /// Every kind of event, with a representative failure, for exhaustive tests.
        public static let all: [Event] = [
            .claim, .attemptSucceeded, .attemptFailed(.init(statusCode: 500)),
            .attemptFailed(.init(statusCode: 410), gone: true), .leaseReleased, .serviceDisabled, .serviceEnabled,
            .requeue,
        ]
    }

    /// The facts an event is judged with.
    public struct Facts: Sendable {
        /// Whether the delivery's service is enabled (after the event, for a 410).
        public var serviceEnabled: Bool
        /// Whether the service takes its deliveries one at a time, in event order.
        public var ordered: Bool
        /// The attempt that just ended (1 for the first since the last requeue).
        public var attempt: Int
        /// The service's retry schedule.
        public var schedule: RetrySchedule
        /// Now.
        public var now: Date

        /// Facts for one decision.
        public init(
            serviceEnabled: Bool = true, ordered: Bool = false, attempt: Int = 1, schedule: RetrySchedule = .standard,
            now: Date
        ) {
            self.serviceEnabled = serviceEnabled
            self.ordered = ordered
            self.attempt = attempt
            self.schedule = schedule
            self.now = now
        }
    }

    /// What to write besides the state.
    public struct Stamps: OptionSet, Sendable, Hashable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }

        /// Set a lease and count the attempt.
        public static let lease = Stamps(rawValue: 1 << 0)
        /// Clear the lease.
        public static let clearLease = Stamps(rawValue: 1 << 1)
        /// Set `delivered_at`.
        public static let deliveredAt = Stamps(rawValue: 1 << 2)
        /// Set `dead_at`.
        public static let deadAt = Stamps(rawValue: 1 << 3)
        /// Start the schedule again: attempt count 0, `dead_at` and `delivered_at` cleared.
        public static let resetAttempts = Stamps(rawValue: 1 << 4)
        /// Record the attempt's status and error on the delivery.
        public static let lastOutcome = Stamps(rawValue: 1 << 5)
    }

    /// A decided change.
    public struct Transition: Sendable, Equatable {
        /// The new state.
        public var state: DeliveryState
        /// The new `next_attempt_at`; nil keeps it.
        public var due: Date?
        /// What else to write.
        public var stamps: Stamps
        /// Whether the worker slot that made the attempt goes on with the service's next due delivery
        /// (not for an ordered service: its next delivery waits for the claiming loop, in order).
        public var slotContinues: Bool

        public init(state: DeliveryState, due: Date? = nil, stamps: Stamps = [], slotContinues: Bool = false) {
            self.state = state
            self.due = due
            self.stamps = stamps
            self.slotContinues = slotContinues
        }
    }

    /// The state a new delivery starts in.
    public static func initial(serviceEnabled: Bool) -> DeliveryState {
        serviceEnabled ? .pending : .paused
    }

    /// What `event` does to a delivery in `state`; nil when it does not apply.
    public static func transition(
        from state: DeliveryState, on event: Event, facts: Facts, random: inout some RandomNumberGenerator
    ) -> Transition? {
        let waiting = initial(serviceEnabled: facts.serviceEnabled)
        switch (state, event) {
        case (.pending, .claim):
            return Transition(state: .inFlight, stamps: .lease)
        case (.inFlight, .attemptSucceeded):
            return Transition(
                state: .delivered, stamps: [.clearLease, .deliveredAt, .lastOutcome], slotContinues: !facts.ordered)
        case (.inFlight, .attemptFailed(let hint, let gone)):
            // 410 Gone disables the service with this very result.
            let enabled = facts.serviceEnabled && !gone
            switch facts.schedule.decide(
                afterFailedAttempt: facts.attempt, now: facts.now, failure: hint, using: &random)
            {
            case .retry(let at):
                return Transition(
                    state: initial(serviceEnabled: enabled), due: at, stamps: [.clearLease, .lastOutcome],
                    slotContinues: !facts.ordered && enabled)
            case .dead:
                return Transition(
                    state: .dead, stamps: [.clearLease, .deadAt, .lastOutcome], slotContinues: !facts.ordered && enabled
                )
            }
        case (.inFlight, .leaseReleased):
            return Transition(state: waiting, due: facts.now, stamps: .clearLease)
        case (.pending, .serviceDisabled):
            // In-flight deliveries finish first; their result pauses them.
            return Transition(state: .paused)
        case (.paused, .serviceEnabled):
            return Transition(state: .pending, due: facts.now)
        case (.pending, .requeue), (.paused, .requeue), (.dead, .requeue), (.delivered, .requeue):
            return Transition(state: waiting, due: facts.now, stamps: [.clearLease, .resetAttempts])
        case (.inFlight, .requeue):
            return nil  // left to its worker: the lease fences the result
        case (.pending, _), (.inFlight, _), (.delivered, _), (.dead, _), (.paused, _):
            return nil
        }
    }

    /// ``transition(from:on:facts:random:)`` for events that draw no jitter (all but a failed attempt).
    public static func transition(from state: DeliveryState, on event: Event, facts: Facts) -> Transition? {
        var random = SystemRandomNumberGenerator()
        return transition(from: state, on: event, facts: facts, random: &random)
    }

    /// The state `event` moves a delivery in `state` to when its service is enabled and when it is
    /// not: what a bulk `UPDATE … SET state = CASE WHEN enabled THEN ? ELSE ? END` binds.
    public static func targets(from state: DeliveryState, on event: Event, now: Date) -> (
        enabled: DeliveryState, disabled: DeliveryState
    )? {
        guard let enabled = transition(from: state, on: event, facts: Facts(serviceEnabled: true, now: now)),
            let disabled = transition(from: state, on: event, facts: Facts(serviceEnabled: false, now: now))
        else { return nil }
        return (enabled.state, disabled.state)
    }
}
