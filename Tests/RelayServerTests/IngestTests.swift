import Foundation
import GRDB
import RelayCore
import RelayTestSupport
import Testing

@testable import RelayStore

@Suite("Ingest: RemoteServiceInterface notifications into the outbox")
struct IngestTests {
    @Test("BIMserver's newRevision is acknowledged with {} and stored as one event and one delivery per target")
    func goldenNewRevision() async throws {
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            let a = try await relay.addService("a", triggers: [.newRevision])
            let b = try await relay.addService("b", triggers: [.newRevision, .newExtendedData])
            try await relay.addService("ed-only", triggers: [.newExtendedData])
            try await relay.addService("off", triggers: [.newRevision], enabled: false)

            let response = try await relay.json(GoldenRequests.newRevision(userToken: producer))
            #expect(response.status == 200)
            #expect(response.body == #"{"response":{"result":{}}}"#)
            #expect(response.header("Content-Type")?.hasPrefix("application/json") == true)

            let (event, targets) = try relay.database.pool.read { db in
                (
                    try Row.fetchOne(db, sql: "SELECT * FROM events")!,
                    try Int64.fetchAll(
                        db,
                        sql:
                            "SELECT service_id FROM deliveries WHERE state IN ('pending', 'in_flight') ORDER BY service_id"
                    )
                )
            }
            #expect(event["method"] as String == "newRevision")
            #expect(
                event["poid"] as Int64 == 131_073 && event["roid"] as Int64 == 65539
                    && event["soid"] as Int64 == 196_609)
            #expect(event["edid"] as Int64? == nil)
            #expect(event["service_identifier"] as String == "bimrelay")
            #expect(event["profile_identifier"] as String == "default")
            #expect(event["token"] as String == "3a0e4b1c9d2f")
            #expect(event["api_url"] as String == "http://bimserver.example.org:8080")
            #expect(targets == [a.id!, b.id!])
            #expect(try await relay.count("deliveries") == 2)
        }
    }

    @Test("newExtendedDataOnRevision and newExtendedDataOnProject go to NEW_EXTENDED_DATA services")
    func goldenExtendedData() async throws {
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            try await relay.addService("rev", triggers: [.newRevision])
            let ed = try await relay.addService("ed", triggers: [.newExtendedData])
            for body in [
                GoldenRequests.newExtendedDataOnRevision(userToken: producer),
                GoldenRequests.newExtendedDataOnProject(userToken: producer),
            ] {
                let response = try await relay.json(body)
                #expect(response.body == #"{"response":{"result":{}}}"#)
            }
            let rows = try relay.database.pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT e.method, e.roid, e.edid, d.service_id FROM deliveries d JOIN events e ON e.id = d.event_id ORDER BY d.id
                        """)
            }
            #expect(rows.map { $0["method"] as String } == ["newExtendedDataOnRevision", "newExtendedDataOnProject"])
            #expect(rows.map { $0["edid"] as Int64 } == [327_681, 327_682])
            #expect(rows[1]["roid"] as Int64? == nil)
            #expect(rows.allSatisfy { $0["service_id"] as Int64 == ed.id! })
        }
    }

    @Test("a named service gets the delivery whatever its trigger; a disabled one gets it paused")
    func namedService() async throws {
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            try await relay.addService("ed", triggers: [.newExtendedData])
            try await relay.addService("off", enabled: false)
            _ = try await relay.json(GoldenRequests.newRevision(userToken: producer, serviceIdentifier: "ed"))
            _ = try await relay.json(GoldenRequests.newRevision(userToken: producer, serviceIdentifier: "off"))
            #expect(try await relay.count("deliveries", where: "state IN ('pending', 'in_flight')") == 1)
            #expect(try await relay.count("deliveries", where: "state = 'paused'") == 1)
        }
    }

    @Test("a fan-out with no subscribed service still stores the event")
    func fanOutWithoutTargets() async throws {
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            let response = try await relay.json(GoldenRequests.newRevision(userToken: producer))
            #expect(response.body == #"{"response":{"result":{}}}"#)
            #expect(try await relay.count("events") == 1)
            #expect(try await relay.count("deliveries") == 0)
        }
    }

    @Test("the configured fan-out identifier is used instead of bimrelay")
    func customFanOut() async throws {
        try await withTestRelay(
            configure: { $0.fanOutIdentifier = "everyone" },
            { relay in
                let producer = try await relay.issueToken(role: .producer)
                try await relay.addService("a")
                _ = try await relay.json(GoldenRequests.newRevision(userToken: producer, serviceIdentifier: "everyone"))
                #expect(try await relay.count("deliveries") == 1)
                let unknown = try await relay.json(GoldenRequests.newRevision(userToken: producer))
                #expect(unknown.body.contains("No service found with identifier 'bimrelay'"))
            })
    }

    @Test("an ingest wakes the delivery worker at once, long before its next poll")
    func wakesDelivery() async throws {
        let receiver = try await TestReceiver.start()
        let clock = ManualClock()
        try await withTestRelay(
            configure: {
                $0.deliveryPollInterval = .seconds(60)
                $0.retentionInterval = .seconds(3_600)  // the only 60 s sleep is the worker's
            }, time: clock.time,
            { relay in
                let producer = try await relay.issueToken(role: .producer)
                try await relay.addService("a", url: receiver.url)
                // The worker goes to sleep on its 60 s poll first; the clock never moves after.
                try await poll(until: "the worker sleeps") { clock.sleeps.contains(.seconds(60)) }
                try await relay.ingestNewRevision(producer: producer, roid: 1)
                try await poll(until: "the delivery arrives", timeout: .seconds(10)) { receiver.received.count == 1 }
            })
        await receiver.stop()
    }

    @Test("the same Idempotency-Key gets the first answer and writes nothing more")
    func idempotencyKey() async throws {
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            try await relay.addService("a")
            let body = GoldenRequests.newRevision(userToken: producer)
            let first = try await relay.json(body, headers: [("Idempotency-Key", "checkin-42")])
            let second = try await relay.json(body, headers: [("Idempotency-Key", "checkin-42")])
            #expect(first.body == second.body)
            #expect(try await relay.count("events") == 1)
            #expect(try await relay.count("deliveries") == 1)
            _ = try await relay.json(body, headers: [("Idempotency-Key", "checkin-43")])
            #expect(try await relay.count("events") == 2)
        }
    }

    @Test("a producer token's use is noted in last_used_at, at most once a minute")
    func tokenUse() async throws {
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            try await relay.addService("a")
            func lastUsed() async throws -> String? {
                try await relay.database.pool.read { db in
                    try String.fetchOne(db, sql: "SELECT last_used_at FROM tokens WHERE user = 'test'")
                }
            }
            #expect(try await lastUsed() == nil)
            _ = try await relay.json(GoldenRequests.newRevision(userToken: producer, poid: "1"))
            let first = try #require(try await lastUsed())
            _ = try await relay.json(GoldenRequests.newRevision(userToken: producer, poid: "2"))
            #expect(try await lastUsed() == first)
        }
    }

    @Test("300 concurrent ingests are all stored, sharing write transactions")
    func concurrentIngest() async throws {
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            try await relay.addService("a")
            let before = relay.sqlite.writeStatistics
            let statuses = try await withThrowingTaskGroup(of: String.self) { group in
                for index in 0..<300 {
                    group.addTask {
                        // Correctness, not speed: on a loaded machine 300 requests queue for the client's pool.
                        try await relay.json(
                            GoldenRequests.newRevision(userToken: producer, poid: String(index)), timeout: .seconds(60)
                        ).body
                    }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(statuses.count == 300 && statuses.allSatisfy { $0 == #"{"response":{"result":{}}}"# })
            #expect(try await relay.count("events") == 300)
            #expect(try await relay.count("deliveries") == 300)
            #expect(
                try await relay.database.pool.read { db in
                    try Int.fetchOne(db, sql: "SELECT count(DISTINCT poid) FROM events")
                } == 300)
            let after = relay.sqlite.writeStatistics
            #expect(after.jobs - before.jobs >= 300)  // the delivery worker writes through the queue too
            // The delivery worker's claims and records share those transactions too, so compare
            // with every job written, not with the 300 requests.
            #expect(
                after.batches - before.batches < after.jobs - before.jobs, "no two jobs ever shared a transaction")
        }
    }
}
