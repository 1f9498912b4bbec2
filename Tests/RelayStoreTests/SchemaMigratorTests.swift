import Foundation
import GRDB
import RelayCore
import RelayTestSupport
import Testing

@testable import RelayStore

@Suite("Schema migrations")
struct SchemaMigratorTests {
    let expectedTables = [
        "attempts", "deliveries", "endpoints", "events", "profiles", "schema_migrations", "services",
        "stream_messages", "subscriptions", "tokens", "topics",
    ]

    @Test("a fresh file gets every table and view, in WAL mode with foreign keys on")
    func freshFile() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let database = try RelayDatabase.open(path: folder.path("relay.sqlite"), mode: .createAndMigrate)
        #expect(database.appliedMigrations.map(\.version) == SchemaMigrator.embedded.map(\.version))
        try database.pool.read { (db: Database) throws in
            let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")
            for table in expectedTables { #expect(tables.contains(table), "missing table \(table)") }
            let views = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'view' ORDER BY name")
            #expect(views == ["dead_letters", "queue_overview"])
            #expect(try String.fetchOne(db, sql: "PRAGMA journal_mode") == "wal")
            #expect(try Int.fetchOne(db, sql: "PRAGMA foreign_keys") == 1)
            #expect(try Int.fetchOne(db, sql: "PRAGMA synchronous") == 2)  // FULL
            #expect(try SchemaMigrator.currentVersion(db) == SchemaMigrator.latestVersion)
        }
    }

    @Test("normal durability sets synchronous=NORMAL")
    func normalDurability() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let database = try RelayDatabase.open(
            path: folder.path("r.sqlite"), durability: .normal, mode: .createAndMigrate)
        #expect(try database.pool.read { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") } == 1)
    }

    @Test("migrating twice applies nothing the second time and keeps one row per version")
    func idempotent() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let path = folder.path("relay.sqlite")
        _ = try RelayDatabase.open(path: path, mode: .createAndMigrate)
        let again = try RelayDatabase.open(path: path, mode: .createAndMigrate)
        #expect(again.appliedMigrations.isEmpty)
        let rows = try again.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM schema_migrations") }
        #expect(rows == SchemaMigrator.embedded.count)
    }

    @Test("every table is STRICT")
    func strictTables() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let database = try RelayDatabase.open(path: folder.path("relay.sqlite"), mode: .createAndMigrate)
        try database.pool.read { (db: Database) throws in
            let rows = try Row.fetchAll(db, sql: "PRAGMA table_list")
            for row in rows where expectedTables.contains(row["name"] as String) {
                #expect(row["strict"] as Int == 1, "\(row["name"] as String) is not STRICT")
            }
        }
    }

    @Test("a database newer than the binary is refused, for serving and for admin commands")
    func newerRefused() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let path = folder.path("relay.sqlite")
        let database = try RelayDatabase.open(path: path, mode: .createAndMigrate)
        try database.pool.write { db in
            try db.execute(sql: "INSERT INTO schema_migrations (version, name) VALUES (9999, 'future')")
        }
        #expect(throws: RelayError.self) { try RelayDatabase.open(path: path, mode: .createAndMigrate) }
        do {
            _ = try RelayDatabase.open(path: path, mode: .existing)
            Issue.record("a newer database was opened")
        } catch {
            #expect(error.message.contains("newer than this bimrelay"))
        }
    }

    @Test("admin commands refuse a missing file and a file that is not a database")
    func missingOrGarbage() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        #expect(throws: RelayError.self) { try RelayDatabase.open(path: folder.path("none.sqlite"), mode: .existing) }
        #expect(!FileManager.default.fileExists(atPath: folder.path("none.sqlite")))
        try Data("not sqlite at all, just text".utf8).write(to: URL(fileURLWithPath: folder.path("junk.sqlite")))
        #expect(throws: RelayError.self) { try RelayDatabase.open(path: folder.path("junk.sqlite"), mode: .existing) }
    }

    @Test("a WAL reader is not blocked by an open write transaction and sees the last commit")
    func walReaderDuringWrite() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let path = folder.path("relay.sqlite")
        let writer = try RelayDatabase.open(path: path, mode: .createAndMigrate)
        // A second process-like opener (admin command) on the same file.
        let reader = try RelayDatabase.open(path: path, mode: .existing)
        let insideWrite = AsyncStream<Void>.makeStream()
        let finishWrite = AsyncStream<Void>.makeStream()
        async let writing: Void = writer.pool.write { db in
            _ = try db.store.tokens.issue(user: "uncommitted", role: .admin, projects: nil, now: Date())
            insideWrite.continuation.yield()
            // Hold the write transaction open until the reader has looked.
            let semaphore = DispatchSemaphore(value: 0)
            Task {
                for await _ in finishWrite.stream {
                    semaphore.signal()
                    break
                }
            }
            semaphore.wait()
        }
        var iterator = insideWrite.stream.makeAsyncIterator()
        await iterator.next()
        let seen = try await reader.pool.read { db in try db.store.tokens.list().map(\.user) }
        #expect(seen.isEmpty)
        finishWrite.continuation.yield()
        try await writing
        let after = try await reader.pool.read { db in try db.store.tokens.list().map(\.user) }
        #expect(after == ["uncommitted"])
    }
}
