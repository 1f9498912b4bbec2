import Foundation
import GRDB
import RelayCore
import RelayTestSupport
import Testing

@testable import RelayStore

/// An attempt's result counts only while the attempt holds its lease.
@Suite("Attempt fencing")
struct AttemptFencingTests {
    static func result(_ claimed: ClaimedDelivery, next: AttemptResult.Next) -> AttemptResult {
        AttemptResult(
            deliveryID: claimed.id, serviceID: claimed.service.id!, attempt: claimed.attempt, startedAt: Date(),
            durationMs: 1, statusCode: 200, errorClass: nil, error: nil, responseBody: nil, next: next,
            lease: claimed.lease)
    }

    @Test("a late result of an attempt whose lease expired and was taken over is kept in attempts and changes nothing")
    func staleResult() throws {
        let (database, folder) = try StoreFixtures.database()
        defer { folder.remove() }
        // A second ahead: the fixtures stamp next_attempt_at with the database clock, after this line.
        let now = Date().addingTimeInterval(1)
        let (first, second) = try database.pool.write { db -> (ClaimedDelivery, ClaimedDelivery) in
            let service = try StoreFixtures.service(db, identifier: "a")
            try StoreFixtures.deliveries(db, serviceIDs: [service], state: "pending")
            let first = try #require(try db.store.deliveries.claim(limit: 1, now: now, leaseMargin: .seconds(5)).first)
            // The lease expires (the worker was stuck), the delivery is released and claimed again.
            let later = now.addingTimeInterval(3600)
            #expect(try db.store.deliveries.releaseExpiredLeases(now: later) == 1)
            let second = try #require(
                try db.store.deliveries.claim(limit: 1, now: later, leaseMargin: .seconds(5)).first)
            return (first, second)
        }
        #expect(first.id == second.id && second.attempt == first.attempt + 1)
        let late = try database.pool.write { db in
            try db.store.deliveries.record(
                Self.result(first, next: .delivered), now: now, disableAfter: .seconds(86_400))
        }
        #expect(late.stale)
        try database.pool.read { (db: Database) throws in
            #expect(try String.fetchOne(db, sql: "SELECT state FROM deliveries") == "in_flight")
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM attempts") == 1)
            #expect(try Date.fetchOne(db, sql: "SELECT last_success_at FROM services") == nil)
        }
        let current = try database.pool.write { db in
            try db.store.deliveries.record(
                Self.result(second, next: .delivered), now: now, disableAfter: .seconds(86_400))
        }
        #expect(!current.stale)
        #expect(
            try database.pool.read { db in try String.fetchOne(db, sql: "SELECT state FROM deliveries") } == "delivered"
        )
    }

    @Test("a result for a delivery an admin requeued meanwhile does not overwrite the requeue")
    func requeuedMeanwhile() throws {
        let (database, folder) = try StoreFixtures.database()
        defer { folder.remove() }
        // A second ahead: the fixtures stamp next_attempt_at with the database clock, after this line.
        let now = Date().addingTimeInterval(1)
        let claimed = try database.pool.write { db -> ClaimedDelivery in
            let service = try StoreFixtures.service(db, identifier: "a")
            try StoreFixtures.deliveries(db, serviceIDs: [service], state: "pending")
            let claimed = try #require(
                try db.store.deliveries.claim(limit: 1, now: now, leaseMargin: .seconds(5)).first)
            // Released at a restart, then requeued by an admin: attempt count back to 0.
            try db.store.deliveries.releaseAllLeases(now: now)
            _ = try db.store.queue.retry(ids: [claimed.id], now: now)
            return claimed
        }
        let recorded = try database.pool.write { db in
            try db.store.deliveries.record(Self.result(claimed, next: .dead), now: now, disableAfter: .seconds(86_400))
        }
        #expect(recorded.stale)
        #expect(
            try database.pool.read { db in try String.fetchOne(db, sql: "SELECT state FROM deliveries") } == "pending")
    }

    @Test("a late 410 Gone still disables the service: it describes the service, not the lease")
    func lateGone() throws {
        let (database, folder) = try StoreFixtures.database()
        defer { folder.remove() }
        // A second ahead: the fixtures stamp next_attempt_at with the database clock, after this line.
        let now = Date().addingTimeInterval(1)
        let first = try database.pool.write { db -> ClaimedDelivery in
            let service = try StoreFixtures.service(db, identifier: "a")
            try StoreFixtures.deliveries(db, serviceIDs: [service], state: "pending")
            let first = try #require(try db.store.deliveries.claim(limit: 1, now: now, leaseMargin: .seconds(5)).first)
            try db.store.deliveries.releaseAllLeases(now: now)
            return first
        }
        var gone = Self.result(first, next: .retry(at: now))
        gone.disableReason = "the service answered 410 Gone"
        let recorded = try database.pool.write { db in
            try db.store.deliveries.record(gone, now: now, disableAfter: .seconds(86_400))
        }
        #expect(recorded.stale && recorded.disabled != nil)
        #expect(try database.pool.read { db in try Bool.fetchOne(db, sql: "SELECT enabled FROM services") } == false)
    }
}
