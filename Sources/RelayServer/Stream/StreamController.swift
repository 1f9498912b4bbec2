import Foundation
import HummingbirdWebSocket
import Logging
import NIOWebSocket
import RelayCore
import RelayStore

/// `GET /stream`: BIMserver's endpoint handshake, request frames, and pushed notifications that a
/// client can resume after a disconnect.
struct StreamController: Sendable {
    let configuration: RelayConfiguration
    let storage: any RelayStorage
    let dispatcher: APIDispatcher
    let hub: StreamHub
    /// Resume horizons and detach times are taken from it.
    let time: RelayTime
    /// Frames read from the database per query during a replay.
    static let replayChunk = 1000

    /// How a socket's session ended.
    private enum Ending: Sendable {
        /// The client closed or the connection dropped.
        case clientGone
        /// The server queued a close (bad token, binary frame): let the writer send it.
        case closing
        /// The writer stopped.
        case writerDone
        /// The client reads too slowly: close it even if a write is stuck.
        case slowConsumer
        /// The handshake deadline passed with the client attached: nothing to do.
        case attachedInTime
    }

    /// Serves one socket until it closes.
    func handle(_ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter, logger: Logger) async {
        let open = hub.openSockets.wrappingAdd(1, ordering: .relaxed).newValue
        defer { hub.openSockets.subtract(1, ordering: .relaxed) }
        guard open <= configuration.maxStreamConnections else {
            logger.warning(
                "stream refused: too many connections", metadata: ["limit": "\(configuration.maxStreamConnections)"])
            try? await outbound.write(.text(#"{"error":"Too many connections: try again later"}"#))
            try? await outbound.close(.init(codeNumber: 1013), reason: "too many connections")
            return
        }
        let connection = StreamConnection(capacity: configuration.streamBufferFrames)
        let welcome = JSONValue.object([("welcome", .int(Int64(Date().timeIntervalSince1970 * 1000)))]).serialized
        connection.offer([.text(welcome)])
        let handshakeTimeout = configuration.handshakeTimeout
        await withTaskGroup(of: Ending.self) { group in
            group.addTask {
                // A socket that never sends its token holds nothing for long.
                try? await Task.sleep(for: handshakeTimeout)
                guard !Task.isCancelled, !connection.handshakeReceived.load(ordering: .relaxed) else {
                    return .attachedInTime
                }
                logger.info("stream closed: no token within the handshake timeout")
                connection.offer([.text(#"{"error":"No token sent"}"#), .close(.policyViolation, "no token sent")])
                return .closing
            }
            group.addTask {
                await self.write(connection, to: outbound, logger: logger)
                return .writerDone
            }
            group.addTask {
                await connection.overflow.wait()
                return .slowConsumer
            }
            group.addTask { await self.read(inbound, connection: connection, logger: logger) }
            while let ending = await group.next() {
                if ending == .closing || ending == .attachedInTime { continue }
                if ending == .slowConsumer {
                    logger.notice("slow consumer disconnected; its frames stay stored for a resume")
                }
                group.cancelAll()
                break
            }
        }
        let endpointID = connection.endpoint.load(ordering: .relaxed)
        if endpointID != 0 { await drop(endpointID, connection: connection) }
    }

    /// Reads the client's frames until it goes or the server ends the session.
    private func read(
        _ inbound: WebSocketInboundStream, connection: StreamConnection, logger: Logger
    ) async -> Ending {
        var endpointID: Int64?
        let gatewaySocket = dispatcher.gateway.map {
            GatewaySocket(
                gateway: $0, connection: connection, storage: storage, configuration: configuration, logger: logger)
        }
        defer { gatewaySocket?.close() }
        do {
            for try await message in inbound.messages(maxSize: configuration.maxFrameBytes) {
                guard case .text(let text) = message else {
                    connection.offer([.close(.unacceptableData, "binary frames are not accepted")])
                    return .closing
                }
                await connection.waitForRoom(limit: configuration.streamBufferBytes)
                let keepGoing = await receive(
                    text, connection: connection, endpointID: &endpointID, gatewaySocket: gatewaySocket, logger: logger)
                connection.endpoint.store(endpointID ?? 0, ordering: .relaxed)
                if !keepGoing { return .closing }
            }
        } catch {
            logger.debug("stream closed", metadata: ["error": "\(error)"])
        }
        return .clientGone
    }

    /// Handles one text frame; false ends the session.
    private func receive(
        _ text: String, connection: StreamConnection, endpointID: inout Int64?, gatewaySocket: GatewaySocket?,
        logger: Logger
    ) async -> Bool {
        let token: String
        let requested: (endpointID: Int64?, seq: Int64)
        switch StreamMessage(text) {
        case .heartbeat, .ignored:
            return true
        case .action:
            // BIMserver's binary download channel (`{"action":"download","topicId":…}`), checked before
            // `token` as BIMserver does. The relay holds no models: in gateway mode it carries the
            // frame to BIMserver for a client that completed the handshake; otherwise it says so.
            guard let gatewaySocket else {
                logger.info("stream frame refused: download action")
                connection.offer([.text(Self.actionRefusal)])
                return true
            }
            guard endpointID != nil else {
                connection.offer([.text(#"{"error":"Send {\"token\": …} on /stream before any action"}"#)])
                return true
            }
            gatewaySocket.channel().send(text)
            return true
        case .request(let parsed, let id):
            guard endpointID != nil else {
                // Requests come after the handshake: an anonymous socket gets nothing done.
                connection.offer([
                    .text(
                        APIResponse.failure(id: id, .user(#"Send {"token": …} on /stream before any request"#))
                            .serialized)
                ])
                return true
            }
            let answer: String
            switch parsed {
            case .success(let request):
                answer = await dispatcher.answerFrame(request)
            case .failure(let exception):
                answer = APIResponse.failure(id: id, exception).serialized
            }
            connection.offer([.text(answer)])
            return true
        case .handshake(let value, let endpoint, let seq):
            connection.handshakeReceived.store(true, ordering: .relaxed)
            token = value
            requested = (endpoint, seq)
        }
        do {
            guard let credential = try await dispatcher.credential(for: token) else {
                logger.info("stream refused: invalid token")
                connection.offer([.text(#"{"error":"Invalid token"}"#), .close(.policyViolation, "Invalid token")])
                return false
            }
            if let previous = endpointID { await drop(previous, connection: connection) }
            let (endpoint, after, reply, generation) = try await open(
                credential, requestedID: requested.endpointID, requestedSeq: requested.seq)
            endpointID = endpoint
            connection.generation.store(generation, ordering: .relaxed)
            hub.attach(connection, endpointID: endpoint)
            gatewaySocket?.shookHands(token, bimserver: credential.origin != .relay, endpointID: endpoint)
            connection.offer([.text(reply), .begin(endpointID: endpoint, after: after)])
            logger.info("endpoint attached", metadata: ["endpoint": "\(endpoint)", "user": "\(credential.user)"])
            return true
        } catch let failure as Upstream.Failure {
            logger.warning("stream refused: BIMserver could not check the token")
            let error = JSONValue.object([("error", .string(failure.exception.message))]).serialized
            connection.offer([.text(error), .close(.init(codeNumber: 1013), "BIMserver unavailable")])
            return false
        } catch let refused as TooManyEndpoints {
            logger.info("stream refused: too many endpoints for the token", metadata: ["limit": "\(refused.limit)"])
            let error = "This token has \(refused.limit) connected endpoints, its limit: close one first"
            connection.offer([
                .text(JSONValue.object([("error", .string(error))]).serialized),
                .close(.policyViolation, "too many endpoints"),
            ])
            return false
        } catch {
            logger.error("stream handshake failed", metadata: ["error": "\(error)"])
            connection.offer([.close(.unexpectedServerError, "handshake failed")])
            return false
        }
    }

    /// Resumes the requested endpoint (same user, still retained), or the token's last dropped
    /// endpoint for a token-only reconnect, or creates one. Returns the id, the seq to replay
    /// after, the reply text, and the connection's generation.
    private func open(_ credential: TokenRecord, requestedID: Int64?, requestedSeq: Int64) async throws -> (
        Int64, Int64, String, Int64
    ) {
        let now = time.now()
        let cutoff = now.addingTimeInterval(-DurationText.seconds(configuration.endpointRetention))
        return try await storage.write { tx in
            if let requestedID {
                if let endpoint = try tx.stream.endpoint(id: requestedID), endpoint.user == credential.user,
                    endpoint.connected || (endpoint.disconnectedAt ?? now) >= cutoff,
                    try Self.mayResume(endpoint, with: credential, tx: tx)
                {
                    if endpoint.tokenId != credential.id, let tokenID = credential.id {
                        try tx.stream.rebind(endpointID: requestedID, tokenID: tokenID)
                    }
                    let generation = try tx.stream.attach(endpointID: requestedID, now: now)
                    let after = min(requestedSeq, endpoint.lastSeq)
                    let replayed = endpoint.lastSeq - after
                    let oldest = try tx.stream.oldestSeq(endpointID: requestedID)
                    let gap = endpoint.lastSeq > after && (oldest ?? Int64.max) > after + 1
                    return (
                        requestedID, after,
                        Self.endpointReply(requestedID, resumed: true, replayed: replayed, gap: gap),
                        generation
                    )
                }
                let created = try self.createEndpoint(tx, credential: credential, now: now)
                return (created.id, 0, Self.endpointReply(created.id, resumed: false, replayed: 0, gap: false), 0)
            }
            // The stock BIMserver client sends only {"token"}: give it back the endpoint it lost
            // (also when the relay that held its socket is gone).
            try tx.stream.detachGone(tokenID: credential.id ?? 0, now: now)
            if let dropped = try tx.stream.lastDropped(tokenID: credential.id ?? 0, since: cutoff) {
                let generation = try tx.stream.attach(endpointID: dropped.id, now: now)
                return (dropped.id, dropped.sentSeq, Self.endpointReply(dropped.id), generation)
            }
            let created = try self.createEndpoint(tx, credential: credential, now: now)
            return (created.id, 0, Self.endpointReply(created.id), 0)
        }
    }

    /// The answer to an `action` frame.
    static let actionRefusal = JSONValue.object([
        ("error", "bimrelay does not serve BIMserver's download action: download models from BIMserver itself")
    ]).serialized

    /// Refused: the token's connected endpoints fill `--max-endpoints-per-token`.
    struct TooManyEndpoints: Error {
        let limit: Int
    }

    /// A new endpoint for `credential`, its oldest dropped endpoints making room within the limit.
    private func createEndpoint(_ tx: any StoreTransaction, credential: TokenRecord, now: Date) throws -> EndpointRecord
    {
        let limit = configuration.maxEndpointsPerToken
        guard try tx.stream.makeRoomForEndpoint(tokenID: credential.id ?? 0, limit: limit) else {
            throw TooManyEndpoints(limit: limit)
        }
        return try tx.stream.createEndpoint(token: credential, now: now)
    }

    /// Whether `credential` may take over `endpoint`: its own token, or another token of the same
    /// user that sees at least as much (its stored frames were filtered by the endpoint's token:
    /// a narrower token must not read them).
    private static func mayResume(_ endpoint: EndpointRecord, with credential: TokenRecord, tx: any StoreTransaction)
        throws -> Bool
    {
        if endpoint.tokenId == credential.id { return true }
        guard let owner = try tx.tokens.find(id: endpoint.tokenId) else { return credential.projectIDs == nil }
        return credential.covers(owner)
    }

    /// `{"type":"endpoint","payload":{"endpointid":N[,"resumed","replayed","gap"]},"endpointid":N}`.
    static func endpointReply(_ id: Int64, resumed: Bool? = nil, replayed: Int64 = 0, gap: Bool = false) -> String {
        var payload: [(String, JSONValue)] = [("endpointid", .int(id))]
        if let resumed {
            payload += [("resumed", .bool(resumed)), ("replayed", .int(replayed)), ("gap", .bool(gap))]
        }
        return JSONValue.object([("type", "endpoint"), ("payload", .object(payload)), ("endpointid", .int(id))])
            .serialized
    }

    /// Stops routing to the socket and remembers what it was sent.
    private func drop(_ endpointID: Int64, connection: StreamConnection) async {
        hub.detach(connection, endpointID: endpointID)
        let sent = connection.sentSeq.load(ordering: .relaxed)
        let generation = connection.generation.load(ordering: .relaxed)
        let now = time.now()
        _ = try? await storage.write { tx in
            try tx.stream.detach(endpointID: endpointID, generation: generation, sentSeq: sent, now: now)
        }
    }

    /// The socket's only writer: texts, then the replay from the database, then live frames, each
    /// seq exactly once and in order (a frame that arrives ahead of the cursor fills the hole from
    /// the database first).
    private func write(_ connection: StreamConnection, to outbound: WebSocketOutboundWriter, logger: Logger) async {
        var endpointID: Int64?
        var cursor: Int64 = 0
        do {
            while !Task.isCancelled {
                let (items, overflowed) = connection.take()
                for item in items {
                    switch item {
                    case .text(let text):
                        try await outbound.write(.text(text))
                    case .binary(let buffer):
                        try await outbound.writeBinaryMessage(buffer)
                    case .begin(let id, let after):
                        endpointID = id
                        cursor = after
                        cursor = try await replay(
                            id, after: cursor, upTo: .max, to: outbound, connection: connection, resume: true)
                    case .frame(let frame):
                        guard frame.endpointID == endpointID, frame.seq > cursor, let id = endpointID else { continue }
                        if frame.seq > cursor + 1 {
                            cursor = try await replay(
                                id, after: cursor, upTo: frame.seq - 1, to: outbound, connection: connection,
                                resume: false)
                        }
                        try await outbound.write(.text(frame.text))
                        hub.metrics.framesSent(1, replayed: false)
                        cursor = frame.seq
                        connection.sentSeq.store(cursor, ordering: .relaxed)
                    case .catchUp(let id, let upTo):
                        guard id == endpointID, upTo > cursor else { continue }
                        cursor = try await replay(
                            id, after: cursor, upTo: upTo, to: outbound, connection: connection, resume: false)
                    case .close(let code, let reason):
                        try await outbound.close(code, reason: reason)
                        return
                    }
                }
                if overflowed {
                    logger.notice(
                        "slow consumer closed; its frames stay stored", metadata: ["endpoint": "\(endpointID ?? 0)"])
                    try await outbound.close(.policyViolation, reason: "slow consumer: resume to get the rest")
                    return
                }
                if items.isEmpty { await connection.wakeup.wait() }
            }
        } catch {
            logger.debug("stream writer stopped", metadata: ["error": "\(error)"])
        }
    }

    /// Writes stored frames of `endpointID` with `after < seq <= upTo`; returns the new cursor.
    /// - Parameter resume: whether this is the replay after a (re)attach, counted as replayed
    ///   frames; otherwise it fills a hole before a live frame, counted as pushed.
    private func replay(
        _ endpointID: Int64, after: Int64, upTo: Int64, to outbound: WebSocketOutboundWriter,
        connection: StreamConnection, resume: Bool
    ) async throws -> Int64 {
        var cursor = after
        while cursor < upTo {
            let from = cursor
            let frames = try await storage.read { tx in
                try tx.stream.frames(endpointID: endpointID, after: from, limit: Self.replayChunk)
            }.filter { $0.seq <= upTo }
            guard !frames.isEmpty else { break }
            for frame in frames {
                try await outbound.write(.text(frame.text))
                cursor = frame.seq
            }
            connection.sentSeq.store(cursor, ordering: .relaxed)
            hub.metrics.framesSent(frames.count, replayed: resume)
        }
        return cursor
    }
}
