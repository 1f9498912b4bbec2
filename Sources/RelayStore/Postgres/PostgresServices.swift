import Foundation
import PostgresNIO
import RelayCore

/// Registering, changing and reading services and their profiles.
struct PostgresServices: ServiceStore {
    let tx: PostgresTransaction

    /// Inserts a service; a duplicate identifier is a ``RelayError/conflict(_:)``.
    ///
    /// The duplicate is found by `ON CONFLICT DO NOTHING` rather than by catching the unique
    /// violation, which would abort the whole PostgreSQL transaction. The row id is always the
    /// database's (a given `id` is not inserted).
    public func add(_ service: ServiceRecord) throws -> ServiceRecord {
        var service = service
        guard
            let row = try tx.row(
                """
                INSERT INTO services (
                    identifier, name, url, triggers, description, provider_name, company_url, token_url,
                    new_profile_url, register_url, authorize_url, read_revision, read_extended_data, write_revision,
                    write_extended_data, notification_interface, user_token, signing_secret, exact_url, ordered,
                    max_in_flight, timeout_ms, retry_schedule, enabled, disabled_reason, disabled_at, last_success_at,
                    failing_since, created_at, updated_at)
                VALUES (
                    \(service.identifier), \(service.name), \(service.url), \(service.triggers), \(service.description),
                    \(service.providerName), \(service.companyUrl), \(service.tokenUrl), \(service.newProfileUrl),
                    \(service.registerUrl), \(service.authorizeUrl), \(service.readRevision),
                    \(service.readExtendedData), \(service.writeRevision), \(service.writeExtendedData),
                    \(service.notificationInterface), \(service.userToken), \(service.signingSecret),
                    \(service.exactUrl), \(service.ordered),
                    \(service.maxInFlight), \(service.timeoutMs), \(service.retrySchedule), \(service.enabled),
                    \(service.disabledReason), \(service.disabledAt?.pgTime), \(service.lastSuccessAt?.pgTime),
                    \(service.failingSince?.pgTime), \(service.createdAt.pgTime), \(service.updatedAt.pgTime))
                ON CONFLICT (identifier) DO NOTHING
                RETURNING id
                """)
        else {
            throw RelayError.conflict("a service with identifier '\(service.identifier)' already exists")
        }
        service.id = try row["id"].decode(Int64.self)
        return service
    }

    /// Writes every column of `service` to its row (GRDB's `update`).
    private func save(_ service: ServiceRecord) throws {
        guard let id = service.id,
            try tx.execute(
                """
                UPDATE services SET
                    identifier = \(service.identifier), name = \(service.name), url = \(service.url),
                    triggers = \(service.triggers), description = \(service.description),
                    provider_name = \(service.providerName), company_url = \(service.companyUrl),
                    token_url = \(service.tokenUrl), new_profile_url = \(service.newProfileUrl),
                    register_url = \(service.registerUrl), authorize_url = \(service.authorizeUrl),
                    read_revision = \(service.readRevision), read_extended_data = \(service.readExtendedData),
                    write_revision = \(service.writeRevision), write_extended_data = \(service.writeExtendedData),
                    notification_interface = \(service.notificationInterface), user_token = \(service.userToken),
                    signing_secret = \(service.signingSecret), exact_url = \(service.exactUrl),
                    ordered = \(service.ordered), max_in_flight = \(service.maxInFlight),
                    timeout_ms = \(service.timeoutMs), retry_schedule = \(service.retrySchedule),
                    enabled = \(service.enabled), disabled_reason = \(service.disabledReason),
                    disabled_at = \(service.disabledAt?.pgTime), last_success_at = \(service.lastSuccessAt?.pgTime),
                    failing_since = \(service.failingSince?.pgTime), created_at = \(service.createdAt.pgTime),
                    updated_at = \(service.updatedAt.pgTime)
                WHERE id = \(id)
                """) == 1
        else {
            // GRDB's update of a missing row fails too (a PersistenceError there).
            throw RelayError.notFound("no service '\(service.identifier)'")
        }
    }

    /// The service with this identifier (or row id), or ``RelayError/notFound(_:)``.
    public func find(_ identifier: String) throws -> ServiceRecord {
        if let service = try lookup(identifier: identifier) {
            return service
        }
        if let id = Int64(identifier), let row = try tx.row("SELECT * FROM services WHERE id = \(id)") {
            return try ServiceRecord(postgres: row)
        }
        throw RelayError.notFound("no service '\(identifier)'")
    }

    /// The service with this identifier, or nil.
    public func lookup(identifier: String) throws -> ServiceRecord? {
        try tx.row("SELECT * FROM services WHERE identifier = \(identifier)").map(ServiceRecord.init(postgres:))
    }

    /// How many services are disabled.
    public func disabledCount() throws -> Int {
        try tx.row("SELECT count(*) AS n FROM services WHERE NOT enabled")?["n"].decode(Int.self) ?? 0
    }

    /// Every service, by identifier.
    public func list() throws -> [ServiceRecord] {
        // COLLATE "C": byte order, as SQLite sorts text.
        try tx.rows("SELECT * FROM services ORDER BY identifier COLLATE \"C\"").map(ServiceRecord.init(postgres:))
    }

    /// Saves changed fields of a service (`service update`).
    public func update(_ service: ServiceRecord, now: Date) throws -> ServiceRecord {
        var service = service
        service.updatedAt = now
        try save(service)
        return service
    }

    /// Enables a service: its paused deliveries become pending, due now.
    public func enable(_ identifier: String, now: Date) throws -> ServiceRecord {
        let service = StoreRules.enabled(try find(identifier), now: now)
        try save(service)
        let resumed = try tx.execute(
            """
            UPDATE deliveries SET state = \(unescaped: StateSQL.resumed), next_attempt_at = \(now.pgTime),
                updated_at = \(now.pgTime)
            WHERE service_id = \(service.id) AND state = \(unescaped: StateSQL.Named.paused)
            """)
        if resumed > 0 { tx.raise(.deliveriesDue) }
        return service
    }

    /// Disables a service: its pending deliveries are paused (in-flight ones finish first and are
    /// paused by the worker).
    public func disable(
        _ identifier: String, reason: String, now: Date
    ) throws -> ServiceRecord {
        let service = StoreRules.disabled(try find(identifier), reason: reason, now: now)
        try save(service)
        try tx.execute(
            """
            UPDATE deliveries SET state = \(unescaped: StateSQL.paused), updated_at = \(now.pgTime)
            WHERE service_id = \(service.id) AND state = \(unescaped: StateSQL.Named.pending)
            """)
        return service
    }

    /// Removes a service with its profiles, deliveries and attempts.
    /// - Returns: the number of deliveries removed with it.
    public func remove(_ identifier: String) throws -> Int {
        let service = try find(identifier)
        let deliveries =
            try tx.row("SELECT count(*) AS n FROM deliveries WHERE service_id = \(service.id)")?["n"].decode(Int.self)
            ?? 0
        try tx.execute("DELETE FROM services WHERE id = \(service.id)")
        return deliveries
    }

    /// Adds a profile to a service.
    ///
    /// A duplicate is found by `ON CONFLICT DO NOTHING` (a caught unique violation would abort the
    /// transaction).
    public func addProfile(_ profile: ProfileRecord) throws -> ProfileRecord {
        var profile = profile
        guard
            let row = try tx.row(
                """
                INSERT INTO profiles (service_id, identifier, name, description, public_profile, created_at)
                VALUES (\(profile.serviceId), \(profile.identifier), \(profile.name), \(profile.description),
                        \(profile.publicProfile), \(profile.createdAt.pgTime))
                ON CONFLICT (service_id, identifier) DO NOTHING
                RETURNING id
                """)
        else {
            throw RelayError.conflict("the service already has a profile '\(profile.identifier)'")
        }
        profile.id = try row["id"].decode(Int64.self)
        return profile
    }

    /// A service's profiles; `publicOnly` keeps those usable without a token.
    public func profiles(serviceID: Int64, publicOnly: Bool = false) throws -> [ProfileRecord] {
        try tx.rows(
            """
            SELECT * FROM profiles WHERE service_id = \(serviceID) \(unescaped: publicOnly ? "AND public_profile" : "")
            ORDER BY identifier COLLATE "C"
            """
        ).map(ProfileRecord.init(postgres:))
    }

    /// Removes one profile of a service.
    public func removeProfile(serviceID: Int64, identifier: String) throws {
        let deleted = try tx.execute(
            "DELETE FROM profiles WHERE service_id = \(serviceID) AND identifier = \(identifier)")
        guard deleted > 0 else { throw RelayError.notFound("no profile '\(identifier)'") }
    }
}
