import Foundation
import GRDB
import Logging
import RelayCore
import RelayDelivery
import RelayTestSupport
import Testing

@testable import RelayStore

/// The worker against a real receiver on 127.0.0.1: retries, signatures, limits, dead letters.
@Suite("Delivery worker")
struct DeliveryWorkerTests {
    @Test("a worker whose start-up write fails throws, its HTTP client never left running (debug builds trapped)")
    func startUpWriteFails() async throws {
        let (database, folder) = try StoreFixtures.database()
        defer { folder.remove() }
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let storage = SQLiteStorage(database: database, logger: logger)
        // A writer that has stopped refuses every job, as during a shutdown that began first.
        let writer = Task { try await storage.services[0].run() }
        writer.cancel()
        _ = try? await writer.value
        let worker = DeliveryWorker(storage: storage, settings: .init(), logger: logger)
        await #expect(throws: RelayError.self) { try await worker.run() }
        #expect(!worker.isRunning)
    }

    @Test("a delivery that fails twice is delivered on the third attempt, with one webhook-id throughout")
    func deliveredAfterFailures() async throws {
        let receiver = try await TestReceiver.start()
        let clock = ManualClock()
        try await withTestRelay(time: clock.time) { relay in
            let producer = try await relay.issueToken(role: .producer)
            let service = try await relay.addService("svc", url: receiver.url) {
                $0.retrySchedule = "1m,5m,30m"
                $0.timeoutMs = 600_000  // longer than any step the test moves the clock by
                $0.userToken = "svc-user-token"
            }
            receiver.script([.init(status: 500), .init(status: 502)])
            try await relay.ingestNewRevision(producer: producer, roid: 65539)
            // The retries are minutes apart on the relay's clock: move it instead of waiting.
            try await relay.advance(clock, by: .seconds(30), until: "delivered") {
                try await relay.deliveryState(1) == "delivered"
            }

            let received = receiver.received
            #expect(received.count == 3)
            #expect(Set(received.compactMap { $0.header("webhook-id") }).count == 1)
            #expect(received.allSatisfy { $0.path == "/json" })
            let attempts = try await relay.database.pool.read { db in try db.store.queue.attempts(deliveryID: 1) }
            #expect(attempts.map(\.attempt) == [1, 2, 3])
            #expect(attempts.map(\.outcome) == ["failed", "failed", "delivered"])
            #expect(attempts.map(\.statusCode) == [500, 502, 200])
            // Each retry waited its step of the schedule (±20 % jitter) on the relay's clock.
            let gaps = zip(attempts.dropFirst(), attempts).map { $0.startedAt.timeIntervalSince($1.startedAt) }
            #expect(gaps[0] >= 48 && gaps[1] >= 240, "\(gaps)")

            // The body is BIMserver's, in declaration order, with the service's own identifier and token.
            let body = try #require(received.last?.body)
            #expect(
                body == """
                    {"request":{"interface":"RemoteServiceInterface","method":"newRevision","parameters":\
                    {"poid":131073,"roid":65539,"soid":196609,"serviceIdentifier":"svc","profileIdentifier":"default",\
                    "userToken":"svc-user-token","token":"3a0e4b1c9d2f","apiUrl":"http://bimserver.example.org:8080"}}}
                    """)
            let last = try #require(received.last)
            let signer = try #require(WebhookSigner(secret: service.signingSecret))
            let timestamp = try #require(Int64(last.header("webhook-timestamp") ?? ""))
            #expect(
                signer.verify(
                    id: last.header("webhook-id")!, timestamp: timestamp, body: Data(body.utf8),
                    header: last.header("webhook-signature")!))
            #expect(abs(Double(timestamp) - clock.date.timeIntervalSince1970) < 60)
            #expect(last.header("User-Agent") == "bimrelay/\(RelayVersion.current)")
            #expect(!body.contains(producer), "the producer's token leaked to the service")
        }
        await receiver.stop()
    }

    @Test("BIMserver's callback token is cleared once every delivery of its event is settled, not before")
    func callbackTokenCleared() async throws {
        let receiver = try await TestReceiver.start()
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            try await relay.addService("on", url: receiver.url)
            // Nothing listens on port 9: its first attempt fails and the next waits an hour.
            try await relay.addService("later") { $0.retrySchedule = "1h" }
            try await relay.ingestNewRevision(producer: producer, roid: 65539)
            try await poll(until: "delivered to one, failed once at the other") {
                let delivered = try await relay.count("deliveries", where: "state = 'delivered'")
                let failed = try await relay.count("attempts", where: "outcome = 'failed'")
                return delivered == 1 && failed == 1
            }
            // The pending delivery still needs it: the token stays.
            #expect(try await relay.count("events", where: "token = '3a0e4b1c9d2f'") == 1)
            try await relay.database.pool.write { db in
                try db.execute(sql: "UPDATE services SET url = ? WHERE identifier = 'later'", arguments: [receiver.url])
                _ = try db.store.queue.retry(ids: [2], now: Date())
            }
            try await poll(until: "delivered to both") {
                try await relay.count("deliveries", where: "state = 'delivered'") == 2
            }
            #expect(try await relay.count("events", where: "token IS NULL") == 1)
        }
        await receiver.stop()
    }

    @Test(
        "a service whose signing secret is not valid base64 gets nothing unsigned: the attempt fails as configuration")
    func unusableSecret() async throws {
        let receiver = try await TestReceiver.start()
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            // As an admin's hand edit in sqlite3 would leave it.
            try await relay.addService("svc", url: receiver.url) { $0.signingSecret = "whsec_not base64!" }
            try await relay.ingestNewRevision(producer: producer, roid: 65539)
            try await poll(until: "the attempt recorded") { try await relay.count("attempts") == 1 }
            let attempt = try #require(
                try await relay.database.pool.read { db in try db.store.queue.attempts(deliveryID: 1) }.first)
            #expect(attempt.errorClass == "configuration" && attempt.error?.contains("--signing-secret") == true)
            #expect(receiver.received.isEmpty)
            #expect(try await relay.deliveryState(1) == "pending")
        }
        await receiver.stop()
    }

    @Test("an event sent to the fan-out identifier reaches a service with the service's first profile")
    func profiles() async throws {
        let receiver = try await TestReceiver.start()
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            let service = try await relay.addService("svc", url: receiver.url)
            try await relay.database.pool.write { db in
                for identifier in ["strict", "lenient"] {
                    _ = try db.store.services.addProfile(
                        ProfileRecord(
                            serviceId: service.id!, identifier: identifier, name: identifier, description: "",
                            publicProfile: true, createdAt: Date()))
                }
            }
            try await relay.ingestNewRevision(producer: producer, roid: 1)  // to "bimrelay", profile "default"
            try await poll(until: "first delivered") { receiver.received.count == 1 }
            #expect(receiver.received[0].body.contains(#""serviceIdentifier":"svc","profileIdentifier":"strict""#))
        }
        await receiver.stop()
    }

    @Test("attempts that finish together are recorded in shared write jobs, and every delivery arrives once")
    func sharedRecords() async throws {
        let receiver = try await TestReceiver.start()
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            _ = try await relay.addService("svc", url: receiver.url, enabled: false) { $0.maxInFlight = 8 }
            // Named, so a disabled service gets paused deliveries (the fan-out skips disabled services).
            for roid in 1...64 {
                try await relay.ingestNewRevision(producer: producer, roid: Int64(roid), serviceIdentifier: "svc")
            }
            // Every answer takes 200 ms, so the 8 requests of each round finish together.
            receiver.script(Array(repeating: .init(status: 200, delay: .milliseconds(200)), count: 64))
            let before = relay.sqlite.writeStatistics
            _ = try await relay.database.pool.write { db in try db.store.services.enable("svc", now: Date()) }
            try await poll(until: "all delivered", timeout: .seconds(60)) { receiver.received.count >= 64 }
            try await poll(until: "all recorded") {
                try await relay.database.pool.read { db in
                    try Int.fetchOne(db, sql: "SELECT count(*) FROM deliveries WHERE state = 'delivered'")
                } == 64
            }
            // The recorder counts a job once its write has returned, just after the commit.
            try await poll(until: "all counted") { relay.runtime.worker.recordStatistics.attempts == 64 }
            let after = relay.sqlite.writeStatistics
            let records = relay.runtime.worker.recordStatistics
            #expect(Set(receiver.received.compactMap { $0.header("webhook-id") }).count == 64)
            #expect(try await relay.count("attempts") == 64)
            #expect(receiver.maxConcurrent <= 8)
            #expect(records.attempts == 64)
            #expect(records.largestJob > 1, "no two attempts ever shared a write job")
            #expect(records.jobs < 64)
            // A service at its in-flight limit with more due must not make the claiming loop spin
            // (it did: an empty claim transaction after another, 1,323 jobs for this test).
            #expect(after.jobs - before.jobs < 64 + 20, "\(after.jobs - before.jobs) write jobs for 64 attempts")
        }
        await receiver.stop()
    }

    @Test("Retry-After on a 503 delays the next attempt beyond the schedule")
    func retryAfter() async throws {
        let receiver = try await TestReceiver.start()
        let clock = ManualClock()
        try await withTestRelay(time: clock.time) { relay in
            let producer = try await relay.issueToken(role: .producer)
            try await relay.addService("svc", url: receiver.url) { $0.retrySchedule = "1s,1s" }
            receiver.script([.init(status: 503, headers: [("Retry-After", "120")])])
            try await relay.ingestNewRevision(producer: producer, roid: 1)
            try await poll(until: "the first attempt is recorded") { try await relay.count("attempts") == 1 }
            // A minute on: past the schedule's 1 s, short of Retry-After. The worker looks and sleeps again.
            clock.advance(by: .seconds(60))
            try await poll(until: "the worker sleeps again") { clock.sleeps.contains { $0 <= .seconds(1) } }
            #expect(receiver.received.count == 1)
            #expect(try await relay.deliveryState(1) == "pending")
            try await relay.advance(clock, by: .seconds(10), until: "delivered") {
                try await relay.deliveryState(1) == "delivered"
            }
            let attempts = try await relay.storage.read { tx in try tx.queue.attempts(deliveryID: 1) }
            #expect(attempts.count == 2)
            #expect(attempts[1].startedAt.timeIntervalSince(attempts[0].startedAt) >= 120)
        }
        await receiver.stop()
    }

    @Test("410 Gone disables the service and keeps its deliveries, paused")
    func goneDisables() async throws {
        let receiver = try await TestReceiver.start()
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            try await relay.addService("svc", url: receiver.url) {
                $0.retrySchedule = "100ms"
                $0.ordered = true
            }
            receiver.setFallback(.init(status: 410))
            try await relay.ingestNewRevision(producer: producer, roid: 1)
            try await relay.ingestNewRevision(producer: producer, roid: 2)
            try await poll(until: "the service is disabled") {
                try await relay.database.pool.read { db in try db.store.services.find("svc").enabled } == false
            }
            let service = try await relay.database.pool.read { db in try db.store.services.find("svc") }
            #expect(service.disabledReason?.contains("410") == true)
            #expect(try await relay.count("deliveries", where: "state = 'paused'") == 2)
            #expect(try await relay.count("deliveries", where: "state = 'dead'") == 0)
            // Enabling it lets them flow again.
            receiver.setFallback(.ok)
            _ = try await relay.database.pool.write { db in try db.store.services.enable("svc", now: Date()) }
            try await poll(until: "both delivered") {
                try await relay.count("deliveries", where: "state = 'delivered'") == 2
            }
        }
        await receiver.stop()
    }

    @Test("a delivery is dead after its last attempt, and a requeue delivers it (picked up without a wake-up)")
    func deadAndRequeue() async throws {
        let receiver = try await TestReceiver.start()
        let clock = ManualClock()
        try await withTestRelay(time: clock.time) { relay in
            let producer = try await relay.issueToken(role: .producer)
            try await relay.addService("svc", url: receiver.url) {
                $0.retrySchedule = "1m,1m"
                $0.timeoutMs = 600_000  // longer than any step the test moves the clock by
            }
            receiver.setFallback(.init(status: 500, body: "overloaded"))
            try await relay.ingestNewRevision(producer: producer, roid: 1)
            try await relay.advance(clock, by: .seconds(30), until: "dead") {
                try await relay.deliveryState(1) == "dead"
            }
            #expect(receiver.received.count == 3)
            let dead = try relay.database.pool.read { db in
                try Row.fetchOne(db, sql: "SELECT * FROM dead_letters")!
            }
            #expect(dead["attempts"] as Int == 3 && dead["last_status"] as Int == 500)
            let attempt = try await relay.database.pool.read { db in try db.store.queue.attempts(deliveryID: 1).last!
            }
            #expect(attempt.responseBody == "overloaded" && attempt.errorClass == "http_status")

            receiver.setFallback(.ok)
            // As `bimrelay queue retry` does: a write from another connection, no in-process signal.
            _ = try await relay.database.pool.write { db in try db.store.queue.retry(ids: [1], now: clock.date) }
            // Found by the worker's poll (every second of its clock): no signal reached it.
            try await relay.advance(clock, by: .milliseconds(500), until: "delivered after requeue") {
                try await relay.deliveryState(1) == "delivered"
            }
            #expect(receiver.received.count == 4)
        }
        await receiver.stop()
    }

    @Test("timeouts, redirects and exception envelopes are failures with their class")
    func failureClasses() async throws {
        let receiver = try await TestReceiver.start()
        let clock = ManualClock()
        // Retention sleeps an hour on this clock: the only 60 s sleep is the request's timeout.
        try await withTestRelay(
            configure: { $0.retentionInterval = .seconds(3_600) }, time: clock.time,
            { relay in
                let producer = try await relay.issueToken(role: .producer)
                try await relay.addService("svc", url: receiver.url) {
                    $0.retrySchedule = "1m,1m,1m"
                    // The timeout runs on the relay's clock: it passes when the test moves the clock.
                    $0.timeoutMs = 60_000
                    $0.ordered = true
                }
                receiver.script([
                    .stalled,
                    .init(status: 302, headers: [("Location", "http://127.0.0.1:9/elsewhere")]),
                    .init(body: #"{"response":{"exception":{"__type":"UserException","message":"not now"}}}"#),
                ])
                try await relay.ingestNewRevision(producer: producer, roid: 1)
                try await poll(until: "the first request is in flight") { receiver.received.count == 1 }
                // Its timeout waits on the relay's clock: move it by exactly that, once it waits.
                try await poll(until: "the attempt waits for its timeout") { clock.sleeps.contains(.seconds(60)) }
                clock.advance(by: .seconds(60))
                try await relay.advance(clock, by: .seconds(20), until: "delivered") {
                    try await relay.deliveryState(1) == "delivered"
                }
                let attempts = try await relay.database.pool.read { db in try db.store.queue.attempts(deliveryID: 1) }
                #expect(attempts.map(\.errorClass) == ["timeout", "redirect", "exception_envelope", nil])
                #expect(attempts[0].durationMs < 3000)
                #expect(attempts[2].error == "UserException: not now")
            })
        await receiver.stop()
    }

    @Test("a service never has more deliveries in flight than its limit")
    func perServiceLimit() async throws {
        let receiver = try await TestReceiver.start()
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            try await relay.addService("svc", url: receiver.url) { $0.maxInFlight = 2 }
            // Each answer takes a second and the 8 events arrive at once, so the slots are full
            // however slowly a busy machine takes the ingests.
            receiver.setFallback(.init(delay: .seconds(1)))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for roid in 1...8 {
                    group.addTask { try await relay.ingestNewRevision(producer: producer, roid: Int64(roid)) }
                }
                try await group.waitForAll()
            }
            try await poll(until: "all delivered", timeout: .seconds(30)) {
                try await relay.count("deliveries", where: "state = 'delivered'") == 8
            }
            #expect(receiver.maxConcurrent == 2)
        }
        await receiver.stop()
    }

    @Test("an ordered service receives events strictly in order, one at a time, under random failures")
    func orderedUnderFailures() async throws {
        let receiver = try await TestReceiver.start()
        let clock = ManualClock()
        try await withTestRelay(time: clock.time) { relay in
            let producer = try await relay.issueToken(role: .producer)
            try await relay.addService("svc", url: receiver.url) {
                $0.ordered = true
                $0.retrySchedule = Array(repeating: "10s", count: 30).joined(separator: ",")
            }
            var random = SeededGenerator(seed: 2026)
            receiver.script((0..<40).map { _ in Bool.random(using: &random) ? .init(status: 500) : .ok })
            for roid in 1...15 { try await relay.ingestNewRevision(producer: producer, roid: Int64(roid)) }
            try await relay.advance(clock, by: .seconds(5), until: "all delivered", timeout: .seconds(30)) {
                try await relay.count("deliveries", where: "state = 'delivered'") == 15
            }
            let roids = receiver.received.compactMap { received -> Int64? in
                guard case .int(let roid)? = try? JSONValue.parse(received.body)["request"]?["parameters"]?["roid"]
                else { return nil }
                return roid
            }
            #expect(roids == roids.sorted(), "out of order: \(roids)")
            #expect(Set(roids) == Set(1...15))
            #expect(receiver.maxConcurrent == 1)
        }
        await receiver.stop()
    }

    @Test("an ordered service moves past a dead delivery")
    func orderedSkipsDead() async throws {
        let receiver = try await TestReceiver.start()
        let clock = ManualClock()
        try await withTestRelay(time: clock.time) { relay in
            let producer = try await relay.issueToken(role: .producer)
            try await relay.addService("svc", url: receiver.url) {
                $0.ordered = true
                $0.retrySchedule = "1m"
                $0.timeoutMs = 600_000  // longer than any step the test moves the clock by
            }
            receiver.script([.init(status: 500), .init(status: 500)])
            try await relay.ingestNewRevision(producer: producer, roid: 1)
            try await relay.ingestNewRevision(producer: producer, roid: 2)
            try await relay.advance(clock, by: .seconds(30), until: "the second is delivered") {
                try await relay.deliveryState(2) == "delivered"
            }
            #expect(try await relay.deliveryState(1) == "dead")
        }
        await receiver.stop()
    }

    @Test("a service failing without success longer than --disable-after is disabled")
    func autoDisable() async throws {
        let clock = ManualClock()
        try await withTestRelay(
            configure: { $0.disableAfter = .seconds(3_600) }, time: clock.time,
            { relay in
                let producer = try await relay.issueToken(role: .producer)
                // Nothing listens on port 9: every attempt is a refused connection.
                try await relay.addService("svc", url: "http://127.0.0.1:9") {
                    $0.retrySchedule = Array(repeating: "10m", count: 50).joined(separator: ",")
                }
                try await relay.ingestNewRevision(producer: producer, roid: 1)
                try await relay.advance(clock, by: .seconds(300), until: "disabled") {
                    try await relay.database.pool.read { db in try db.store.services.find("svc").enabled } == false
                }
                let service = try await relay.database.pool.read { db in try db.store.services.find("svc") }
                #expect(service.disabledReason?.contains("without a success") == true)
                #expect(try await relay.deliveryState(1) == "paused")
                let attempt = try await relay.database.pool.read { db in
                    try db.store.queue.attempts(deliveryID: 1).first!
                }
                #expect(attempt.errorClass == "connection")
            })
    }
}
