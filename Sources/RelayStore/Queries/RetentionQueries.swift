import Foundation
import GRDB

/// Deletes what has outlived its retention, one bounded batch per call, so a background pass
/// never holds the writer for long (`limit: nil` deletes everything in one statement, for the CLI).
public enum RetentionQueries {
    /// Deletes delivered deliveries delivered before `cutoff`; their attempts go with them.
    @discardableResult
    public static func pruneDelivered(_ db: Database, before cutoff: Date, limit: Int?) throws -> Int {
        try db.execute(
            sql: """
                DELETE FROM deliveries WHERE id IN (
                    SELECT id FROM deliveries WHERE state = 'delivered' AND delivered_at < ? LIMIT ?)
                """, arguments: [cutoff, limit ?? -1])
        return db.changesCount
    }

    /// Deletes events received before `cutoff` that no delivery refers to any more.
    @discardableResult
    public static func pruneEvents(_ db: Database, before cutoff: Date, limit: Int?) throws -> Int {
        try db.execute(
            sql: """
                DELETE FROM events WHERE id IN (
                    SELECT id FROM events e WHERE e.received_at < ?
                    AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id) LIMIT ?)
                """, arguments: [cutoff, limit ?? -1])
        return db.changesCount
    }

    /// Forgets `Idempotency-Key`s first used before `cutoff`.
    @discardableResult
    public static func pruneIdempotencyKeys(_ db: Database, before cutoff: Date, limit: Int?) throws -> Int {
        try db.execute(
            sql: """
                DELETE FROM idempotency_keys WHERE rowid IN (
                    SELECT rowid FROM idempotency_keys WHERE created_at < ? LIMIT ?)
                """, arguments: [cutoff, limit ?? -1])
        return db.changesCount
    }
}
