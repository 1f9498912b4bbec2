import Foundation
import GRDB

/// A ``StoreTransaction`` over a GRDB connection inside a transaction.
final class SQLiteTransaction: StoreTransaction {
    let db: Database
    /// The writer's token cache; nil on a read connection.
    let tokenCache: TokenCache?
    /// Signals raised by this transaction's queries, emitted after it commits.
    private(set) var raised: [StoreSignal] = []

    init(db: Database, tokenCache: TokenCache? = nil) {
        self.db = db
        self.tokenCache = tokenCache
    }

    /// Notes a signal to emit once the transaction commits.
    func raise(_ signal: StoreSignal) {
        raised.append(signal)
    }

    var deliveries: any DeliveryStore { SQLiteDeliveries(db: db, transaction: self) }
    var ingest: any IngestStore { SQLiteIngest(db: db, transaction: self) }
    var queue: any QueueStore { SQLiteQueue(db: db, transaction: self) }
    var retention: any RetentionStore { SQLiteRetention(db: db) }
    var services: any ServiceStore { SQLiteServices(db: db, transaction: self) }
    var stream: any StreamStore { SQLiteStream(db: db, transaction: self) }
    var tokens: any TokenStore { SQLiteTokens(db: db, transaction: self) }
    var topics: any TopicStore { SQLiteTopics(db: db) }
    var console: any ConsoleStore { SQLiteConsole(db: db) }

    func nested<T>(_ body: () throws -> T) throws -> T {
        let mark = raised.count
        do {
            return try Self.inSavepoint(db, body)
        } catch {
            raised.removeSubrange(mark...)
            throw error
        }
    }

    /// Runs `body` in a savepoint, rolled back if it throws. The three statements are prepared once
    /// (GRDB's `inSavepoint` compiles them on every call, which costs more than a small job's own
    /// statements).
    static func inSavepoint<T>(_ db: Database, _ body: () throws -> T) throws -> T {
        try db.cachedStatement(sql: "SAVEPOINT job").execute()
        do {
            let value = try body()
            try db.cachedStatement(sql: "RELEASE SAVEPOINT job").execute()
            return value
        } catch {
            try db.cachedStatement(sql: "ROLLBACK TO SAVEPOINT job").execute()
            try db.cachedStatement(sql: "RELEASE SAVEPOINT job").execute()
            throw error
        }
    }
}

extension Database {
    /// The relay's queries on this connection, in the caller's transaction (for the SQLite store's
    /// own tests, which also look at rows with plain SQL; signals are not raised).
    var store: any StoreTransaction { SQLiteTransaction(db: self) }
}
