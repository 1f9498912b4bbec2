import Foundation
import GRDB
import RelayCore

/// One `migrations/NNNN_name.sql` file, compiled into the binary.
public struct Migration: Sendable, Equatable {
    /// The number the file name starts with.
    public let version: Int
    /// The rest of the file name, without `.sql`.
    public let name: String
    /// The file's SQL.
    public let sql: String
}

extension Migration {
    /// Reads `NNNN_name.sql` files (a folder prefix such as `postgres/` is dropped) in version order.
    static func parse(_ files: [(name: String, sql: String)]) -> [Migration] {
        files.map { file in
            let stem = String(file.name.split(separator: "/").last ?? "").replacingOccurrences(of: ".sql", with: "")
            let parts = stem.split(separator: "_", maxSplits: 1)
            guard let version = Int(parts[0]), parts.count == 2 else {
                preconditionFailure("migration file \(file.name) is not named NNNN_name.sql")
            }
            return Migration(version: version, name: String(parts[1]), sql: file.sql)
        }
    }
}

/// Applies the embedded migrations, each in its own transaction, recording them in `schema_migrations`.
public enum SchemaMigrator {
    /// The migrations compiled into this binary, in version order.
    public static let embedded: [Migration] = Migration.parse(
        EmbeddedMigrations.files.filter { !$0.name.contains("/") })

    /// The PostgreSQL migrations (`migrations/postgres/`), in version order.
    public static let embeddedPostgres: [Migration] = Migration.parse(
        EmbeddedMigrations.files.filter { $0.name.hasPrefix("postgres/") })

    /// The newest schema version this binary knows.
    public static var latestVersion: Int { embedded.last?.version ?? 0 }

    /// The version a database is at: 0 for an empty file.
    public static func currentVersion(_ db: Database) throws -> Int {
        guard try db.tableExists("schema_migrations") else { return 0 }
        return try Int.fetchOne(db, sql: "SELECT ifnull(max(version), 0) FROM schema_migrations") ?? 0
    }

    /// Refuses a database this binary cannot use as it is.
    static func checkUsable(version: Int, latest: Int = latestVersion, path: String) throws(RelayError) {
        if version > latest {
            throw .database(
                "database \(path) is at schema version \(version), newer than this bimrelay (\(latest)): use a newer bimrelay"
            )
        }
        if version < latest {
            throw .database(
                "database \(path) is at schema version \(version), this bimrelay needs \(latest): run `bimrelay migrate --db \(path)`"
            )
        }
    }

    /// Applies every migration newer than the database, each in one immediate transaction, so
    /// two processes migrating at once apply each file exactly once.
    /// - Returns: the migrations applied now.
    @discardableResult
    public static func migrate(_ writer: any DatabaseWriter) throws -> [Migration] {
        let current = try writer.read { db in try currentVersion(db) }
        if current > latestVersion {
            throw RelayError.database(
                "database is at schema version \(current), newer than this bimrelay (\(latestVersion)): use a newer bimrelay"
            )
        }
        var applied: [Migration] = []
        for migration in embedded where migration.version > current {
            let didApply = try writer.write { db -> Bool in
                // Another process may have applied it since we looked.
                guard try currentVersion(db) < migration.version else { return false }
                try db.execute(sql: migration.sql)
                try db.execute(
                    sql: "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                    arguments: [migration.version, migration.name]
                )
                return true
            }
            if didApply { applied.append(migration) }
        }
        return applied
    }
}
