import Foundation
import RelayCore

/// SQL for delivery state changes, taken from ``DeliveryStateMachine`` so that the rules live in
/// one place: the states here are the machine's answers, rendered as SQL literals once.
enum StateSQL {
    typealias Machine = DeliveryStateMachine

    /// `'pending'`, `'in_flight'`, …
    static func literal(_ state: DeliveryState) -> String { "'\(state.rawValue)'" }

    /// Every state as a SQL literal, for the statements' conditions (the text SQLite's partial
    /// indexes match, e.g. `deliveries_due … WHERE state = 'pending'`).
    enum Named {
        static let pending = literal(.pending)
        static let inFlight = literal(.inFlight)
        static let delivered = literal(.delivered)
        static let dead = literal(.dead)
        static let paused = literal(.paused)
    }

    /// The machine's state for `event` from `state` (an enabled service), as a SQL literal.
    static func target(from state: DeliveryState, on event: Machine.Event) -> String {
        guard let transition = Machine.transition(from: state, on: event, facts: .init(now: Date())) else {
            preconditionFailure("\(event) does not apply to \(state) deliveries")
        }
        return literal(transition.state)
    }

    /// `CASE WHEN <enabled> = 1 THEN <state if enabled> ELSE <state if disabled> END`: the machine's
    /// answers for both values of the service's `enabled`, for a bulk update over many services.
    /// - Parameter enabled: SQL reading the row's service's `enabled` column.
    static func byServiceEnabled(from state: DeliveryState, on event: Machine.Event, enabled: String) -> String {
        guard let targets = Machine.targets(from: state, on: event, now: Date()) else {
            preconditionFailure("\(event) does not apply to \(state) deliveries")
        }
        return "CASE WHEN \(enabled) = 1 THEN \(literal(targets.enabled)) ELSE \(literal(targets.disabled)) END"
    }

    /// A failed attempt with attempts left (the machine's state for a retry).
    static let retryFailure = Machine.Event.attemptFailed(.init(statusCode: 500))

    // The statements' states, worked out once (hot statements are prepared once per connection,
    // and asking the machine about a failure draws jitter).
    private static let serviceOfRow = "(SELECT enabled FROM services s WHERE s.id = deliveries.service_id)"
    /// A lease released (restart, expiry): back to waiting.
    static let released = byServiceEnabled(from: .inFlight, on: .leaseReleased, enabled: serviceOfRow)
    /// Claimed by a worker.
    static let claimed = target(from: .pending, on: .claim)
    /// The attempt succeeded.
    static let delivered = target(from: .inFlight, on: .attemptSucceeded)
    /// The attempt failed with attempts left; the service's id is the statement's first argument.
    static let retried = byServiceEnabled(
        from: .inFlight, on: retryFailure, enabled: "(SELECT enabled FROM services WHERE id = ?)")
    /// The attempt failed and was the last.
    static let dead = Named.dead
    /// A pending delivery of a service being disabled.
    static let paused = target(from: .pending, on: .serviceDisabled)
    /// A paused delivery of a service being enabled.
    static let resumed = target(from: .paused, on: .serviceEnabled)
    /// Requeued by an admin (`d` is the deliveries table's alias).
    static let requeued = byServiceEnabled(
        from: .dead, on: .requeue, enabled: "(SELECT enabled FROM services s WHERE s.id = d.service_id)")
}
