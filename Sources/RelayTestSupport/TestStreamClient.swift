import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOWebSocket
import RelayCore
import Synchronization

/// A real WebSocket client on `/stream`, driven step by step by a test.
public final class TestStreamClient: Sendable {
    private struct State {
        var received: [String] = []
        var read = 0
        var binaries: [[UInt8]] = []
        var closed = false
        var closeCode: Int?
    }

    private let state = Mutex(State())
    /// A frame to send.
    private enum Outgoing: Sendable {
        case text(String)
        case binary([UInt8])
    }

    private let outgoing: AsyncStream<Outgoing>.Continuation
    private let task: Task<Void, Never>

    private init(outgoing: AsyncStream<Outgoing>.Continuation, task: Task<Void, Never>) {
        self.outgoing = outgoing
        self.task = task
    }

    /// Connects to `ws://127.0.0.1:<port>/stream`.
    public static func connect(port: Int) async throws -> TestStreamClient {
        try await connect(url: "ws://127.0.0.1:\(port)/stream")
    }

    /// Connects to a WebSocket URL; frames up to `maxFrameSize` bytes are read.
    public static func connect(url: String, maxFrameSize: Int = 1 << 20) async throws -> TestStreamClient {
        let (stream, continuation) = AsyncStream<Outgoing>.makeStream()
        let holder = Mutex<TestStreamClient?>(nil)
        let logger = Logger(label: "test-stream") { _ in SwiftLogNoOpLogHandler() }
        let task = Task {
            let close = try? await WebSocketClient.connect(
                url: url, configuration: .init(maxFrameSize: maxFrameSize), logger: logger
            ) { inbound, outbound, _ in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await frame in stream {
                            switch frame {
                            case .text(let text): try await outbound.write(.text(text))
                            case .binary(let bytes): try await outbound.write(.binary(ByteBuffer(bytes: bytes)))
                            }
                        }
                        try await outbound.close(.normalClosure, reason: nil)
                    }
                    for try await message in inbound.messages(maxSize: max(1 << 24, maxFrameSize)) {
                        switch message {
                        case .text(let text):
                            holder.withLock { $0 }?.state.withLock { $0.received.append(text) }
                        case .binary(let buffer):
                            holder.withLock { $0 }?.state.withLock {
                                $0.binaries.append(Array(buffer.readableBytesView))
                            }
                        }
                    }
                    group.cancelAll()
                }
            }
            holder.withLock { $0 }?.state.withLock {
                $0.closed = true
                if let close { $0.closeCode = Int(UInt16(webSocketErrorCode: close.closeCode)) }
            }
        }
        let client = TestStreamClient(outgoing: continuation, task: task)
        holder.withLock { $0 = client }
        return client
    }

    /// Sends a text frame.
    public func send(_ text: String) {
        outgoing.yield(.text(text))
    }

    /// Sends a binary frame (the relay refuses them).
    public func sendBinary(_ bytes: [UInt8]) {
        outgoing.yield(.binary(bytes))
    }

    /// The next message not read yet, waiting up to `timeout`.
    public func next(timeout: Duration = .seconds(10)) async throws -> String {
        var message: String?
        try await poll(until: "a stream message", timeout: timeout, interval: .milliseconds(2)) {
            message = state.withLock { state in
                guard state.read < state.received.count else { return nil }
                defer { state.read += 1 }
                return state.received[state.read]
            }
            return message != nil
        }
        return message!
    }

    /// The next message, parsed.
    public func nextJSON(timeout: Duration = .seconds(10)) async throws -> JSONValue {
        try JSONValue.parse(try await next(timeout: timeout))
    }

    /// Binary messages received so far, in order.
    public var binaries: [[UInt8]] { state.withLock { $0.binaries } }

    /// Messages received and not read yet.
    public var unread: Int { state.withLock { $0.received.count - $0.read } }

    /// Whether the server closed the socket, and with which code.
    public var closed: (Bool, Int?) { state.withLock { ($0.closed, $0.closeCode) } }

    /// Closes the socket and waits for it to end.
    public func close() async {
        outgoing.finish()
        await task.value
    }
}
