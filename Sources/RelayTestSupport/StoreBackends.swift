import Foundation
import Logging
import RelayCore
import RelayStore

/// A storage implementation the conformance suite runs against: each test gets a fresh, empty,
/// migrated store with its writer running, and closes it afterwards.
public struct StoreBackend: Sendable, CustomStringConvertible {
    /// The name shown in test output.
    public let name: String
    /// Makes a fresh store; the returned closure stops its writer and removes its files.
    public let make: @Sendable () async throws -> (storage: any RelayStorage, close: @Sendable () async -> Void)

    public var description: String { name }

    /// The embedded default: an SQLite file in a temporary folder, writing through the group-commit writer.
    public static let sqlite = StoreBackend(name: "SQLite") {
        let folder = try TemporaryDirectory()
        let database = try RelayDatabase.open(path: folder.path("relay.sqlite"), mode: .createAndMigrate)
        let storage = SQLiteStorage(
            database: database, logger: Logger(label: "store-test") { _ in SwiftLogNoOpLogHandler() })
        let writers = storage.services.map { service in Task { try await service.run() } }
        return (
            storage,
            {
                for writer in writers {
                    writer.cancel()
                    _ = try? await writer.value
                }
                folder.remove()
            }
        )
    }

    /// A database of its own on the tests' PostgreSQL server (``TemporaryPostgres``), migrated.
    public static let postgres = StoreBackend(name: "PostgreSQL") {
        let server = try await TemporaryPostgres.shared()
        let url = try await server.newDatabase()
        let storage = try await PostgresStorage.open(
            url: url, mode: .createAndMigrate, logger: Logger(label: "store-test") { _ in SwiftLogNoOpLogHandler() })
        return (
            storage,
            {
                await storage.close()
                await server.dropDatabase(url)
            }
        )
    }

    /// Every backend this machine can test: PostgreSQL when it is installed. Without it the
    /// PostgreSQL cases are left out with a message on standard error, except under `CI=true`,
    /// where they run (and fail, saying why).
    public static let all: [StoreBackend] = {
        if let reason = TemporaryPostgres.unavailableReason, ProcessInfo.processInfo.environment["CI"] != "true" {
            FileHandle.standardError.write(Data("PostgreSQL store tests skipped: \(reason)\n".utf8))
            return [.sqlite]
        }
        return [.sqlite, .postgres]
    }()

    /// Runs `body` with a fresh store of this backend, closing it whatever happens.
    public func with<T: Sendable>(_ body: (any RelayStorage) async throws -> T) async throws -> T {
        let (storage, close) = try await make()
        do {
            let result = try await body(storage)
            await close()
            return result
        } catch {
            await close()
            throw error
        }
    }
}
