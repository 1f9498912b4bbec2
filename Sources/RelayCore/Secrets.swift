import Crypto
import Foundation

/// Generates and checks the relay's credentials.
///
/// Tokens are shown once and stored as their SHA-256; signing secrets follow Standard Webhooks
/// (`whsec_` + base64 of 32 random bytes).
public enum Secrets {
    /// The prefix of every relay token, so that a leaked one is recognisable in a scan.
    public static let tokenPrefix = "brt_"
    /// The prefix of every signing secret.
    public static let signingSecretPrefix = "whsec_"
    /// How many leading characters of a token `token list` shows.
    public static let visiblePrefixLength = 12

    /// A new random token: `brt_` and 64 hex digits (256 bits from the system's CSPRNG).
    public static func newToken() -> String {
        tokenPrefix + hex(randomBytes(32))
    }

    /// The key bytes of a signing secret (`whsec_` + base64, the prefix optional), or nil when it is
    /// not valid base64 or holds fewer than 24 bytes (Standard Webhooks asks for 24 to 64).
    public static func signingKey(_ secret: String) -> [UInt8]? {
        let encoded =
            secret.hasPrefix(signingSecretPrefix) ? String(secret.dropFirst(signingSecretPrefix.count)) : secret
        guard let data = Data(base64Encoded: encoded), data.count >= 24, data.count <= 64 else { return nil }
        return Array(data)
    }

    /// A new signing secret: `whsec_` and the base64 of 32 random bytes.
    public static func newSigningSecret() -> String {
        signingSecretPrefix + Data(randomBytes(32)).base64EncodedString()
    }

    /// A new `webhook-id`: `msg_` and 32 hex digits; it never contains a full stop.
    ///
    /// The first 12 digits are the milliseconds since 1970 and the other 20 are random (80 bits),
    /// like a UUIDv7: ids created later sort later, so the unique index on `deliveries.webhook_id`
    /// grows at its end instead of dirtying a random page of a large index on every insert.
    public static func newWebhookID(now: Date = Date()) -> String {
        let milliseconds = UInt64(max(0, now.timeIntervalSince1970 * 1000)) & 0xffff_ffff_ffff
        let time = (0..<6).map { UInt8(truncatingIfNeeded: milliseconds >> (8 * (5 - $0))) }
        return "msg_" + hex(time + randomBytes(10))
    }

    /// The stored form of a token: lowercase hex SHA-256.
    public static func hash(token: String) -> String {
        hash(bytes: Array(token.utf8))
    }

    /// Lowercase hex SHA-256 of `bytes`.
    public static func hash(bytes: [UInt8]) -> String {
        hex(Array(SHA256.hash(data: bytes)))
    }

    /// Compares two strings in time that depends only on their lengths.
    public static func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
        let a = Array(lhs.utf8)
        let b = Array(rhs.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    /// Lowercase hex, without a formatter (it runs for every request and every delivery).
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// `count` bytes from the system's CSPRNG, eight per call to it (not one call per byte).
    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count + 7)
        while bytes.count < count {
            withUnsafeBytes(of: generator.next()) { bytes += $0 }
        }
        return Array(bytes.prefix(count))
    }
}
