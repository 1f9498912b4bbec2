import Foundation
import RelayCore

/// A claimed delivery with everything needed to send it.
public struct ClaimedDelivery: Sendable, Equatable {
    public var id: Int64
    public var webhookId: String
    /// The number of this attempt (1 for the first since the last requeue).
    public var attempt: Int
    public var event: EventRecord
    public var service: ServiceRecord
    /// The profile to put in the body: the event's when it named this service, else the service's first profile.
    public var profileIdentifier: String?
    /// The lease's expiry as stored: with ``attempt``, what fences this attempt's result.
    public var lease: String?

    /// A claimed delivery.
    public init(
        id: Int64, webhookId: String, attempt: Int, event: EventRecord, service: ServiceRecord,
        profileIdentifier: String?, lease: String? = nil
    ) {
        self.id = id
        self.webhookId = webhookId
        self.attempt = attempt
        self.event = event
        self.service = service
        self.profileIdentifier = profileIdentifier
        self.lease = lease
    }
}
