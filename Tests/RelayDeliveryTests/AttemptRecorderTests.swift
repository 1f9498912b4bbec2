import Foundation
import GRDB
import Logging
import RelayCore
import RelayTestSupport
import Testing

@testable import RelayDelivery
@testable import RelayStore

/// Attempts that finish together share a write job, and each is recorded on its own.
@Suite("Attempt recorder")
struct AttemptRecorderTests {
    @Test("in a shared record job, one attempt that cannot be recorded does not roll back the other")
    func failingRecordAlone() async throws {
        let (database, folder) = try StoreFixtures.database()
        defer { folder.remove() }
        let claimed = try await database.pool.write { db in
            let service = try StoreFixtures.service(db, identifier: "a")
            try StoreFixtures.deliveries(db, serviceIDs: [service, service], state: "pending")
            let claimed = try db.store.deliveries.claim(
                limit: 2, now: Date().addingTimeInterval(1), leaseMargin: .seconds(5))
            // One delivery disappears under its attempt (an admin's hand delete): its record fails.
            try db.execute(sql: "DELETE FROM deliveries WHERE id = ?", arguments: [claimed[0].id])
            return claimed
        }
        #expect(claimed.count == 2)
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let storage = SQLiteStorage(database: database, logger: logger)
        let recorder = AttemptRecorder(storage: storage, disableAfter: .seconds(86_400), leaseMargin: .seconds(5))
        // Both finish before the writer runs, so one job takes both.
        let outcomes = claimed.map { delivery in
            Task {
                try await recorder.record(
                    Self.delivered(delivery))
            }
        }
        try await poll(until: "both attempts waiting") { recorder.waiting == 2 }
        let writer = Task { try await storage.services[0].run() }
        let missing = try await outcomes[0].value
        let recorded = try await outcomes[1].value
        writer.cancel()
        #expect(missing.failure != nil)
        #expect(recorded.failure == nil && !recorded.stale)
        #expect(recorder.statistics.jobs == 1 && recorder.statistics.attempts == 2)
        let state = try await database.pool.read { db in
            try String.fetchOne(db, sql: "SELECT state FROM deliveries WHERE id = ?", arguments: [claimed[1].id])
        }
        #expect(state == "delivered")
    }

    @Test(
        "when its job cannot be written, the attempt gets the error and its delivery stays leased (the lease retries it)"
    )
    func refusedJobFails() async throws {
        let (database, folder) = try StoreFixtures.database()
        defer { folder.remove() }
        let claimed = try await database.pool.write { db in
            let service = try StoreFixtures.service(db, identifier: "a")
            try StoreFixtures.deliveries(db, serviceIDs: [service, service], state: "pending")
            return try db.store.deliveries.claim(limit: 2, now: Date().addingTimeInterval(1), leaseMargin: .seconds(5))
        }
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let storage = SQLiteStorage(database: database, logger: logger)
        // A writer that has stopped: the job is refused, as during a shutdown.
        let writer = Task { try await storage.services[0].run() }
        writer.cancel()
        _ = try? await writer.value
        let recorder = AttemptRecorder(storage: storage, disableAfter: .seconds(86_400), leaseMargin: .seconds(5))
        for delivery in claimed {
            await #expect(throws: RelayError.self) {
                try await recorder.record(
                    Self.delivered(delivery))
            }
        }
        #expect(recorder.waiting == 0 && recorder.statistics.jobs == 0)
        let inFlight = try await database.pool.read { db in try db.store.queue.countsByState()["in_flight"] }
        #expect(inFlight == 2)
    }

    /// A 200 for `delivery`, under its lease, with no next delivery for the slot.
    static func delivered(_ delivery: ClaimedDelivery) -> AttemptRecorder.Finished {
        .init(
            result: AttemptResult(
                deliveryID: delivery.id, serviceID: delivery.service.id!, attempt: delivery.attempt,
                startedAt: Date(), durationMs: 1, statusCode: 200, errorClass: nil, error: nil,
                responseBody: nil, next: .delivered, lease: delivery.lease),
            now: Date(), continueWith: nil)
    }
}
