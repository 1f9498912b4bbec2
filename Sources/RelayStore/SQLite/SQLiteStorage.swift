import Foundation
import GRDB
import Logging
import RelayCore
import ServiceLifecycle

/// ``RelayStorage`` on one SQLite file (``RelayDatabase``): the embedded default.
///
/// A serving storage (``init(database:logger:metrics:lockWait:)``) writes through one group-commit
/// writer thread (``WriteQueue``, one of ``services``) and keeps authenticated tokens on the writer
/// connection (``TokenCache``). A direct one (``init(database:)``, the CLI's) writes in a transaction
/// of its own per call. Signals reach subscribers of this process only: another process writing the
/// file (the CLI) is noticed by polling and by `PRAGMA data_version`.
public final class SQLiteStorage: RelayStorage {
    /// The file.
    public let database: RelayDatabase
    private let queue: WriteQueue?
    private let tokenCache = TokenCache()
    private let hub = SignalHub()

    /// A storage writing through a group-commit writer; run ``services`` for writes to happen.
    /// - Parameter lockWait: how long a batch keeps trying while another connection (an admin's
    ///   `sqlite3`, a CLI command) holds the write lock, before its jobs fail.
    public init(
        database: RelayDatabase, logger: Logger, metrics: RelayMetrics = RelayMetrics(),
        lockWait: Duration = RelayConfiguration.defaultLockWait
    ) {
        self.database = database
        let hub = hub
        // Once the writer has stopped nothing more commits: the signal streams end.
        queue = WriteQueue(
            database: database, logger: logger, metrics: metrics, lockWait: lockWait, onStopped: { hub.finish() })
    }

    /// A storage writing each call in its own transaction (admin commands; nothing to run).
    public init(database: RelayDatabase) {
        self.database = database
        queue = nil
    }

    public var location: String { database.path }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any StoreTransaction) throws -> T) async throws -> T {
        try await translatingErrors {
            try await database.pool.read { db in try body(SQLiteTransaction(db: db)) }
        }
    }

    public func write<T: Sendable>(
        ingest: Bool, _ body: @escaping @Sendable (any StoreTransaction) throws -> T
    ) async throws -> T {
        try await translatingErrors {
            guard let queue else {
                let (value, raised) = try await database.pool.write { db in
                    let transaction = SQLiteTransaction(db: db)
                    return (try body(transaction), transaction.raised)
                }
                hub.emit(raised)
                return value
            }
            let cache = tokenCache
            let hub = hub
            return try await queue.submit(ingest: ingest, onCommit: { hub.emit($0.raised) }) { db in
                let transaction = SQLiteTransaction(db: db, tokenCache: cache)
                return (value: try body(transaction), raised: transaction.raised)
            }.value
        }
    }

    public func signals() -> AsyncStream<StoreSignal> { hub.subscribe() }

    public var services: [any Service] { queue.map { [$0] } ?? [] }

    public var failingSince: Date? { queue?.failingSince }

    public func schemaVersion() async throws -> Int {
        try await translatingErrors { try await database.pool.read { db in try SchemaMigrator.currentVersion(db) } }
    }

    public var logBytes: Int { database.walBytes }

    public func compact() async throws {
        try await translatingErrors {
            try await database.pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
        }
    }

    /// One process serves a file: it always leads.
    public func leads() async throws -> Bool { true }

    /// Jobs waiting for the group-commit writer (tests).
    var waitingJobs: Int { queue?.waitingJobs ?? 0 }

    /// What the group-commit writer has written so far (zero for a direct storage).
    public var writeStatistics: WriteStatistics { queue?.statistics ?? WriteStatistics() }

    /// Runs `body`; GRDB's errors become ``RelayError``s with a plain message naming the file
    /// (what the body throws itself, e.g. a refusal for the caller, passes unchanged).
    func translatingErrors<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as DatabaseError {
            throw RelayError.database("database \(database.path): \(RelayDatabase.describe(error))")
        } catch let error as PersistenceError {
            throw RelayError.database("database \(database.path): \(error)")
        } catch let error as RowDecodingError {
            throw RelayError.database("database \(database.path): \(error)")
        }
    }

}
