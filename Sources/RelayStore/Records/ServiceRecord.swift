import Foundation
import GRDB
import RelayCore

/// A row of `services`: an external service (BIMserver's SServiceDescriptor) and how to deliver to it.
public struct ServiceRecord: SnakeCaseRecord, Sendable, Equatable {
    public static let databaseTableName = "services"

    /// Row id.
    public var id: Int64?
    /// BIMserver's `serviceIdentifier`, unique.
    public var identifier: String
    /// Readable name.
    public var name: String
    /// Base URL; deliveries go to `<url>/json` unless ``exactURL``.
    public var url: String
    /// Comma-separated STrigger names.
    public var triggers: String
    public var description: String = ""
    public var providerName: String = ""
    public var companyUrl: String = ""
    public var tokenUrl: String = ""
    public var newProfileUrl: String = ""
    public var registerUrl: String = ""
    public var authorizeUrl: String = ""
    public var readRevision: Bool = false
    public var readExtendedData: String = ""
    public var writeRevision: Bool = false
    public var writeExtendedData: String = ""
    /// `RemoteServiceInterface` or `Bimsie1RemoteServiceInterface`.
    public var notificationInterface: String = "RemoteServiceInterface"
    /// The `userToken` forwarded in deliveries.
    public var userToken: String = ""
    /// The Standard Webhooks secret (`whsec_…`).
    public var signingSecret: String
    /// POST to ``url`` as given instead of `<url>/json`.
    public var exactUrl: Bool = false
    /// One delivery in flight, in event order.
    public var ordered: Bool = false
    /// Deliveries in flight at once to this service.
    public var maxInFlight: Int = RelayConfiguration.defaultServiceMaxInFlight
    /// Whole-request timeout in milliseconds.
    public var timeoutMs: Int64 = DurationText.milliseconds(RelayConfiguration.defaultRequestTimeout)
    /// Delays before attempts 2, 3, …; nil for ``RetrySchedule/standard``.
    public var retrySchedule: String?
    public var enabled: Bool = true
    public var disabledReason: String?
    public var disabledAt: Date?
    public var lastSuccessAt: Date?
    public var failingSince: Date?
    public var createdAt: Date
    public var updatedAt: Date

    /// A new service with default settings; the caller fills in the rest.
    public init(
        identifier: String, name: String, url: String, triggers: String, signingSecret: String,
        createdAt: Date, updatedAt: Date
    ) {
        self.identifier = identifier
        self.name = name
        self.url = url
        self.triggers = triggers
        self.signingSecret = signingSecret
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// The parsed trigger list.
    public var triggerList: [Trigger] { (try? Trigger.parseList(triggers)) ?? [] }

    /// The retry schedule in force.
    public var schedule: RetrySchedule {
        retrySchedule.flatMap { try? RetrySchedule(parsing: $0) } ?? .standard
    }

    /// Where deliveries are POSTed.
    public var deliveryURL: String {
        if exactUrl { return url }
        return url.hasSuffix("/") ? url + "json" : url + "/json"
    }
}

extension ServiceRecord {
    /// Decodes a row by column name (faster than the Codable path: the worker reads services on every claim).
    public init(row: Row) throws {
        id = try row.decode(forColumn: "id")
        identifier = try row.decode(forColumn: "identifier")
        name = try row.decode(forColumn: "name")
        url = try row.decode(forColumn: "url")
        triggers = try row.decode(forColumn: "triggers")
        description = try row.decode(forColumn: "description")
        providerName = try row.decode(forColumn: "provider_name")
        companyUrl = try row.decode(forColumn: "company_url")
        tokenUrl = try row.decode(forColumn: "token_url")
        newProfileUrl = try row.decode(forColumn: "new_profile_url")
        registerUrl = try row.decode(forColumn: "register_url")
        authorizeUrl = try row.decode(forColumn: "authorize_url")
        readRevision = try row.decode(forColumn: "read_revision")
        readExtendedData = try row.decode(forColumn: "read_extended_data")
        writeRevision = try row.decode(forColumn: "write_revision")
        writeExtendedData = try row.decode(forColumn: "write_extended_data")
        notificationInterface = try row.decode(forColumn: "notification_interface")
        userToken = try row.decode(forColumn: "user_token")
        signingSecret = try row.decode(forColumn: "signing_secret")
        exactUrl = try row.decode(forColumn: "exact_url")
        ordered = try row.decode(forColumn: "ordered")
        maxInFlight = try row.decode(forColumn: "max_in_flight")
        timeoutMs = try row.decode(forColumn: "timeout_ms")
        retrySchedule = try row.decode(forColumn: "retry_schedule")
        enabled = try row.decode(forColumn: "enabled")
        disabledReason = try row.decode(forColumn: "disabled_reason")
        disabledAt = try row.decode(forColumn: "disabled_at")
        lastSuccessAt = try row.decode(forColumn: "last_success_at")
        failingSince = try row.decode(forColumn: "failing_since")
        createdAt = try row.decode(forColumn: "created_at")
        updatedAt = try row.decode(forColumn: "updated_at")
    }
}
