import Foundation
import RelayCore
import RelayStore

/// What one attempt's response (or failure) means, decided without I/O.
///
/// 2xx is delivered unless the body is BIMserver's exception envelope (a service that answered
/// `{"response":{"exception":…}}` did not take the notification). 3xx (never followed), 4xx, 5xx,
/// timeouts and connection errors are failures; 410 Gone also disables the service.
public struct DeliveryOutcome: Sendable, Equatable {
    /// Whether the service took the notification.
    public var delivered: Bool
    /// The HTTP status, when a response came.
    public var statusCode: Int?
    /// `http_status`, `redirect`, `exception_envelope`, `timeout`, `connection`, `configuration`.
    public var errorClass: String?
    /// A short description of the failure.
    public var error: String?
    /// `Retry-After`, parsed.
    public var retryAfter: Duration?
    /// Whether the request timed out.
    public var timedOut = false

    /// The service answered `410 Gone`: it asks to be disabled.
    public var isGone: Bool { statusCode == 410 }

    /// Classifies a response.
    public static func response(status: Int, retryAfter: String?, body: [UInt8], now: Date) -> DeliveryOutcome {
        switch status {
        case 200..<300:
            if let message = exceptionMessage(body) {
                return DeliveryOutcome(
                    delivered: false, statusCode: status, errorClass: "exception_envelope", error: message)
            }
            return DeliveryOutcome(delivered: true, statusCode: status)
        case 300..<400:
            return DeliveryOutcome(
                delivered: false, statusCode: status, errorClass: "redirect", error: "redirects are not followed")
        default:
            return DeliveryOutcome(
                delivered: false, statusCode: status, errorClass: "http_status", error: "HTTP \(status)",
                retryAfter: RetryAfter.parse(retryAfter, now: now))
        }
    }

    /// A request the relay would not send (it would be unsigned): a failure of the service's settings.
    public static func misconfigured(_ description: String) -> DeliveryOutcome {
        DeliveryOutcome(delivered: false, statusCode: nil, errorClass: "configuration", error: description)
    }

    /// A request that got no response.
    public static func failure(timedOut: Bool, description: String) -> DeliveryOutcome {
        DeliveryOutcome(
            delivered: false, statusCode: nil, errorClass: timedOut ? "timeout" : "connection", error: description,
            timedOut: timedOut)
    }

    /// This attempt's event for ``DeliveryStateMachine``.
    public var event: DeliveryStateMachine.Event {
        if delivered { return .attemptSucceeded }
        return .attemptFailed(
            .init(statusCode: statusCode, timedOut: timedOut, retryAfter: retryAfter), gone: isGone)
    }

    /// What the state machine makes of this attempt of an in-flight delivery.
    public func transition<R: RandomNumberGenerator>(
        attempt: Int, schedule: RetrySchedule, ordered: Bool = false, now: Date, using random: inout R
    ) -> DeliveryStateMachine.Transition {
        let facts = DeliveryStateMachine.Facts(ordered: ordered, attempt: attempt, schedule: schedule, now: now)
        // An in-flight delivery takes every attempt event.
        return DeliveryStateMachine.transition(from: .inFlight, on: event, facts: facts, random: &random)!
    }

    /// Where the delivery goes after this attempt.
    public func next<R: RandomNumberGenerator>(
        attempt: Int, schedule: RetrySchedule, now: Date, using random: inout R
    ) -> AttemptResult.Next {
        AttemptResult.Next(transition(attempt: attempt, schedule: schedule, now: now, using: &random))
    }

    /// The message of a BIMserver exception envelope in `body`, if it is one.
    static func exceptionMessage(_ body: [UInt8]) -> String? {
        guard !body.isEmpty, body.count <= 1 << 20, let value = try? JSONValue.parse(body) else { return nil }
        guard let exception = value["response"]?["exception"] ?? value["exception"] else { return nil }
        let type = exception["__type"]?.stringValue ?? "Exception"
        return "\(type): \(exception["message"]?.stringValue ?? "")"
    }
}

extension AttemptResult.Next {
    /// The machine's answer as what the store records.
    init(_ transition: DeliveryStateMachine.Transition) {
        switch transition.state {
        case .delivered: self = .delivered
        case .dead: self = .dead
        case .pending, .paused, .inFlight:
            guard let due = transition.due else { preconditionFailure("a retry without a due time: \(transition)") }
            self = .retry(at: due)
        }
    }
}
