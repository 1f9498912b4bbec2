import Foundation
import GRDB
import RelayCore
import RelayTestSupport
import Testing

@testable import RelayStore

@Suite("Named queries")
struct StoreQueriesTests {
    @Test("an issued token authenticates until revoked, and only its hash is stored")
    func tokenLifecycle() throws {
        let (database, folder) = try StoreFixtures.database()
        defer { folder.remove() }
        let (record, token) = try database.pool.write { db in
            try db.store.tokens.issue(user: "bim", role: .producer, projects: [131_073], now: Date())
        }
        #expect(record.projectIDs == [131_073])
        try database.pool.read { (db: Database) throws in
            #expect(try db.store.tokens.authenticate(token: token)?.user == "bim")
            #expect(try db.store.tokens.authenticate(token: token + "x") == nil)
            let stored = try String.fetchAll(db, sql: "SELECT token_hash || prefix || user || role FROM tokens")
            #expect(!stored.joined().contains(token))
        }
        _ = try database.pool.write { db in try db.store.tokens.revoke(idOrPrefix: record.prefix, now: Date()) }
        #expect(try database.pool.read { db in try db.store.tokens.authenticate(token: token) } == nil)
    }

    @Test("project scope limits what a token may see")
    func projectScope() throws {
        let (database, folder) = try StoreFixtures.database()
        defer { folder.remove() }
        let (scoped, _) = try database.pool.write { db in
            try db.store.tokens.issue(user: "web", role: .client, projects: [1, 2], now: Date())
        }
        #expect(scoped.canSee(project: 2))
        #expect(!scoped.canSee(project: 3))
        #expect(!scoped.canSee(project: nil))
    }

    @Test("disabling a service pauses its pending deliveries and enabling resumes them")
    func disablePausesEnableResumes() throws {
        let (database, folder) = try StoreFixtures.database()
        defer { folder.remove() }
        try database.pool.write { db in
            let a = try StoreFixtures.service(db, identifier: "a")
            let b = try StoreFixtures.service(db, identifier: "b")
            try StoreFixtures.deliveries(db, serviceIDs: [a, b])
            try StoreFixtures.deliveries(db, serviceIDs: [a], state: "delivered")
            _ = try db.store.services.disable("a", reason: "test", now: Date())
        }
        var counts = try database.pool.read { db in try db.store.queue.overview() }
        #expect(counts.contains { $0.service == "a" && $0.state == "paused" && $0.deliveries == 1 })
        #expect(counts.contains { $0.service == "a" && $0.state == "delivered" && $0.deliveries == 1 })
        #expect(counts.contains { $0.service == "b" && $0.state == "pending" && $0.deliveries == 1 })
        _ = try database.pool.write { db in try db.store.services.enable("a", now: Date()) }
        counts = try database.pool.read { db in try db.store.queue.overview() }
        #expect(counts.contains { $0.service == "a" && $0.state == "pending" && $0.deliveries == 1 })
        #expect(!counts.contains { $0.state == "paused" })
    }

    @Test("requeueing dead deliveries resets the schedule; an unknown id changes nothing")
    func requeue() async throws {
        let (database, folder) = try StoreFixtures.database()
        defer { folder.remove() }
        let dead = try await database.pool.write { db in
            let a = try StoreFixtures.service(db, identifier: "a")
            let off = try StoreFixtures.service(db, identifier: "off", enabled: false)
            return try StoreFixtures.deliveries(db, serviceIDs: [a, off], state: "dead")
        }
        await #expect(throws: RelayError.self) {
            try await database.pool.write { db in try db.store.queue.retry(ids: [dead[0], 999], now: Date()) }
        }
        #expect(try await database.pool.read { db in try db.store.queue.countsByState()["dead"] } == 2)
        // In batches of one row, each its own transaction.
        let count = try await SQLiteStorage(database: database).writeInBatches(of: 1) { tx, limit in
            try tx.queue.retryDead(serviceID: nil, since: nil, now: Date(), limit: limit)
        }
        #expect(count == 2)
        let rows = try await database.pool.read { db in try db.store.queue.list(state: nil, serviceID: nil, limit: 10) }
        #expect(Set(rows.map(\.state)) == ["pending", "paused"])
        #expect(rows.allSatisfy { $0.attemptCount == 0 && $0.deadAt == nil })
    }

    @Test("purging removes old delivered deliveries, their attempts and orphaned events only")
    func purge() async throws {
        let (database, folder) = try StoreFixtures.database()
        defer { folder.remove() }
        try await database.pool.write { db in
            let a = try StoreFixtures.service(db, identifier: "a")
            let delivered = try StoreFixtures.deliveries(db, serviceIDs: [a], state: "delivered")
            try db.execute(
                sql:
                    "INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, outcome) VALUES (?, 1, '2026-01-01 00:00:00.000', 1.0, 'delivered')",
                arguments: [delivered[0]])
            try db.execute(sql: "UPDATE deliveries SET delivered_at = '2026-01-01 00:00:00.000'")
            try db.execute(sql: "UPDATE events SET received_at = '2026-01-01 00:00:00.000'")
            try StoreFixtures.deliveries(db, serviceIDs: [a], state: "pending")
        }
        let result = try await SQLiteStorage(database: database).purgeDelivered(
            before: Date().addingTimeInterval(-86_400), batchSize: 1)
        #expect(result.deliveries == 1 && result.events == 1)
        try await database.pool.read { (db: Database) throws in
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM attempts") == 0)
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM deliveries") == 1)
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM events") == 1)
        }
    }

    @Test("removing a service removes its deliveries and profiles with it")
    func removeCascades() throws {
        let (database, folder) = try StoreFixtures.database()
        defer { folder.remove() }
        let removed = try database.pool.write { db in
            let a = try StoreFixtures.service(db, identifier: "a")
            try StoreFixtures.deliveries(db, serviceIDs: [a, a])
            _ = try db.store.services.addProfile(
                ProfileRecord(
                    serviceId: a, identifier: "p", name: "P", description: "", publicProfile: true, createdAt: Date()))
            return try db.store.services.remove("a")
        }
        #expect(removed == 2)
        try database.pool.read { (db: Database) throws in
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM deliveries") == 0)
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM profiles") == 0)
        }
    }
}
