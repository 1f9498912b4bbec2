import Foundation
import PostgresNIO
import RelayCore

/// What admins do to the outbox: look at it, requeue.
///
/// The optional filters are `(<value> IS NULL OR <condition>)` with the value bound (the SQLite
/// store adds a condition only for a given value): PostgreSQL plans an unnamed statement with its
/// values, so a NULL filter folds away.
struct PostgresQueue: QueueStore {
    let tx: PostgresTransaction

    /// The `queue_overview` view.
    public func overview() throws -> [QueueOverviewRow] {
        try tx.rows("SELECT * FROM queue_overview").map(QueueOverviewRow.init(postgres:))
    }

    /// Deliveries per state over all services; every state appears, with 0 when empty.
    public func countsByState() throws -> [String: Int] {
        var counts = Dictionary(uniqueKeysWithValues: DeliveryState.allCases.map { ($0.rawValue, 0) })
        for row in try tx.rows("SELECT state, count(*) AS n FROM deliveries GROUP BY state") {
            let state = try row["state"].decode(String.self)
            counts[state] = try row["n"].decode(Int.self)
        }
        return counts
    }

    /// The newest deliveries, optionally of one state and one service.
    public func list(
        state: DeliveryState?, serviceID: Int64?, limit: Int
    ) throws -> [DeliverySummary] {
        let stateName = state?.rawValue
        return try tx.rows(
            """
            \(unescaped: StoreRules.deliverySummarySelect)
            WHERE (\(stateName)::text IS NULL OR d.state = \(stateName))
              AND (\(serviceID)::bigint IS NULL OR d.service_id = \(serviceID))
            ORDER BY d.id DESC LIMIT \(limit)
            """
        ).map(DeliverySummary.init(postgres:))
    }

    /// One delivery, or ``RelayError/notFound(_:)``.
    public func show(id: Int64) throws -> DeliverySummary {
        guard let row = try tx.row("\(unescaped: StoreRules.deliverySummarySelect) WHERE d.id = \(id)") else {
            throw RelayError.notFound("no delivery \(id)")
        }
        return try DeliverySummary(postgres: row)
    }

    /// A delivery's attempts in the order they were made.
    public func attempts(deliveryID: Int64) throws -> [AttemptRecord] {
        try tx.rows("SELECT * FROM attempts WHERE delivery_id = \(deliveryID) ORDER BY id").map(
            AttemptRecord.init(postgres:))
    }

    /// Requeues deliveries: due now, with a fresh schedule (attempt count back to 0). A disabled
    /// service's deliveries are requeued as `paused`. In-flight ones are left to their worker.
    /// Every id must exist; nothing changes otherwise.
    /// - Returns: how many were requeued.
    public func retry(ids: [Int64], now: Date) throws -> Int {
        for id in ids where try !exists(deliveryID: id) {
            throw RelayError.notFound("no delivery \(id)")
        }
        var count = 0
        for id in ids {
            count += try tx.execute(
                """
                UPDATE deliveries AS d
                SET state = \(unescaped: PostgresStateSQL.requeued),
                    attempt_count = 0, next_attempt_at = \(now.pgTime), lease_expires_at = NULL,
                    dead_at = NULL, delivered_at = NULL, updated_at = \(now.pgTime)
                WHERE d.state <> \(unescaped: StateSQL.Named.inFlight) AND d.id = \(id)
                """)
        }
        if count > 0 { tx.raise(.deliveriesDue) }
        return count
    }

    /// Requeues dead deliveries, optionally of one service and dead since a time, at most `limit`
    /// of them (call again until it returns fewer: each batch is a short write).
    public func retryDead(serviceID: Int64?, since: Date?, now: Date, limit: Int) throws
        -> Int
    {
        let count = try tx.execute(
            """
            UPDATE deliveries AS d
            SET state = \(unescaped: PostgresStateSQL.requeued),
                attempt_count = 0, next_attempt_at = \(now.pgTime), lease_expires_at = NULL,
                dead_at = NULL, delivered_at = NULL, updated_at = \(now.pgTime)
            WHERE d.state <> \(unescaped: StateSQL.Named.inFlight) AND d.id IN (
                SELECT dd.id FROM deliveries dd
                WHERE dd.state = \(unescaped: StateSQL.Named.dead)
                  AND (\(serviceID)::bigint IS NULL OR dd.service_id = \(serviceID))
                  AND (\(since?.pgTime)::timestamptz IS NULL OR dd.dead_at >= \(since?.pgTime))
                LIMIT \(limit))
            """)
        if count > 0 { tx.raise(.deliveriesDue) }
        return count
    }

    private func exists(deliveryID: Int64) throws -> Bool {
        try tx.row("SELECT EXISTS (SELECT 1 FROM deliveries WHERE id = \(deliveryID)) AS found")?["found"].decode(
            Bool.self) ?? false
    }
}
