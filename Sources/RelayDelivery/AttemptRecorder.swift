import Foundation
import RelayCore
import RelayStore
import Synchronization

/// Records finished attempts in shared write jobs.
///
/// Attempts that finish while a job waits for the writer join that job, and the slots that go on
/// get their services' next due deliveries from one claim per service per job, not one claim per
/// attempt: under load a job records many attempts with one savepoint and a few claims.
public final class AttemptRecorder: Sendable {
    /// One finished attempt.
    struct Finished: Sendable {
        let result: AttemptResult
        let now: Date
        /// The service whose next due delivery the slot takes; nil when the slot stops.
        let continueWith: ServiceRecord?
    }

    /// What recording an attempt gave: why the service was disabled now, if it was, and the slot's
    /// next delivery, if one was due; or that the result came too late to count, or could not be
    /// recorded at all (its lease then expires and the delivery is tried again).
    struct Outcome: Sendable {
        var disabled: String?
        var next: ClaimedDelivery?
        var stale = false
        var failure: (any Error)?
    }

    private struct Waiting: Sendable {
        let finished: Finished
        let continuation: CheckedContinuation<Outcome, any Error>
    }

    private struct State {
        var waiting: [Waiting] = []
        /// A job is submitted that has not yet taken the waiting attempts.
        var scheduled = false
    }

    /// How attempts were shared between jobs, for tests and the bench.
    public struct Statistics: Sendable, Equatable {
        /// Jobs that committed.
        public var jobs = 0
        /// Attempts recorded by them.
        public var attempts = 0
        /// The most attempts one job recorded.
        public var largestJob = 0
    }

    private let state = Mutex(State())
    private let totals = Mutex(Statistics())
    private let storage: any RelayStorage
    private let disableAfter: Duration
    private let leaseMargin: Duration
    private let time: RelayTime

    init(storage: any RelayStorage, disableAfter: Duration, leaseMargin: Duration, time: RelayTime = .system) {
        self.storage = storage
        self.disableAfter = disableAfter
        self.leaseMargin = leaseMargin
        self.time = time
    }

    /// What has been recorded so far.
    var statistics: Statistics { totals.withLock { $0 } }

    /// Attempts waiting for their job.
    var waiting: Int { state.withLock { $0.waiting.count } }

    /// Records the attempt (and claims the slot's next delivery) in a job shared with the attempts
    /// that finish meanwhile; returns after that job has committed.
    func record(_ finished: Finished) async throws -> Outcome {
        try await withCheckedThrowingContinuation { continuation in
            let schedule = state.withLock { state -> Bool in
                state.waiting.append(Waiting(finished: finished, continuation: continuation))
                defer { state.scheduled = true }
                return !state.scheduled
            }
            if schedule { Task { await self.flush() } }
        }
    }

    /// Submits one job that takes every attempt waiting when the writer runs it.
    private func flush() async {
        let taken = Mutex<[Waiting]>([])
        do {
            let outcomes = try await storage.write { tx -> [Outcome] in
                let waiting = self.state.withLock { state -> [Waiting] in
                    defer {
                        state.waiting = []
                        state.scheduled = false
                    }
                    return state.waiting
                }
                taken.withLock { $0 = waiting }
                return try self.write(waiting.map(\.finished), tx: tx)
            }
            let recorded = taken.withLock { $0 }
            totals.withLock {
                $0.jobs += 1
                $0.attempts += recorded.count
                $0.largestJob = max($0.largestJob, recorded.count)
            }
            for (waiting, outcome) in zip(recorded, outcomes) {
                waiting.continuation.resume(returning: outcome)
            }
        } catch {
            // The job did not commit: fail what it took, or, if it never ran, what waits.
            var failed = taken.withLock { $0 }
            if failed.isEmpty {
                failed = state.withLock { state in
                    defer {
                        state.waiting = []
                        state.scheduled = false
                    }
                    return state.waiting
                }
            }
            for waiting in failed { waiting.continuation.resume(throwing: error) }
        }
    }

    /// Records every attempt, each in its own savepoint (one that fails rolls back alone), then
    /// claims per service as many next deliveries as slots go on.
    private func write(_ finished: [Finished], tx: any StoreTransaction) throws -> [Outcome] {
        var outcomes = finished.map { attempt -> Outcome in
            var recorded = RecordedAttempt()
            do {
                try tx.nested {
                    recorded = try tx.deliveries.record(attempt.result, now: attempt.now, disableAfter: disableAfter)
                }
            } catch {
                return Outcome(failure: error)
            }
            return Outcome(disabled: recorded.disabled, stale: recorded.stale)
        }
        var slots: [Int64: (service: ServiceRecord, indices: [Int])] = [:]
        for (index, attempt) in finished.enumerated() where outcomes[index].failure == nil {
            guard let service = attempt.continueWith, let id = service.id else { continue }
            slots[id, default: (service, [])].indices.append(index)
        }
        let now = time.now()
        for (service, indices) in slots.values.sorted(by: { $0.service.id! < $1.service.id! }) {
            let claimed = try tx.deliveries.claim(
                limit: indices.count, now: now, leaseMargin: leaseMargin, only: service)
            for (index, delivery) in zip(indices, claimed) { outcomes[index].next = delivery }
        }
        return outcomes
    }
}
