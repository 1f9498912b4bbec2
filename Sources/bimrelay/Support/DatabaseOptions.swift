import ArgumentParser
import Foundation
import GRDB
import RelayCore
import RelayStore

/// `--db`, shared by every command that opens the database.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .long, help: "The SQLite file (env BIMRELAY_DB).")
    var db: String = ProcessInfo.processInfo.environment["BIMRELAY_DB"] ?? RelayConfiguration.defaultDatabasePath

    /// Opens the existing, current database; errors become one clear line.
    func open() throws -> RelayDatabase {
        try RelayDatabase.open(path: db, mode: .existing)
    }
}

/// `--json`, shared by every command that prints.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false
}

extension RelayDatabase {
    /// Runs `body` in a write transaction; GRDB errors become ``RelayError``s with a plain message.
    func write<T: Sendable>(_ body: @Sendable (GRDB.Database) throws -> T) throws -> T {
        try translatingErrors { try pool.write(body) }
    }

    /// Runs `body` on a read snapshot; GRDB errors become ``RelayError``s with a plain message.
    func read<T: Sendable>(_ body: @Sendable (GRDB.Database) throws -> T) throws -> T {
        try translatingErrors { try pool.read(body) }
    }

    /// Runs `body`; GRDB errors become ``RelayError``s with a plain message.
    func translatingErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as RelayError {
            throw error
        } catch {
            throw RelayError.database("database \(path): \(error)")
        }
    }
}
