import Foundation
import PostgresNIO
import RelayCore

/// Writing accepted notifications into the outbox.
struct PostgresIngest: IngestStore {
    let tx: PostgresTransaction

    /// A service an event goes to: only what the insert needs (no full record is decoded per request).
    struct Target: Sendable, Equatable {
        var id: Int64
        var enabled: Bool
    }

    /// The services an event goes to: for a fan-out call (`fanOutTrigger` set), every enabled service
    /// subscribed to that trigger; else the one named by the event. An unknown identifier is
    /// ``RelayError/notFound(_:)``.
    private func targets(for event: IncomingEvent, fanOutTrigger: Trigger?) throws -> [Target] {
        if let fanOutTrigger {
            // The services table is small (one row per registered service); filter triggers here.
            return try tx.rows("SELECT id, triggers FROM services WHERE enabled ORDER BY id").compactMap {
                row throws -> Target? in
                let triggers = (try? Trigger.parseList(row["triggers"].decode(String.self))) ?? []
                guard triggers.contains(fanOutTrigger) else { return nil }
                return Target(id: try row["id"].decode(Int64.self), enabled: true)
            }
        }
        guard
            let row = try tx.row("SELECT id, enabled FROM services WHERE identifier = \(event.serviceIdentifier)")
        else {
            throw RelayError.notFound("No service found with identifier '\(event.serviceIdentifier)'")
        }
        return [Target(id: try row["id"].decode(Int64.self), enabled: try row["enabled"].decode(Bool.self))]
    }

    /// Inserts the event and one delivery per target (paused for a disabled service). Run it in a
    /// write transaction: the caller acknowledges only after that commits.
    public func record(
        _ event: IncomingEvent, producerTokenID: Int64?, fanOutTrigger: Trigger?, now: Date
    ) throws -> RecordedEvent {
        let services = try targets(for: event, fanOutTrigger: fanOutTrigger)
        let time = now.pgTime
        guard
            let eventRow = try tx.row(
                """
                INSERT INTO events (method, poid, roid, edid, soid, service_identifier, profile_identifier,
                                    token, api_url, producer_token_id, received_at)
                VALUES (\(event.method.rawValue), \(event.poid), \(event.roid), \(event.edid), \(event.soid),
                        \(event.serviceIdentifier), \(event.profileIdentifier), \(event.token), \(event.apiUrl),
                        \(producerTokenID), \(time))
                RETURNING id
                """)
        else { throw RelayError.database("inserting an event returned no id") }
        let eventID = try eventRow["id"].decode(Int64.self)
        var deliveryIDs: [Int64] = []
        var pending = false
        for service in services {
            let state = DeliveryStateMachine.initial(serviceEnabled: service.enabled)
            pending = pending || state == .pending
            guard
                let row = try tx.row(
                    """
                    INSERT INTO deliveries (event_id, service_id, webhook_id, state, next_attempt_at, created_at,
                                            updated_at)
                    VALUES (\(eventID), \(service.id), \(Secrets.newWebhookID(now: now)), \(state.rawValue),
                            \(time), \(time), \(time))
                    RETURNING id
                    """)
            else { throw RelayError.database("inserting a delivery returned no id") }
            deliveryIDs.append(try row["id"].decode(Int64.self))
        }
        if pending { tx.raise(.deliveriesDue) }
        return RecordedEvent(eventID: eventID, deliveryIDs: deliveryIDs, hasPendingDeliveries: pending)
    }

    /// The answer first given for token `tokenID`'s `Idempotency-Key`, with the hash of the body it
    /// came with; nil for a new key.
    public func idempotentResponse(tokenID: Int64, key: String) throws
        -> (response: String, bodyHash: String)?
    {
        guard
            let row = try tx.row(
                "SELECT response, body_hash FROM idempotency_keys WHERE token_id = \(tokenID) AND key = \(key)")
        else { return nil }
        return (try row["response"].decode(String.self), try row["body_hash"].decode(String.self))
    }

    /// Remembers the answer given for token `tokenID`'s `Idempotency-Key`.
    public func storeIdempotentResponse(
        tokenID: Int64, key: String, bodyHash: String, response: String, now: Date
    ) throws {
        try tx.execute(
            """
            INSERT INTO idempotency_keys (token_id, key, body_hash, response, created_at)
            VALUES (\(tokenID), \(key), \(bodyHash), \(response), \(now.pgTime))
            """)
    }
}
