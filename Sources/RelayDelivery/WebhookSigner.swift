import Crypto
import Foundation
import RelayCore

/// Standard Webhooks signing: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the secret's
/// bytes (the base64 after `whsec_`).
public struct WebhookSigner: Sendable {
    private let keyBytes: [UInt8]

    /// A signer for a `whsec_…` secret; nil when ``Secrets/signingKey(_:)`` refuses it.
    public init?(secret: String) {
        guard let key = Secrets.signingKey(secret) else { return nil }
        keyBytes = key
    }

    /// The `webhook-signature` header value for one attempt.
    public func signature(id: String, timestamp: Int64, body: some DataProtocol) -> String {
        var message = Data("\(id).\(timestamp).".utf8)
        message.append(contentsOf: body)
        let code = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: keyBytes))
        return "v1," + Data(code).base64EncodedString()
    }

    /// Checks a `webhook-signature` header (any of its space-separated `v1,` entries), in constant time.
    public func verify(id: String, timestamp: Int64, body: some DataProtocol, header: String) -> Bool {
        let expected = signature(id: id, timestamp: timestamp, body: body)
        var matched = false
        for candidate in header.split(separator: " ") where Secrets.constantTimeEquals(String(candidate), expected) {
            matched = true
        }
        return matched
    }
}
