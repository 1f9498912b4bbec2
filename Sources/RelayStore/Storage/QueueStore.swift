import Foundation
import RelayCore

/// What admins do to the outbox: look at it and requeue.
public protocol QueueStore {
    /// The `queue_overview` view.
    func overview() throws -> [QueueOverviewRow]

    /// Deliveries per state over all services; every state appears, with 0 when empty.
    func countsByState() throws -> [String: Int]

    /// The newest deliveries, optionally of one state and one service.
    func list(
        state: DeliveryState?, serviceID: Int64?, limit: Int
    ) throws -> [DeliverySummary]

    /// One delivery, or ``RelayError/notFound(_:)``.
    func show(id: Int64) throws -> DeliverySummary

    /// A delivery's attempts in the order they were made.
    func attempts(deliveryID: Int64) throws -> [AttemptRecord]

    /// Requeues deliveries: due now, with a fresh schedule (attempt count back to 0). A disabled
    /// service's deliveries are requeued as `paused`. In-flight ones are left to their worker.
    /// Every id must exist; nothing changes otherwise.
    /// - Returns: how many were requeued.
    func retry(ids: [Int64], now: Date) throws -> Int

    /// Requeues dead deliveries, optionally of one service and dead since a time, at most `limit`
    /// of them (call again until it returns fewer: each batch is a short write).
    func retryDead(serviceID: Int64?, since: Date?, now: Date, limit: Int) throws
        -> Int
}
