import Foundation
import GRDB
import RelayCore

/// Writing accepted notifications into the outbox.
struct SQLiteIngest: IngestStore {
    let db: Database
    /// The transaction to raise signals in (nil: raise none).
    var transaction: SQLiteTransaction? = nil

    /// A service an event goes to: only what the insert needs (no full record is decoded per request).
    struct Target: Sendable, Equatable {
        public var id: Int64
        public var enabled: Bool
    }

    /// The services an event goes to: for a fan-out call (`fanOutTrigger` set), every enabled service
    /// subscribed to that trigger; else the one named by the event. An unknown identifier is
    /// ``RelayError/notFound(_:)``.
    private func targets(for event: IncomingEvent, fanOutTrigger: Trigger?) throws
        -> [Target]
    {
        if let fanOutTrigger {
            // The services table is small (one row per registered service); filter triggers here.
            let rows = try Row.fetchAll(
                db.cachedStatement(sql: "SELECT id, triggers FROM services WHERE enabled = 1 ORDER BY id"))
            return rows.compactMap { row in
                let triggers = (try? Trigger.parseList(row["triggers"])) ?? []
                return triggers.contains(fanOutTrigger) ? Target(id: row["id"], enabled: true) : nil
            }
        }
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT id, enabled FROM services WHERE identifier = ?"),
                arguments: [event.serviceIdentifier])
        else {
            throw RelayError.notFound("No service found with identifier '\(event.serviceIdentifier)'")
        }
        return [Target(id: row["id"], enabled: row["enabled"])]
    }

    /// Inserts the event and one delivery per target (paused for a disabled service). Run it in a
    /// write transaction: the caller acknowledges only after that commits.
    public func record(
        _ event: IncomingEvent, producerTokenID: Int64?, fanOutTrigger: Trigger?, now: Date
    ) throws -> RecordedEvent {
        let services = try targets(for: event, fanOutTrigger: fanOutTrigger)
        // One formatted time for every column (GRDB would format each Date with a DateFormatter).
        let time = Timestamp.format(now)
        let eventID = try Int64.fetchOne(
            db.cachedStatement(
                sql: """
                    INSERT INTO events (method, poid, roid, edid, soid, service_identifier, profile_identifier,
                                        token, api_url, producer_token_id, received_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id
                    """),
            arguments: [
                event.method.rawValue, event.poid, event.roid, event.edid, event.soid, event.serviceIdentifier,
                event.profileIdentifier, event.token, event.apiUrl, producerTokenID, time,
            ])!
        var deliveryIDs: [Int64] = []
        let insert = try db.cachedStatement(
            sql: """
                INSERT INTO deliveries (event_id, service_id, webhook_id, state, next_attempt_at, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """)
        var pending = false
        for service in services {
            let state = DeliveryStateMachine.initial(serviceEnabled: service.enabled)
            pending = pending || state == .pending
            try insert.execute(arguments: [
                eventID, service.id, Secrets.newWebhookID(now: now), state.rawValue, time, time, time,
            ])
            deliveryIDs.append(db.lastInsertedRowID)
        }
        if pending { transaction?.raise(.deliveriesDue) }
        return RecordedEvent(eventID: eventID, deliveryIDs: deliveryIDs, hasPendingDeliveries: pending)
    }

    /// The answer first given for token `tokenID`'s `Idempotency-Key`, with the hash of the body it
    /// came with; nil for a new key.
    public func idempotentResponse(tokenID: Int64, key: String) throws
        -> (response: String, bodyHash: String)?
    {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT response, body_hash FROM idempotency_keys WHERE token_id = ? AND key = ?"),
            arguments: [tokenID, key]
        ).map { ($0["response"], $0["body_hash"]) }
    }

    /// Remembers the answer given for token `tokenID`'s `Idempotency-Key`.
    public func storeIdempotentResponse(
        tokenID: Int64, key: String, bodyHash: String, response: String, now: Date
    ) throws {
        try db.cachedStatement(
            sql: "INSERT INTO idempotency_keys (token_id, key, body_hash, response, created_at) VALUES (?, ?, ?, ?, ?)"
        ).execute(arguments: [tokenID, key, bodyHash, response, Timestamp.format(now)])
    }

    /// Notes that a token was used, at most once a minute per token (to keep writes rare).
    public func touchToken(id: Int64, now: Date) throws {
        try db.cachedStatement(
            sql: "UPDATE tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)"
        ).execute(arguments: [Timestamp.format(now), id, Timestamp.format(now.addingTimeInterval(-60))])
    }
}
