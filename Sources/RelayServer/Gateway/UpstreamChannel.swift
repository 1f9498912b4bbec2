import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import RelayCore
import Synchronization

/// Gateway mode: one `/stream` client's own socket to BIMserver's `/stream`, opened when the client
/// first needs BIMserver there:
/// - downloads: BIMserver streams models over its `/stream` (`{"action":"download","topicId":N}`
///   in, binary messages out). The client's action frames are passed on unchanged and BIMserver's
///   binary messages streamed back, in order, through the client's bounded queue (a client that
///   does not read stops the relay reading from BIMserver).
/// - BIMserver's own progress (a checkin's, a download's): the channel shakes hands with the
///   client's BIMserver token, so BIMserver gives it an endpoint of its own; the client's
///   `registerProgressHandler` for BIMserver's topic is passed on with that endpoint, and the
///   progress BIMserver then pushes (`{"request":{…"NotificationInterface"…}}`) reaches the client.
///   These pushes are BIMserver's: not stored, not replayed.
/// BIMserver's other text frames on this socket (its welcome, its endpoint reply) are not the
/// client's and are dropped.
final class UpstreamChannel: Sendable {
    /// The largest message read from BIMserver (it sends downloads in messages of about 1 MB).
    static let maxMessageBytes = 16 << 20

    private struct State {
        var endpointID: Int64?
        var ended = false
    }

    private let outgoing: AsyncStream<String>.Continuation
    private let task: Task<Void, Never>
    private let state = Shared()
    /// Signalled when BIMserver's endpoint id arrives or the channel ends.
    private let changed = Wakeup()

    private final class Shared: Sendable {
        let value = Mutex(State())
    }

    /// Whether BIMserver's socket is gone (the next use opens a new one).
    var isClosed: Bool { state.value.withLock { $0.ended } }

    /// Opens the channel; `connection` receives what BIMserver sends for the client. With `token`
    /// (the client's BIMserver token) it shakes hands, so BIMserver gives it an endpoint.
    init(url: String, token: String?, connection: StreamConnection, bufferBytes: Int, logger: Logger) {
        let (frames, outgoing) = AsyncStream<String>.makeStream()
        self.outgoing = outgoing
        if let token { outgoing.yield(JSONValue.object([("token", .string(token))]).serialized) }
        let state = self.state
        let changed = self.changed
        task = Task {
            defer {
                state.value.withLock { $0.ended = true }
                changed.signal()
            }
            do {
                _ = try await WebSocketClient.connect(
                    url: url, configuration: .init(maxFrameSize: Self.maxMessageBytes), logger: logger
                ) { inbound, outbound, _ in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for await text in frames { try await outbound.write(.text(text)) }
                            try await outbound.close(.normalClosure, reason: nil)
                        }
                        group.addTask {
                            for try await message in inbound.messages(maxSize: Self.maxMessageBytes) {
                                switch message {
                                case .binary(let buffer):
                                    await connection.waitForRoom(limit: bufferBytes)
                                    connection.offer([.binary(buffer)])
                                case .text(let text):
                                    guard let frame = try? JSONValue.parse(text) else { continue }
                                    if let id = frame["endpointid"]?.intValue {
                                        state.value.withLock { $0.endpointID = id }
                                        changed.signal()
                                    } else if frame["request"] != nil {
                                        await connection.waitForRoom(limit: bufferBytes)
                                        connection.offer([.text(text)])
                                    }
                                }
                            }
                        }
                        try await group.next()
                        group.cancelAll()
                    }
                }
            } catch is CancellationError {
            } catch {
                guard !Task.isCancelled else { return }
                logger.warning("BIMserver channel failed", metadata: ["error": "\(type(of: error))"])
                let message = "BIMserver's channel failed: \(type(of: error))"
                connection.offer([.text(JSONValue.object([("error", .string(message))]).serialized)])
            }
        }
    }

    /// Passes a frame on to BIMserver.
    func send(_ text: String) {
        outgoing.yield(text)
    }

    /// The endpoint BIMserver gave this channel, waiting for it at most `timeout`; nil when it
    /// gives none (the token was refused, the socket failed).
    func upstreamEndpoint(timeout: Duration) async -> Int64? {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            let (id, ended) = state.value.withLock { ($0.endpointID, $0.ended) }
            if let id { return id }
            if ended || ContinuousClock.now >= deadline { return nil }
            _ = await changed.wait(timeout: deadline - ContinuousClock.now)
        }
    }

    /// Closes the channel (the client went).
    func close() {
        outgoing.finish()
        task.cancel()
    }
}
