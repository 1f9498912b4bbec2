import Foundation
import PostgresNIO
import RelayCore

/// The admin console's sessions and views.
struct PostgresConsole: ConsoleStore {
    let tx: PostgresTransaction

    func createSession(_ session: ConsoleSession) throws {
        try tx.execute(
            """
            INSERT INTO console_sessions (id_hash, token_id, created_at, last_seen_at, expires_at, ends_at)
            VALUES (\(session.idHash), \(session.tokenID), \(session.createdAt.pgTime), \(session.lastSeenAt.pgTime),
                    \(session.expiresAt.pgTime), \(session.endsAt.pgTime))
            """)
    }

    func session(idHash: String, now: Date) throws -> (session: ConsoleSession, token: TokenRecord)? {
        guard
            let row = try tx.row(
                """
                SELECT s.id_hash AS session_hash, s.created_at AS session_created_at, s.last_seen_at,
                       s.expires_at, s.ends_at, t.*
                FROM console_sessions s JOIN tokens t ON t.id = s.token_id
                WHERE s.id_hash = \(idHash) AND s.expires_at > \(now.pgTime) AND s.ends_at > \(now.pgTime)
                """),
            Secrets.constantTimeEquals(try row["session_hash"].decode(String.self), idHash)
        else { return nil }
        let token = try TokenRecord(postgres: row)
        guard token.role == .admin, token.revokedAt == nil, token.origin == .relay, let id = token.id else {
            return nil
        }
        let session = ConsoleSession(
            idHash: idHash, tokenID: id, createdAt: try row["session_created_at"].decode(Date.self),
            lastSeenAt: try row["last_seen_at"].decode(Date.self), expiresAt: try row["expires_at"].decode(Date.self),
            endsAt: try row["ends_at"].decode(Date.self))
        return (session, token)
    }

    func touchSession(idHash: String, now: Date, expiresAt: Date) throws {
        try tx.execute(
            """
            UPDATE console_sessions SET last_seen_at = \(now.pgTime), expires_at = least(\(expiresAt.pgTime), ends_at)
            WHERE id_hash = \(idHash)
            """)
    }

    func endSession(idHash: String) throws {
        try tx.execute("DELETE FROM console_sessions WHERE id_hash = \(idHash)")
    }

    func pruneSessions(now: Date, limit: Int) throws -> Int {
        try tx.execute(
            """
            DELETE FROM console_sessions WHERE id_hash IN (
                SELECT id_hash FROM console_sessions WHERE expires_at <= \(now.pgTime) LIMIT \(limit))
            """)
    }

    func deliveryCounts() throws -> [DeliveryCount] {
        try tx.rows("SELECT service_id, state, count(*) AS n FROM deliveries GROUP BY service_id, state").map {
            DeliveryCount(
                serviceID: try $0["service_id"].decode(Int64.self), state: try $0["state"].decode(String.self),
                count: try $0["n"].decode(Int.self))
        }
    }

    func consecutiveFailures() throws -> [Int64: Int] {
        Dictionary(
            uniqueKeysWithValues: try tx.rows("SELECT id, consecutive_failures FROM services").map {
                (try $0["id"].decode(Int64.self), try $0["consecutive_failures"].decode(Int.self))
            })
    }

    func oldestPending(serviceID: Int64) throws -> Date? {
        try tx.row(
            """
            SELECT created_at FROM deliveries WHERE id = (
                SELECT min(id) FROM deliveries WHERE service_id = \(serviceID) AND state = \(unescaped: StateSQL.Named.pending))
            """)?["created_at"].decode(Date.self)
    }

    func deliveries(matching filter: DeliveryFilter, limit: Int) throws -> [DeliverySummary] {
        let state = filter.state?.rawValue
        let byEvent = filter.poid != nil || filter.roid != nil
        // See SQLiteConsole: by project or revision the walk starts at the event's index.
        let order = byEvent ? "e.id DESC, d.id DESC" : "d.id DESC"
        // See SQLiteConsole: by project or revision the cursor is (event, delivery).
        let eventCursor = byEvent ? filter.beforeID : nil
        let plainCursor = byEvent ? nil : filter.beforeID
        return try tx.rows(
            """
            \(unescaped: StoreRules.deliverySummarySelect)
            WHERE (\(filter.serviceID)::bigint IS NULL OR d.service_id = \(filter.serviceID))
              AND (\(state)::text IS NULL OR d.state = \(state))
              AND (\(filter.poid)::bigint IS NULL OR e.poid = \(filter.poid))
              AND (\(filter.roid)::bigint IS NULL OR e.roid = \(filter.roid))
              AND (\(filter.minID)::bigint IS NULL OR d.id >= \(filter.minID))
              AND (\(plainCursor)::bigint IS NULL OR d.id < \(plainCursor))
              AND (\(eventCursor)::bigint IS NULL OR (e.id, d.id) < (
                  (SELECT event_id FROM deliveries WHERE id <= \(eventCursor) ORDER BY id DESC LIMIT 1), \(eventCursor)))
            ORDER BY \(unescaped: order) LIMIT \(limit)
            """
        ).map(DeliverySummary.init(postgres:))
    }

    func event(id: Int64) throws -> EventRecord? {
        try tx.row("SELECT * FROM events WHERE id = \(id)").map(EventRecord.init(postgres:))
    }

    func firstRow(of table: NumberedTable, atOrAfter id: Int64) throws -> (id: Int64, time: Date)? {
        try tx.row(
            """
            SELECT id, \(unescaped: table.timeColumn) AS time FROM \(unescaped: table.rawValue)
            WHERE id >= \(id) ORDER BY id LIMIT 1
            """
        ).map { (try $0["id"].decode(Int64.self), try $0["time"].decode(Date.self)) }
    }

    func lastID(of table: NumberedTable) throws -> Int64? {
        try tx.row("SELECT max(id) AS id FROM \(unescaped: table.rawValue)")?["id"].decode(Int64?.self)
    }

    func perMinute(of table: NumberedTable, fromID: Int64) throws -> [MinuteCount] {
        try minutes(
            """
            SELECT date_trunc('minute', \(unescaped: table.timeColumn)) AS minute, count(*) AS n
            FROM \(unescaped: table.rawValue) WHERE id >= \(fromID)
            GROUP BY minute ORDER BY minute
            """)
    }

    func deliveredPerMinute(since: Date) throws -> [MinuteCount] {
        try minutes(
            """
            SELECT date_trunc('minute', delivered_at) AS minute, count(*) AS n FROM deliveries
            WHERE state = \(unescaped: StateSQL.Named.delivered) AND delivered_at >= \(since.pgTime)
            GROUP BY minute ORDER BY minute
            """)
    }

    func deadPerMinute(since: Date) throws -> [MinuteCount] {
        try minutes(
            """
            SELECT date_trunc('minute', dead_at) AS minute, count(*) AS n FROM deliveries
            WHERE state = \(unescaped: StateSQL.Named.dead) AND dead_at >= \(since.pgTime)
            GROUP BY minute ORDER BY minute
            """)
    }

    func endpoints(beforeID: Int64?, limit: Int) throws -> [EndpointSummary] {
        try tx.rows(
            """
            SELECT e.id, e."user", t.prefix, e.connected, e.node, e.connected_at, e.disconnected_at,
                   e.last_seq - e.sent_seq AS pending,
                   (SELECT count(*) FROM subscriptions s WHERE s.endpoint_id = e.id) AS subscriptions
            FROM endpoints e JOIN tokens t ON t.id = e.token_id
            WHERE (\(beforeID)::bigint IS NULL OR e.id < \(beforeID))
            ORDER BY e.id DESC LIMIT \(limit)
            """
        ).map {
            EndpointSummary(
                id: try $0["id"].decode(Int64.self), user: try $0["user"].decode(String.self),
                tokenPrefix: try $0["prefix"].decode(String.self), connected: try $0["connected"].decode(Bool.self),
                node: try $0["node"].decode(String?.self), connectedAt: try $0["connected_at"].decode(Date?.self),
                disconnectedAt: try $0["disconnected_at"].decode(Date?.self),
                framesPending: try $0["pending"].decode(Int64.self),
                subscriptions: try $0["subscriptions"].decode(Int.self))
        }
    }

    func connectedEndpoints() throws -> Int {
        try tx.row("SELECT count(*) AS n FROM endpoints WHERE connected")?["n"].decode(Int.self) ?? 0
    }

    func relayTokens() throws -> [TokenRecord] {
        try tx.rows("SELECT * FROM tokens WHERE origin = 'relay' ORDER BY id").map(TokenRecord.init(postgres:))
    }

    func upstreamTokenCount() throws -> Int {
        try tx.row("SELECT count(*) AS n FROM tokens WHERE origin <> 'relay'")?["n"].decode(Int.self) ?? 0
    }

    private func minutes(_ query: PostgresQuery) throws -> [MinuteCount] {
        try tx.rows(query).map {
            MinuteCount(minute: try $0["minute"].decode(Date.self), count: try $0["n"].decode(Int.self))
        }
    }
}
