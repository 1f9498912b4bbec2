import Foundation
import PostgresNIO
import RelayCore

/// ``StateSQL``'s answers for the statements that ask a delivery's service whether it is enabled:
/// `services.enabled` is a boolean here, and ``StateSQL/byServiceEnabled(from:on:enabled:)``
/// compares it with 1, so it reads `enabled::int`.
enum PostgresStateSQL {
    /// A lease released (restart, expiry): back to waiting.
    static let released = StateSQL.byServiceEnabled(
        from: .inFlight, on: .leaseReleased,
        enabled: "(SELECT s.enabled::int FROM services s WHERE s.id = deliveries.service_id)")
    /// Requeued by an admin (`d` is the deliveries table's alias).
    static let requeued = StateSQL.byServiceEnabled(
        from: .dead, on: .requeue, enabled: "(SELECT s.enabled::int FROM services s WHERE s.id = d.service_id)")
    /// The attempt failed with attempts left: the states for an enabled and a disabled service, as
    /// SQL literals (the statement asks the service given by the attempt, a bound parameter).
    static let retried: (enabled: String, disabled: String) = {
        guard
            let targets = DeliveryStateMachine.targets(from: .inFlight, on: StateSQL.retryFailure, now: Date())
        else { preconditionFailure("a failed attempt does not apply to in-flight deliveries") }
        return (StateSQL.literal(targets.enabled), StateSQL.literal(targets.disabled))
    }()
    /// The lease as ``ClaimedDelivery/lease`` carries it and ``PostgresDeliveries/record(_:now:disableAfter:)``
    /// compares it: `lease_expires_at` as UTC text to the microsecond, whatever the session's
    /// `TimeZone` and `DateStyle` (a relay's connections may differ in them).
    static let leaseText = "to_char(lease_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
    /// The class of the transaction-scoped advisory locks a claim takes per service (`'brly'`).
    static let claimLockClass: Int32 = 0x6272_6C79
}

/// The worker's queries: rescue, claim, record.
///
/// Several relays may share the database: a claim takes a transaction-scoped advisory lock per
/// service before it counts the service's in-flight deliveries, so `max_in_flight` and `ordered`
/// hold across relays, and skips rows other transactions hold (`FOR UPDATE SKIP LOCKED`). This
/// needs READ COMMITTED (PostgreSQL's default): each statement after the lock sees what the previous
/// holder committed.
struct PostgresDeliveries: DeliveryStore {
    let tx: PostgresTransaction

    /// Returns this relay's in-flight deliveries (leases stamped with its node id) to `pending` (or
    /// `paused`): at start-up none of its requests is in flight. The other relays' leases stay.
    /// (Two statements rather than one with a condition spliced in: a `PostgresQuery` numbers its
    /// parameters itself, so two cannot be joined.)
    @discardableResult
    public func releaseAllLeases(now: Date) throws -> Int {
        try tx.execute(
            """
            UPDATE deliveries
            SET state = \(unescaped: PostgresStateSQL.released),
                lease_expires_at = NULL, lease_node = NULL, next_attempt_at = \(now.pgTime), updated_at = \(now.pgTime)
            WHERE state = \(unescaped: StateSQL.Named.inFlight) AND lease_node IS NOT DISTINCT FROM \(tx.node)
            """)
    }

    /// Returns deliveries whose lease ran out (a request that outlived its timeout and margin),
    /// whichever relay took them (one that died leaves them to the others).
    @discardableResult
    public func releaseExpiredLeases(now: Date) throws -> Int {
        try tx.execute(
            """
            UPDATE deliveries
            SET state = \(unescaped: PostgresStateSQL.released),
                lease_expires_at = NULL, lease_node = NULL, next_attempt_at = \(now.pgTime), updated_at = \(now.pgTime)
            WHERE state = \(unescaped: StateSQL.Named.inFlight) AND lease_expires_at <= \(now.pgTime)
            """)
    }

    /// What a claim needs to know of a service besides its record.
    private struct ServiceState {
        var enabled: Bool
        var updatedAt: Date
        /// Deliveries in flight.
        var busy: Int
        /// The service's first profile (for fan-out events).
        var firstProfile: String?
    }

    /// Whether service `id` is enabled, when its row last changed, how many deliveries it has in
    /// flight and its first profile, in one statement; nil when there is no such service.
    private func serviceState(id: Int64) throws -> ServiceState? {
        guard
            let row = try tx.row(
                """
                SELECT s.enabled, s.updated_at,
                       (SELECT count(*) FROM deliveries
                        WHERE service_id = s.id AND state = \(unescaped: StateSQL.Named.inFlight)) AS busy,
                       (SELECT identifier FROM profiles WHERE service_id = s.id ORDER BY id LIMIT 1) AS first_profile
                FROM services s WHERE s.id = \(id)
                """)
        else { return nil }
        return ServiceState(
            enabled: try row["enabled"].decode(Bool.self), updatedAt: try row["updated_at"].decode(Date.self),
            busy: try row["busy"].decode(Int.self), firstProfile: try row["first_profile"].decode(String?.self))
    }

    /// Claims up to `limit` due deliveries, honouring each service's in-flight limit and, for
    /// ordered services, strict event order with one in flight. Sets a lease of the service's
    /// timeout plus `leaseMargin`, and counts the attempt.
    /// - Parameter only: claim only for this service (a worker slot that just finished one of its
    ///   deliveries takes the next in the same write). The record is reused while the row's
    ///   `updated_at` is unchanged (every service change sets it) and the service is enabled.
    public func claim(
        limit: Int, now: Date, leaseMargin: Duration, only: ServiceRecord? = nil
    ) throws -> [ClaimedDelivery] {
        guard limit > 0 else { return [] }
        let candidates: [ServiceRecord]
        if let only, only.id != nil {
            candidates = [only]
        } else {
            // Enabled services with something due (an ordered service's oldest open delivery, when
            // claimable, is one of them): the others would only be locked for nothing.
            candidates = try tx.rows(
                """
                SELECT * FROM services s
                WHERE s.enabled AND EXISTS (
                    SELECT 1 FROM deliveries d
                    WHERE d.service_id = s.id AND d.state = \(unescaped: StateSQL.Named.pending)
                      AND d.next_attempt_at <= \(now.pgTime))
                ORDER BY s.id
                """
            ).map(ServiceRecord.init(postgres:))
        }
        var states: [Int64: ServiceState] = [:]
        var taken: [(row: PostgresRandomAccessRow, service: ServiceRecord)] = []
        for candidate in candidates where taken.count < limit {
            guard let serviceID = candidate.id else { continue }
            // One claimer per service at a time, across relays, until this transaction ends; the
            // count below runs after the lock, so it sees what the previous holder committed.
            let lockKey = Int32(truncatingIfNeeded: serviceID)
            try tx.execute("SELECT pg_advisory_xact_lock(\(PostgresStateSQL.claimLockClass), \(lockKey))")
            guard let state = try serviceState(id: serviceID), state.enabled else { continue }
            states[serviceID] = state
            // The record is reused while the row is unchanged (compared at the store's millisecond
            // resolution, as the SQLite store compares its text).
            let service: ServiceRecord
            if Timestamp.format(state.updatedAt) == Timestamp.format(candidate.updatedAt) {
                service = candidate
            } else {
                guard let row = try tx.row("SELECT * FROM services WHERE id = \(serviceID)") else { continue }
                service = try ServiceRecord(postgres: row)
            }
            // The lease covers the service's own timeout.
            let expires = now.addingTimeInterval(
                Double(service.timeoutMs) / 1000 + DurationText.seconds(leaseMargin))
            let rows: [PostgresRandomAccessRow]
            if service.ordered {
                // Strict order: only the oldest open delivery, and only when nothing is in flight.
                guard state.busy == 0,
                    let oldest = try tx.row(
                        """
                        SELECT id, state, next_attempt_at <= \(now.pgTime) AS due FROM deliveries
                        WHERE service_id = \(serviceID)
                          AND state IN (\(unescaped: StateSQL.Named.pending), \(unescaped: StateSQL.Named.inFlight))
                        ORDER BY id LIMIT 1
                        """),
                    try oldest["state"].decode(String.self) == DeliveryState.pending.rawValue,
                    try oldest["due"].decode(Bool.self)
                else { continue }
                let oldestID = try oldest["id"].decode(Int64.self)
                rows = try tx.rows(
                    """
                    UPDATE deliveries
                    SET state = \(unescaped: StateSQL.claimed), attempt_count = attempt_count + 1,
                        updated_at = \(now.pgTime), lease_expires_at = \(expires.pgTime), lease_node = \(tx.node)
                    WHERE id = \(oldestID) AND state = \(unescaped: StateSQL.Named.pending)
                    RETURNING id, event_id, webhook_id, attempt_count, \(unescaped: PostgresStateSQL.leaseText) AS lease
                    """)
            } else {
                let capacity = min(service.maxInFlight - state.busy, limit - taken.count)
                guard capacity > 0 else { continue }
                // The candidates use deliveries_due (service_id, next_attempt_at, id) WHERE state = 'pending'.
                rows = try tx.rows(
                    """
                    UPDATE deliveries
                    SET state = \(unescaped: StateSQL.claimed), attempt_count = attempt_count + 1,
                        updated_at = \(now.pgTime), lease_expires_at = \(expires.pgTime), lease_node = \(tx.node)
                    WHERE state = \(unescaped: StateSQL.Named.pending) AND id IN (
                        SELECT id FROM deliveries
                        WHERE service_id = \(serviceID) AND state = \(unescaped: StateSQL.Named.pending)
                          AND next_attempt_at <= \(now.pgTime)
                        ORDER BY next_attempt_at, id LIMIT \(capacity)
                        FOR UPDATE SKIP LOCKED)
                    RETURNING id, event_id, webhook_id, attempt_count, \(unescaped: PostgresStateSQL.leaseText) AS lease
                    """)
            }
            taken += rows.map { ($0, service) }
        }
        guard !taken.isEmpty else { return [] }

        let eventIDs = Array(Set(try taken.map { try $0.row["event_id"].decode(Int64.self) }))
        var events: [Int64: EventRecord] = [:]
        for row in try tx.rows("SELECT * FROM events WHERE id = ANY(\(eventIDs))") {
            let event = try EventRecord(postgres: row)
            events[event.id] = event
        }
        var claimed: [ClaimedDelivery] = []
        for (row, service) in taken {
            let eventID = try row["event_id"].decode(Int64.self)
            guard let serviceID = service.id, let event = events[eventID] else { continue }
            var profile = event.profileIdentifier
            if event.serviceIdentifier != service.identifier {
                profile = states[serviceID]?.firstProfile ?? event.profileIdentifier
            }
            claimed.append(
                ClaimedDelivery(
                    id: try row["id"].decode(Int64.self), webhookId: try row["webhook_id"].decode(String.self),
                    attempt: try row["attempt_count"].decode(Int.self), event: event, service: service,
                    profileIdentifier: profile, lease: try row["lease"].decode(String?.self)))
        }
        return claimed.sorted { $0.id < $1.id }
    }

    /// Records one attempt and its consequence in one write: the `attempts` row, the delivery's
    /// new state, the service's success/failure bookkeeping and, when due, disabling the service.
    /// The delivery changes only while this attempt still holds its lease (in flight, same attempt
    /// number and lease): a late result of a superseded attempt is only logged in `attempts`.
    /// - Parameter disableAfter: a service failing without success for this long is disabled.
    @discardableResult
    public func record(_ result: AttemptResult, now: Date, disableAfter: Duration) throws
        -> RecordedAttempt
    {
        let outcome = result.next == .delivered ? "delivered" : "failed"
        try tx.execute(
            """
            INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, outcome, status_code, error_class,
                                  error, response_body)
            VALUES (\(result.deliveryID), \(result.attempt), \(result.startedAt.pgTime), \(result.durationMs),
                    \(outcome), \(result.statusCode), \(result.errorClass),
                    \(result.error), \(result.responseBody))
            """)
        // The fence: this attempt's lease, still held. The row stays locked until the transaction
        // ends, so the update below applies to the row the fence saw.
        let holdsLease =
            try tx.row(
                """
                SELECT id FROM deliveries
                WHERE id = \(result.deliveryID) AND state = \(unescaped: StateSQL.Named.inFlight)
                  AND attempt_count = \(result.attempt)
                  AND (\(result.lease)::text IS NULL OR \(unescaped: PostgresStateSQL.leaseText) = \(result.lease))
                FOR UPDATE
                """) != nil
        guard holdsLease else {
            // A 410 describes the service, not the lease: a late one still disables it.
            if let reason = result.disableReason,
                try disableService(id: result.serviceID, reason: reason, now: now)
            {
                return RecordedAttempt(stale: true, disabled: reason)
            }
            return RecordedAttempt(stale: true)
        }
        let error = [result.errorClass, result.error].compactMap { $0 }.joined(separator: ": ")
        switch result.next {
        case .delivered:
            try tx.execute(
                """
                UPDATE deliveries
                SET state = \(unescaped: StateSQL.delivered), delivered_at = \(now.pgTime), lease_expires_at = NULL,
                    updated_at = \(now.pgTime), last_status = \(result.statusCode), last_error = NULL
                WHERE id = \(result.deliveryID)
                """)
        case .retry(let at):
            try tx.execute(
                """
                UPDATE deliveries
                SET state = CASE WHEN (SELECT enabled FROM services WHERE id = \(result.serviceID))
                                 THEN \(unescaped: PostgresStateSQL.retried.enabled)
                                 ELSE \(unescaped: PostgresStateSQL.retried.disabled) END,
                    next_attempt_at = \(at.pgTime), lease_expires_at = NULL, updated_at = \(now.pgTime),
                    last_status = \(result.statusCode), last_error = \(error)
                WHERE id = \(result.deliveryID)
                """)
        case .dead:
            try tx.execute(
                """
                UPDATE deliveries
                SET state = \(unescaped: StateSQL.dead), dead_at = \(now.pgTime), lease_expires_at = NULL,
                    updated_at = \(now.pgTime), last_status = \(result.statusCode), last_error = \(error)
                WHERE id = \(result.deliveryID)
                """)
        }
        if result.next == .delivered || result.next == .dead {
            // BIMserver's callback token is a credential: kept only while a delivery may still need it.
            try tx.execute(
                """
                UPDATE events SET token = NULL
                WHERE id = (SELECT event_id FROM deliveries WHERE id = \(result.deliveryID)) AND token IS NOT NULL
                  AND NOT EXISTS (
                      SELECT 1 FROM deliveries d WHERE d.event_id = events.id
                      AND d.state IN (\(unescaped: StateSQL.Named.pending), \(unescaped: StateSQL.Named.inFlight),
                                      \(unescaped: StateSQL.Named.paused)))
                """)
        }
        var disableReason = result.disableReason
        if result.next == .delivered {
            // At most once a second per service: rewriting the service row on every delivery
            // cost a row write per delivery, for a time an admin reads to the second.
            try tx.execute(
                """
                UPDATE services SET last_success_at = \(now.pgTime), failing_since = NULL, consecutive_failures = 0
                WHERE id = \(result.serviceID)
                  AND (last_success_at IS NULL OR last_success_at <= \(now.addingTimeInterval(-1).pgTime)
                       OR failing_since IS NOT NULL)
                """)
        } else {
            try tx.execute(
                """
                UPDATE services SET failing_since = coalesce(failing_since, \(now.pgTime)),
                    consecutive_failures = consecutive_failures + 1
                WHERE id = \(result.serviceID)
                """)
            if disableReason == nil,
                let row = try tx.row(
                    "SELECT failing_since FROM services WHERE id = \(result.serviceID) AND enabled"),
                let since = try row["failing_since"].decode(Date?.self),
                now.timeIntervalSince(since) >= DurationText.seconds(disableAfter)
            {
                disableReason = "failing since \(Timestamp.format(since)) without a success"
            }
        }
        if let reason = disableReason, try disableService(id: result.serviceID, reason: reason, now: now) {
            if case .retry = result.next {
                try tx.execute(
                    """
                    UPDATE deliveries SET state = \(unescaped: StateSQL.paused)
                    WHERE id = \(result.deliveryID) AND state = \(unescaped: StateSQL.Named.pending)
                    """)
            }
            return RecordedAttempt(disabled: reason)
        }
        return RecordedAttempt()
    }

    /// Disables service `id` with `reason` if it is enabled; returns whether it was.
    private func disableService(id: Int64, reason: String, now: Date) throws -> Bool {
        guard let row = try tx.row("SELECT identifier FROM services WHERE id = \(id) AND enabled") else {
            return false
        }
        _ = try PostgresServices(tx: tx).disable(try row["identifier"].decode(String.self), reason: reason, now: now)
        return true
    }

    /// When the worker should look again: the earliest due pending delivery of an enabled service,
    /// or the earliest lease expiry; nil when there is nothing to wait for.
    public func nextWake() throws -> Date? {
        // Per service, so that each minimum is one seek in deliveries_due.
        let due: Date? = try tx.row(
            """
            SELECT min(next_at) AS next_at FROM (
                SELECT (SELECT min(next_attempt_at) FROM deliveries d
                        WHERE d.service_id = s.id AND d.state = \(unescaped: StateSQL.Named.pending)) AS next_at
                FROM services s WHERE s.enabled) AS per_service
            """
        ).flatMap { try $0["next_at"].decode(Date?.self) }
        let lease: Date? = try tx.row(
            """
            SELECT min(lease_expires_at) AS next_at FROM deliveries WHERE state = \(unescaped: StateSQL.Named.inFlight)
            """
        ).flatMap { try $0["next_at"].decode(Date?.self) }
        return [due, lease].compactMap { $0 }.min()
    }
}
