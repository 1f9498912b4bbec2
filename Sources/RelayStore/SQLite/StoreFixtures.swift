import Foundation
import GRDB
import RelayCore

/// Rows for the SQLite store's tests, written with plain SQL so the fixtures do not depend on the
/// code under test. Tests only: nothing in the relay calls them.
public enum StoreFixtures {
    /// Inserts a service and returns its row id.
    @discardableResult
    public static func service(_ db: Database, identifier: String, enabled: Bool = true) throws -> Int64 {
        try db.execute(
            sql: """
                INSERT INTO services (identifier, name, url, triggers, signing_secret, enabled)
                VALUES (?, ?, 'http://127.0.0.1:9/', 'NEW_REVISION', 'whsec_AAAA', ?)
                """,
            arguments: [identifier, identifier, enabled])
        return db.lastInsertedRowID
    }

    /// Inserts an event and one delivery per service id, in `state`; returns the delivery ids.
    @discardableResult
    public static func deliveries(
        _ db: Database, serviceIDs: [Int64], state: String = "pending", poid: Int64 = 1, roid: Int64 = 2
    ) throws -> [Int64] {
        try db.execute(
            sql:
                "INSERT INTO events (method, poid, roid, soid, service_identifier) VALUES ('newRevision', ?, ?, 3, 'bimrelay')",
            arguments: [poid, roid])
        let event = db.lastInsertedRowID
        var ids: [Int64] = []
        for service in serviceIDs {
            try db.execute(
                sql: """
                    INSERT INTO deliveries (event_id, service_id, webhook_id, state, attempt_count, dead_at, delivered_at)
                    VALUES (?, ?, ?, ?, ?, CASE WHEN ?4 = 'dead' THEN strftime('%Y-%m-%d %H:%M:%f', 'now') END,
                            CASE WHEN ?4 = 'delivered' THEN strftime('%Y-%m-%d %H:%M:%f', 'now') END)
                    """,
                arguments: [event, service, Secrets.newWebhookID(), state, state == "dead" ? 10 : 0])
            ids.append(db.lastInsertedRowID)
        }
        return ids
    }
}
