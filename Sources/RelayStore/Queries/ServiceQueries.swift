import Foundation
import GRDB
import RelayCore

/// Registering, changing and reading services and their profiles.
public enum ServiceQueries {
    /// Inserts a service; a duplicate identifier is a ``RelayError/conflict(_:)``.
    public static func add(_ db: Database, _ service: ServiceRecord) throws -> ServiceRecord {
        var service = service
        do {
            try service.insert(db)
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            throw RelayError.conflict("a service with identifier '\(service.identifier)' already exists")
        }
        service.id = db.lastInsertedRowID
        return service
    }

    /// The service with this identifier (or row id), or ``RelayError/notFound(_:)``.
    public static func find(_ db: Database, _ identifier: String) throws -> ServiceRecord {
        if let service = try ServiceRecord.filter(Column("identifier") == identifier).fetchOne(db) {
            return service
        }
        if let id = Int64(identifier), let service = try ServiceRecord.fetchOne(db, key: id) {
            return service
        }
        throw RelayError.notFound("no service '\(identifier)'")
    }

    /// The service with this identifier, or nil.
    public static func lookup(_ db: Database, identifier: String) throws -> ServiceRecord? {
        try ServiceRecord.filter(Column("identifier") == identifier).fetchOne(db)
    }

    /// How many services are disabled.
    public static func disabledCount(_ db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT count(*) FROM services WHERE enabled = 0") ?? 0
    }

    /// Every service, by identifier.
    public static func list(_ db: Database) throws -> [ServiceRecord] {
        try ServiceRecord.order(Column("identifier")).fetchAll(db)
    }

    /// Saves changed fields of a service (`service update`).
    public static func update(_ db: Database, _ service: ServiceRecord, now: Date) throws -> ServiceRecord {
        var service = service
        service.updatedAt = now
        try service.update(db)
        return service
    }

    /// Enables a service: its paused deliveries become pending, due now.
    public static func enable(_ db: Database, _ identifier: String, now: Date) throws -> ServiceRecord {
        var service = try find(db, identifier)
        service.enabled = true
        service.disabledAt = nil
        service.disabledReason = nil
        service.failingSince = nil
        service.updatedAt = now
        try service.update(db)
        try db.execute(
            sql: """
                UPDATE deliveries SET state = 'pending', next_attempt_at = ?, updated_at = ?
                WHERE service_id = ? AND state = 'paused'
                """,
            arguments: [now, now, service.id])
        return service
    }

    /// Disables a service: its pending deliveries are paused (in-flight ones finish first and are
    /// paused by the worker).
    public static func disable(
        _ db: Database, _ identifier: String, reason: String, now: Date
    ) throws -> ServiceRecord {
        var service = try find(db, identifier)
        service.enabled = false
        service.disabledAt = now
        service.disabledReason = reason
        service.updatedAt = now
        try service.update(db)
        try db.execute(
            sql: "UPDATE deliveries SET state = 'paused', updated_at = ? WHERE service_id = ? AND state = 'pending'",
            arguments: [now, service.id])
        return service
    }

    /// Removes a service with its profiles, deliveries and attempts.
    /// - Returns: the number of deliveries removed with it.
    public static func remove(_ db: Database, _ identifier: String) throws -> Int {
        let service = try find(db, identifier)
        let deliveries =
            try Int.fetchOne(db, sql: "SELECT count(*) FROM deliveries WHERE service_id = ?", arguments: [service.id])
            ?? 0
        try service.delete(db)
        return deliveries
    }

    /// Adds a profile to a service.
    public static func addProfile(_ db: Database, _ profile: ProfileRecord) throws -> ProfileRecord {
        var profile = profile
        do {
            try profile.insert(db)
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            throw RelayError.conflict("the service already has a profile '\(profile.identifier)'")
        }
        profile.id = db.lastInsertedRowID
        return profile
    }

    /// A service's profiles; `publicOnly` keeps those usable without a token.
    public static func profiles(_ db: Database, serviceID: Int64, publicOnly: Bool = false) throws -> [ProfileRecord] {
        var request = ProfileRecord.filter(Column("service_id") == serviceID)
        if publicOnly { request = request.filter(Column("public_profile") == true) }
        return try request.order(Column("identifier")).fetchAll(db)
    }

    /// Removes one profile of a service.
    public static func removeProfile(_ db: Database, serviceID: Int64, identifier: String) throws {
        let deleted =
            try ProfileRecord
            .filter(Column("service_id") == serviceID && Column("identifier") == identifier)
            .deleteAll(db)
        guard deleted > 0 else { throw RelayError.notFound("no profile '\(identifier)'") }
    }
}
