import Foundation
import PostgresNIO
import RelayCore

/// Endpoints, subscriptions and stored frames of the `/stream` WebSocket.
///
/// `user` is a reserved word in PostgreSQL: the column is quoted.
struct PostgresStream: StreamStore {
    let tx: PostgresTransaction

    /// A new endpoint for `token`, connected now.
    public func createEndpoint(token: TokenRecord, now: Date) throws -> EndpointRecord {
        guard
            let row = try tx.row(
                """
                INSERT INTO endpoints (token_id, "user", connected, created_at, connected_at, node)
                VALUES (\(token.id), \(token.user), true, \(now.pgTime), \(now.pgTime), \(tx.node))
                RETURNING *
                """)
        else { throw RelayError.database("inserting an endpoint returned no row") }
        return try EndpointRecord(postgres: row)
    }

    /// An endpoint by id.
    public func endpoint(id: Int64) throws -> EndpointRecord? {
        try tx.row("SELECT * FROM endpoints WHERE id = \(id)").map(EndpointRecord.init(postgres:))
    }

    /// The most recently dropped endpoint of this token still within retention (token-only reconnect).
    public func lastDropped(tokenID: Int64, since cutoff: Date) throws -> EndpointRecord? {
        try tx.row(
            """
            SELECT * FROM endpoints
            WHERE token_id = \(tokenID) AND NOT connected AND disconnected_at >= \(cutoff.pgTime)
            ORDER BY disconnected_at DESC, id DESC LIMIT 1
            """
        ).map(EndpointRecord.init(postgres:))
    }

    /// Moves an endpoint to another token of its user (a resume with another token that sees at
    /// least as much): what it is sent from now on is filtered by that token's scope.
    public func rebind(endpointID: Int64, tokenID: Int64) throws {
        try tx.execute("UPDATE endpoints SET token_id = \(tokenID) WHERE id = \(endpointID)")
    }

    /// Marks an endpoint connected on a new socket; returns that connection's generation. When a
    /// socket on another relay held it, that relay is told to close it.
    public func attach(endpointID: Int64, now: Date) throws -> Int64 {
        // The row as it was too (locked first, so a concurrent attach elsewhere waits for this one).
        guard
            let row = try tx.row(
                """
                UPDATE endpoints e SET connected = true, connected_at = \(now.pgTime), disconnected_at = NULL,
                                       generation = e.generation + 1, node = \(tx.node)
                FROM (SELECT id, connected, node FROM endpoints WHERE id = \(endpointID) FOR UPDATE) old
                WHERE e.id = old.id
                RETURNING e.generation, old.connected AS was_connected, old.node AS was_on
                """)
        else { return 0 }
        let generation = try row["generation"].decode(Int64.self)
        if try row["was_connected"].decode(Bool.self), let previous = try row["was_on"].decode(String?.self),
            previous != tx.node
        {
            tx.notice.takeovers.append(.init(endpointID: endpointID, generation: generation))
        }
        return generation
    }

    /// Marks an endpoint dropped, remembering the last frame written to its socket, unless another
    /// connection (a later `generation`) has taken the endpoint over since.
    public func detach(endpointID: Int64, generation: Int64, sentSeq: Int64, now: Date) throws {
        try tx.execute(
            """
            UPDATE endpoints SET connected = false, disconnected_at = \(now.pgTime),
                                 sent_seq = greatest(sent_seq, \(sentSeq))
            WHERE id = \(endpointID) AND generation = \(generation)
            """)
    }

    /// Marks every endpoint of this relay dropped (at start-up none of its sockets is open; the
    /// other relays' stay connected).
    public func detachAll(now: Date) throws {
        try tx.execute(
            "UPDATE endpoints SET connected = false, disconnected_at = \(now.pgTime) WHERE connected AND node IS NOT DISTINCT FROM \(tx.node)"
        )
    }

    /// Marks dropped the endpoints (of `tokenID`, or all) still connected to relays that are gone
    /// (their liveness lock is free: the process died or lost the database). Their socket's last
    /// written frame is unknown: `sent_seq` stays as last recorded, so a token-only resume replays
    /// from there (a duplicate at most, never a hole).
    @discardableResult
    public func detachGone(tokenID: Int64?, now: Date) throws -> Int {
        let nodes = try tx.rows(
            """
            SELECT DISTINCT node FROM endpoints
            WHERE connected AND node IS NOT NULL AND node <> \(tx.node)
              AND (\(tokenID)::bigint IS NULL OR token_id = \(tokenID))
            """
        ).map { try $0["node"].decode(String.self) }
        let gone = try PostgresStorage.gone(nodes, tx: tx)
        guard !gone.isEmpty else { return 0 }
        return try tx.execute(
            """
            UPDATE endpoints SET connected = false, disconnected_at = \(now.pgTime)
            WHERE connected AND node = ANY(\(gone)) AND (\(tokenID)::bigint IS NULL OR token_id = \(tokenID))
            """)
    }

    /// Stored frames of an endpoint after `seq`, in order.
    public func frames(endpointID: Int64, after seq: Int64, limit: Int = 100_000) throws
        -> [StreamFrame]
    {
        try tx.rows(
            """
            SELECT seq, payload FROM stream_messages WHERE endpoint_id = \(endpointID) AND seq > \(seq)
            ORDER BY seq LIMIT \(limit)
            """
        ).map {
            StreamFrame(
                endpointID: endpointID, seq: try $0["seq"].decode(Int64.self),
                payload: try $0["payload"].decode(String.self))
        }
    }

    /// The oldest stored seq of an endpoint (nil when none is stored).
    public func oldestSeq(endpointID: Int64) throws -> Int64? {
        try tx.row("SELECT min(seq) AS seq FROM stream_messages WHERE endpoint_id = \(endpointID)").flatMap {
            try $0["seq"].decode(Int64?.self)
        }
    }

    /// Adds a subscription (a no-op when it exists).
    /// - Returns: whether the subscription is new (false: it existed already).
    @discardableResult
    public func subscribe(
        endpointID: Int64, kind: String, topicID: Int64? = nil, poid: Int64? = nil, roid: Int64? = nil,
        now: Date
    ) throws -> Bool {
        // ON CONFLICT without a target: the duplicate is caught by subscriptions_unique (an
        // expression index, which a target would have to spell out).
        try tx.execute(
            """
            INSERT INTO subscriptions (endpoint_id, kind, topic_id, poid, roid, created_at)
            VALUES (\(endpointID), \(kind), \(topicID), \(poid), \(roid), \(now.pgTime))
            ON CONFLICT DO NOTHING
            """) > 0
    }

    /// How many subscriptions the endpoints of `endpointID`'s token hold together.
    public func subscriptionsOfToken(endpointID: Int64) throws -> Int {
        try tx.row(
            """
            SELECT count(*) AS n FROM subscriptions s JOIN endpoints e ON e.id = s.endpoint_id
            WHERE e.token_id = (SELECT token_id FROM endpoints WHERE id = \(endpointID))
            """
        )?["n"].decode(Int.self) ?? 0
    }

    /// Makes room for one more endpoint of token `tokenID` within `limit`: deletes its oldest dropped
    /// endpoints (with their subscriptions and frames) as needed.
    /// - Returns: false when its connected endpoints alone fill the limit.
    public func makeRoomForEndpoint(tokenID: Int64, limit: Int) throws -> Bool {
        func count() throws -> Int {
            try tx.row("SELECT count(*) AS n FROM endpoints WHERE token_id = \(tokenID)")?["n"].decode(Int.self) ?? 0
        }
        let endpoints = try count()
        guard endpoints >= limit else { return true }
        // NULLS FIRST: the order SQLite gives NULLs.
        try tx.execute(
            """
            DELETE FROM endpoints WHERE id IN (
                SELECT id FROM endpoints WHERE token_id = \(tokenID) AND NOT connected
                ORDER BY disconnected_at NULLS FIRST, id LIMIT \(endpoints - limit + 1))
            """)
        return try count() < limit
    }

    /// Removes a subscription.
    public func unsubscribe(
        endpointID: Int64, kind: String, topicID: Int64? = nil, poid: Int64? = nil, roid: Int64? = nil
    ) throws {
        try tx.execute(
            """
            DELETE FROM subscriptions
            WHERE endpoint_id = \(endpointID) AND kind = \(kind)
              AND coalesce(topic_id, 0) = coalesce(\(topicID)::bigint, 0)
              AND coalesce(poid, 0) = coalesce(\(poid)::bigint, 0)
              AND coalesce(roid, 0) = coalesce(\(roid)::bigint, 0)
            """)
    }

    /// Endpoints subscribed to `kind` (for the given topic/project/revision), with their token's project scope.
    public func subscribers(
        kind: String, topicID: Int64? = nil, poid: Int64? = nil, roid: Int64? = nil
    ) throws -> [(endpointID: Int64, projects: String?)] {
        // A nil topic, project or revision is no condition (the SQLite store leaves it out).
        try tx.rows(
            """
            SELECT DISTINCT s.endpoint_id, t.projects FROM subscriptions s
            JOIN endpoints e ON e.id = s.endpoint_id JOIN tokens t ON t.id = e.token_id
            WHERE s.kind = \(kind) AND t.revoked_at IS NULL
              AND (\(topicID)::bigint IS NULL OR s.topic_id = \(topicID))
              AND (\(poid)::bigint IS NULL OR s.poid = \(poid))
              AND (\(roid)::bigint IS NULL OR s.roid = \(roid))
            """
        ).map {
            try (endpointID: $0["endpoint_id"].decode(Int64.self), projects: $0["projects"].decode(String?.self))
        }
    }

    /// Stores one frame for each endpoint: every endpoint's `last_seq` goes up by one (one UPDATE …
    /// RETURNING for all of them) and one row per endpoint goes into `stream_messages`, all in the
    /// caller's transaction, so 10,000 subscribers cost one commit, not 10,000.
    public func publish(to endpointIDs: [Int64], method: String, payload: String, now: Date)
        throws
        -> [StreamFrame]
    {
        guard !endpointIDs.isEmpty else { return [] }
        // Two statements whatever the number of endpoints: the ids go in as one bigint[] parameter,
        // and the new seqs come back and go into stream_messages as two arrays (unnest).
        let frames = try tx.rows(
            """
            UPDATE endpoints SET last_seq = last_seq + 1 WHERE id = ANY(\(endpointIDs))
            RETURNING id, last_seq, connected AND node IS DISTINCT FROM \(tx.node) AS elsewhere
            """
        ).map { row in
            let frame = StreamFrame(
                endpointID: try row["id"].decode(Int64.self), seq: try row["last_seq"].decode(Int64.self),
                payload: payload)
            // Sockets on other relays hear of it through the notice (and read it from the table).
            if try row["elsewhere"].decode(Bool.self) {
                tx.notice.frames.append(FrameMark(endpointID: frame.endpointID, seq: frame.seq))
            }
            return frame
        }
        guard !frames.isEmpty else { return [] }
        let ids = frames.map(\.endpointID)
        let seqs = frames.map(\.seq)
        try tx.execute(
            """
            INSERT INTO stream_messages (endpoint_id, seq, method, payload, created_at)
            SELECT f.endpoint_id, f.seq, \(method), \(payload), \(now.pgTime)
            FROM unnest(\(ids), \(seqs)) AS f (endpoint_id, seq)
            """)
        tx.raise(.framesPublished(frames))
        return frames
    }

    /// Deletes endpoints dropped before `cutoff` (their subscriptions and frames go with them).
    @discardableResult
    public func pruneEndpoints(droppedBefore cutoff: Date, limit: Int) throws -> Int {
        try tx.execute(
            """
            DELETE FROM endpoints WHERE id IN (
                SELECT id FROM endpoints WHERE NOT connected AND disconnected_at < \(cutoff.pgTime)
                LIMIT \(limit))
            """)
    }

    /// Deletes topics closed before `closedBefore`, and open ones with no update since `idleBefore`
    /// (producers often never close them); their subscriptions go with them.
    @discardableResult
    public func pruneTopics(closedBefore: Date, idleBefore: Date, limit: Int) throws -> Int {
        try tx.execute(
            """
            DELETE FROM topics WHERE id IN (
                SELECT id FROM topics
                WHERE (closed_at IS NOT NULL AND closed_at < \(closedBefore.pgTime))
                   OR coalesce(state_updated_at, created_at) < \(idleBefore.pgTime)
                LIMIT \(limit))
            """)
    }

    /// Keeps at most `keep` frames per endpoint (the newest).
    @discardableResult
    public func pruneFrames(keep: Int, limit: Int) throws -> Int {
        try tx.execute(
            """
            DELETE FROM stream_messages WHERE id IN (
                SELECT m.id FROM stream_messages m JOIN endpoints e ON e.id = m.endpoint_id
                WHERE m.seq <= e.last_seq - \(keep)
                LIMIT \(limit))
            """)
    }
}
