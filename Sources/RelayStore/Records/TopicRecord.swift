import Foundation
import GRDB

/// A row of `topics`: a progress topic; its id is BIMserver's `topicId`.
public struct TopicRecord: SnakeCaseRecord, Sendable, Equatable {
    public static let databaseTableName = "topics"

    /// The topicId.
    public var id: Int64?
    /// SProgressTopicType: DOWNLOAD, UPLOAD, RUNNING_SERVICE, BRANCH.
    public var type: String
    /// `server`, `project` or `revision`.
    public var scope: String
    public var poid: Int64?
    public var roid: Int64?
    public var description: String = ""
    public var ownerTokenId: Int64?
    /// The latest SLongActionState, as JSON.
    public var latestState: String?
    public var stateUpdatedAt: Date?
    public var createdAt: Date
    public var closedAt: Date?
}
