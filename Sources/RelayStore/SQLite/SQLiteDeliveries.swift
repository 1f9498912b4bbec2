import Foundation
import GRDB
import RelayCore

/// The worker's queries: rescue, claim, record.
struct SQLiteDeliveries: DeliveryStore {
    let db: Database
    /// The transaction to raise signals in (nil: raise none).
    var transaction: SQLiteTransaction? = nil

    /// Returns every in-flight delivery to `pending` (or `paused`): at start-up no request of this
    /// relay is in flight, and one relay process serves a file, so every lease is stale.
    @discardableResult
    public func releaseAllLeases(now: Date) throws -> Int {
        try release(condition: "state = \(StateSQL.Named.inFlight)", arguments: [], now: now)
    }

    /// Returns deliveries whose lease ran out (a request that outlived its timeout and margin).
    @discardableResult
    public func releaseExpiredLeases(now: Date) throws -> Int {
        try release(
            condition: "state = \(StateSQL.Named.inFlight) AND lease_expires_at <= ?", arguments: [now.sqlText],
            now: now)
    }

    private func release(
        condition: String, arguments: StatementArguments, now: Date
    ) throws -> Int {
        try db.cachedStatement(
            sql: """
                UPDATE deliveries
                SET state = \(StateSQL.released),
                    lease_expires_at = NULL, next_attempt_at = ?, updated_at = ?
                WHERE \(condition)
                """
        ).execute(arguments: [now.sqlText, now.sqlText] + arguments)
        return db.changesCount
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
        // What a claim needs to know of a service besides its record, in one statement: whether
        // it is enabled, whether the record changed, how many deliveries it has in flight (a
        // covering-index seek over a handful of entries: counting every in-flight row of every
        // service costs a table read per row), and its first profile (for fan-out events).
        let serviceState = try db.cachedStatement(
            sql: """
                SELECT s.enabled, s.updated_at,
                       (SELECT count(*) FROM deliveries INDEXED BY deliveries_by_service
                        WHERE service_id = s.id AND state = \(StateSQL.Named.inFlight)) AS busy,
                       (SELECT identifier FROM profiles WHERE service_id = s.id ORDER BY id LIMIT 1) AS first_profile
                FROM services s WHERE s.id = ?
                """)
        let services: [ServiceRecord]
        var states: [Int64: Row] = [:]
        if let only, let id = only.id {
            guard let state = try Row.fetchOne(serviceState, arguments: [id]), state["enabled"] as Bool else {
                return []
            }
            states[id] = state
            services =
                state["updated_at"] as String == only.updatedAt.sqlText
                ? [only]
                : try ServiceRecord.fetchAll(
                    db.cachedStatement(sql: "SELECT * FROM services WHERE id = ?"), arguments: [id])
        } else {
            services = try ServiceRecord.fetchAll(
                db.cachedStatement(sql: "SELECT * FROM services WHERE enabled = 1 ORDER BY id"))
        }
        // Every lease is one point UPDATE (an IN (subquery) builds a temporary b-tree per claim).
        let lease = try db.cachedStatement(
            sql: """
                UPDATE deliveries SET state = \(StateSQL.claimed), attempt_count = attempt_count + 1, updated_at = ?,
                    lease_expires_at = ?
                WHERE id = ? AND state = \(StateSQL.Named.pending)
                RETURNING id, event_id, webhook_id, attempt_count, lease_expires_at
                """)
        let time = now.sqlText
        var taken: [(row: Row, service: ServiceRecord)] = []
        for service in services where taken.count < limit {
            guard let serviceID = service.id else { continue }
            if states[serviceID] == nil { states[serviceID] = try Row.fetchOne(serviceState, arguments: [serviceID]) }
            guard let state = states[serviceID] else { continue }
            let inFlight: Int = state["busy"]
            // The lease covers the service's own timeout.
            let expires = now.addingTimeInterval(
                Double(service.timeoutMs) / 1000 + DurationText.seconds(leaseMargin)
            ).sqlText
            let rows: [Row]
            if service.ordered {
                // Strict order: only the oldest open delivery, and only when nothing is in flight.
                guard inFlight == 0,
                    let oldest = try Row.fetchOne(
                        db.cachedStatement(
                            sql: """
                                SELECT id, state, next_attempt_at FROM deliveries
                                WHERE service_id = ? AND state IN (\(StateSQL.Named.pending), \(StateSQL.Named.inFlight)) ORDER BY id LIMIT 1
                                """), arguments: [serviceID]),
                    oldest["state"] as String == DeliveryState.pending.rawValue,
                    (oldest["next_attempt_at"] as String) <= time
                else { continue }
                rows = try Row.fetchAll(lease, arguments: [time, expires, oldest["id"] as Int64])
            } else {
                let capacity = min(service.maxInFlight - inFlight, limit - taken.count)
                guard capacity > 0 else { continue }
                // Uses deliveries_due (service_id, next_attempt_at, id) WHERE state = 'pending'.
                let ids = try Int64.fetchAll(
                    db.cachedStatement(
                        sql: """
                            SELECT id FROM deliveries
                            WHERE service_id = ? AND state = \(StateSQL.Named.pending) AND next_attempt_at <= ?
                            ORDER BY next_attempt_at, id LIMIT ?
                            """), arguments: [serviceID, time, capacity])
                rows = try ids.flatMap { try Row.fetchAll(lease, arguments: [time, expires, $0]) }
            }
            taken += rows.map { ($0, service) }
        }
        guard !taken.isEmpty else { return [] }

        let selectEvent = try db.cachedStatement(sql: "SELECT * FROM events WHERE id = ?")
        var events: [Int64: EventRecord] = [:]
        for eventID in Set(taken.map { $0.row["event_id"] as Int64 }) {
            events[eventID] = try EventRecord.fetchOne(selectEvent, arguments: [eventID])
        }
        var claimed: [ClaimedDelivery] = []
        for (row, service) in taken {
            guard let serviceID = service.id, let event = events[row["event_id"]] else { continue }
            var profile = event.profileIdentifier
            if event.serviceIdentifier != service.identifier {
                profile = (states[serviceID]?["first_profile"] as String?) ?? event.profileIdentifier
            }
            claimed.append(
                ClaimedDelivery(
                    id: row["id"], webhookId: row["webhook_id"], attempt: row["attempt_count"], event: event,
                    service: service, profileIdentifier: profile, lease: row["lease_expires_at"]))
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
        try db.cachedStatement(
            sql: """
                INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, outcome, status_code, error_class,
                                      error, response_body)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            result.deliveryID, result.attempt, result.startedAt.sqlText, result.durationMs,
            result.next == .delivered ? "delivered" : "failed", result.statusCode, result.errorClass,
            result.error, result.responseBody,
        ])
        // The fence: this attempt's lease, still held.
        let fence =
            "id = ? AND state = \(StateSQL.Named.inFlight) AND attempt_count = ? AND (? IS NULL OR lease_expires_at = ?)"
        let fenceArguments: StatementArguments = [result.deliveryID, result.attempt, result.lease, result.lease]
        let error = [result.errorClass, result.error].compactMap { $0 }.joined(separator: ": ")
        switch result.next {
        case .delivered:
            try db.cachedStatement(
                sql: """
                    UPDATE deliveries SET state = \(StateSQL.delivered), delivered_at = ?, lease_expires_at = NULL, updated_at = ?,
                        last_status = ?, last_error = NULL
                    WHERE \(fence)
                    """
            ).execute(arguments: [now.sqlText, now.sqlText, result.statusCode] + fenceArguments)
        case .retry(let at):
            try db.cachedStatement(
                sql: """
                    UPDATE deliveries SET state = \(StateSQL.retried),
                        next_attempt_at = ?, lease_expires_at = NULL, updated_at = ?, last_status = ?, last_error = ?
                    WHERE \(fence)
                    """
            ).execute(
                arguments: [result.serviceID, at.sqlText, now.sqlText, result.statusCode, error] + fenceArguments)
        case .dead:
            try db.cachedStatement(
                sql: """
                    UPDATE deliveries SET state = \(StateSQL.dead), dead_at = ?, lease_expires_at = NULL, updated_at = ?,
                        last_status = ?, last_error = ?
                    WHERE \(fence)
                    """
            ).execute(arguments: [now.sqlText, now.sqlText, result.statusCode, error] + fenceArguments)
        }
        guard db.changesCount == 1 else {
            // A 410 describes the service, not the lease: a late one still disables it.
            if let reason = result.disableReason,
                try disableService(id: result.serviceID, reason: reason, now: now)
            {
                return RecordedAttempt(stale: true, disabled: reason)
            }
            return RecordedAttempt(stale: true)
        }
        if result.next == .delivered || result.next == .dead {
            // BIMserver's callback token is a credential: kept only while a delivery may still need it.
            try db.cachedStatement(
                sql: """
                    UPDATE events SET token = NULL
                    WHERE id = (SELECT event_id FROM deliveries WHERE id = ?) AND token IS NOT NULL
                      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id
                                      AND d.state IN (\(StateSQL.Named.pending), \(StateSQL.Named.inFlight), \(StateSQL.Named.paused)))
                    """
            ).execute(arguments: [result.deliveryID])
        }
        var disableReason = result.disableReason
        if result.next == .delivered {
            // At most once a second per service: rewriting the service row on every delivery
            // cost a page write per delivery, for a time an admin reads to the second.
            try db.cachedStatement(
                sql: """
                    UPDATE services SET last_success_at = ?, failing_since = NULL, consecutive_failures = 0
                    WHERE id = ? AND (last_success_at IS NULL OR last_success_at <= ? OR failing_since IS NOT NULL)
                    """
            ).execute(arguments: [now.sqlText, result.serviceID, now.addingTimeInterval(-1).sqlText])
        } else {
            try db.cachedStatement(
                sql:
                    "UPDATE services SET failing_since = ifnull(failing_since, ?), consecutive_failures = consecutive_failures + 1 WHERE id = ?"
            )
            .execute(arguments: [now.sqlText, result.serviceID])
            if disableReason == nil,
                let since = try Date.fetchOne(
                    db.cachedStatement(sql: "SELECT failing_since FROM services WHERE id = ? AND enabled = 1"),
                    arguments: [result.serviceID]),
                now.timeIntervalSince(since) >= DurationText.seconds(disableAfter)
            {
                disableReason = "failing since \(Timestamp.format(since)) without a success"
            }
        }
        if let reason = disableReason, try disableService(id: result.serviceID, reason: reason, now: now) {
            if case .retry = result.next {
                try db.cachedStatement(
                    sql:
                        "UPDATE deliveries SET state = \(StateSQL.paused) WHERE id = ? AND state = \(StateSQL.Named.pending)"
                )
                .execute(arguments: [result.deliveryID])
            }
            return RecordedAttempt(disabled: reason)
        }
        return RecordedAttempt()
    }

    /// Disables service `id` with `reason` if it is enabled; returns whether it was.
    private func disableService(id: Int64, reason: String, now: Date) throws -> Bool {
        guard
            let identifier = try String.fetchOne(
                db.cachedStatement(sql: "SELECT identifier FROM services WHERE id = ? AND enabled = 1"),
                arguments: [id])
        else { return false }
        _ = try SQLiteServices(db: db).disable(identifier, reason: reason, now: now)
        return true
    }

    /// When the worker should look again: the earliest due pending delivery of an enabled service,
    /// or the earliest lease expiry; nil when there is nothing to wait for.
    public func nextWake() throws -> Date? {
        let due = try Date.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT min(next) FROM (
                        SELECT (SELECT min(next_attempt_at) FROM deliveries d WHERE d.service_id = s.id AND d.state = \(StateSQL.Named.pending))
                               AS next
                        FROM services s WHERE s.enabled = 1)
                    """))
        let lease = try Date.fetchOne(
            db.cachedStatement(
                sql: "SELECT min(lease_expires_at) FROM deliveries WHERE state = \(StateSQL.Named.inFlight)"))
        return [due, lease].compactMap { $0 }.min()
    }
}
