import Foundation
import PostgresNIO
import RelayCore

/// Progress topics: the admin's view, and the registry's rows.
struct PostgresTopics: TopicStore {
    let tx: PostgresTransaction

    /// The class of the transaction-scoped advisory lock topic creations take (`'brtp'`).
    private static let createLockClass: Int32 = 0x6272_7470

    /// Every topic, newest first.
    public func list(limit: Int) throws -> [TopicSummary] {
        try tx.rows("\(unescaped: StoreRules.topicSummarySelect) ORDER BY t.id DESC LIMIT \(limit)").map(
            TopicSummary.init(postgres:))
    }

    /// One topic, or ``RelayError/notFound(_:)``.
    public func show(id: Int64) throws -> TopicSummary {
        guard let row = try tx.row("\(unescaped: StoreRules.topicSummarySelect) WHERE t.id = \(id)") else {
            throw RelayError.notFound("Topic with id \(id) not found")
        }
        return try TopicSummary(postgres: row)
    }

    /// Creates a progress topic; its id is the topicId.
    /// - Parameter idFloor: the smallest id to give (gateway mode: the relay's topic ids stay clear
    ///   of BIMserver's, which count up from 1 while it runs); nil: the next id.
    ///
    /// With a floor the id is the greater of the sequence's next value and the floor, and the
    /// sequence moves up to it so later ids stay above it (never handed out twice, as with SQLite's
    /// AUTOINCREMENT). Creations serialise on an advisory lock until their transaction ends: between
    /// a `nextval` and the `setval` another relay's `nextval` could hand out the floor itself.
    public func create(
        type: String, scope: String, poid: Int64?, roid: Int64?, description: String,
        owner: Int64?, now: Date, idFloor: Int64? = nil
    ) throws -> Int64 {
        try tx.execute("SELECT pg_advisory_xact_lock(\(Self.createLockClass), 0)")
        let inserted: PostgresRandomAccessRow?
        if let idFloor {
            guard
                let next = try tx.row(
                    """
                    SELECT n.next_id, greatest(n.next_id, \(idFloor)) AS id
                    FROM (SELECT nextval(pg_get_serial_sequence('topics', 'id')) AS next_id) AS n
                    """)
            else { throw RelayError.database("topics: the id sequence returned no value") }
            let id = try next["id"].decode(Int64.self)
            let sequenceValue = try next["next_id"].decode(Int64.self)
            if id > sequenceValue {
                try tx.execute("SELECT setval(pg_get_serial_sequence('topics', 'id'), \(id))")
            }
            inserted = try tx.row(
                """
                INSERT INTO topics (id, type, scope, poid, roid, description, owner_token_id, created_at)
                VALUES (\(id), \(type), \(scope), \(poid), \(roid), \(description), \(owner), \(now.pgTime))
                RETURNING id
                """)
        } else {
            inserted = try tx.row(
                """
                INSERT INTO topics (type, scope, poid, roid, description, owner_token_id, created_at)
                VALUES (\(type), \(scope), \(poid), \(roid), \(description), \(owner), \(now.pgTime))
                RETURNING id
                """)
        }
        guard let row = inserted else { throw RelayError.database("inserting a topic returned no id") }
        return try row["id"].decode(Int64.self)
    }

    /// A topic, or nil.
    public func find(id: Int64) throws -> TopicRecord? {
        try tx.row("SELECT * FROM topics WHERE id = \(id)").map(TopicRecord.init(postgres:))
    }

    /// Stores the latest state of a topic.
    public func updateState(id: Int64, state: String, now: Date) throws {
        try tx.execute(
            "UPDATE topics SET latest_state = \(state), state_updated_at = \(now.pgTime) WHERE id = \(id)")
    }

    /// Marks a topic closed (it stays readable).
    public func close(id: Int64, now: Date) throws {
        try tx.execute("UPDATE topics SET closed_at = coalesce(closed_at, \(now.pgTime)) WHERE id = \(id)")
    }

    /// Topic ids of a scope: every topic (nil poid), a project's, or a revision's; open ones first by id.
    public func ids(poid: Int64?, roid: Int64?) throws -> [TopicRecord] {
        try tx.rows(
            """
            SELECT * FROM topics
            WHERE (\(poid)::bigint IS NULL OR poid = \(poid)) AND (\(roid)::bigint IS NULL OR roid = \(roid))
            ORDER BY id
            """
        ).map(TopicRecord.init(postgres:))
    }
}
