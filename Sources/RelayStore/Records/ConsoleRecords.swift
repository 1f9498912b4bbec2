import Foundation
import RelayCore

/// A signed-in admin console browser (a `console_sessions` row).
public struct ConsoleSession: Sendable, Equatable {
    /// SHA-256 (hex) of the session id the cookie carries.
    public var idHash: String
    /// The admin token the browser signed in with.
    public var tokenID: Int64
    public var createdAt: Date
    public var lastSeenAt: Date
    /// Idle expiry, moved on as the session is used.
    public var expiresAt: Date
    /// The latest the session may last, however busy.
    public var endsAt: Date

    public init(idHash: String, tokenID: Int64, createdAt: Date, lastSeenAt: Date, expiresAt: Date, endsAt: Date) {
        self.idHash = idHash
        self.tokenID = tokenID
        self.createdAt = createdAt
        self.lastSeenAt = lastSeenAt
        self.expiresAt = expiresAt
        self.endsAt = endsAt
    }
}

/// How many deliveries one service has in one state.
public struct DeliveryCount: Sendable, Equatable {
    public var serviceID: Int64
    public var state: String
    public var count: Int

    public init(serviceID: Int64, state: String, count: Int) {
        self.serviceID = serviceID
        self.state = state
        self.count = count
    }
}

/// Rows of one minute (the console's charts).
public struct MinuteCount: Sendable, Equatable {
    /// The minute's start.
    public var minute: Date
    public var count: Int

    public init(minute: Date, count: Int) {
        self.minute = minute
        self.count = count
    }
}

/// The tables whose rows are numbered in the order of a time column, so that a time bound is an id
/// bound (found by bisection over the primary key, no index on the time).
public enum NumberedTable: String, Sendable {
    /// `events`, by `received_at`.
    case events
    /// `deliveries`, by `created_at`.
    case deliveries

    /// The time column rows are numbered by.
    var timeColumn: String { self == .events ? "received_at" : "created_at" }
}

/// What the console's delivery list shows: every condition optional, newest first, a page at a time.
public struct DeliveryFilter: Sendable, Equatable {
    public var serviceID: Int64?
    public var state: DeliveryState?
    public var poid: Int64?
    public var roid: Int64?
    /// Only deliveries with an id at or above this (a time bound made an id bound).
    public var minID: Int64?
    /// Only deliveries with an id below this (the page cursor, or a time bound).
    public var beforeID: Int64?

    public init(
        serviceID: Int64? = nil, state: DeliveryState? = nil, poid: Int64? = nil, roid: Int64? = nil,
        minID: Int64? = nil, beforeID: Int64? = nil
    ) {
        self.serviceID = serviceID
        self.state = state
        self.poid = poid
        self.roid = roid
        self.minID = minID
        self.beforeID = beforeID
    }
}

/// A `/stream` endpoint as the console lists it.
public struct EndpointSummary: Sendable, Equatable {
    public var id: Int64
    public var user: String
    /// The visible prefix of its token.
    public var tokenPrefix: String
    public var connected: Bool
    /// The relay holding its socket (several relays on PostgreSQL); nil otherwise.
    public var node: String?
    public var connectedAt: Date?
    public var disconnectedAt: Date?
    /// Frames stored and not yet written to a socket.
    public var framesPending: Int64
    public var subscriptions: Int

    public init(
        id: Int64, user: String, tokenPrefix: String, connected: Bool, node: String?, connectedAt: Date?,
        disconnectedAt: Date?, framesPending: Int64, subscriptions: Int
    ) {
        self.id = id
        self.user = user
        self.tokenPrefix = tokenPrefix
        self.connected = connected
        self.node = node
        self.connectedAt = connectedAt
        self.disconnectedAt = disconnectedAt
        self.framesPending = framesPending
        self.subscriptions = subscriptions
    }
}
