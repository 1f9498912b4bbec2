import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A real HTTP service on 127.0.0.1 that records what it receives and answers as scripted: the
/// "service" of delivery tests. It can be told to fail, to be slow, or be stopped and started
/// again on the same port.
public final class TestReceiver: Sendable {
    /// One scripted answer.
    public struct Reply: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: String
        /// Wait this long before answering (to provoke timeouts).
        public var delay: Duration?
        /// Send the head and the body's first byte, then nothing more until the client gives up
        /// (a service that stalls mid-response).
        public var stallsBody: Bool

        public init(
            status: Int = 200, headers: [(String, String)] = [], body: String = #"{"response":{"result":{}}}"#,
            delay: Duration? = nil, stallsBody: Bool = false
        ) {
            self.status = status
            self.headers = headers
            self.body = body
            self.delay = delay
            self.stallsBody = stallsBody
        }

        /// A 200 whose body never ends.
        public static let stalled = Reply(stallsBody: true)

        /// BIMserver's answer to a notification.
        public static let ok = Reply()
    }

    /// One request as it arrived.
    public struct Received: Sendable {
        public let path: String
        public let headers: [(String, String)]
        public let body: String
        public let at: Date

        /// The first value of a header (case-insensitive).
        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
    }

    private struct State {
        var script: [Reply] = []
        var fallback = Reply.ok
        var received: [Received] = []
        var concurrent = 0
        var maxConcurrent = 0
    }

    private let state = Mutex(State())
    private let running = Mutex<(ServiceGroup, Task<Void, any Error>)?>(nil)
    /// The port; the same across ``stop()`` and ``restart()``.
    public let port: Int

    /// `http://127.0.0.1:<port>`.
    public var url: String { "http://127.0.0.1:\(port)" }

    private init(port: Int) {
        self.port = port
    }

    /// Starts a receiver on a free port.
    public static func start() async throws -> TestReceiver {
        let probe = TestReceiver(port: 0)
        let port = try await probe.listen(on: 0)
        let receiver = TestReceiver(port: port)
        await probe.stop()
        _ = try await receiver.listen(on: port)
        return receiver
    }

    /// Answers the next requests with `replies`, in order, then with the fallback.
    public func script(_ replies: [Reply]) {
        state.withLock { $0.script += replies }
    }

    /// The answer once the script is used up.
    public func setFallback(_ reply: Reply) {
        state.withLock { $0.fallback = reply }
    }

    /// Everything received so far.
    public var received: [Received] { state.withLock { $0.received } }

    /// The most requests that were being answered at the same time.
    public var maxConcurrent: Int { state.withLock { $0.maxConcurrent } }

    /// Stops listening (connections are refused until ``restart()``).
    public func stop() async {
        guard
            let (group, task) = running.withLock({ running in
                defer { running = nil }
                return running
            })
        else { return }
        await group.triggerGracefulShutdown()
        // A stalled reply never ends by itself: past a grace period, cancel what is still running.
        let grace = Task {
            try await Task.sleep(for: .seconds(2))
            task.cancel()
        }
        _ = try? await task.value
        grace.cancel()
    }

    /// Listens again on the same port.
    public func restart() async throws {
        _ = try await listen(on: port)
    }

    private func listen(on port: Int) async throws -> Int {
        let router = Router()
        router.post("**") { request, context -> Response in
            var request = request
            let body = try await request.collectBody(upTo: 16 << 20)
            return await self.respond(path: request.uri.path, headers: request.headers, body: body)
        }
        let logger = Logger(label: "test-receiver") { _ in SwiftLogNoOpLogHandler() }
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: port), reuseAddress: true),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? port) }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let task = Task { try await group.run() }
        running.withLock { $0 = (group, task) }
        var iterator = ports.makeAsyncIterator()
        guard let bound = await iterator.next() else { throw PollTimeout(what: "the receiver to listen") }
        return bound
    }

    private func respond(path: String, headers: HTTPFields, body: ByteBuffer) async -> Response {
        let reply = state.withLock { state -> Reply in
            state.received.append(
                Received(
                    path: path, headers: headers.map { ($0.name.rawName, $0.value) }, body: String(buffer: body),
                    at: Date()))
            state.concurrent += 1
            state.maxConcurrent = max(state.maxConcurrent, state.concurrent)
            return state.script.isEmpty ? state.fallback : state.script.removeFirst()
        }
        if let delay = reply.delay { try? await Task.sleep(for: delay) }
        state.withLock { $0.concurrent -= 1 }
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        for (name, value) in reply.headers {
            if let field = HTTPField.Name(name) { fields[field] = value }
        }
        if reply.stallsBody {
            let first = ByteBuffer(string: String(reply.body.prefix(1)))
            return Response(
                status: HTTPResponse.Status(code: reply.status), headers: fields,
                body: .init(contentLength: reply.body.utf8.count) { writer in
                    try await writer.write(first)
                    // Until the relay hangs up (its timeout) or the receiver stops.
                    try await Task.sleep(for: .seconds(3600))
                })
        }
        return Response(
            status: HTTPResponse.Status(code: reply.status), headers: fields,
            body: .init(byteBuffer: ByteBuffer(string: reply.body)))
    }
}
