import Foundation
import PackagePlugin

/// Turns `migrations/*.sql` (SQLite) and `migrations/postgres/*.sql` (PostgreSQL) into a Swift
/// source file at build time, so that each schema has one source (its SQL files) and the built
/// binary carries both (it works when copied alone).
@main
struct EmbedMigrationsPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) async throws -> [Command] {
        let folder = context.package.directoryURL.appending(path: "migrations")
        let sqlFiles = { (folder: URL) throws -> [URL] in
            try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
                .filter { $0.pathExtension == "sql" }
                .sorted { $0.lastPathComponent < $1.lastPathComponent }
        }
        let files = try sqlFiles(folder) + sqlFiles(folder.appending(path: "postgres"))
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedMigrations.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(files.count) SQL migrations",
                executable: try context.tool(named: "embed-migrations").url,
                arguments: [output.path] + files.map(\.path),
                inputFiles: files,
                outputFiles: [output]
            )
        ]
    }
}
