import Foundation

/// What one recorded event produced.
public struct RecordedEvent: Sendable, Equatable {
    /// The `events` row.
    public var eventID: Int64
    /// The `deliveries` rows, one per target service.
    public var deliveryIDs: [Int64]
    /// Whether any delivery is due now (the worker should wake).
    public var hasPendingDeliveries: Bool
}
