import Foundation
import RelayCore
import RelayDelivery
import RelayStore
import RelayTestSupport
import Testing

@Suite("Delivery outcomes and requests")
struct DeliveryOutcomeTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("2xx is delivered, unless the body is BIMserver's exception envelope")
    func success() {
        #expect(
            DeliveryOutcome.response(
                status: 200, retryAfter: nil, body: Array(#"{"response":{"result":{}}}"#.utf8), now: now
            ).delivered)
        #expect(DeliveryOutcome.response(status: 204, retryAfter: nil, body: [], now: now).delivered)
        #expect(
            DeliveryOutcome.response(status: 200, retryAfter: nil, body: Array("not json".utf8), now: now).delivered)
        let refused = DeliveryOutcome.response(
            status: 200, retryAfter: nil,
            body: Array(#"{"response":{"exception":{"__type":"UserException","message":"busy"}}}"#.utf8), now: now)
        #expect(
            !refused.delivered && refused.errorClass == "exception_envelope" && refused.error == "UserException: busy")
    }

    @Test(
        "3xx, 4xx and 5xx fail; 410 asks to be disabled; Retry-After is read",
        arguments: [301, 302, 400, 404, 410, 429, 500, 503])
    func failures(status: Int) {
        let outcome = DeliveryOutcome.response(status: status, retryAfter: "7", body: [], now: now)
        #expect(!outcome.delivered)
        #expect(outcome.errorClass == (status < 400 ? "redirect" : "http_status"))
        #expect(outcome.isGone == (status == 410))
        if status >= 400 { #expect(outcome.retryAfter == .seconds(7)) }
    }

    @Test("Retry-After as an HTTP date is a wait from now")
    func retryAfterDate() {
        #expect(
            RetryAfter.parse("Fri, 15 Jan 2027 08:00:10 GMT", now: Date(timeIntervalSince1970: 1_800_000_000)) != nil)
        let base = Date(timeIntervalSince1970: 1_784_102_400)  // 2026-07-15 08:00:00 UTC
        #expect(RetryAfter.parse("Wed, 15 Jul 2026 08:00:30 GMT", now: base) == .seconds(30))
        #expect(RetryAfter.parse("soon", now: base) == nil)
        #expect(RetryAfter.parse("-5", now: base) == nil)
        // RFC 9110's obsolete forms are read too.
        #expect(RetryAfter.parse("Wednesday, 15-Jul-26 08:00:30 GMT", now: base) == .seconds(30))
        #expect(RetryAfter.parse("Wed Jul 15 08:00:30 2026", now: base) == .seconds(30))
        #expect(RetryAfter.parse("Wed, 15 Jul 2026 25:00:30 GMT", now: base) == nil)
    }

    @Test("Retry-After from a peer is clamped to 0…24 h whatever it says, and never traps")
    func retryAfterClamped() {
        let base = Date(timeIntervalSince1970: 1_784_102_400)
        let day = RetrySchedule.maximumRetryAfter
        #expect(RetryAfter.parse("9999999999999999", now: base) == day)
        #expect(RetryAfter.parse("99999999999999999999999999999", now: base) == day)
        #expect(RetryAfter.parse("86401", now: base) == day)
        #expect(RetryAfter.parse("0", now: base) == .zero)
        #expect(RetryAfter.parse("Fri, 31 Dec 9999 23:59:59 GMT", now: base) == day)
        #expect(RetryAfter.parse("Mon, 01 Jan 1900 00:00:00 GMT", now: base) == .zero)
        for garbage in ["-5", "1e9", "5.5", "NaN", "+7", String(repeating: "9", count: 100), "١٢"] {
            #expect(RetryAfter.parse(garbage, now: base) == nil, "\(garbage)")
        }
        #expect(DurationText.milliseconds(.seconds(Int64.max)) == .max)
        #expect(DurationText.milliseconds(.seconds(Int64.min)) == .min)
        var random = SeededGenerator(seed: 1)
        let decision = RetrySchedule.standard.decide(
            afterFailedAttempt: 1, now: base,
            failure: .init(statusCode: 503, retryAfter: RetryAfter.parse("9999999999999999", now: base)), using: &random
        )
        #expect(decision == .retry(at: base.addingTimeInterval(86_400)))
    }

    @Test("the body has BIMserver's parameter order, the service's identifier and user token, and verifies")
    func request() throws {
        var service = ServiceRecord(
            identifier: "clash", name: "Clash", url: "http://svc.example.org/hooks/", triggers: "NEW_REVISION",
            signingSecret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", createdAt: now, updatedAt: now)
        service.userToken = "svc-user"
        let event = EventRecord(
            id: 1, method: "newExtendedDataOnRevision", poid: 131_073, roid: 65539, edid: 5, soid: -1,
            serviceIdentifier: "bimrelay", profileIdentifier: "default", token: "bimserver-token",
            apiUrl: "http://bim:8080", producerTokenId: 1, receivedAt: now)
        let delivery = ClaimedDelivery(
            id: 9, webhookId: "msg_abc", attempt: 1, event: event, service: service, profileIdentifier: "strict")
        let request = DeliveryRequest(delivery, now: now)
        #expect(request.url == "http://svc.example.org/hooks/json")
        #expect(
            request.body == """
                {"request":{"interface":"RemoteServiceInterface","method":"newExtendedDataOnRevision","parameters":\
                {"poid":131073,"roid":65539,"edid":5,"soid":-1,"serviceIdentifier":"clash","profileIdentifier":"strict",\
                "userToken":"svc-user","token":"bimserver-token","apiUrl":"http://bim:8080"}}}
                """)
        let headers = [String: String](uniqueKeysWithValues: request.headers.map { ($0.0, $0.1) })
        #expect(headers["webhook-id"] == "msg_abc")
        #expect(headers["webhook-timestamp"] == "1800000000")
        #expect(headers["User-Agent"] == "bimrelay/\(RelayVersion.current)")
        let signer = try #require(WebhookSigner(secret: service.signingSecret))
        #expect(
            signer.verify(
                id: "msg_abc", timestamp: 1_800_000_000, body: Data(request.body.utf8),
                header: headers["webhook-signature"]!))
    }
}
