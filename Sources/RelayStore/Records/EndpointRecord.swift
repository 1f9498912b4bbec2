import Foundation
import GRDB

/// A row of `endpoints`: a WebSocket endpoint, kept after its socket drops so a client can resume.
public struct EndpointRecord: SnakeCaseRecord, Sendable, Equatable {
    public static let databaseTableName = "endpoints"

    /// BIMserver's `endpointid`.
    public var id: Int64
    public var tokenId: Int64
    public var user: String
    /// The highest seq given to a frame of this endpoint.
    public var lastSeq: Int64
    /// The highest seq written to its socket (a token-only reconnect resumes after it).
    public var sentSeq: Int64
    public var connected: Bool
    public var createdAt: Date
    public var connectedAt: Date?
    public var disconnectedAt: Date?
    /// Which connection of the endpoint attached last (each attach adds one; a socket of an
    /// older generation is stale).
    public var generation: Int64 = 0
}
