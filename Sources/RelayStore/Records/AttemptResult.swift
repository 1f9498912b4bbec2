import Foundation
import RelayCore

/// What the worker records after one attempt.
public struct AttemptResult: Sendable, Equatable {
    /// Where the delivery goes next.
    public enum Next: Sendable, Equatable {
        case delivered
        case retry(at: Date)
        case dead
    }

    public var deliveryID: Int64
    public var serviceID: Int64
    public var attempt: Int
    public var startedAt: Date
    public var durationMs: Double
    public var statusCode: Int?
    public var errorClass: String?
    public var error: String?
    public var responseBody: String?
    public var next: Next
    /// Disable the service with this reason (410 Gone).
    public var disableReason: String?
    /// The lease the attempt was made under (``ClaimedDelivery/lease``); nil: fenced by attempt only.
    public var lease: String?

    public init(
        deliveryID: Int64, serviceID: Int64, attempt: Int, startedAt: Date, durationMs: Double, statusCode: Int?,
        errorClass: String?, error: String?, responseBody: String?, next: Next, disableReason: String? = nil,
        lease: String? = nil
    ) {
        self.lease = lease
        self.deliveryID = deliveryID
        self.serviceID = serviceID
        self.attempt = attempt
        self.startedAt = startedAt
        self.durationMs = durationMs
        self.statusCode = statusCode
        self.errorClass = errorClass
        self.error = error
        self.responseBody = responseBody
        self.next = next
        self.disableReason = disableReason
    }
}
