import Foundation
import RelayCore

/// The delivery worker's queries: rescue leases, claim, record attempts.
public protocol DeliveryStore {
    /// Returns this relay's in-flight deliveries to `pending` (or `paused`): at start-up none of its
    /// requests is in flight, so its leases are stale (another relay's on a shared store are not).
    @discardableResult
    func releaseAllLeases(now: Date) throws -> Int

    /// Returns deliveries whose lease ran out (a request that outlived its timeout and margin).
    @discardableResult
    func releaseExpiredLeases(now: Date) throws -> Int

    /// Claims up to `limit` due deliveries, honouring each service's in-flight limit and, for
    /// ordered services, strict event order with one in flight. Sets a lease of the service's
    /// timeout plus `leaseMargin`, and counts the attempt.
    /// - Parameter only: claim only for this service (a worker slot that just finished one of its
    ///   deliveries takes the next in the same write). The record is reused while the row's
    ///   `updated_at` is unchanged (every service change sets it) and the service is enabled.
    func claim(
        limit: Int, now: Date, leaseMargin: Duration, only: ServiceRecord?
    ) throws -> [ClaimedDelivery]

    /// Records one attempt and its consequence in one write: the `attempts` row, the delivery's
    /// new state, the service's success/failure bookkeeping and, when due, disabling the service.
    /// The delivery changes only while this attempt still holds its lease (in flight, same attempt
    /// number and lease): a late result of a superseded attempt is only logged in `attempts`.
    /// - Parameter disableAfter: a service failing without success for this long is disabled.
    @discardableResult
    func record(_ result: AttemptResult, now: Date, disableAfter: Duration) throws
        -> RecordedAttempt

    /// When the worker should look again: the earliest due pending delivery of an enabled service,
    /// or the earliest lease expiry; nil when there is nothing to wait for.
    func nextWake() throws -> Date?
}

extension DeliveryStore {
    /// Claims up to `limit` due deliveries of any service.
    public func claim(limit: Int, now: Date, leaseMargin: Duration) throws -> [ClaimedDelivery] {
        try claim(limit: limit, now: now, leaseMargin: leaseMargin, only: nil)
    }
}
