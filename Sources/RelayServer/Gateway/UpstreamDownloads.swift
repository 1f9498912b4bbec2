import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import RelayCore
import Synchronization

/// Gateway mode: one `/stream` client's download channel. BIMserver streams models over its own
/// `/stream` (`{"action":"download","topicId":N}` in, binary messages out); the relay holds no
/// models, so it opens a WebSocket of its own to BIMserver's `/stream` at the client's first
/// `action` frame, passes the client's action frames on unchanged and streams BIMserver's binary
/// messages back to the client, in order, through the client's bounded queue (a client that does
/// not read stops the relay reading from BIMserver). BIMserver's text frames on that socket
/// (its own welcome and endpoint) are not the client's and are dropped.
final class UpstreamDownloads: Sendable {
    /// The largest message read from BIMserver (it sends downloads in messages of about 1 MB).
    static let maxMessageBytes = 16 << 20

    private let outgoing: AsyncStream<String>.Continuation
    private let task: Task<Void, Never>
    private let ended = Ended()

    /// Set when the channel's task ends.
    private final class Ended: Sendable {
        let flag = Atomic<Bool>(false)
    }

    /// Whether BIMserver's socket is gone (the next action frame opens a new one).
    var isClosed: Bool { ended.flag.load(ordering: .relaxed) }

    /// Opens the channel; `connection` receives BIMserver's binary messages.
    init(url: String, connection: StreamConnection, bufferBytes: Int, logger: Logger) {
        let (frames, outgoing) = AsyncStream<String>.makeStream()
        self.outgoing = outgoing
        let ended = self.ended
        task = Task {
            defer { ended.flag.store(true, ordering: .relaxed) }
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
                                guard case .binary(let buffer) = message else { continue }
                                await connection.waitForRoom(limit: bufferBytes)
                                connection.offer([.binary(buffer)])
                            }
                        }
                        try await group.next()
                        group.cancelAll()
                    }
                }
            } catch is CancellationError {
            } catch {
                guard !Task.isCancelled else { return }
                logger.warning("BIMserver download channel failed", metadata: ["error": "\(error)"])
                let message = "BIMserver's download channel failed: \(type(of: error))"
                connection.offer([.text(JSONValue.object([("error", .string(message))]).serialized)])
            }
        }
    }

    /// Passes an `action` frame on to BIMserver.
    func send(_ text: String) {
        outgoing.yield(text)
    }

    /// Closes the channel (the client went).
    func close() {
        outgoing.finish()
        task.cancel()
    }
}
