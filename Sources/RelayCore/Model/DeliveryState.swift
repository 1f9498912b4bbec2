/// The states of a row in `deliveries` (see docs/architecture.md for the diagram).
public enum DeliveryState: String, Sendable, Codable, CaseIterable {
    /// Waiting for its `next_attempt_at`.
    case pending
    /// Claimed by a worker whose lease has not expired.
    case inFlight = "in_flight"
    /// The service answered 2xx.
    case delivered
    /// Out of attempts; `queue retry` requeues it.
    case dead
    /// Its service is disabled; it flows again when the service is enabled.
    case paused
}
