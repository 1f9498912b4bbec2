import ArgumentParser
import Logging
import RelayCore
import RelayStore

/// `bimrelay migrate`: creates the database or brings it to this binary's schema version.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate", abstract: "Create the database or apply pending schema migrations.")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let migrations: [Migration]
        let version: Int
        if PostgresStorage.isURL(database.db) {
            let storage = try await PostgresStorage.connect(url: database.db, logger: Logger(label: "bimrelay"))
            migrations = try await storage.migrate()
            version = try await storage.schemaVersion()
            await storage.close()
        } else {
            let opened = try RelayDatabase.open(path: database.db, mode: .createAndMigrate)
            migrations = opened.appliedMigrations
            version = try await SQLiteStorage(database: opened).schemaVersion()
        }
        let applied = migrations.map { "\(String(format: "%04d", $0.version))_\($0.name)" }
        if output.json {
            try Printer.json(MigrateResult(database: database.db, schemaVersion: version, applied: applied))
        } else if applied.isEmpty {
            print("\(database.db) is up to date (schema version \(version))")
        } else {
            print("\(database.db): applied \(applied.joined(separator: ", ")); schema version \(version)")
        }
    }

    struct MigrateResult: Encodable {
        let database: String
        let schemaVersion: Int
        let applied: [String]
    }
}
