import Foundation
import GRDB
import RelayCore

/// Reading progress topics (the admin's view; the registry methods live with the stream hub).
struct SQLiteTopics: TopicStore {
    let db: Database

    /// Every topic, newest first.
    public func list(limit: Int) throws -> [TopicSummary] {
        try TopicSummary.fetchAll(
            db, sql: "\(StoreRules.topicSummarySelect) ORDER BY t.id DESC LIMIT ?", arguments: [limit])
    }

    /// One topic, or ``RelayError/notFound(_:)``.
    public func show(id: Int64) throws -> TopicSummary {
        guard
            let topic = try TopicSummary.fetchOne(
                db, sql: "\(StoreRules.topicSummarySelect) WHERE t.id = ?", arguments: [id])
        else {
            throw RelayError.notFound("Topic with id \(id) not found")
        }
        return topic
    }
}

extension SQLiteTopics {
    /// Creates a progress topic; its id is the topicId.
    /// - Parameter idFloor: the smallest id to give (gateway mode: the relay's topic ids stay clear
    ///   of BIMserver's, which count up from 1 while it runs); nil: the next id.
    public func create(
        type: String, scope: String, poid: Int64?, roid: Int64?, description: String,
        owner: Int64?, now: Date, idFloor: Int64? = nil
    ) throws -> Int64 {
        try Int64.fetchOne(
            db,
            sql: """
                INSERT INTO topics (id, type, scope, poid, roid, description, owner_token_id, created_at)
                VALUES (
                    CASE WHEN ?1 IS NULL THEN NULL ELSE max(
                        ifnull((SELECT seq FROM sqlite_sequence WHERE name = 'topics'), 0) + 1, ?1) END,
                    ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                RETURNING id
                """, arguments: [idFloor, type, scope, poid, roid, description, owner, now])!
    }

    /// A topic, or nil.
    public func find(id: Int64) throws -> TopicRecord? {
        try TopicRecord.fetchOne(db, key: id)
    }

    /// Stores the latest state of a topic.
    public func updateState(id: Int64, state: String, now: Date) throws {
        try db.execute(
            sql: "UPDATE topics SET latest_state = ?, state_updated_at = ? WHERE id = ?", arguments: [state, now, id])
    }

    /// Marks a topic closed (it stays readable).
    public func close(id: Int64, now: Date) throws {
        try db.execute(sql: "UPDATE topics SET closed_at = ifnull(closed_at, ?) WHERE id = ?", arguments: [now, id])
    }

    /// Topic ids of a scope: every topic (nil poid), a project's, or a revision's; open ones first by id.
    public func ids(poid: Int64?, roid: Int64?) throws -> [TopicRecord] {
        var request = TopicRecord.all()
        if let poid { request = request.filter(Column("poid") == poid) }
        if let roid { request = request.filter(Column("roid") == roid) }
        return try request.order(Column("id")).fetchAll(db)
    }
}
