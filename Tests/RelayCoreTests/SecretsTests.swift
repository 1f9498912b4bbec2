import Foundation
import RelayCore
import Testing

@Suite("Tokens, secrets and triggers")
struct SecretsTests {
    @Test("tokens are random, prefixed and hashed with SHA-256")
    func tokens() {
        let a = Secrets.newToken()
        let b = Secrets.newToken()
        #expect(a != b)
        #expect(a.hasPrefix("brt_") && a.count == 68)
        #expect(Secrets.hash(token: "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test("signing secrets are whsec_ and 32 bytes of base64")
    func signingSecrets() throws {
        let secret = Secrets.newSigningSecret()
        #expect(secret.hasPrefix("whsec_"))
        let bytes = try #require(Data(base64Encoded: String(secret.dropFirst(6))))
        #expect(bytes.count == 32)
    }

    @Test("webhook ids never contain a full stop")
    func webhookIDs() {
        let id = Secrets.newWebhookID()
        #expect(id.hasPrefix("msg_") && !id.contains("."))
    }

    @Test("constant-time comparison still tells equal from different")
    func constantTime() {
        #expect(Secrets.constantTimeEquals("abc", "abc"))
        #expect(!Secrets.constantTimeEquals("abc", "abd"))
        #expect(!Secrets.constantTimeEquals("abc", "abcd"))
    }

    @Test("trigger lists are read case-insensitively, deduplicated, and unknown names refused")
    func triggers() throws {
        #expect(
            try Trigger.parseList("new_revision, NEW_EXTENDED_DATA,NEW_REVISION") == [.newRevision, .newExtendedData])
        #expect(throws: RelayError.self) { try Trigger.parseList("NEW_THING") }
        #expect(throws: RelayError.self) { try Trigger.parseList("") }
    }

    @Test("timestamps use SQLite's own UTC text form and read back")
    func timestamps() throws {
        let date = Date(timeIntervalSince1970: 1_795_336_200.123)
        #expect(Timestamp.format(date) == "2026-11-22 08:30:00.123")
        let parsed = try #require(Timestamp.parse("2026-11-22 08:30:00.123"))
        #expect(abs(parsed.timeIntervalSince(date)) < 0.001)
        #expect(Timestamp.parse("2026-11-22") != nil)
        #expect(Timestamp.parse("yesterday") == nil)
    }
}
