import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// One TCP connection driven byte by byte: several HTTP/1.1 requests on it, then a WebSocket
/// upgrade and frames, as Node's built-in WebSocket or a reverse proxy that reuses connections does.
public final class RawConnection: Sendable {
    /// An HTTP response read off the connection.
    public struct Response: Sendable {
        /// The status code.
        public let status: Int
        /// Header names lowercased.
        public let headers: [String: String]
        /// The body (by Content-Length).
        public let body: String
    }

    private let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    private let reader: Reader

    private init(channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>) {
        self.channel = channel
        reader = Reader(channel.inbound)
    }

    /// Connects to 127.0.0.1:`port`.
    public static func connect(port: Int) async throws -> RawConnection {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return RawConnection(channel: channel)
    }

    /// Sends bytes as they are.
    public func send(_ bytes: [UInt8]) async throws {
        try await channel.outbound.write(ByteBuffer(bytes: bytes))
    }

    /// Sends a request (`GET` without a body, anything else with `body`), keeping the connection alive.
    public func request(_ method: String, _ path: String, headers: [(String, String)] = [], body: String = "")
        async throws
    {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if method != "GET" { text += "Content-Length: \(body.utf8.count)\r\n" }
        text += "\r\n" + body
        try await send(Array(text.utf8))
    }

    /// Sends a WebSocket upgrade request for `path` with a fixed key.
    public func upgrade(_ path: String = "/stream") async throws {
        try await request(
            "GET", path,
            headers: [
                ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13"),
                ("Sec-WebSocket-Key", Self.key),
            ])
    }

    /// The key ``upgrade(_:)`` sends, and the `Sec-WebSocket-Accept` RFC 6455 derives from it.
    public static let key = "dGhlIHNhbXBsZSBub25jZQ=="
    public static let expectedAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

    /// Reads one HTTP response (head, then a body of Content-Length bytes).
    public func response(timeout: Duration = .seconds(10)) async throws -> Response {
        let head = try await reader.until(Array("\r\n\r\n".utf8), timeout: timeout)
        let lines = String(decoding: head, as: UTF8.self).components(separatedBy: "\r\n")
        let status = Int(lines[0].split(separator: " ")[1]) ?? 0
        var headers: [String: String] = [:]
        for line in lines.dropFirst() where line.contains(":") {
            let parts = line.split(separator: ":", maxSplits: 1)
            headers[parts[0].lowercased()] = parts[1].trimmingCharacters(in: .whitespaces)
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        let body = try await reader.take(length, timeout: timeout)
        return Response(status: status, headers: headers, body: String(decoding: body, as: UTF8.self))
    }

    /// Reads one unfragmented server frame; returns its opcode and payload.
    public func frame(timeout: Duration = .seconds(10)) async throws -> (opcode: UInt8, payload: [UInt8]) {
        let start = try await reader.take(2, timeout: timeout)
        var length = Int(start[1] & 0x7F)
        if length == 126 {
            let bytes = try await reader.take(2, timeout: timeout)
            length = Int(bytes[0]) << 8 | Int(bytes[1])
        } else if length == 127 {
            length = try await reader.take(8, timeout: timeout).reduce(0) { $0 << 8 | Int($1) }
        }
        return (start[0] & 0x0F, try await reader.take(length, timeout: timeout))
    }

    /// Reads frames until a text frame and returns its text (pings are skipped).
    public func text(timeout: Duration = .seconds(10)) async throws -> String {
        while true {
            let (opcode, payload) = try await frame(timeout: timeout)
            if opcode == 0x1 { return String(decoding: payload, as: UTF8.self) }
            if opcode == 0x8 { throw RawConnectionError.closed }
        }
    }

    /// Sends a masked text frame, as a client must.
    public func sendText(_ text: String) async throws {
        let payload = Array(text.utf8)
        var frame: [UInt8] = [0x81]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else {
            frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        }
        let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        try await send(frame)
    }

    /// Whether the server closed the connection (reads until end of stream).
    public func closedByServer(timeout: Duration = .seconds(10)) async -> Bool {
        await reader.isAtEnd(timeout: timeout)
    }

    /// Closes the connection.
    public func close() async {
        try? await channel.channel.close()
    }
}

/// What a ``RawConnection`` read could not give.
public enum RawConnectionError: Error {
    case timedOut
    case closed
}

/// Buffers the inbound bytes of a ``RawConnection``: a task pumps them in, reads poll with a deadline.
private final class Reader: Sendable {
    private struct State {
        var buffer: [UInt8] = []
        var ended = false
    }

    private final class Shared: Sendable {
        let state = Mutex(State())
    }

    private let shared = Shared()
    private let pump: Task<Void, Never>

    init(_ inbound: NIOAsyncChannelInboundStream<ByteBuffer>) {
        let shared = self.shared
        pump = Task {
            do {
                for try await chunk in inbound { shared.state.withLock { $0.buffer += chunk.readableBytesView } }
            } catch {}
            shared.state.withLock { $0.ended = true }
        }
    }

    deinit { pump.cancel() }

    /// Removes and returns the first `count` bytes, or nil while there are fewer.
    private func remove(_ count: (inout State) -> Int?) -> [UInt8]? {
        shared.state.withLock { state in
            guard let count = count(&state) else { return nil }
            let bytes = Array(state.buffer.prefix(count))
            state.buffer.removeFirst(count)
            return bytes
        }
    }

    private func await(_ what: String, timeout: Duration, _ count: @escaping (inout State) -> Int?) async throws
        -> [UInt8]
    {
        var result: [UInt8]?
        try await poll(until: what, timeout: timeout, interval: .milliseconds(2)) {
            result = remove(count)
            if result == nil, shared.state.withLock({ $0.ended }) { throw RawConnectionError.closed }
            return result != nil
        }
        return result!
    }

    func until(_ marker: [UInt8], timeout: Duration) async throws -> [UInt8] {
        try await self.await("an HTTP head", timeout: timeout) { $0.buffer.firstRange(of: marker)?.upperBound }
    }

    func take(_ count: Int, timeout: Duration) async throws -> [UInt8] {
        try await self.await("\(count) bytes", timeout: timeout) { $0.buffer.count >= count ? count : nil }
    }

    func isAtEnd(timeout: Duration) async -> Bool {
        (try? await poll(until: "the end of the connection", timeout: timeout) { shared.state.withLock { $0.ended } })
            != nil
    }
}
