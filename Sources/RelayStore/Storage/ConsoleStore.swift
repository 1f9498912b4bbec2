import Foundation
import RelayCore

/// The admin console's sessions and views. Every view is a bounded, indexed query: the console must
/// stay quick over a million deliveries.
public protocol ConsoleStore {
    /// Stores a new session.
    func createSession(_ session: ConsoleSession) throws

    /// The live session with this id hash and its token: not expired, its token an unrevoked admin
    /// token. Nil otherwise.
    func session(idHash: String, now: Date) throws -> (session: ConsoleSession, token: TokenRecord)?

    /// Notes that a session was used: its idle expiry moves to `expiresAt` (capped at its end).
    func touchSession(idHash: String, now: Date, expiresAt: Date) throws

    /// Ends a session (sign out).
    func endSession(idHash: String) throws

    /// Deletes sessions that expired before `now`.
    @discardableResult
    func pruneSessions(now: Date, limit: Int) throws -> Int

    /// Deliveries per service and state (states with none are left out).
    func deliveryCounts() throws -> [DeliveryCount]

    /// Failed attempts since the last success, per service id.
    func consecutiveFailures() throws -> [Int64: Int]

    /// When the oldest pending delivery of a service was created; nil when it has none.
    func oldestPending(serviceID: Int64) throws -> Date?

    /// Deliveries matching `filter`, newest first, at most `limit`.
    func deliveries(matching filter: DeliveryFilter, limit: Int) throws -> [DeliverySummary]

    /// An event (the story of a delivery); nil when retention deleted it.
    func event(id: Int64) throws -> EventRecord?

    /// The first row of `table` with an id at or above `id`, and its time.
    func firstRow(of table: NumberedTable, atOrAfter id: Int64) throws -> (id: Int64, time: Date)?

    /// The highest id of `table`, nil when it is empty.
    func lastID(of table: NumberedTable) throws -> Int64?

    /// Rows of `table` from id `fromID` on, counted per minute of their time.
    func perMinute(of table: NumberedTable, fromID: Int64) throws -> [MinuteCount]

    /// Deliveries delivered since `since`, per minute.
    func deliveredPerMinute(since: Date) throws -> [MinuteCount]

    /// Deliveries that went dead since `since`, per minute.
    func deadPerMinute(since: Date) throws -> [MinuteCount]

    /// Endpoints, newest first, below id `beforeID` (a page cursor), at most `limit`.
    func endpoints(beforeID: Int64?, limit: Int) throws -> [EndpointSummary]

    /// How many endpoints have a socket open.
    func connectedEndpoints() throws -> Int

    /// The relay's own tokens (origin `relay`), oldest first.
    func relayTokens() throws -> [TokenRecord]

    /// How many BIMserver tokens (gateway mode) the relay remembers.
    func upstreamTokenCount() throws -> Int
}

extension ConsoleStore {
    /// The first id of `table` whose time is at or after `date`; nil when every row is older. Rows
    /// are numbered in time order (one clock stamps them as they are inserted), so this bisects the
    /// primary key: about 20 lookups for a million rows, with no index on the time.
    public func firstID(of table: NumberedTable, since date: Date) throws -> Int64? {
        guard let last = try lastID(of: table), let lastRow = try firstRow(of: table, atOrAfter: last),
            lastRow.time >= date
        else { return nil }
        var low: Int64 = 0
        var high = last
        while low < high {
            let middle = low + (high - low) / 2
            if let row = try firstRow(of: table, atOrAfter: middle), row.time >= date {
                high = middle
            } else {
                low = middle + 1
            }
        }
        return try firstRow(of: table, atOrAfter: low)?.id
    }

    /// A page of deliveries for the console. A state without a service is looked up service by
    /// service (`deliveries_by_service` holds service, state and id; no index starts with the
    /// state) and the pages merged, so a rare state among a million rows costs a few range scans.
    /// A service without a state is looked up state by state the same way (ordering one service's
    /// rows by id alone would walk the primary key past every other service's rows).
    public func deliveryPage(
        _ filter: DeliveryFilter, services: [Int64], limit: Int
    ) throws -> [DeliverySummary] {
        guard filter.poid == nil, filter.roid == nil, (filter.state == nil) != (filter.serviceID == nil) else {
            return try deliveries(matching: filter, limit: limit)
        }
        let parts: [DeliveryFilter] =
            if filter.state != nil {
                services.map { service in
                    var one = filter
                    one.serviceID = service
                    return one
                }
            } else {
                DeliveryState.allCases.map { state in
                    var one = filter
                    one.state = state
                    return one
                }
            }
        var rows: [DeliverySummary] = []
        for part in parts { rows += try deliveries(matching: part, limit: limit) }
        return Array(rows.sorted { $0.id > $1.id }.prefix(limit))
    }
}
