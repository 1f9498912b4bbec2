import ArgumentParser
import Foundation
import Logging
import RelayCore
import RelayStore

/// `--db`, shared by every command that opens the database.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .long, help: "The SQLite file, or a postgres://user@host:port/dbname URL (env BIMRELAY_DB).")
    var db: String = ProcessInfo.processInfo.environment["BIMRELAY_DB"] ?? RelayConfiguration.defaultDatabasePath

    /// Opens the existing, current database; errors become one clear line. Each write is a
    /// transaction of its own (no group-commit writer runs in a CLI command).
    func open() async throws -> any RelayStorage {
        if PostgresStorage.isURL(db) {
            return try await PostgresStorage.open(url: db, mode: .existing, logger: Logger(label: "bimrelay"))
        }
        return SQLiteStorage(database: try RelayDatabase.open(path: db, mode: .existing))
    }
}

/// `--json`, shared by every command that prints.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false
}
