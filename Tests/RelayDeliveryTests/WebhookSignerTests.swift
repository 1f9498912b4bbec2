import Foundation
import RelayDelivery
import Testing

@Suite("Standard Webhooks signatures")
struct WebhookSignerTests {
    // The test vector of the reference standardwebhooks libraries.
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    let id = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    let timestamp: Int64 = 1_614_265_330
    let body = Data(#"{"test": 2432232314}"#.utf8)

    @Test("the signature matches the reference libraries' test vector")
    func referenceVector() throws {
        let signer = try #require(WebhookSigner(secret: secret))
        #expect(
            signer.signature(id: id, timestamp: timestamp, body: body)
                == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    @Test("verification accepts a matching entry among several and refuses a tampered body")
    func verification() throws {
        let signer = try #require(WebhookSigner(secret: secret))
        let header = "v1,bm90IHRoaXMgb25l v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        #expect(signer.verify(id: id, timestamp: timestamp, body: body, header: header))
        #expect(!signer.verify(id: id, timestamp: timestamp, body: Data("{}".utf8), header: header))
        #expect(!signer.verify(id: id, timestamp: timestamp + 1, body: body, header: header))
    }

    @Test("a secret that is not base64 is refused")
    func badSecret() {
        #expect(WebhookSigner(secret: "whsec_!!!") == nil)
    }
}
