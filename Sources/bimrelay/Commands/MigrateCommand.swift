import ArgumentParser
import RelayCore
import RelayStore

/// `bimrelay migrate`: creates the database or brings it to this binary's schema version.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate", abstract: "Create the database or apply pending schema migrations.")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let opened = try RelayDatabase.open(path: database.db, mode: .createAndMigrate)
        let version = try await SQLiteStorage(database: opened).schemaVersion()
        let applied = opened.appliedMigrations.map { "\(String(format: "%04d", $0.version))_\($0.name)" }
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
