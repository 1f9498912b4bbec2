import Foundation
import GRDB

/// A row of `profiles`: an SProfileDescriptor a service offers.
public struct ProfileRecord: SnakeCaseRecord, Sendable, Equatable {
    public static let databaseTableName = "profiles"

    /// Row id.
    public var id: Int64?
    /// The owning service's row id.
    public var serviceId: Int64
    /// BIMserver's `profileIdentifier`.
    public var identifier: String
    public var name: String
    public var description: String = ""
    /// Usable without a token (`getPublicProfiles`).
    public var publicProfile: Bool = true
    public var createdAt: Date

    /// A new profile of service `serviceId`.
    public init(
        serviceId: Int64, identifier: String, name: String, description: String, publicProfile: Bool, createdAt: Date
    ) {
        self.serviceId = serviceId
        self.identifier = identifier
        self.name = name
        self.description = description
        self.publicProfile = publicProfile
        self.createdAt = createdAt
    }
}
