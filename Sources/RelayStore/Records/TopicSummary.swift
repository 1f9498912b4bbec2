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
