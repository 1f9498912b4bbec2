import Foundation
import GRDB
import RelayCore

/// What admins do to the outbox: look at it, requeue, purge.
struct SQLiteQueue: QueueStore {
    let db: Database
    /// The transaction to raise signals in (nil: raise none).
    var transaction: SQLiteTransaction? = nil

    /// The `queue_overview` view.
    public func overview() throws -> [QueueOverviewRow] {
        try QueueOverviewRow.fetchAll(db, sql: "SELECT * FROM queue_overview")
    }

    /// Deliveries per state over all services; every state appears, with 0 when empty.
    public func countsByState() throws -> [String: Int] {
        var counts = Dictionary(uniqueKeysWithValues: DeliveryState.allCases.map { ($0.rawValue, 0) })
        for row in try Row.fetchAll(db, sql: "SELECT state, count(*) AS n FROM deliveries GROUP BY state") {
            counts[row["state"]] = row["n"]
        }
        return counts
    }

    /// The newest deliveries, optionally of one state and one service.
    public func list(
        state: DeliveryState?, serviceID: Int64?, limit: Int
    ) throws -> [DeliverySummary] {
        var conditions = OptionalConditions()
        conditions.add("d.state = ?", state?.rawValue)
        conditions.add("d.service_id = ?", serviceID)
        return try DeliverySummary.fetchAll(
            db, sql: "\(StoreRules.deliverySummarySelect) WHERE \(conditions.sql) ORDER BY d.id DESC LIMIT ?",
            arguments: conditions.arguments + [limit])
    }

    /// One delivery, or ``RelayError/notFound(_:)``.
    public func show(id: Int64) throws -> DeliverySummary {
        guard
            let summary = try DeliverySummary.fetchOne(
                db, sql: "\(StoreRules.deliverySummarySelect) WHERE d.id = ?", arguments: [id])
        else { throw RelayError.notFound("no delivery \(id)") }
        return summary
    }

    /// A delivery's attempts in the order they were made.
    public func attempts(deliveryID: Int64) throws -> [AttemptRecord] {
        try AttemptRecord.filter(Column("delivery_id") == deliveryID).order(Column("id")).fetchAll(db)
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
            try requeue(where: "d.id = ?", arguments: [id], now: now)
            count += db.changesCount
        }
        if count > 0 { transaction?.raise(.deliveriesDue) }
        return count
    }

    /// Requeues dead deliveries, optionally of one service and dead since a time, at most `limit`
    /// of them (call again until it returns fewer: each batch is a short write).
    public func retryDead(serviceID: Int64?, since: Date?, now: Date, limit: Int) throws
        -> Int
    {
        var conditions = OptionalConditions(["d.state = \(StateSQL.Named.dead)"])
        conditions.add("d.service_id = ?", serviceID)
        conditions.add("d.dead_at >= ?", since)
        try requeue(
            where: "d.id IN (SELECT d.id FROM deliveries d WHERE \(conditions.sql) LIMIT ?)",
            arguments: conditions.arguments + [limit], now: now)
        let count = db.changesCount
        if count > 0 { transaction?.raise(.deliveriesDue) }
        return count
    }

    private func requeue(where condition: String, arguments: StatementArguments, now: Date)
        throws
    {
        try db.execute(
            sql: """
                UPDATE deliveries AS d
                SET state = \(StateSQL.requeued),
                    attempt_count = 0, next_attempt_at = ?, lease_expires_at = NULL,
                    dead_at = NULL, delivered_at = NULL, updated_at = ?
                WHERE d.state <> \(StateSQL.Named.inFlight) AND \(condition)
                """,
            arguments: [now, now] + arguments)
    }

    private func exists(deliveryID: Int64) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM deliveries WHERE id = ?)", arguments: [deliveryID])
            ?? false
    }
}
