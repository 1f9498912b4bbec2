import Foundation
import RelayCore
import RelayStore

/// The HTTP request for one attempt: BIMserver's exact notification body and Standard Webhooks headers.
public struct DeliveryRequest: Sendable, Equatable {
    /// Where to POST.
    public let url: String
    /// The JSON body.
    public let body: String
    /// Header name/value pairs.
    public let headers: [(String, String)]
    /// Whether the request carries a signature (false when the service's secret is unusable: it is
    /// then not sent at all, never unsigned).
    public var isSigned: Bool { headers.contains { $0.0 == "webhook-signature" } }

    public static func == (lhs: DeliveryRequest, rhs: DeliveryRequest) -> Bool {
        lhs.url == rhs.url && lhs.body == rhs.body && lhs.headers.elementsEqual(rhs.headers) { $0 == $1 }
    }

    /// Builds the request for `delivery`, signed at `now`.
    /// - Parameter apiURL: the `apiUrl` to send instead of BIMserver's (gateway mode: the relay's).
    public init(_ delivery: ClaimedDelivery, now: Date, apiURL: String? = nil) {
        let service = delivery.service
        url = service.deliveryURL
        body = Self.body(delivery, apiURL: apiURL).serialized
        let timestamp = Int64(now.timeIntervalSince1970)
        var headers: [(String, String)] = [
            ("Content-Type", "application/json; charset=UTF-8"),
            ("User-Agent", "bimrelay/\(RelayVersion.current)"),
            ("webhook-id", delivery.webhookId),
            ("webhook-timestamp", String(timestamp)),
        ]
        if let signer = WebhookSigner(secret: service.signingSecret) {
            headers.append(
                (
                    "webhook-signature",
                    signer.signature(id: delivery.webhookId, timestamp: timestamp, body: Data(body.utf8))
                ))
        }
        self.headers = headers
    }

    /// `{"request": {"interface", "method", "parameters"}}` with the parameters in BIMserver's
    /// declaration order, the service's own identifier and user token, and BIMserver's token and
    /// API URL as received (or `apiURL`, when given).
    public static func body(_ delivery: ClaimedDelivery, apiURL: String? = nil) -> JSONValue {
        let event = delivery.event
        let method = NotificationMethod(rawValue: event.method) ?? .newRevision
        let values: [String: JSONValue] = [
            "poid": .int(event.poid), "roid": .int(event.roid), "edid": .int(event.edid), "soid": .int(event.soid),
            "serviceIdentifier": .string(delivery.service.identifier),
            "profileIdentifier": .string(delivery.profileIdentifier),
            "userToken": .string(delivery.service.userToken),
            "token": .string(event.token), "apiUrl": .string(apiURL ?? event.apiUrl),
        ]
        let parameters = method.parameterNames.map { ($0, values[$0] ?? .null) }
        return .object([
            (
                "request",
                .object([
                    ("interface", .string(delivery.service.notificationInterface)),
                    ("method", .string(method.rawValue)),
                    ("parameters", .object(parameters)),
                ])
            )
        ])
    }
}
