import Foundation
import GRDB
import RelayCore

/// The relay's SQLite file: WAL, foreign keys on, a busy timeout, `synchronous` per ``Durability``.
///
/// One `DatabasePool` per process: one writer connection (SQLite allows one writer at a time) and
/// readers that never block it. Admin commands open the same file while `serve` runs.
public final class RelayDatabase: Sendable {
    /// The GRDB pool; RelayStore's queries run on it.
    let pool: DatabasePool
    /// The file path as given.
    public let path: String
    /// The migrations this open applied (empty when the file was current).
    public let appliedMigrations: [Migration]
    /// Files (the database, its WAL and SHM) that were readable by others and were made 0600 by this open.
    public let tightenedFiles: [String]

    /// Whether opening may create a missing file, and whether it migrates.
    public enum OpenMode: Sendable {
        /// Create the file when missing and apply pending migrations (`serve`, `migrate`).
        case createAndMigrate
        /// The file must exist and be at this binary's schema version (admin commands).
        case existing
    }

    private init(pool: DatabasePool, path: String, appliedMigrations: [Migration], tightenedFiles: [String]) {
        self.pool = pool
        self.path = path
        self.appliedMigrations = appliedMigrations
        self.tightenedFiles = tightenedFiles
    }

    /// The permissions of the database and its WAL and SHM: they hold BIMserver callback tokens and
    /// signing secrets. SQLite creates the WAL and SHM with the database file's mode.
    public static let filePermissions = 0o600

    /// Opens (and, per `mode`, creates and migrates) the database at `path`.
    public static func open(
        path: String, durability: Durability = .full,
        busyTimeout: Duration = RelayConfiguration.defaultBusyTimeout, mode: OpenMode
    ) throws(RelayError) -> RelayDatabase {
        if mode == .existing, !FileManager.default.fileExists(atPath: path) {
            throw .database(
                "database \(path) does not exist: run `bimrelay migrate --db \(path)` or `bimrelay serve` first")
        }
        if mode == .createAndMigrate, !FileManager.default.fileExists(atPath: path) {
            // Created by us with 0600 before SQLite opens it (an empty file is an empty database).
            _ = FileManager.default.createFile(
                atPath: path, contents: nil, attributes: [.posixPermissions: Self.filePermissions])
        }
        var configuration = Configuration()
        configuration.label = "bimrelay"
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(DurationText.seconds(busyTimeout))
        let synchronous = durability.synchronousPragma
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
        }
        do {
            let pool = try DatabasePool(path: path, configuration: configuration)
            var applied: [Migration] = []
            switch mode {
            case .createAndMigrate:
                applied = try SchemaMigrator.migrate(pool)
            case .existing:
                let version = try pool.read { db in try SchemaMigrator.currentVersion(db) }
                try SchemaMigrator.checkUsable(version: version, path: path)
            }
            let tightened = try pool.read { _ in Self.tighten(path) }
            return RelayDatabase(pool: pool, path: path, appliedMigrations: applied, tightenedFiles: tightened)
        } catch let error as RelayError {
            throw error
        } catch {
            throw .database("cannot open database \(path): \(Self.describe(error))")
        }
    }

    /// Makes the database, WAL and SHM files 0600 where they allow more; returns the ones changed.
    static func tighten(_ path: String) -> [String] {
        [path, path + "-wal", path + "-shm"].filter { file in
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: file),
                let permissions = (attributes[.posixPermissions] as? NSNumber)?.intValue,
                permissions & 0o077 != 0
            else { return false }
            return
                (try? FileManager.default.setAttributes(
                    [.posixPermissions: permissions & 0o700 | Self.filePermissions], ofItemAtPath: file)) != nil
        }
    }

    /// The size of the write-ahead log (`<path>-wal`) in bytes; 0 when it does not exist.
    public var walBytes: Int {
        ((try? FileManager.default.attributesOfItem(atPath: path + "-wal"))?[.size] as? NSNumber)?.intValue ?? 0
    }

    /// A short, secret-free description of a GRDB or SQLite error.
    static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError {
            return error.message ?? "SQLite error \(error.resultCode.rawValue)"
        }
        return String(describing: error)
    }
}

extension RelayDatabase.OpenMode: Equatable {}
