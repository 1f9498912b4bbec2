import Foundation
import PostgresNIO
import RelayCore

/// Deletes what has outlived its retention, one bounded batch per call, so a background pass
/// never holds locks for long (`limit: nil` deletes everything in one statement, for the CLI).
///
/// Each deletion is `DELETE FROM t WHERE key IN (SELECT key FROM t WHERE … LIMIT n)`; a NULL
/// `LIMIT` is no limit in PostgreSQL, so a nil `limit` binds NULL.
struct PostgresRetention: RetentionStore {
    let tx: PostgresTransaction

    /// Deletes delivered deliveries delivered before `cutoff`; their attempts go with them.
    @discardableResult
    public func pruneDelivered(before cutoff: Date, limit: Int?) throws -> Int {
        try tx.execute(
            """
            DELETE FROM deliveries WHERE id IN (
                SELECT id FROM deliveries
                WHERE state = \(unescaped: StateSQL.Named.delivered) AND delivered_at < \(cutoff.pgTime)
                LIMIT \(limit))
            """)
    }

    /// Deletes events received before `cutoff` that no delivery refers to any more.
    @discardableResult
    public func pruneEvents(before cutoff: Date, limit: Int?) throws -> Int {
        try tx.execute(
            """
            DELETE FROM events WHERE id IN (
                SELECT id FROM events e WHERE e.received_at < \(cutoff.pgTime)
                AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)
                LIMIT \(limit))
            """)
    }

    /// Forgets `Idempotency-Key`s first used before `cutoff`.
    @discardableResult
    public func pruneIdempotencyKeys(before cutoff: Date, limit: Int?) throws -> Int {
        // The table's key is (token_id, key): there is no rowid.
        try tx.execute(
            """
            DELETE FROM idempotency_keys WHERE (token_id, key) IN (
                SELECT token_id, key FROM idempotency_keys WHERE created_at < \(cutoff.pgTime)
                LIMIT \(limit))
            """)
    }

    /// Forgets BIMserver tokens (origin `bimserver` or `callback`, gateway mode) not confirmed since
    /// `cutoff`, unless an endpoint or an open topic still refers to them. Relay tokens are never
    /// deleted, nor revoked rows (a revocation must outlive BIMserver's session).
    @discardableResult
    public func pruneUpstreamTokens(unusedSince cutoff: Date, limit: Int?) throws -> Int {
        try tx.execute(
            """
            DELETE FROM tokens WHERE id IN (
                SELECT id FROM tokens t WHERE t.origin <> 'relay' AND t.revoked_at IS NULL
                AND coalesce(t.last_used_at, t.created_at) < \(cutoff.pgTime)
                AND NOT EXISTS (SELECT 1 FROM endpoints e WHERE e.token_id = t.id)
                AND NOT EXISTS (SELECT 1 FROM topics p WHERE p.owner_token_id = t.id AND p.closed_at IS NULL)
                LIMIT \(limit))
            """)
    }
}
