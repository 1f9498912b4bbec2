import Foundation
import GRDB

/// A row of `attempts`: one HTTP attempt of a delivery.
public struct AttemptRecord: SnakeCaseRecord, Sendable, Equatable {
    public static let databaseTableName = "attempts"

    /// Row id.
    public var id: Int64?
    public var deliveryId: Int64
    /// 1 for the first attempt (since the last requeue).
    public var attempt: Int
    public var startedAt: Date
    public var durationMs: Double
    /// `delivered` or `failed`.
    public var outcome: String
    public var statusCode: Int?
    /// `timeout`, `connection`, `http_status`, `redirect`, `exception_envelope`, …
    public var errorClass: String?
    public var error: String?
    /// The first 4 KB of the response body.
    public var responseBody: String?
}
