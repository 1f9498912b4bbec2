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

    /// Every backend this build can test.
    public static let all: [StoreBackend] = [.sqlite]

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
