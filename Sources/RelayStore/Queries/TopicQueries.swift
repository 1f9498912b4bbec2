import Foundation
import GRDB
import RelayCore

/// A progress topic with how many endpoints listen to it.
public struct TopicSummary: Codable, FetchableRecord, Sendable, Equatable {
    public var id: Int64
    public var type: String
    public var scope: String
    public var poid: Int64?
    public var roid: Int64?
    public var description: String
    public var latestState: String?
    public var stateUpdatedAt: Date?
    public var createdAt: Date
    public var closedAt: Date?
    public var subscribers: Int

    public static var databaseColumnDecodingStrategy: DatabaseColumnDecodingStrategy { .convertFromSnakeCase }
}

/// Reading progress topics (the admin's view; the registry methods live with the stream hub).
public enum TopicQueries {
    private static let summarySelect = """
        SELECT t.id, t.type, t.scope, t.poid, t.roid, t.description, t.latest_state,
               t.state_updated_at, t.created_at, t.closed_at,
               (SELECT count(*) FROM subscriptions s WHERE s.topic_id = t.id) AS subscribers
        FROM topics t
        """

    /// Every topic, newest first.
    public static func list(_ db: Database, limit: Int) throws -> [TopicSummary] {
        try TopicSummary.fetchAll(db, sql: "\(summarySelect) ORDER BY t.id DESC LIMIT ?", arguments: [limit])
    }

    /// One topic, or ``RelayError/notFound(_:)``.
    public static func show(_ db: Database, id: Int64) throws -> TopicSummary {
        guard let topic = try TopicSummary.fetchOne(db, sql: "\(summarySelect) WHERE t.id = ?", arguments: [id]) else {
            throw RelayError.notFound("Topic with id \(id) not found")
        }
        return topic
    }
}
