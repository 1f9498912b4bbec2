import Dispatch
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import RelayCore
import Synchronization

/// One PostgreSQL connection on a thread of its own, running jobs one after another.
///
/// The stores are synchronous, so a transaction's statements are sent and waited for on this
/// thread (never on an event loop or the cooperative pool). A lost connection is opened again
/// before the next job.
///
/// Batched write transactions (ingests) submitted while another runs are committed together (group
/// commit, as the SQLite writer does): up to ``maximumBatch`` of them in one `BEGIN … COMMIT`,
/// each in a savepoint of its own when there are several (one that fails rolls back alone), so one
/// WAL flush covers them all. PostgreSQL pays two round trips per savepoint and keeps each in
/// memory until the commit: the batch stays small.
final class PostgresSession: Sendable {
    /// The most write transactions one commit takes.
    static let maximumBatch = 32

    private struct Job: Sendable {
        /// Runs alone with the connection (reads, migrations, locks).
        let run: (@Sendable (PostgresConnection) -> Void)?
        /// A write transaction's body: runs inside the batch transaction and returns what to do
        /// once the batch has committed.
        let step: (@Sendable (PostgresTransaction, _ alone: Bool) -> @Sendable () -> Void)?
        /// Whether the step may share its transaction with other such steps.
        var batched = false
        let fail: @Sendable (any Error) -> Void
    }

    private struct State {
        var jobs: [Job] = []
        var accepting = true
        var idle = false
    }

    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private let label: String
    private let node: String
    private let metrics: Mutex<RelayMetrics>
    /// Runs on each new connection before its first job (session state such as advisory locks).
    private let prepare: @Sendable (PostgresConnection) throws -> Void
    /// Runs after each committed batch with its transaction (signals), before the submitters resume.
    private let committed: @Sendable (PostgresTransaction) -> Void
    /// Told whether the last batch failed in the server or the connection (for `/health`).
    private let trouble: @Sendable (Bool) -> Void
    private let state = Mutex(State())
    private let totals = Mutex(WriteStatistics())
    private let arrived = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)
    /// Touched only by the session's thread.
    private nonisolated(unsafe) var connection: PostgresConnection?

    init(
        configuration: PostgresConnection.Configuration, label: String, node: String, logger: Logger,
        prepare: @escaping @Sendable (PostgresConnection) throws -> Void = { _ in },
        committed: @escaping @Sendable (PostgresTransaction) -> Void = { _ in },
        trouble: @escaping @Sendable (Bool) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.label = label
        self.node = node
        self.logger = logger
        self.prepare = prepare
        self.committed = committed
        self.trouble = trouble
        metrics = Mutex(RelayMetrics())
        let thread = Thread { [self] in self.loop() }
        thread.name = "bimrelay-\(label)"
        thread.start()
    }

    /// Where the session counts its statements and transactions (`serve` passes its metrics).
    func report(to metrics: RelayMetrics) {
        self.metrics.withLock { $0 = metrics }
    }

    /// What the session's write batches have committed so far.
    var statistics: WriteStatistics { totals.withLock { $0 } }

    /// Counts a transaction of `jobs` callers and `statements` statements.
    func count(jobs: Int, statements: Int) {
        metrics.withLock { $0 }.databaseTransaction(session: label, jobs: jobs, statements: statements)
    }

    /// Runs `body` on the session's thread with its connection; returns what it returns.
    func submit<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            enqueue(
                Job(
                    run: { connection in continuation.resume(with: Result { try body(connection) }) }, step: nil,
                    fail: { error in continuation.resume(throwing: error) }),
                refused: { continuation.resume(throwing: $0) })
        }
    }

    /// Runs `body` in a write transaction and returns its result once that transaction has
    /// committed; a `batched` body may share it with other batched bodies submitted meanwhile. If
    /// `body` throws, its changes are rolled back and the error is rethrown.
    func write<T: Sendable>(batched: Bool, _ body: @escaping @Sendable (PostgresTransaction) throws -> T)
        async throws -> T
    {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let step: @Sendable (PostgresTransaction, Bool) -> @Sendable () -> Void = { tx, alone in
                do {
                    let value = try alone ? body(tx) : tx.nested { try body(tx) }
                    return { continuation.resume(returning: value) }
                } catch {
                    if alone { tx.failed = error }
                    return { continuation.resume(throwing: error) }
                }
            }
            enqueue(
                Job(run: nil, step: step, batched: batched, fail: { continuation.resume(throwing: $0) }),
                refused: { continuation.resume(throwing: $0) })
        }
    }

    private func enqueue(_ job: Job, refused: (any Error) -> Void) {
        let (accepted, wake) = state.withLock { state -> (Bool, Bool) in
            guard state.accepting else { return (false, false) }
            state.jobs.append(job)
            defer { state.idle = false }
            return (true, state.idle)
        }
        if wake { arrived.signal() }
        if !accepted { refused(RelayError.database("the relay is shutting down")) }
    }

    /// Refuses new jobs, lets the submitted ones finish, closes the connection; returns when done.
    func stop() async {
        let wake = state.withLock { state -> Bool in
            state.accepting = false
            defer { state.idle = false }
            return state.idle
        }
        if wake { arrived.signal() }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                self.stopped.wait()
                self.stopped.signal()
                done.resume()
            }
        }
    }

    private func loop() {
        while true {
            enum Next {
                case run(Job)
                case batch([Job])
                case sleep, stop
            }
            let next = state.withLock { state -> Next in
                guard let first = state.jobs.first else {
                    guard state.accepting else { return .stop }
                    state.idle = true
                    return .sleep
                }
                guard first.step != nil else { return .run(state.jobs.removeFirst()) }
                // The batched write steps waiting at the head of the queue, in order (another
                // write runs alone).
                let count = first.batched ? min(state.jobs.prefix(while: \.batched).count, Self.maximumBatch) : 1
                defer { state.jobs.removeFirst(count) }
                return .batch(Array(state.jobs.prefix(count)))
            }
            switch next {
            case .run(let job):
                do {
                    job.run?(try open())
                } catch {
                    fail([job], error)
                }
            case .batch(let jobs): commit(jobs)
            case .sleep: arrived.wait()
            case .stop:
                try? connection?.close().wait()
                connection = nil
                stopped.signal()
                return
            }
        }
    }

    /// One transaction for the batch: BEGIN, each step, the notices, COMMIT; then every step's completion.
    private func commit(_ jobs: [Job]) {
        let alone = jobs.count == 1
        do {
            let tx = PostgresTransaction(connection: try open(), logger: logger, node: node)
            do {
                try tx.execute("BEGIN")
                let completions = jobs.map { job in job.step!(tx, alone) }
                if tx.failed != nil {
                    // The only step threw: nothing of it stays.
                    try tx.execute("ROLLBACK")
                    trouble(tx.troubled)
                    for completion in completions { completion() }
                    return
                }
                // Delivered to the other relays when (and only if) this commits.
                for payload in tx.notice.payloads(from: node) {
                    try tx.execute("SELECT pg_notify(\(ClusterNotice.channel), \(payload))")
                }
                try tx.execute("COMMIT")
                count(jobs: jobs.count, statements: tx.statements)
                totals.withLock {
                    $0.batches += 1
                    $0.jobs += jobs.count
                    $0.largestBatch = max($0.largestBatch, jobs.count)
                }
                // A step that failed in the server (a read-only standby, a full disk) is trouble
                // even when the (then empty) commit went through.
                trouble(tx.troubled)
                committed(tx)
                for completion in completions { completion() }
            } catch {
                _ = try? tx.execute("ROLLBACK")
                throw error
            }
        } catch {
            trouble(true)
            fail(jobs, error)
        }
    }

    private func fail(_ jobs: [Job], _ error: any Error) {
        logger.error(
            "PostgreSQL transaction failed",
            metadata: ["session": "\(label)", "jobs": "\(jobs.count)", "error": "\(error)"])
        let translated = PostgresStorage.translate(error, location: "PostgreSQL")
        for job in jobs { job.fail(translated) }
    }

    /// The session's connection, opened (again) when there is none or it closed.
    private func open() throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        let opened = try PostgresConnection.connect(
            on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration, id: 1, logger: logger
        ).wait()
        do {
            try prepare(opened)
        } catch {
            try? opened.close().wait()
            throw error
        }
        connection = opened
        return opened
    }
}
