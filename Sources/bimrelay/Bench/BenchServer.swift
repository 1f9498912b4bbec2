import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import RelayCore
import ServiceLifecycle
import Synchronization

/// A logger that drops everything: the bench measures, it does not narrate.
let quietLogger = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }

/// A Hummingbird server on 127.0.0.1 and a free port, with the relay's own server stack
/// (HTTP/1.1 with the WebSocket upgrade), for the receiver and the HTTP-ceiling handler.
struct BenchServer: Sendable {
    let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    static func start(_ router: Router<BasicWebSocketRequestContext>) async throws -> BenchServer {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, server: .http1WebSocketUpgrade(webSocketRouter: router),
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "bench"),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: quietLogger)
        let group = ServiceGroup(configuration: .init(services: [app], logger: quietLogger))
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw RelayError.database("bench server did not start") }
        return BenchServer(port: port, group: group, task: task)
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    static let okBody = #"{"response":{"result":{}}}"#

    /// A response with the relay's empty result.
    static func ok() -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/json; charset=UTF-8"],
            body: .init(byteBuffer: ByteBuffer(string: okBody)))
    }
}

/// A service that takes every notification (200), counting them and, optionally, when each roid arrived.
final class BenchReceiver: Sendable {
    let arrivals = Atomic<Int>(0)
    private let times = Mutex<[Int64: ContinuousClock.Instant]>([:])
    private let recordTimes: Bool
    private let server: Mutex<BenchServer?> = Mutex(nil)

    private init(recordTimes: Bool) {
        self.recordTimes = recordTimes
    }

    static func start(recordTimes: Bool = false) async throws -> (BenchReceiver, Int) {
        let receiver = BenchReceiver(recordTimes: recordTimes)
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.post("/json") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            if receiver.recordTimes, let roid = Self.roid(in: body) {
                let now = ContinuousClock.now
                receiver.times.withLock { $0[roid] = now }
            }
            receiver.arrivals.add(1, ordering: .relaxed)
            return BenchServer.ok()
        }
        let server = try await BenchServer.start(router)
        receiver.server.withLock { $0 = server }
        return (receiver, server.port)
    }

    var count: Int { arrivals.load(ordering: .relaxed) }

    func arrival(of roid: Int64) -> ContinuousClock.Instant? { times.withLock { $0[roid] } }

    func stop() async {
        if let server = server.withLock({ $0 }) { await server.stop() }
    }

    /// The number after `"roid":` in a body.
    static func roid(in body: ByteBuffer) -> Int64? {
        let bytes = body.readableBytesView
        let key = Array(#""roid":"#.utf8)
        guard let start = bytes.firstRange(of: key) else { return nil }
        var value: Int64 = 0
        var index = start.upperBound
        while index < bytes.endIndex, let digit = bytes[index].digitValue {
            value = value * 10 + Int64(digit)
            index = bytes.index(after: index)
        }
        return value
    }
}

extension UInt8 {
    fileprivate var digitValue: Int? { (48...57).contains(self) ? Int(self - 48) : nil }
}

/// K concurrent keep-alive HTTP clients POSTing bodies.
struct LoadGenerator: Sendable {
    let client: HTTPClient

    init(connections: Int) {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
        configuration.decompression = .disabled
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func shutdown() async { try? await client.shutdown() }

    /// POSTs one body; true when the answer is the relay's empty result.
    func post(_ url: String, body: String, headers: [(String, String)] = []) async throws -> Bool {
        let (status, answer) = try await Self.send(url, body: body, headers: headers, client: client)
        return status == 200 && String(buffer: answer) == BenchServer.okBody
    }

    /// POSTs one JSON body and returns the status and the whole answer.
    static func send(
        _ url: String, body: String, headers: [(String, String)] = [], client: HTTPClient = .shared
    ) async throws -> (Int, ByteBuffer) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await client.execute(request, timeout: .seconds(60))
        return (Int(response.status.code), try await response.body.collect(upTo: 1 << 24))
    }

    /// GETs `url`; returns the status and the body as text.
    static func get(_ url: String) async throws -> (Int, String) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 24)))
    }

    /// Sends `total` bodies over `concurrency` connections; returns the seconds taken and how many were accepted.
    func run(
        _ url: String, total: Int, concurrency: Int, headers: [(String, String)] = [],
        body: @escaping @Sendable (Int) -> String
    ) async throws -> (seconds: Double, accepted: Int) {
        let next = Counter()
        let accepted = Counter()
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    while true {
                        let index = next.increment() - 1
                        guard index < total else { return }
                        if try await post(url, body: body(index), headers: headers) {
                            accepted.increment()
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        return ((ContinuousClock.now - started).seconds, accepted.value)
    }
}

extension Duration {
    /// The duration in seconds.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// Polls `condition` until it holds or `timeout` passes (false then).
func waitUntil(timeout: Duration, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(2))
    }
    return try await condition()
}

/// A value shared between tasks.
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { mutex = Mutex(value) }

    func update(_ body: (inout Value) -> Void) { mutex.withLock { body(&$0) } }

    var value: Value { mutex.withLock { $0 } }
}

/// A counter shared between tasks.
final class Counter: Sendable {
    private let atomic = Atomic<Int>(0)

    /// Adds one; returns the new value.
    @discardableResult
    func increment() -> Int { atomic.add(1, ordering: .relaxed).newValue }

    var value: Int { atomic.load(ordering: .relaxed) }
}
