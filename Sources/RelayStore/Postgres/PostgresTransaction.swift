import Foundation
import Logging
import NIOCore
import PostgresNIO
import RelayCore

/// A ``StoreTransaction`` on one PostgreSQL connection inside `BEGIN … COMMIT`.
///
/// The stores' methods are synchronous (a write is one closure, as with SQLite), so each statement
/// is sent and waited for here: transactions run on a thread of ``PostgresStorage``'s own, never on
/// an event loop or the cooperative pool.
final class PostgresTransaction: StoreTransaction {
    let connection: PostgresConnection
    let logger: Logger
    /// The relay process's node id: what its leases and sockets are stamped with.
    let node: String
    /// Signals raised by this transaction's queries, emitted after it commits.
    private(set) var raised: [StoreSignal] = []
    /// What the other relays are told when this commits.
    var notice = ClusterNotice()
    /// Statements sent so far (for `bimrelay_database_statements_total`).
    private(set) var statements = 0
    /// What the transaction's only write step threw (the batch then rolls back).
    var failed: (any Error)?
    /// Whether a statement failed in the server or the connection (not a refused value: a
    /// constraint, SQLSTATE class 23, or another transaction's lock, class 40), for `/health`.
    private(set) var troubled = false
    private var savepoints = 0

    init(connection: PostgresConnection, logger: Logger, node: String) {
        self.connection = connection
        self.logger = logger
        self.node = node
    }

    /// Runs one statement and returns every row (values interpolated into `query` are bound
    /// parameters, never SQL text).
    func rows(_ query: PostgresQuery) throws -> [PostgresRandomAccessRow] {
        statements += 1
        do {
            return try connection.query(query, logger: logger).wait().rows.map { $0.makeRandomAccess() }
        } catch {
            throw failure(error)
        }
    }

    /// Runs one statement and returns how many rows it inserted, updated or deleted.
    @discardableResult
    func execute(_ query: PostgresQuery) throws -> Int {
        statements += 1
        do {
            return try connection.query(query, logger: logger).wait().metadata.rows ?? 0
        } catch {
            throw failure(error)
        }
    }

    /// `error` as the stores throw it, noting whether it means trouble with the database.
    private func failure(_ error: any Error) -> any Error {
        if let error = error as? PSQLError {
            let state = error.serverInfo?[.sqlState] ?? ""
            if !state.hasPrefix("23") && !state.hasPrefix("40") { troubled = true }
        }
        return PostgresStorage.translate(error, location: "PostgreSQL")
    }

    /// The first row, or nil.
    func row(_ query: PostgresQuery) throws -> PostgresRandomAccessRow? {
        try rows(query).first
    }

    /// Notes a signal to emit once the transaction commits (and, for due deliveries and tokens,
    /// to tell the other relays).
    func raise(_ signal: StoreSignal) {
        raised.append(signal)
        if signal == .deliveriesDue { notice.due = true }
        if signal == .tokensChanged { notice.tokens = true }
    }

    var deliveries: any DeliveryStore { PostgresDeliveries(tx: self) }
    var ingest: any IngestStore { PostgresIngest(tx: self) }
    var queue: any QueueStore { PostgresQueue(tx: self) }
    var retention: any RetentionStore { PostgresRetention(tx: self) }
    var services: any ServiceStore { PostgresServices(tx: self) }
    var stream: any StreamStore { PostgresStream(tx: self) }
    var tokens: any TokenStore { PostgresTokens(tx: self) }
    var topics: any TopicStore { PostgresTopics(tx: self) }
    var console: any ConsoleStore { PostgresConsole(tx: self) }

    func nested<T>(_ body: () throws -> T) throws -> T {
        savepoints += 1
        let name = "nested_\(savepoints)"
        let (mark, told) = (raised.count, notice)
        try execute(PostgresQuery(unsafeSQL: "SAVEPOINT \(name)"))
        do {
            let value = try body()
            try execute(PostgresQuery(unsafeSQL: "RELEASE SAVEPOINT \(name)"))
            return value
        } catch {
            try execute(PostgresQuery(unsafeSQL: "ROLLBACK TO SAVEPOINT \(name)"))
            try execute(PostgresQuery(unsafeSQL: "RELEASE SAVEPOINT \(name)"))
            raised.removeSubrange(mark...)
            notice = told
            throw error
        }
    }
}
