import Foundation
import GRDB
import Logging
import RelayCore
import ServiceLifecycle
import Synchronization

/// The server's single path for writes: group commit.
///
/// Concurrent requests submit jobs; one loop takes every job waiting and runs them in one write
/// transaction, each in its own savepoint (a failing job rolls back alone), then resumes each
/// submitter after the commit. Under load one fsync covers many requests, so throughput grows
/// with concurrency; with a single client a job is written at once (no batching window).
/// Nothing is answered before the transaction holding it has committed.
public final class WriteQueue: Service, Sendable {
    /// The most jobs one transaction takes.
    public static let maximumBatch = 512

    private struct Job: Sendable {
        /// Runs the job inside the batch transaction; returns what to do once the batch commits.
        let execute: @Sendable (Database) -> @Sendable () -> Void
        /// Fails the job (the batch did not commit).
        let fail: @Sendable (any Error) -> Void
        /// An ingest request (counted in the batch-size metric).
        let ingest: Bool
    }

    private struct State {
        var jobs: [Job] = []
        var accepting = true
    }

    private let database: RelayDatabase
    private let logger: Logger
    private let metrics: RelayMetrics
    private let state = Mutex(State())
    private let wakeup = Wakeup()
    private let totals = Mutex(Statistics())

    /// Counts of what the queue has written, for metrics and tests.
    public struct Statistics: Sendable, Equatable {
        /// Transactions committed.
        public var batches = 0
        /// Jobs in those transactions.
        public var jobs = 0
        /// The most jobs one transaction held.
        public var largestBatch = 0
    }

    /// A queue writing to `database`; it writes only while ``run()`` runs.
    public init(database: RelayDatabase, logger: Logger, metrics: RelayMetrics = RelayMetrics()) {
        self.database = database
        self.logger = logger
        self.metrics = metrics
    }

    /// Runs `body` in a write transaction shared with other jobs, and returns its result once that
    /// transaction has committed. If `body` throws, its changes are rolled back and the error is
    /// rethrown (after the commit of the others).
    /// - Parameter ingest: whether this is an ingest request, for `bimrelay_ingest_batch_size`.
    public func submit<T: Sendable>(
        ingest: Bool = false, _ body: @escaping @Sendable (Database) throws -> T
    ) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let job = Job(
                execute: { db in
                    do {
                        var result: T?
                        try db.inSavepoint {
                            result = try body(db)
                            return .commit
                        }
                        let value = result!
                        return { continuation.resume(returning: value) }
                    } catch {
                        return { continuation.resume(throwing: error) }
                    }
                },
                fail: { error in continuation.resume(throwing: error) }, ingest: ingest)
            let accepted = state.withLock { state -> Bool in
                guard state.accepting else { return false }
                state.jobs.append(job)
                return true
            }
            if accepted {
                wakeup.signal()
            } else {
                continuation.resume(throwing: RelayError.database("the relay is shutting down"))
            }
        }
    }

    /// Writes batches until graceful shutdown, then finishes the jobs already submitted.
    public func run() async throws {
        await withGracefulShutdownHandler {
            while true {
                await wakeup.wait()
                while let batch = takeBatch() {
                    await write(batch)
                }
                if state.withLock({ !$0.accepting && $0.jobs.isEmpty }) { break }
            }
        } onGracefulShutdown: {
            self.state.withLock { $0.accepting = false }
            self.wakeup.signal()
        }
    }

    private func takeBatch() -> [Job]? {
        state.withLock { state in
            guard !state.jobs.isEmpty else { return nil }
            let count = min(state.jobs.count, Self.maximumBatch)
            let batch = Array(state.jobs.prefix(count))
            state.jobs.removeFirst(count)
            return batch
        }
    }

    private func write(_ batch: [Job]) async {
        do {
            let completions = try await database.pool.write { db in batch.map { $0.execute(db) } }
            totals.withLock {
                $0.batches += 1
                $0.jobs += batch.count
                $0.largestBatch = max($0.largestBatch, batch.count)
            }
            let ingested = batch.count(where: \.ingest)
            if ingested > 0 { metrics.ingestBatch(size: ingested) }
            for completion in completions { completion() }
        } catch {
            logger.error("write transaction failed", metadata: ["jobs": "\(batch.count)", "error": "\(error)"])
            for job in batch { job.fail(error) }
        }
    }

    /// What has been written so far.
    public var statistics: Statistics { totals.withLock { $0 } }
}
