import Foundation
import NIOCore
import PostgresNIO
import RelayCore

// Decoding the records from PostgreSQL rows by column name (the records' GRDB decoding does not
// apply), and binding times at the store's millisecond resolution.

/// A time bound as a `timestamptz` parameter at the store's resolution: rounded to the millisecond
/// as ``Timestamp/format(_:)`` rounds it (SQLite's text form), so that a stored time compares with
/// a `Date` as it did in the SQLite store (a `Date` interpolated as is would bind microseconds, and
/// a time due in the same millisecond would not be due yet). The columns are `timestamptz(3)`.
struct PostgresTimestamp: PostgresNonThrowingEncodable {
    let date: Date

    static var psqlType: PostgresDataType { .timestamptz }
    static var psqlFormat: PostgresFormat { .binary }

    /// Microseconds since 2000-01-01 UTC, a whole number of milliseconds.
    func encode<JSONEncoder: PostgresJSONEncoder>(
        into byteBuffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>
    ) {
        // Rounded exactly as Timestamp.format rounds; 946_684_800_000 ms is 2000-01-01 (PostgreSQL's epoch).
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded()) - 946_684_800_000
        byteBuffer.writeInteger(milliseconds * 1000)
    }
}

extension Date {
    /// This time as a `timestamptz` parameter at millisecond resolution (``PostgresTimestamp``).
    var pgTime: PostgresTimestamp { PostgresTimestamp(date: self) }
}

extension ServiceRecord {
    /// A `services` row (`SELECT *`).
    init(postgres row: PostgresRandomAccessRow) throws {
        self.init(
            identifier: try row["identifier"].decode(String.self),
            name: try row["name"].decode(String.self),
            url: try row["url"].decode(String.self),
            triggers: try row["triggers"].decode(String.self),
            signingSecret: try row["signing_secret"].decode(String.self),
            createdAt: try row["created_at"].decode(Date.self),
            updatedAt: try row["updated_at"].decode(Date.self))
        id = try row["id"].decode(Int64?.self)
        description = try row["description"].decode(String.self)
        providerName = try row["provider_name"].decode(String.self)
        companyUrl = try row["company_url"].decode(String.self)
        tokenUrl = try row["token_url"].decode(String.self)
        newProfileUrl = try row["new_profile_url"].decode(String.self)
        registerUrl = try row["register_url"].decode(String.self)
        authorizeUrl = try row["authorize_url"].decode(String.self)
        readRevision = try row["read_revision"].decode(Bool.self)
        readExtendedData = try row["read_extended_data"].decode(String.self)
        writeRevision = try row["write_revision"].decode(Bool.self)
        writeExtendedData = try row["write_extended_data"].decode(String.self)
        notificationInterface = try row["notification_interface"].decode(String.self)
        userToken = try row["user_token"].decode(String.self)
        exactUrl = try row["exact_url"].decode(Bool.self)
        ordered = try row["ordered"].decode(Bool.self)
        maxInFlight = try row["max_in_flight"].decode(Int.self)
        timeoutMs = try row["timeout_ms"].decode(Int64.self)
        retrySchedule = try row["retry_schedule"].decode(String?.self)
        enabled = try row["enabled"].decode(Bool.self)
        disabledReason = try row["disabled_reason"].decode(String?.self)
        disabledAt = try row["disabled_at"].decode(Date?.self)
        lastSuccessAt = try row["last_success_at"].decode(Date?.self)
        failingSince = try row["failing_since"].decode(Date?.self)
    }
}

extension TokenRecord {
    /// A `tokens` row (`SELECT *`).
    init(postgres row: PostgresRandomAccessRow) throws {
        let roleName = try row["role"].decode(String.self)
        guard let role = TokenRole(rawValue: roleName) else {
            throw RelayError.database("tokens.role holds an unknown role '\(roleName)'")
        }
        let originName = try row["origin"].decode(String.self)
        guard let origin = TokenOrigin(rawValue: originName) else {
            throw RelayError.database("tokens.origin holds an unknown origin '\(originName)'")
        }
        self.init(
            id: try row["id"].decode(Int64?.self),
            user: try row["user"].decode(String.self),
            role: role,
            projects: try row["projects"].decode(String?.self),
            tokenHash: try row["token_hash"].decode(String.self),
            prefix: try row["prefix"].decode(String.self),
            createdAt: try row["created_at"].decode(Date.self),
            lastUsedAt: try row["last_used_at"].decode(Date?.self),
            revokedAt: try row["revoked_at"].decode(Date?.self),
            origin: origin)
    }
}

extension EventRecord {
    /// An `events` row (`SELECT *`).
    init(postgres row: PostgresRandomAccessRow) throws {
        self.init(
            id: try row["id"].decode(Int64.self),
            method: try row["method"].decode(String.self),
            poid: try row["poid"].decode(Int64?.self),
            roid: try row["roid"].decode(Int64?.self),
            edid: try row["edid"].decode(Int64?.self),
            soid: try row["soid"].decode(Int64?.self),
            serviceIdentifier: try row["service_identifier"].decode(String.self),
            profileIdentifier: try row["profile_identifier"].decode(String?.self),
            token: try row["token"].decode(String?.self),
            apiUrl: try row["api_url"].decode(String?.self),
            producerTokenId: try row["producer_token_id"].decode(Int64?.self),
            receivedAt: try row["received_at"].decode(Date.self))
    }
}

extension EndpointRecord {
    /// An `endpoints` row (`SELECT *` or `RETURNING *`).
    init(postgres row: PostgresRandomAccessRow) throws {
        self.init(
            id: try row["id"].decode(Int64.self),
            tokenId: try row["token_id"].decode(Int64.self),
            user: try row["user"].decode(String.self),
            lastSeq: try row["last_seq"].decode(Int64.self),
            sentSeq: try row["sent_seq"].decode(Int64.self),
            connected: try row["connected"].decode(Bool.self),
            createdAt: try row["created_at"].decode(Date.self),
            connectedAt: try row["connected_at"].decode(Date?.self),
            disconnectedAt: try row["disconnected_at"].decode(Date?.self),
            generation: try row["generation"].decode(Int64.self))
    }
}

extension TopicRecord {
    /// A `topics` row (`SELECT *`).
    init(postgres row: PostgresRandomAccessRow) throws {
        self.init(
            id: try row["id"].decode(Int64?.self),
            type: try row["type"].decode(String.self),
            scope: try row["scope"].decode(String.self),
            poid: try row["poid"].decode(Int64?.self),
            roid: try row["roid"].decode(Int64?.self),
            description: try row["description"].decode(String.self),
            ownerTokenId: try row["owner_token_id"].decode(Int64?.self),
            latestState: try row["latest_state"].decode(String?.self),
            stateUpdatedAt: try row["state_updated_at"].decode(Date?.self),
            createdAt: try row["created_at"].decode(Date.self),
            closedAt: try row["closed_at"].decode(Date?.self))
    }
}

extension ProfileRecord {
    /// A `profiles` row (`SELECT *`).
    init(postgres row: PostgresRandomAccessRow) throws {
        self.init(
            serviceId: try row["service_id"].decode(Int64.self),
            identifier: try row["identifier"].decode(String.self),
            name: try row["name"].decode(String.self),
            description: try row["description"].decode(String.self),
            publicProfile: try row["public_profile"].decode(Bool.self),
            createdAt: try row["created_at"].decode(Date.self))
        id = try row["id"].decode(Int64?.self)
    }
}

extension AttemptRecord {
    /// An `attempts` row (`SELECT *`).
    init(postgres row: PostgresRandomAccessRow) throws {
        self.init(
            id: try row["id"].decode(Int64?.self),
            deliveryId: try row["delivery_id"].decode(Int64.self),
            attempt: try row["attempt"].decode(Int.self),
            startedAt: try row["started_at"].decode(Date.self),
            durationMs: try row["duration_ms"].decode(Double.self),
            outcome: try row["outcome"].decode(String.self),
            statusCode: try row["status_code"].decode(Int?.self),
            errorClass: try row["error_class"].decode(String?.self),
            error: try row["error"].decode(String?.self),
            responseBody: try row["response_body"].decode(String?.self))
    }
}

extension DeliverySummary {
    /// A row of ``PostgresQueue``'s summary select.
    init(postgres row: PostgresRandomAccessRow) throws {
        self.init(
            id: try row["id"].decode(Int64.self),
            service: try row["service"].decode(String.self),
            method: try row["method"].decode(String.self),
            poid: try row["poid"].decode(Int64?.self),
            roid: try row["roid"].decode(Int64?.self),
            edid: try row["edid"].decode(Int64?.self),
            eventId: try row["event_id"].decode(Int64.self),
            webhookId: try row["webhook_id"].decode(String.self),
            state: try row["state"].decode(String.self),
            attemptCount: try row["attempt_count"].decode(Int.self),
            nextAttemptAt: try row["next_attempt_at"].decode(Date.self),
            leaseExpiresAt: try row["lease_expires_at"].decode(Date?.self),
            lastStatus: try row["last_status"].decode(Int?.self),
            lastError: try row["last_error"].decode(String?.self),
            createdAt: try row["created_at"].decode(Date.self),
            deliveredAt: try row["delivered_at"].decode(Date?.self),
            deadAt: try row["dead_at"].decode(Date?.self))
    }
}

extension QueueOverviewRow {
    /// A row of the `queue_overview` view.
    init(postgres row: PostgresRandomAccessRow) throws {
        self.init(
            service: try row["service"].decode(String.self),
            state: try row["state"].decode(String.self),
            deliveries: try row["deliveries"].decode(Int.self),
            oldest: try row["oldest"].decode(Date?.self),
            nextAttemptAt: try row["next_attempt_at"].decode(Date?.self))
    }
}

extension TopicSummary {
    /// A row of ``PostgresTopics``' summary select.
    init(postgres row: PostgresRandomAccessRow) throws {
        self.init(
            id: try row["id"].decode(Int64.self),
            type: try row["type"].decode(String.self),
            scope: try row["scope"].decode(String.self),
            poid: try row["poid"].decode(Int64?.self),
            roid: try row["roid"].decode(Int64?.self),
            description: try row["description"].decode(String.self),
            latestState: try row["latest_state"].decode(String?.self),
            stateUpdatedAt: try row["state_updated_at"].decode(Date?.self),
            createdAt: try row["created_at"].decode(Date.self),
            closedAt: try row["closed_at"].decode(Date?.self),
            subscribers: try row["subscribers"].decode(Int.self))
    }
}
