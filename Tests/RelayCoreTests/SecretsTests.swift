import Foundation
import RelayTestSupport
import Testing

@testable import RelayCore

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

    @Test("webhook ids sort by creation time and differ within one millisecond")
    func webhookIDOrder() {
        let moment = Date(timeIntervalSince1970: 1_795_336_200.5)
        let sameMillisecond = (0..<1_000).map { _ in Secrets.newWebhookID(now: moment) }
        #expect(Set(sameMillisecond).count == 1_000)
        // 1795336200500 ms = 0x01a202606134: the first 12 hex digits are the time.
        #expect(sameMillisecond.allSatisfy { $0.hasPrefix("msg_01a202606134") })
        let later = Secrets.newWebhookID(now: moment.addingTimeInterval(0.001))
        #expect(sameMillisecond.allSatisfy { $0 < later })
    }

    @Test("random bytes come in the asked number and are not constant")
    func randomBytes() {
        for count in [1, 7, 8, 9, 16, 32] {
            #expect(Secrets.randomBytes(count).count == count)
        }
        let samples = (0..<64).map { _ in Secrets.randomBytes(10) }
        #expect(Set(samples).count == 64)
        // Every bit position of the last byte is set in some sample (a stuck byte would fail).
        #expect(samples.reduce(UInt8(0)) { $0 | $1[9] } == 0xff)
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
        // To the minute, as `queue retry --since` and the console's filter show it.
        #expect(Timestamp.parse("2026-11-22 08:30") == Date(timeIntervalSince1970: 1_795_336_200))
    }
}

@Suite("Timestamps")
struct TimestampTests {
    /// The formatter it replaced: Calendar and String(format:).
    static func reference(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let total = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let (seconds, ms) = total.quotientAndRemainder(dividingBy: 1000)
        let whole = Date(timeIntervalSince1970: TimeInterval(ms < 0 ? seconds - 1 : seconds))
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: whole)
        return String(
            format: "%04d-%02d-%02d %02d:%02d:%02d.%03d",
            c.year ?? 0, c.month ?? 0, c.day ?? 0, c.hour ?? 0, c.minute ?? 0, c.second ?? 0, ms < 0 ? ms + 1000 : ms)
    }

    @Test(
        "the arithmetic formatter agrees with Calendar on 20,000 dates from 1900 to 2200, and round-trips to the millisecond"
    )
    func agreesWithCalendar() {
        var generator = SeededGenerator(seed: 7)
        for _ in 0..<20_000 {
            let date = Date(timeIntervalSince1970: Double.random(in: -2_208_988_800...7_258_118_400, using: &generator))
            let text = Timestamp.format(date)
            #expect(text == Self.reference(date))
            #expect(Timestamp.parse(text).map { abs($0.timeIntervalSince(date)) <= 0.001 } == true)
        }
        #expect(Timestamp.format(Date(timeIntervalSince1970: 0)) == "1970-01-01 00:00:00.000")
        #expect(Timestamp.format(Date(timeIntervalSince1970: 951_782_400)) == "2000-02-29 00:00:00.000")
        #expect(Timestamp.format(Date(timeIntervalSince1970: -0.001)) == "1969-12-31 23:59:59.999")
    }

    @Test("webhook ids and token hashes are lowercase hex of the right length")
    func hex() {
        #expect(Secrets.newWebhookID().wholeMatch(of: #/msg_[0-9a-f]{32}/#) != nil)
        #expect(Secrets.newToken().wholeMatch(of: #/brt_[0-9a-f]{64}/#) != nil)
        #expect(
            Secrets.hash(token: "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
