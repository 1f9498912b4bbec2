import Foundation
import RelayCore
import RelayStore
import ServiceLifecycle
import Synchronization

/// Routes committed frames (the storage's ``StoreSignal/framesPublished(_:)`` signals) to the
/// sockets of connected endpoints (a `Service`: at start it marks every endpoint of this relay
/// dropped, since no socket survives a restart; ``Retention`` prunes the tables).
///
/// With several relays on one database, frames another relay stored arrive as marks
/// (``StoreSignal/framesStoredElsewhere(_:)``) and each socket reads them from the store; an
/// endpoint attached on another relay closes its socket here; after a ``StoreSignal/resync``
/// every socket looks at the store for both.
public final class StreamHub: Service, Sendable {
    private let connections = Mutex<[Int64: StreamConnection]>([:])
    /// The newest generation another relay attached each endpoint at, from its notices: a local
    /// socket of an older generation that attaches after the notice arrived closes at once.
    private let takenElsewhere = Mutex<[Int64: Int64]>([:])
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

    /// Routes `connection` the frames of `endpointID`; of two sockets of the endpoint, the older
    /// connection (generation) is closed, as is one that another relay has taken over since.
    func attach(_ connection: StreamConnection, endpointID: Int64) {
        let generation = connection.generation.load(ordering: .relaxed)
        let elsewhere = takenElsewhere.withLock { $0[endpointID] ?? 0 }
        let closing = connections.withLock { connections -> StreamConnection? in
            // Another relay attached it after this socket did (its notice came first).
            if generation < elsewhere { return connection }
            if let previous = connections[endpointID], previous !== connection {
                // Two sockets here: the newer connection wins, whichever attaches last.
                if previous.generation.load(ordering: .relaxed) > generation { return connection }
                connections[endpointID] = connection
                return previous
            }
            connections[endpointID] = connection
            return nil
        }
        closing?.offer([Self.resumedElsewhere])
    }

    /// What a socket is told when a newer connection of its endpoint (here or on another relay) took over.
    static let resumedElsewhere = StreamConnection.Item.close(.normalClosure, "endpoint resumed on another connection")

    /// Stops routing to the socket of `endpointID` and closes it, if `stale` says so of its generation.
    private func close(_ endpointID: Int64, ifStale stale: (_ generation: Int64) -> Bool) {
        let closing = connections.withLock { connections -> StreamConnection? in
            guard let connection = connections[endpointID], stale(connection.generation.load(ordering: .relaxed))
            else { return nil }
            connections[endpointID] = nil
            return connection
        }
        closing?.offer([Self.resumedElsewhere])
    }

    /// Stops routing to `connection`.
    func detach(_ connection: StreamConnection, endpointID: Int64) {
        connections.withLock { connections in
            if connections[endpointID] === connection { connections[endpointID] = nil }
        }
    }

    /// Tells the sockets of the marked endpoints to read their frames up to the mark from the store.
    func catchUp(_ marks: [FrameMark]) {
        var latest: [Int64: Int64] = [:]
        for mark in marks { latest[mark.endpointID] = max(latest[mark.endpointID] ?? 0, mark.seq) }
        let targets = connections.withLock { connections in
            latest.compactMap { id, seq in connections[id].map { ($0, id, seq) } }
        }
        for (connection, id, seq) in targets { connection.offer([.catchUp(endpointID: id, upTo: seq)]) }
    }

    /// Closes the socket of `endpointID` here if it is older than connection `generation`
    /// (which attached on another relay).
    func takenOver(_ endpointID: Int64, generation: Int64) {
        takenElsewhere.withLock { taken in
            // Bounded: endpoints come and go; the marks only matter for a moment.
            if taken.count >= 100_000 { taken.removeAll(keepingCapacity: true) }
            taken[endpointID] = max(taken[endpointID] ?? 0, generation)
        }
        close(endpointID) { $0 < generation }
    }

    /// What notifications from other relays may have said while they could not be heard: every
    /// socket reads what is stored for it; a socket whose endpoint attached elsewhere, or that the
    /// store no longer takes for connected (the other relays took this one for gone while its
    /// connection to the database was lost), closes, and its client resumes.
    func resync() async {
        let local = connections.withLock { $0.map { ($0.key, $0.value) } }
        guard !local.isEmpty else { return }
        for (id, connection) in local { connection.offer([.catchUp(endpointID: id, upTo: .max)]) }
        let ids = local.map(\.0)
        guard
            let records = try? await storage.read({ tx in try ids.compactMap { try tx.stream.endpoint(id: $0) } })
        else { return }
        for record in records {
            close(record.id) { record.generation > $0 || (!record.connected && record.generation == $0) }
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
                switch signal {
                case .framesPublished(let frames): self.publish(frames)
                case .framesStoredElsewhere(let marks): self.catchUp(marks)
                case .endpointTakenOver(let id, let generation): self.takenOver(id, generation: generation)
                case .resync: await self.resync()
                case .deliveriesDue, .tokensChanged: break
                }
            }
        }
    }
}
