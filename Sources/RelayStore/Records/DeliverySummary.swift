import Foundation
import GRDB
import RelayCore

/// A delivery as `queue list` and `queue show` print it.
public struct DeliverySummary: Codable, FetchableRecord, Sendable, Equatable {
    public var id: Int64
    public var service: String
    public var method: String
    public var poid: Int64?
    public var roid: Int64?
    public var edid: Int64?
    public var eventId: Int64
    public var webhookId: String
    public var state: String
    public var attemptCount: Int
    public var nextAttemptAt: Date
    public var leaseExpiresAt: Date?
    public var lastStatus: Int?
    public var lastError: String?
    public var createdAt: Date
    public var deliveredAt: Date?
    public var deadAt: Date?

    public static var databaseColumnDecodingStrategy: DatabaseColumnDecodingStrategy { .convertFromSnakeCase }
}
