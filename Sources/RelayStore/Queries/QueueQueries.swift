import Foundation
import GRDB
import RelayCore

/// One line of `queue_overview`: deliveries of one service in one state.
public struct QueueOverviewRow: Codable, FetchableRecord, Sendable, Equatable {
    public var service: String
    public var state: String
    public var deliveries: Int
    public var oldest: Date?
    public var nextAttemptAt: Date?

    public static var databaseColumnDecodingStrategy: DatabaseColumnDecodingStrategy { .convertFromSnakeCase }
}

/// A delivery as `queue list` and `queue show` print it.
public struct DeliverySummary: Codable, FetchableRecord, Sendable, Equatable {
    public var id: Int64
    public var service: String
    public var method: String
    public var poid: Int64?
    public var roid: Int64?
    public var edid: Int64?
    public var eventId: Int64
    public var webhookId: String
    public var state: String
    public var attemptCount: Int
    public var nextAttemptAt: Date
    public var leaseExpiresAt: Date?
    public var lastStatus: Int?
    public var lastError: String?
    public var createdAt: Date
    public var deliveredAt: Date?
    public var deadAt: Date?

    public static var databaseColumnDecodingStrategy: DatabaseColumnDecodingStrategy { .convertFromSnakeCase }
}

/// What admins do to the outbox: look at it, requeue, purge.
public enum QueueQueries {
    private static let summarySelect = """
        SELECT d.id, s.identifier AS service, e.method, e.poid, e.roid, e.edid, d.event_id,
               d.webhook_id, d.state, d.attempt_count, d.next_attempt_at, d.lease_expires_at,
               d.last_status, d.last_error, d.created_at, d.delivered_at, d.dead_at
        FROM deliveries d
        JOIN services s ON s.id = d.service_id
        JOIN events e ON e.id = d.event_id
        """

    /// The `queue_overview` view.
    public static func overview(_ db: Database) throws -> [QueueOverviewRow] {
        try QueueOverviewRow.fetchAll(db, sql: "SELECT * FROM queue_overview")
    }

    /// Deliveries per state over all services; every state appears, with 0 when empty.
    public static func countsByState(_ db: Database) throws -> [String: Int] {
        var counts = Dictionary(uniqueKeysWithValues: DeliveryState.allCases.map { ($0.rawValue, 0) })
        for row in try Row.fetchAll(db, sql: "SELECT state, count(*) AS n FROM deliveries GROUP BY state") {
            counts[row["state"]] = row["n"]
        }
        return counts
    }

    /// The newest deliveries, optionally of one state and one service.
    public static func list(
        _ db: Database, state: DeliveryState?, serviceID: Int64?, limit: Int
    ) throws -> [DeliverySummary] {
        var conditions = OptionalConditions()
        conditions.add("d.state = ?", state?.rawValue)
        conditions.add("d.service_id = ?", serviceID)
        return try DeliverySummary.fetchAll(
            db, sql: "\(summarySelect) WHERE \(conditions.sql) ORDER BY d.id DESC LIMIT ?",
            arguments: conditions.arguments + [limit])
    }

    /// One delivery, or ``RelayError/notFound(_:)``.
    public static func show(_ db: Database, id: Int64) throws -> DeliverySummary {
        guard let summary = try DeliverySummary.fetchOne(db, sql: "\(summarySelect) WHERE d.id = ?", arguments: [id])
        else { throw RelayError.notFound("no delivery \(id)") }
        return summary
    }

    /// A delivery's attempts in the order they were made.
    public static func attempts(_ db: Database, deliveryID: Int64) throws -> [AttemptRecord] {
        try AttemptRecord.filter(Column("delivery_id") == deliveryID).order(Column("id")).fetchAll(db)
    }

    /// Requeues deliveries: due now, with a fresh schedule (attempt count back to 0). A disabled
    /// service's deliveries are requeued as `paused`. In-flight ones are left to their worker.
    /// Every id must exist; nothing changes otherwise.
    /// - Returns: how many were requeued.
    public static func retry(_ db: Database, ids: [Int64], now: Date) throws -> Int {
        for id in ids where try !exists(db, deliveryID: id) {
            throw RelayError.notFound("no delivery \(id)")
        }
        var count = 0
        for id in ids {
            try requeue(db, where: "d.id = ?", arguments: [id], now: now)
            count += db.changesCount
        }
        return count
    }

    /// Requeues dead deliveries, optionally of one service and dead since a time, at most `limit`
    /// of them (call again until it returns fewer: each batch is a short write).
    public static func retryDead(_ db: Database, serviceID: Int64?, since: Date?, now: Date, limit: Int) throws
        -> Int
    {
        var conditions = OptionalConditions(["d.state = 'dead'"])
        conditions.add("d.service_id = ?", serviceID)
        conditions.add("d.dead_at >= ?", since)
        try requeue(
            db, where: "d.id IN (SELECT d.id FROM deliveries d WHERE \(conditions.sql) LIMIT ?)",
            arguments: conditions.arguments + [limit], now: now)
        return db.changesCount
    }

    private static func requeue(_ db: Database, where condition: String, arguments: StatementArguments, now: Date)
        throws
    {
        try db.execute(
            sql: """
                UPDATE deliveries AS d
                SET state = CASE WHEN (SELECT enabled FROM services s WHERE s.id = d.service_id) = 1
                                 THEN 'pending' ELSE 'paused' END,
                    attempt_count = 0, next_attempt_at = ?, lease_expires_at = NULL,
                    dead_at = NULL, delivered_at = NULL, updated_at = ?
                WHERE d.state <> 'in_flight' AND \(condition)
                """,
            arguments: [now, now] + arguments)
    }

    private static func exists(_ db: Database, deliveryID: Int64) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM deliveries WHERE id = ?)", arguments: [deliveryID])
            ?? false
    }

    /// Deletes delivered deliveries (and their attempts) delivered before `cutoff`, then the events
    /// no delivery refers to any more, in batches of `batchSize` rows, each its own short write
    /// transaction: the relay's writes (and an ingest waiting on them) interleave with a large purge.
    /// - Returns: the number of deliveries and events deleted.
    public static func purgeDelivered(_ database: RelayDatabase, before cutoff: Date, batchSize: Int) throws
        -> (deliveries: Int, events: Int)
    {
        let deliveries = try database.inBatches(of: batchSize) { db in
            try RetentionQueries.pruneDelivered(db, before: cutoff, limit: batchSize)
        }
        let events = try database.inBatches(of: batchSize) { db in
            try RetentionQueries.pruneEvents(db, before: cutoff, limit: batchSize)
        }
        return (deliveries, events)
    }
}
