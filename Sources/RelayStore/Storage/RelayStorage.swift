import Foundation
import RelayCore
import ServiceLifecycle

/// The relay's storage: everything above RelayStore reads and writes through it, and sees neither
/// SQL nor a database library. ``SQLiteStorage`` is the embedded implementation.
///
/// Writes are durable when ``write(ingest:_:)`` returns: nothing is acknowledged to a producer
/// before that. A failing write rolls back alone; other writes sharing its commit are unaffected.
public protocol RelayStorage: Sendable {
    /// Where the data lives, for messages (a file path; never a password).
    var location: String { get }

    /// Runs `body` on a consistent snapshot.
    func read<T: Sendable>(_ body: @escaping @Sendable (any StoreTransaction) throws -> T) async throws -> T

    /// Runs `body` in a write transaction and returns its result once that transaction committed.
    /// If `body` throws, its changes are rolled back and its error rethrown.
    /// - Parameter ingest: an ingest request (counted in `bimrelay_ingest_batch_size`).
    func write<T: Sendable>(
        ingest: Bool, _ body: @escaping @Sendable (any StoreTransaction) throws -> T
    ) async throws -> T

    /// The signals of commits from now on (see ``StoreSignal``); the stream ends with the storage.
    func signals() -> AsyncStream<StoreSignal>

    /// What must run for writes to happen (a group-commit writer), in start order; stop them last.
    var services: [any Service] { get }

    /// Since when writes have been failing or waiting for a lock held elsewhere; nil while they succeed.
    var failingSince: Date? { get }

    /// The schema version of the store (the newest migration applied).
    func schemaVersion() async throws -> Int

    /// Bytes of the write-ahead log not yet folded into the store (0 when it keeps none).
    var logBytes: Int { get }

    /// Housekeeping after a large deletion (SQLite: a WAL checkpoint that truncates the log).
    func compact() async throws

    /// Whether this process does the work only one relay on the store should do (retention):
    /// it takes the role when no other relay holds it, and keeps it while it runs.
    func leads() async throws -> Bool
}

extension RelayStorage {
    /// Runs `body` in a write transaction (not an ingest).
    public func write<T: Sendable>(_ body: @escaping @Sendable (any StoreTransaction) throws -> T) async throws -> T {
        try await write(ingest: false, body)
    }

    /// Runs `batch` in write transactions of its own, one after another, until it reports fewer than
    /// `size` rows; returns the rows of all batches. For bulk changes that must not hold the write
    /// lock (and the relay's ingest) for long.
    public func writeInBatches(
        of size: Int, _ batch: @escaping @Sendable (any StoreTransaction, Int) throws -> Int
    ) async throws -> Int {
        var total = 0
        while true {
            let rows = try await write { tx in try batch(tx, size) }
            total += rows
            if rows < size { return total }
        }
    }

    /// Requeues dead deliveries (of one service, or all; dead since `since`, or ever) in write
    /// transactions of `batchSize` rows each, so that the relay's ingest interleaves with a large
    /// requeue (`queue retry --dead`, the console). Returns how many were requeued.
    public func retryDead(serviceID: Int64?, since: Date?, now: Date, batchSize: Int) async throws -> Int {
        try await writeInBatches(of: batchSize) { tx, limit in
            try tx.queue.retryDead(serviceID: serviceID, since: since, now: now, limit: limit)
        }
    }

    /// Deletes delivered deliveries (and their attempts) delivered before `cutoff`, then the events
    /// no delivery refers to any more, in batches of `batchSize` rows, each its own short write
    /// transaction: the relay's writes (and an ingest waiting on them) interleave with a large purge.
    /// - Returns: the number of deliveries and events deleted.
    public func purgeDelivered(before cutoff: Date, batchSize: Int) async throws -> (deliveries: Int, events: Int) {
        let deliveries = try await writeInBatches(of: batchSize) { tx, limit in
            try tx.retention.pruneDelivered(before: cutoff, limit: limit)
        }
        let events = try await writeInBatches(of: batchSize) { tx, limit in
            try tx.retention.pruneEvents(before: cutoff, limit: limit)
        }
        return (deliveries, events)
    }
}
