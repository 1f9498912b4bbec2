import Foundation
import GRDB
import RelayCore

/// Endpoints, subscriptions and stored frames of the `/stream` WebSocket.
struct SQLiteStream: StreamStore {
    let db: Database
    /// The transaction to raise signals in (nil: raise none).
    var transaction: SQLiteTransaction? = nil

    /// A new endpoint for `token`, connected now.
    public func createEndpoint(token: TokenRecord, now: Date) throws -> EndpointRecord {
        try EndpointRecord.fetchOne(
            db.cachedStatement(
                sql: """
                    INSERT INTO endpoints (token_id, user, connected, created_at, connected_at) VALUES (?, ?, 1, ?, ?)
                    RETURNING *
                    """), arguments: [token.id, token.user, now, now])!
    }

    /// An endpoint by id.
    public func endpoint(id: Int64) throws -> EndpointRecord? {
        try EndpointRecord.fetchOne(db, key: id)
    }

    /// The most recently dropped endpoint of this token still within retention (token-only reconnect).
    public func lastDropped(tokenID: Int64, since cutoff: Date) throws -> EndpointRecord? {
        try EndpointRecord.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT * FROM endpoints WHERE token_id = ? AND connected = 0 AND disconnected_at >= ?
                    ORDER BY disconnected_at DESC, id DESC LIMIT 1
                    """), arguments: [tokenID, cutoff])
    }

    /// Moves an endpoint to another token of its user (a resume with another token that sees at
    /// least as much): what it is sent from now on is filtered by that token's scope.
    public func rebind(endpointID: Int64, tokenID: Int64) throws {
        try db.cachedStatement(sql: "UPDATE endpoints SET token_id = ? WHERE id = ?").execute(arguments: [
            tokenID, endpointID,
        ])
    }

    /// Marks an endpoint connected on a new socket; returns that connection's generation.
    public func attach(endpointID: Int64, now: Date) throws -> Int64 {
        try Int64.fetchOne(
            db.cachedStatement(
                sql: """
                    UPDATE endpoints SET connected = 1, connected_at = ?, disconnected_at = NULL,
                                         generation = generation + 1
                    WHERE id = ? RETURNING generation
                    """), arguments: [now, endpointID]) ?? 0
    }

    /// Marks an endpoint dropped, remembering the last frame written to its socket, unless another
    /// connection (a later `generation`) has taken the endpoint over since.
    public func detach(endpointID: Int64, generation: Int64, sentSeq: Int64, now: Date) throws {
        try db.cachedStatement(
            sql: """
                UPDATE endpoints SET connected = 0, disconnected_at = ?, sent_seq = max(sent_seq, ?)
                WHERE id = ? AND generation = ?
                """
        ).execute(arguments: [now, sentSeq, endpointID, generation])
    }

    /// Marks every endpoint dropped (at start-up no socket is open).
    public func detachAll(now: Date) throws {
        try db.cachedStatement(sql: "UPDATE endpoints SET connected = 0, disconnected_at = ? WHERE connected = 1")
            .execute(arguments: [now])
    }

    /// None: one relay owns the file (``ServeLock``), and it drops its own endpoints at start-up.
    public func detachGone(tokenID: Int64?, now: Date) throws -> Int { 0 }

    /// Stored frames of an endpoint after `seq`, in order.
    public func frames(endpointID: Int64, after seq: Int64, limit: Int = 100_000) throws
        -> [StreamFrame]
    {
        try Row.fetchAll(
            db.cachedStatement(
                sql: "SELECT seq, payload FROM stream_messages WHERE endpoint_id = ? AND seq > ? ORDER BY seq LIMIT ?"),
            arguments: [endpointID, seq, limit]
        ).map { StreamFrame(endpointID: endpointID, seq: $0["seq"], payload: $0["payload"]) }
    }

    /// The oldest stored seq of an endpoint (nil when none is stored).
    public func oldestSeq(endpointID: Int64) throws -> Int64? {
        try Int64.fetchOne(
            db.cachedStatement(sql: "SELECT min(seq) FROM stream_messages WHERE endpoint_id = ?"),
            arguments: [endpointID])
    }

    /// Adds a subscription (a no-op when it exists).
    /// - Returns: whether the subscription is new (false: it existed already).
    @discardableResult
    public func subscribe(
        endpointID: Int64, kind: String, topicID: Int64? = nil, poid: Int64? = nil, roid: Int64? = nil,
        now: Date
    ) throws -> Bool {
        try db.cachedStatement(
            sql: """
                INSERT OR IGNORE INTO subscriptions (endpoint_id, kind, topic_id, poid, roid, created_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [endpointID, kind, topicID, poid, roid, now])
        return db.changesCount > 0
    }

    /// How many subscriptions the endpoints of `endpointID`'s token hold together.
    public func subscriptionsOfToken(endpointID: Int64) throws -> Int {
        try Int.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT count(*) FROM subscriptions s JOIN endpoints e ON e.id = s.endpoint_id
                    WHERE e.token_id = (SELECT token_id FROM endpoints WHERE id = ?)
                    """), arguments: [endpointID]) ?? 0
    }

    /// Makes room for one more endpoint of token `tokenID` within `limit`: deletes its oldest dropped
    /// endpoints (with their subscriptions and frames) as needed.
    /// - Returns: false when its connected endpoints alone fill the limit.
    public func makeRoomForEndpoint(tokenID: Int64, limit: Int) throws -> Bool {
        let countSQL = "SELECT count(*) FROM endpoints WHERE token_id = ?"
        let count = try Int.fetchOne(db, sql: countSQL, arguments: [tokenID]) ?? 0
        guard count >= limit else { return true }
        try db.execute(
            sql: """
                DELETE FROM endpoints WHERE id IN (
                    SELECT id FROM endpoints WHERE token_id = ? AND connected = 0
                    ORDER BY disconnected_at, id LIMIT ?)
                """, arguments: [tokenID, count - limit + 1])
        return try Int.fetchOne(db, sql: countSQL, arguments: [tokenID]) ?? 0 < limit
    }

    /// Removes a subscription.
    public func unsubscribe(
        endpointID: Int64, kind: String, topicID: Int64? = nil, poid: Int64? = nil, roid: Int64? = nil
    ) throws {
        try db.cachedStatement(
            sql: """
                DELETE FROM subscriptions WHERE endpoint_id = ? AND kind = ? AND ifnull(topic_id, 0) = ifnull(?, 0)
                AND ifnull(poid, 0) = ifnull(?, 0) AND ifnull(roid, 0) = ifnull(?, 0)
                """
        ).execute(arguments: [endpointID, kind, topicID, poid, roid])
    }

    /// Endpoints subscribed to `kind` (for the given topic/project/revision), with their token's project scope.
    public func subscribers(
        kind: String, topicID: Int64? = nil, poid: Int64? = nil, roid: Int64? = nil
    ) throws -> [(endpointID: Int64, projects: String?)] {
        var conditions = OptionalConditions(["s.kind = ?", "t.revoked_at IS NULL"], arguments: [kind])
        conditions.add("s.topic_id = ?", topicID)
        conditions.add("s.poid = ?", poid)
        conditions.add("s.roid = ?", roid)
        return try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT DISTINCT s.endpoint_id, t.projects FROM subscriptions s
                    JOIN endpoints e ON e.id = s.endpoint_id JOIN tokens t ON t.id = e.token_id
                    WHERE \(conditions.sql)
                    """), arguments: conditions.arguments
        ).map { ($0["endpoint_id"], $0["projects"]) }
    }

    /// Stores one frame for each endpoint: every endpoint's `last_seq` goes up by one (one UPDATE …
    /// RETURNING for all of them) and one row per endpoint goes into `stream_messages`, all in the
    /// caller's transaction, so 10,000 subscribers cost one commit, not 10,000.
    public func publish(to endpointIDs: [Int64], method: String, payload: String, now: Date)
        throws
        -> [StreamFrame]
    {
        guard !endpointIDs.isEmpty else { return [] }
        // Two statements whatever the number of endpoints: the ids go in as one JSON array
        // (json_each), and SQLite copies each new seq into stream_messages itself.
        let ids = "[" + endpointIDs.map(String.init).joined(separator: ",") + "]"
        let frames = try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    UPDATE endpoints SET last_seq = last_seq + 1 WHERE id IN (SELECT value FROM json_each(?))
                    RETURNING id, last_seq
                    """), arguments: [ids]
        ).map { StreamFrame(endpointID: $0["id"], seq: $0["last_seq"], payload: payload) }
        try db.cachedStatement(
            sql: """
                INSERT INTO stream_messages (endpoint_id, seq, method, payload, created_at)
                SELECT id, last_seq, ?, ?, ? FROM endpoints WHERE id IN (SELECT value FROM json_each(?))
                """
        ).execute(arguments: [method, payload, now.sqlText, ids])
        if !frames.isEmpty { transaction?.raise(.framesPublished(frames)) }
        return frames
    }

    /// Deletes endpoints dropped before `cutoff` (their subscriptions and frames go with them).
    @discardableResult
    public func pruneEndpoints(droppedBefore cutoff: Date, limit: Int) throws -> Int {
        try SQLiteRetention(db: db).deleteBatch(
            from: "endpoints", selecting: "SELECT id FROM endpoints WHERE connected = 0 AND disconnected_at < ?",
            arguments: [cutoff], limit: limit)
    }

    /// Deletes topics closed before `closedBefore`, and open ones with no update since `idleBefore`
    /// (producers often never close them); their subscriptions go with them.
    @discardableResult
    public func pruneTopics(closedBefore: Date, idleBefore: Date, limit: Int) throws -> Int {
        try SQLiteRetention(db: db).deleteBatch(
            from: "topics",
            selecting: """
                SELECT id FROM topics
                WHERE (closed_at IS NOT NULL AND closed_at < ?) OR coalesce(state_updated_at, created_at) < ?
                """, arguments: [closedBefore, idleBefore], limit: limit)
    }

    /// Keeps at most `keep` frames per endpoint (the newest).
    @discardableResult
    public func pruneFrames(keep: Int, limit: Int) throws -> Int {
        try SQLiteRetention(db: db).deleteBatch(
            from: "stream_messages",
            selecting: """
                SELECT m.id FROM stream_messages m JOIN endpoints e ON e.id = m.endpoint_id
                WHERE m.seq <= e.last_seq - ?
                """, arguments: [keep], limit: limit)
    }
}
