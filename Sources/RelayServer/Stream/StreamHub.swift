import Foundation
import Logging
import RelayCore
import RelayStore
import ServiceLifecycle
import Synchronization

/// Routes committed frames to the sockets of connected endpoints, and keeps the stream tables
/// within their retention (a `Service`: at start it marks every endpoint dropped, since no socket
/// survives a restart, then prunes once a minute in small batches).
public final class StreamHub: Service, Sendable {
    private let connections = Mutex<[Int64: StreamConnection]>([:])
    private let writeQueue: WriteQueue
    private let configuration: RelayConfiguration
    private let logger: Logger
    /// How often retention runs.
    static let pruneInterval = Duration.seconds(60)

    init(writeQueue: WriteQueue, configuration: RelayConfiguration, logger: Logger) {
        self.writeQueue = writeQueue
        self.configuration = configuration
        self.logger = logger
    }

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
    public func publish(_ frames: [StreamFrame]) {
        guard !frames.isEmpty else { return }
        let targets = connections.withLock { connections in
            frames.compactMap { frame in connections[frame.endpointID].map { ($0, frame) } }
        }
        for (connection, frame) in targets { connection.offer([.frame(frame)]) }
    }

    public func run() async throws {
        _ = try await writeQueue.submit { db in try StreamQueries.detachAll(db, now: Date()) }
        let retention = configuration.endpointRetention
        let keep = configuration.maxFramesPerEndpoint
        while !Task.isShuttingDownGracefully {
            do {
                var removed = 0
                repeat {
                    removed = try await writeQueue.submit { db in
                        try StreamQueries.pruneEndpoints(
                            db, droppedBefore: Date().addingTimeInterval(-DurationText.seconds(retention)), limit: 500)
                            + StreamQueries.pruneFrames(db, keep: keep, limit: 5000)
                    }
                } while removed > 0 && !Task.isShuttingDownGracefully
            } catch {
                logger.error("stream retention failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: Self.pruneInterval) }
        }
    }
}
