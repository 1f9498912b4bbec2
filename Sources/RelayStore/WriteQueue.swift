import Dispatch
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
///
/// The loop runs on a thread of its own: the writer is the relay's one serial resource, and as a
/// task it would wait behind every HTTP and WebSocket task for its turn on Swift's cooperative
/// pool (two threads here) after each commit.
final class WriteQueue: Service, Sendable {
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
        /// The writer thread waits on ``WriteQueue/jobsArrived`` (signal it once).
        var idle = false
    }

    private let database: RelayDatabase
    private let logger: Logger
    private let metrics: RelayMetrics
    private let lockWait: Duration
    /// Called once the writer has stopped (every submitted job written).
    private let onStopped: @Sendable () -> Void
    private let state = Mutex(State())
    /// Since when writes have been failing or waiting for a lock another connection holds; nil while they succeed.
    private let troubleSince = Mutex<Date?>(nil)
    private let jobsArrived = DispatchSemaphore(value: 0)
    private let totals = Mutex(WriteStatistics())

    /// A queue writing to `database`; it writes only while ``run()`` runs.
    /// - Parameter lockWait: how long a batch keeps trying while another connection (an admin's
    ///   `sqlite3`, a CLI command) holds the write lock, before its jobs fail.
    init(
        database: RelayDatabase, logger: Logger, metrics: RelayMetrics = RelayMetrics(),
        lockWait: Duration = RelayConfiguration.defaultLockWait, onStopped: @escaping @Sendable () -> Void = {}
    ) {
        self.onStopped = onStopped
        self.database = database
        self.logger = logger
        self.metrics = metrics
        self.lockWait = lockWait
    }

    /// Since when writes have been failing, or waiting for a lock held elsewhere; nil while they succeed.
    public var failingSince: Date? { troubleSince.withLock { $0 } }

    /// Runs `body` in a write transaction shared with other jobs, and returns its result once that
    /// transaction has committed. If `body` throws, its changes are rolled back and the error is
    /// rethrown (after the commit of the others).
    /// - Parameter ingest: whether this is an ingest request, for `bimrelay_ingest_batch_size`.
    /// - Parameter onCommit: runs on the writer thread right after the commit, in commit order.
    func submit<T: Sendable>(
        ingest: Bool = false, onCommit: @escaping @Sendable (T) -> Void = { _ in },
        _ body: @escaping @Sendable (Database) throws -> T
    ) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let job = Job(
                execute: { db in
                    do {
                        let value = try SQLiteTransaction.inSavepoint(db) { try body(db) }
                        return {
                            onCommit(value)
                            continuation.resume(returning: value)
                        }
                    } catch {
                        return { continuation.resume(throwing: error) }
                    }
                },
                fail: { error in continuation.resume(throwing: error) }, ingest: ingest)
            let (accepted, wake) = state.withLock { state -> (Bool, Bool) in
                guard state.accepting else { return (false, false) }
                state.jobs.append(job)
                defer { state.idle = false }
                return (true, state.idle)
            }
            if wake { jobsArrived.signal() }
            if !accepted { continuation.resume(throwing: RelayError.database("the relay is shutting down")) }
        }
    }

    /// Writes batches until graceful shutdown (or cancellation), then finishes the jobs already submitted.
    public func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
                    let thread = Thread {
                        self.writeUntilStopped()
                        self.onStopped()
                        finished.resume()
                    }
                    thread.name = "bimrelay-writer"
                    thread.start()
                }
            } onCancel: {
                self.stopAccepting()
            }
        } onGracefulShutdown: {
            self.stopAccepting()
        }
    }

    /// Refuses new jobs; the writer thread ends once the submitted ones are written.
    private func stopAccepting() {
        let wake = state.withLock { state -> Bool in
            state.accepting = false
            defer { state.idle = false }
            return state.idle
        }
        if wake { jobsArrived.signal() }
    }

    /// The writer thread: batch after batch while jobs wait, sleeping when none do.
    private func writeUntilStopped() {
        while true {
            enum Next {
                case write([Job])
                case sleep, stop
            }
            let next = state.withLock { state -> Next in
                if !state.jobs.isEmpty {
                    let count = min(state.jobs.count, Self.maximumBatch)
                    defer { state.jobs.removeFirst(count) }
                    return .write(Array(state.jobs.prefix(count)))
                }
                guard state.accepting else { return .stop }
                state.idle = true
                return .sleep
            }
            switch next {
            case .write(let batch): write(batch)
            case .sleep: jobsArrived.wait()
            case .stop: return
            }
        }
    }

    private func write(_ batch: [Job]) {
        let started = ContinuousClock.now
        while true {
            let ran = Atomic<Bool>(false)
            do {
                try commit(batch, ran: ran)
                troubleSince.withLock { $0 = nil }
                return
            } catch let error as DatabaseError
                where (error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED)
                && !ran.load(ordering: .relaxed)
            {
                // Another connection holds the write lock: BEGIN IMMEDIATE failed after the busy
                // timeout, before any job ran. Keep the batch and try again, up to `lockWait`:
                // producers see a slower answer, not a lost event.
                let first = troubleSince.withLock { since in
                    defer { since = since ?? Date() }
                    return since == nil
                }
                if first {
                    logger.warning(
                        "the database is locked by another connection; writes wait for it",
                        metadata: ["jobs": "\(batch.count)", "limit": "\(DurationText.format(lockWait))"])
                }
                if ContinuousClock.now - started < lockWait {
                    // SQLITE_LOCKED does not wait in the busy handler: do not spin.
                    if error.resultCode == .SQLITE_LOCKED { Thread.sleep(forTimeInterval: 0.05) }
                    continue
                }
                logger.error(
                    "write transaction failed: the database stayed locked",
                    metadata: ["jobs": "\(batch.count)", "waited": "\(DurationText.format(lockWait))"])
                for job in batch { job.fail(error) }
                return
            } catch {
                troubleSince.withLock { $0 = $0 ?? Date() }
                logger.error("write transaction failed", metadata: ["jobs": "\(batch.count)", "error": "\(error)"])
                for job in batch { job.fail(error) }
                return
            }
        }
    }

    /// One transaction for the batch; runs each job's completion after the commit.
    /// - Parameter ran: set once the jobs start: a batch is retried only if none ran (jobs may
    ///   change memory as well as the database, and must run once).
    private func commit(_ batch: [Job], ran: borrowing Atomic<Bool>) throws {
        let completions = try database.pool.write { db in
            ran.store(true, ordering: .relaxed)
            return batch.map { $0.execute(db) }
        }
        totals.withLock {
            $0.batches += 1
            $0.jobs += batch.count
            $0.largestBatch = max($0.largestBatch, batch.count)
        }
        let ingested = batch.count(where: \.ingest)
        if ingested > 0 { metrics.ingestBatch(size: ingested) }
        for completion in completions { completion() }
    }

    /// What has been written so far.
    var statistics: WriteStatistics { totals.withLock { $0 } }

    /// Jobs submitted and not yet taken by a batch.
    var waitingJobs: Int { state.withLock { $0.jobs.count } }
}

/// Counts of what the group-commit writer has written, for metrics and tests.
public struct WriteStatistics: Sendable, Equatable {
    /// Transactions committed.
    public var batches = 0
    /// Jobs in those transactions.
    public var jobs = 0
    /// The most jobs one transaction held.
    public var largestBatch = 0
}
