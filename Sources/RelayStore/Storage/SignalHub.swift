import Foundation
import Synchronization

/// Hands committed writes' ``StoreSignal``s to every current subscriber, in the order emitted.
final class SignalHub: Sendable {
    private struct State {
        var nextID = 0
        var subscribers: [Int: AsyncStream<StoreSignal>.Continuation] = [:]
    }

    private let state = Mutex(State())

    /// A stream of the signals emitted from now on.
    func subscribe() -> AsyncStream<StoreSignal> {
        let (stream, continuation) = AsyncStream<StoreSignal>.makeStream()
        let id = state.withLock { state in
            defer { state.nextID += 1 }
            state.subscribers[state.nextID] = continuation
            return state.nextID
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    /// Passes `signals` to every subscriber.
    func emit(_ signals: [StoreSignal]) {
        guard !signals.isEmpty else { return }
        let subscribers = state.withLock { Array($0.subscribers.values) }
        for subscriber in subscribers {
            for signal in signals { subscriber.yield(signal) }
        }
    }

    /// Ends every subscriber's stream.
    func finish() {
        let subscribers = state.withLock { state in
            defer { state.subscribers.removeAll() }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.finish() }
    }
}
