import Foundation
import GRDB

/// Deletes what has outlived its retention, one bounded batch per call, so a background pass
/// never holds the writer for long (`limit: nil` deletes everything in one statement, for the CLI).
struct SQLiteRetention: RetentionStore {
    let db: Database

    /// Deletes delivered deliveries delivered before `cutoff`; their attempts go with them.
    @discardableResult
    public func pruneDelivered(before cutoff: Date, limit: Int?) throws -> Int {
        try deleteBatch(
            from: "deliveries",
            selecting: "SELECT id FROM deliveries WHERE state = \(StateSQL.Named.delivered) AND delivered_at < ?",
            arguments: [cutoff], limit: limit)
    }

    /// Deletes events received before `cutoff` that no delivery refers to any more.
    @discardableResult
    public func pruneEvents(before cutoff: Date, limit: Int?) throws -> Int {
        try deleteBatch(
            from: "events",
            selecting: """
                SELECT id FROM events e WHERE e.received_at < ?
                AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)
                """, arguments: [cutoff], limit: limit)
    }

    /// Forgets `Idempotency-Key`s first used before `cutoff`.
    @discardableResult
    public func pruneIdempotencyKeys(before cutoff: Date, limit: Int?) throws -> Int {
        try deleteBatch(
            from: "idempotency_keys", key: "rowid",
            selecting: "SELECT rowid FROM idempotency_keys WHERE created_at < ?", arguments: [cutoff], limit: limit)
    }

    /// Forgets BIMserver tokens (origin `bimserver` or `callback`, gateway mode) not confirmed since
    /// `cutoff`, unless an endpoint or an open topic still refers to them. Relay tokens are never
    /// deleted, nor revoked rows (a revocation must outlive BIMserver's session).
    @discardableResult
    public func pruneUpstreamTokens(unusedSince cutoff: Date, limit: Int?) throws -> Int {
        try deleteBatch(
            from: "tokens",
            selecting: """
                SELECT id FROM tokens t WHERE t.origin != 'relay' AND t.revoked_at IS NULL
                AND ifnull(t.last_used_at, t.created_at) < ?
                AND NOT EXISTS (SELECT 1 FROM endpoints e WHERE e.token_id = t.id)
                AND NOT EXISTS (SELECT 1 FROM topics p WHERE p.owner_token_id = t.id AND p.closed_at IS NULL)
                """, arguments: [cutoff], limit: limit)
    }

    /// `DELETE FROM table WHERE key IN (subquery LIMIT limit)`: the rows `subquery` selects, at most
    /// `limit` of them (nil: all). Returns how many were deleted.
    func deleteBatch(
        from table: String, key: String = "id", selecting subquery: String,
        arguments: StatementArguments, limit: Int?
    ) throws -> Int {
        try db.execute(
            sql: "DELETE FROM \(table) WHERE \(key) IN (\(subquery) LIMIT ?)", arguments: arguments + [limit ?? -1])
        return db.changesCount
    }
}
