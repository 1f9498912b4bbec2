import Foundation
import GRDB
import RelayCore

/// Registering, changing and reading services and their profiles.
struct SQLiteServices: ServiceStore {
    let db: Database
    /// The transaction to raise signals in (nil: raise none).
    var transaction: SQLiteTransaction? = nil

    /// Inserts a service; a duplicate identifier is a ``RelayError/conflict(_:)``.
    public func add(_ service: ServiceRecord) throws -> ServiceRecord {
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
    public func find(_ identifier: String) throws -> ServiceRecord {
        if let service = try ServiceRecord.filter(Column("identifier") == identifier).fetchOne(db) {
            return service
        }
        if let id = Int64(identifier), let service = try ServiceRecord.fetchOne(db, key: id) {
            return service
        }
        throw RelayError.notFound("no service '\(identifier)'")
    }

    /// The service with this identifier, or nil.
    public func lookup(identifier: String) throws -> ServiceRecord? {
        try ServiceRecord.filter(Column("identifier") == identifier).fetchOne(db)
    }

    /// How many services are disabled.
    public func disabledCount() throws -> Int {
        try Int.fetchOne(db, sql: "SELECT count(*) FROM services WHERE enabled = 0") ?? 0
    }

    /// Every service, by identifier.
    public func list() throws -> [ServiceRecord] {
        try ServiceRecord.order(Column("identifier")).fetchAll(db)
    }

    /// Saves changed fields of a service (`service update`).
    public func update(_ service: ServiceRecord, now: Date) throws -> ServiceRecord {
        var service = service
        service.updatedAt = now
        try service.update(db)
        return service
    }

    /// Enables a service: its paused deliveries become pending, due now.
    public func enable(_ identifier: String, now: Date) throws -> ServiceRecord {
        let service = StoreRules.enabled(try find(identifier), now: now)
        try service.update(db)
        try db.execute(
            sql: """
                UPDATE deliveries SET state = \(StateSQL.resumed), next_attempt_at = ?, updated_at = ?
                WHERE service_id = ? AND state = \(StateSQL.Named.paused)
                """,
            arguments: [now, now, service.id])
        if db.changesCount > 0 { transaction?.raise(.deliveriesDue) }
        return service
    }

    /// Disables a service: its pending deliveries are paused (in-flight ones finish first and are
    /// paused by the worker).
    public func disable(
        _ identifier: String, reason: String, now: Date
    ) throws -> ServiceRecord {
        let service = StoreRules.disabled(try find(identifier), reason: reason, now: now)
        try service.update(db)
        try db.execute(
            sql:
                "UPDATE deliveries SET state = \(StateSQL.paused), updated_at = ? WHERE service_id = ? AND state = \(StateSQL.Named.pending)",
            arguments: [now, service.id])
        return service
    }

    /// Removes a service with its profiles, deliveries and attempts.
    /// - Returns: the number of deliveries removed with it.
    public func remove(_ identifier: String) throws -> Int {
        let service = try find(identifier)
        let deliveries =
            try Int.fetchOne(db, sql: "SELECT count(*) FROM deliveries WHERE service_id = ?", arguments: [service.id])
            ?? 0
        try service.delete(db)
        return deliveries
    }

    /// Adds a profile to a service.
    public func addProfile(_ profile: ProfileRecord) throws -> ProfileRecord {
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
    public func profiles(serviceID: Int64, publicOnly: Bool = false) throws -> [ProfileRecord] {
        var request = ProfileRecord.filter(Column("service_id") == serviceID)
        if publicOnly { request = request.filter(Column("public_profile") == true) }
        return try request.order(Column("identifier")).fetchAll(db)
    }

    /// Removes one profile of a service.
    public func removeProfile(serviceID: Int64, identifier: String) throws {
        let deleted =
            try ProfileRecord
            .filter(Column("service_id") == serviceID && Column("identifier") == identifier)
            .deleteAll(db)
        guard deleted > 0 else { throw RelayError.notFound("no profile '\(identifier)'") }
    }
}
