import Foundation
import RelayCore
import RelayStore
import ServiceLifecycle
import Synchronization

/// Routes committed frames (the storage's ``StoreSignal/framesPublished(_:)`` signals) to the
/// sockets of connected endpoints (a `Service`: at start it marks every endpoint dropped, since no
/// socket survives a restart; ``Retention`` prunes the tables).
public final class StreamHub: Service, Sendable {
    private let connections = Mutex<[Int64: StreamConnection]>([:])
    private let storage: any RelayStorage
    private let time: RelayTime
    let metrics: RelayMetrics
    private let running = Atomic<Bool>(false)
    /// `/stream` sockets open now, handshake or not (checked against `--max-stream-connections`).
    let openSockets = Atomic<Int>(0)

    init(storage: any RelayStorage, metrics: RelayMetrics, time: RelayTime = .system) {
        self.storage = storage
        self.metrics = metrics
        self.time = time
    }

    /// Whether the hub is routing frames (for `/health`): from its start until shutdown.
    public var isRunning: Bool { running.load(ordering: .relaxed) }

    /// Endpoints with an open socket.
    public var openEndpoints: Int { connections.withLock { $0.count } }

    /// Routes `connection` the frames of `endpointID`; a socket already attached to it is closed.
    func attach(_ connection: StreamConnection, endpointID: Int64) {
        let previous = connections.withLock { $0.updateValue(connection, forKey: endpointID) }
        if let previous, previous !== connection {
            previous.offer([.close(.normalClosure, "endpoint resumed on another connection")])
        }
    }

    /// Stops routing to `connection`.
    func detach(_ connection: StreamConnection, endpointID: Int64) {
        connections.withLock { connections in
            if connections[endpointID] === connection { connections[endpointID] = nil }
        }
    }

    /// Hands committed frames to the connected endpoints; never blocks.
    func publish(_ frames: [StreamFrame]) {
        guard !frames.isEmpty else { return }
        let targets = connections.withLock { connections in
            frames.compactMap { frame in connections[frame.endpointID].map { ($0, frame) } }
        }
        for (connection, frame) in targets { connection.offer([.frame(frame)]) }
    }

    public func run() async throws {
        let signals = storage.signals()
        let now = time.now()
        try await storage.write { tx in try tx.stream.detachAll(now: now) }
        running.store(true, ordering: .relaxed)
        defer { running.store(false, ordering: .relaxed) }
        await cancelWhenGracefulShutdown {
            for await signal in signals {
                if case .framesPublished(let frames) = signal { self.publish(frames) }
            }
        }
    }
}
