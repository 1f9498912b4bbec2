import Foundation
import GRDB
import RelayCore

/// A row of `events`.
public struct EventRecord: SnakeCaseRecord, Sendable, Equatable {
    public static let databaseTableName = "events"

    public var id: Int64
    public var method: String
    public var poid: Int64?
    public var roid: Int64?
    public var edid: Int64?
    public var soid: Int64?
    public var serviceIdentifier: String
    public var profileIdentifier: String?
    public var token: String?
    public var apiUrl: String?
    public var producerTokenId: Int64?
    public var receivedAt: Date

    /// An event row.
    public init(
        id: Int64, method: String, poid: Int64?, roid: Int64?, edid: Int64?, soid: Int64?, serviceIdentifier: String,
        profileIdentifier: String?, token: String?, apiUrl: String?, producerTokenId: Int64?, receivedAt: Date
    ) {
        self.id = id
        self.method = method
        self.poid = poid
        self.roid = roid
        self.edid = edid
        self.soid = soid
        self.serviceIdentifier = serviceIdentifier
        self.profileIdentifier = profileIdentifier
        self.token = token
        self.apiUrl = apiUrl
        self.producerTokenId = producerTokenId
        self.receivedAt = receivedAt
    }
}

extension EventRecord {
    /// Decodes a row by column name (faster than the Codable path: the worker reads one per delivery).
    public init(row: Row) throws {
        id = try row.decode(forColumn: "id")
        method = try row.decode(forColumn: "method")
        poid = try row.decode(forColumn: "poid")
        roid = try row.decode(forColumn: "roid")
        edid = try row.decode(forColumn: "edid")
        soid = try row.decode(forColumn: "soid")
        serviceIdentifier = try row.decode(forColumn: "service_identifier")
        profileIdentifier = try row.decode(forColumn: "profile_identifier")
        token = try row.decode(forColumn: "token")
        apiUrl = try row.decode(forColumn: "api_url")
        producerTokenId = try row.decode(forColumn: "producer_token_id")
        receivedAt = try row.decode(forColumn: "received_at")
    }
}
