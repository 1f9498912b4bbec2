import Foundation
import GRDB
import RelayCore

/// The admin console's sessions and views.
struct SQLiteConsole: ConsoleStore {
    let db: Database

    func createSession(_ session: ConsoleSession) throws {
        try db.execute(
            sql: """
                INSERT INTO console_sessions (id_hash, token_id, created_at, last_seen_at, expires_at, ends_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                session.idHash, session.tokenID, session.createdAt, session.lastSeenAt, session.expiresAt,
                session.endsAt,
            ])
    }

    func session(idHash: String, now: Date) throws -> (session: ConsoleSession, token: TokenRecord)? {
        guard
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT s.id_hash AS session_hash, s.created_at AS session_created_at, s.last_seen_at,
                           s.expires_at, s.ends_at, t.*
                    FROM console_sessions s JOIN tokens t ON t.id = s.token_id
                    WHERE s.id_hash = ? AND s.expires_at > ? AND s.ends_at > ?
                    """, arguments: [idHash, now, now]),
            Secrets.constantTimeEquals(row["session_hash"], idHash)
        else { return nil }
        let token = try TokenRecord(row: row)
        guard token.role == .admin, token.revokedAt == nil, token.origin == .relay, let id = token.id else {
            return nil
        }
        let session = ConsoleSession(
            idHash: idHash, tokenID: id, createdAt: row["session_created_at"], lastSeenAt: row["last_seen_at"],
            expiresAt: row["expires_at"], endsAt: row["ends_at"])
        return (session, token)
    }

    func touchSession(idHash: String, now: Date, expiresAt: Date) throws {
        try db.execute(
            sql: """
                UPDATE console_sessions SET last_seen_at = ?, expires_at = min(?, ends_at) WHERE id_hash = ?
                """, arguments: [now, expiresAt, idHash])
    }

    func endSession(idHash: String) throws {
        try db.execute(sql: "DELETE FROM console_sessions WHERE id_hash = ?", arguments: [idHash])
    }

    func pruneSessions(now: Date, limit: Int) throws -> Int {
        try db.execute(
            sql: """
                DELETE FROM console_sessions WHERE id_hash IN (
                    SELECT id_hash FROM console_sessions WHERE expires_at <= ? LIMIT ?)
                """, arguments: [now, limit])
        return db.changesCount
    }

    func deliveryCounts() throws -> [DeliveryCount] {
        try Row.fetchAll(
            db, sql: "SELECT service_id, state, count(*) AS n FROM deliveries GROUP BY service_id, state"
        ).map { DeliveryCount(serviceID: $0["service_id"], state: $0["state"], count: $0["n"]) }
    }

    func consecutiveFailures() throws -> [Int64: Int] {
        Dictionary(
            uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT id, consecutive_failures FROM services").map {
                ($0["id"] as Int64, $0["consecutive_failures"] as Int)
            })
    }

    func oldestPending(serviceID: Int64) throws -> Date? {
        try Date.fetchOne(
            db,
            sql: """
                SELECT created_at FROM deliveries WHERE id = (
                    SELECT min(id) FROM deliveries WHERE service_id = ? AND state = \(StateSQL.Named.pending))
                """, arguments: [serviceID])
    }

    func deliveries(matching filter: DeliveryFilter, limit: Int) throws -> [DeliverySummary] {
        var conditions = OptionalConditions()
        conditions.add("d.service_id = ?", filter.serviceID)
        conditions.add("d.state = ?", filter.state?.rawValue)
        conditions.add("e.poid = ?", filter.poid)
        conditions.add("e.roid = ?", filter.roid)
        conditions.add("d.id >= ?", filter.minID)
        // By project or revision the walk starts at the event's index, newest events first, and the
        // cursor is (event, delivery): with several relays ingesting, delivery ids need not follow
        // event ids. The cursor's event is the one of the newest delivery at or below it.
        let byEvent = filter.poid != nil || filter.roid != nil
        let order = byEvent ? "e.id DESC, d.id DESC" : "d.id DESC"
        if byEvent, let before = filter.beforeID {
            let cursorEvent = "(SELECT event_id FROM deliveries WHERE id <= ? ORDER BY id DESC LIMIT 1)"
            conditions.add("(e.id < \(cursorEvent) OR (e.id = \(cursorEvent) AND d.id < ?))", before)
            conditions.append(arguments: [before, before])
        } else {
            conditions.add("d.id < ?", filter.beforeID)
        }
        return try DeliverySummary.fetchAll(
            db, sql: "\(StoreRules.deliverySummarySelect) WHERE \(conditions.sql) ORDER BY \(order) LIMIT ?",
            arguments: conditions.arguments + [limit])
    }

    func event(id: Int64) throws -> EventRecord? {
        try EventRecord.fetchOne(db, key: id)
    }

    func firstRow(of table: NumberedTable, atOrAfter id: Int64) throws -> (id: Int64, time: Date)? {
        try Row.fetchOne(
            db.cachedStatement(
                sql: "SELECT id, \(table.timeColumn) AS time FROM \(table.rawValue) WHERE id >= ? ORDER BY id LIMIT 1"),
            arguments: [id]
        ).map { ($0["id"], $0["time"]) }
    }

    func lastID(of table: NumberedTable) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT max(id) FROM \(table.rawValue)")
    }

    func perMinute(of table: NumberedTable, fromID: Int64) throws -> [MinuteCount] {
        try minutes(
            "SELECT \(Self.minute(table.timeColumn)) AS minute, count(*) AS n FROM \(table.rawValue) WHERE id >= ?",
            fromID)
    }

    func deliveredPerMinute(since: Date) throws -> [MinuteCount] {
        try minutes(
            """
            SELECT \(Self.minute("delivered_at")) AS minute, count(*) AS n FROM deliveries
            WHERE state = \(StateSQL.Named.delivered) AND delivered_at >= ?
            """, since)
    }

    func deadPerMinute(since: Date) throws -> [MinuteCount] {
        try minutes(
            """
            SELECT \(Self.minute("dead_at")) AS minute, count(*) AS n FROM deliveries
            WHERE state = \(StateSQL.Named.dead) AND dead_at >= ?
            """, since)
    }

    func endpoints(beforeID: Int64?, limit: Int) throws -> [EndpointSummary] {
        var conditions = OptionalConditions()
        conditions.add("e.id < ?", beforeID)
        return try Row.fetchAll(
            db,
            sql: """
                SELECT e.id, e.user, t.prefix, e.connected, e.connected_at, e.disconnected_at,
                       e.last_seq - e.sent_seq AS pending,
                       (SELECT count(*) FROM subscriptions s WHERE s.endpoint_id = e.id) AS subscriptions
                FROM endpoints e JOIN tokens t ON t.id = e.token_id
                WHERE \(conditions.sql) ORDER BY e.id DESC LIMIT ?
                """, arguments: conditions.arguments + [limit]
        ).map {
            EndpointSummary(
                id: $0["id"], user: $0["user"], tokenPrefix: $0["prefix"], connected: $0["connected"], node: nil,
                connectedAt: $0["connected_at"], disconnectedAt: $0["disconnected_at"], framesPending: $0["pending"],
                subscriptions: $0["subscriptions"])
        }
    }

    func connectedEndpoints() throws -> Int {
        try Int.fetchOne(db, sql: "SELECT count(*) FROM endpoints WHERE connected = 1") ?? 0
    }

    func relayTokens() throws -> [TokenRecord] {
        try TokenRecord.fetchAll(db, sql: "SELECT * FROM tokens WHERE origin = 'relay' ORDER BY id")
    }

    func upstreamTokenCount() throws -> Int {
        try Int.fetchOne(db, sql: "SELECT count(*) FROM tokens WHERE origin <> 'relay'") ?? 0
    }

    /// The minute of a stored time, as a stored time (`2026-11-30 16:35:00.000`).
    private static func minute(_ column: String) -> String { "substr(\(column), 1, 16) || ':00.000'" }

    private func minutes(_ select: String, _ argument: any DatabaseValueConvertible) throws -> [MinuteCount] {
        try Row.fetchAll(db, sql: "\(select) GROUP BY minute ORDER BY minute", arguments: [argument]).map {
            MinuteCount(minute: $0["minute"], count: $0["n"])
        }
    }
}
