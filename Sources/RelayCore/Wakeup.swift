import Synchronization

/// A level-triggered signal between tasks: `signal()` wakes every current waiter, or, when nobody
/// waits, lets the next `wait` return at once. Signals do not pile up; one wake-up covers them all.
///
/// The ingest path signals the delivery worker after a commit; the worker waits on it with a
/// timeout (its next due retry or lease expiry), so an idle relay uses no CPU.
public final class Wakeup: Sendable {
    private struct State {
        var pending = false
        var nextID: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    /// A wake-up with nothing pending.
    public init() {}

    /// How many tasks are waiting now.
    public var waiting: Int { state.withLock { $0.waiters.count } }

    /// Wakes every waiter, or lets the next wait return at once.
    public func signal() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            if state.waiters.isEmpty {
                state.pending = true
                return []
            }
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns after a signal (or at once if one is pending), or when the task is cancelled.
    public func wait() async {
        let id = state.withLock { state -> UInt64 in
            defer { state.nextID += 1 }
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.pending || Task.isCancelled {
                        state.pending = false
                        return true
                    }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// Waits for a signal for at most `timeout` on `time`'s clock.
    /// - Returns: true when signalled, false when the time ran out.
    @discardableResult
    public func wait(timeout: Duration, time: RelayTime = .system) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.wait()
                return !Task.isCancelled
            }
            group.addTask {
                try? await time.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }
}
