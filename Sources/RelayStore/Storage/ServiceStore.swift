import Foundation
import RelayCore

/// Registered services and their profiles.
public protocol ServiceStore {
    /// Inserts a service; a duplicate identifier is a ``RelayError/conflict(_:)``.
    func add(_ service: ServiceRecord) throws -> ServiceRecord

    /// The service with this identifier (or row id), or ``RelayError/notFound(_:)``.
    func find(_ identifier: String) throws -> ServiceRecord

    /// The service with this identifier, or nil.
    func lookup(identifier: String) throws -> ServiceRecord?

    /// How many services are disabled.
    func disabledCount() throws -> Int

    /// Every service, by identifier.
    func list() throws -> [ServiceRecord]

    /// Saves changed fields of a service (`service update`).
    func update(_ service: ServiceRecord, now: Date) throws -> ServiceRecord

    /// Enables a service: its paused deliveries become pending, due now.
    func enable(_ identifier: String, now: Date) throws -> ServiceRecord

    /// Disables a service: its pending deliveries are paused (in-flight ones finish first and are
    /// paused by the worker).
    func disable(
        _ identifier: String, reason: String, now: Date
    ) throws -> ServiceRecord

    /// Removes a service with its profiles, deliveries and attempts.
    /// - Returns: the number of deliveries removed with it.
    func remove(_ identifier: String) throws -> Int

    /// Adds a profile to a service.
    func addProfile(_ profile: ProfileRecord) throws -> ProfileRecord

    /// A service's profiles; `publicOnly` keeps those usable without a token.
    func profiles(serviceID: Int64, publicOnly: Bool) throws -> [ProfileRecord]

    /// Removes one profile of a service.
    func removeProfile(serviceID: Int64, identifier: String) throws
}

extension ServiceStore {
    /// Every profile of a service.
    public func profiles(serviceID: Int64) throws -> [ProfileRecord] {
        try profiles(serviceID: serviceID, publicOnly: false)
    }
}
