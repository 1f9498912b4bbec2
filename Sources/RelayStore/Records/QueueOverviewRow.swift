import Foundation
import GRDB
import RelayCore

/// One line of `queue_overview`: deliveries of one service in one state.
public struct QueueOverviewRow: Codable, FetchableRecord, Sendable, Equatable {
    public var service: String
    public var state: String
    public var deliveries: Int
    public var oldest: Date?
    public var nextAttemptAt: Date?

    public static var databaseColumnDecodingStrategy: DatabaseColumnDecodingStrategy { .convertFromSnakeCase }
}
