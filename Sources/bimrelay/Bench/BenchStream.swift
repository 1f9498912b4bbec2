import ArgumentParser
import Foundation
import HummingbirdWSClient
import RelayCore
import RelayHarness
import RelayServer
import RelayStore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `/stream` scenarios: replay of missed frames to one endpoint, and one update fanned out to many
/// endpoints whose clients run in a child process (each side then needs only one socket per client).
extension BenchScenarios {
    /// Calls NotificationRegistryInterface on the JSON API and returns the result.
    static func call(_ port: Int, token: String, _ method: String, _ parameters: String) async throws -> JSONValue {
        let body = """
            {"token":"\(token)","request":{"interface":"NotificationRegistryInterface","method":"\(method)",\
            "parameters":{\(parameters)}}}
            """
        let (_, answer) = try await LoadGenerator.send("http://127.0.0.1:\(port)/json", body: body)
        let reply = try JSONValue.parse(Array(answer.readableBytesView))
        guard let result = reply["response"]?["result"] else {
            throw RelayError.database("\(method) failed: \(reply.serialized)")
        }
        return result
    }

    /// Opens `/stream`, reads the welcome, and runs `session` with the rest of the messages.
    static func streamSession(
        port: Int,
        _ session:
            @escaping @Sendable (inout WebSocketInboundMessageStream.AsyncIterator, WebSocketOutboundWriter)
            async throws -> Void
    ) async throws {
        _ = try await WebSocketClient.connect(
            url: "ws://127.0.0.1:\(port)/stream", configuration: .init(maxFrameSize: 1 << 20), logger: quietLogger
        ) { inbound, outbound, _ in
            var messages = inbound.messages(maxSize: 1 << 24).makeAsyncIterator()
            _ = try await messages.next()
            try await session(&messages, outbound)
        }
    }

    /// Sends `{"token"}` and returns the endpoint id of the reply.
    static func attach(
        token: String, _ messages: inout WebSocketInboundMessageStream.AsyncIterator,
        _ outbound: WebSocketOutboundWriter
    ) async throws -> Int64 {
        try await outbound.write(.text(#"{"token":"\#(token)"}"#))
        guard case .text(let reply)? = try await messages.next(),
            case .int(let endpoint)? = try JSONValue.parse(reply)["endpointid"]
        else { throw RelayError.database("no endpoint from /stream") }
        return endpoint
    }

    static func progress(topic: Int64, _ value: Int) -> String {
        #""topicId":\#(topic),"state":{"__type":"SLongActionState","progress":\#(value % 100),"state":"STARTED","title":"Step \#(value)","stage":1,"errors":[],"warnings":[],"infos":[]}"#
    }

    /// A relay with a server topic, a producer and a client token.
    func streamRelay(_ name: String) async throws -> (RunningRelay, producer: String, client: String, topic: Int64) {
        let (database, producer) = try await database(name, serviceURL: "http://127.0.0.1:9", enabled: false)
        let client = try await SQLiteStorage(database: database).write { tx in
            try tx.tokens.issue(user: "viewer", role: .client, projects: nil, now: Date()).token
        }
        let relay = try await start(database, runWorker: false)
        guard
            case .int(let topic) = try await Self.call(
                relay.port, token: producer, "registerProgressTopic", #""type":"RUNNING_SERVICE","description":"bench""#
            )
        else { throw RelayError.database("no topic") }
        return (relay, producer, client, topic)
    }

    /// Milliseconds from a resume request until the last of `frames` missed frames arrived.
    func replay(frames: Int) async throws -> Double {
        let (relay, producer, client, topic) = try await streamRelay("replay")
        defer { Task { await relay.stop() } }
        // Connect, get an endpoint, register it on the topic, go away.
        let endpoint = Shared<Int64>(0)
        try await Self.streamSession(port: relay.port) { messages, outbound in
            let id = try await Self.attach(token: client, &messages, outbound)
            endpoint.update { $0 = id }
        }
        let id = endpoint.value
        _ = try await Self.call(
            relay.port, token: client, "registerProgressHandler", #""topicId":\#(topic),"endPointId":\#(id)"#)
        _ = await waitUntil(timeout: .seconds(10)) {
            (try? await SQLiteStorage(database: relay.database).integer(
                "SELECT connected = 0 FROM endpoints WHERE id = ?", arguments: [id])) == 1
        }
        // Publish while it is away, 250 updates per envelope.
        var published = 0
        while published < frames {
            let batch = min(250, frames - published)
            let calls = (0..<batch).map { offset in
                #"{"interface":"NotificationRegistryInterface","method":"updateProgressTopic","parameters":{\#(Self.progress(topic: topic, published + offset))}}"#
            }
            let body = #"{"token":"\#(producer)","requests":[\#(calls.joined(separator: ","))]}"#
            _ = try await LoadGenerator.send("http://127.0.0.1:\(relay.port)/json", body: body)
            published += batch
        }
        // Resume and time the replay.
        let elapsed = Shared<Double>(0)
        try await Self.streamSession(port: relay.port) { messages, outbound in
            let started = ContinuousClock.now
            try await outbound.write(.text(#"{"token":"\#(client)","endpointid":\#(id),"seq":0}"#))
            let last = #"{"seq":\#(frames),"#
            while let message = try await messages.next() {
                if case .text(let text) = message, text.hasPrefix(last) {
                    elapsed.update { $0 = (ContinuousClock.now - started).seconds * 1000 }
                    try await outbound.close(.normalClosure, reason: nil)
                    return
                }
            }
        }
        let result = elapsed.value
        guard result > 0 else { throw RelayError.database("replay: the last frame never came") }
        return result
    }

    /// Milliseconds from one progress update until `clients` endpoints (in a child process) all have it.
    /// Milliseconds until the update is acknowledged (its frames stored) and until every client has it.
    func fanout(clients: Int) async throws -> (acknowledged: Double, received: Double) {
        let (relay, producer, client, topic) = try await streamRelay("fanout")
        defer { Task { await relay.stop() } }
        let child = ChildProcess()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        if !FileManager.default.isExecutableFile(atPath: child.executableURL!.path) {
            child.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        }
        child.arguments = [
            "bench-clients", "--port", "\(relay.port)", "--token", client, "--topic", "\(topic)", "--count",
            "\(clients)",
        ]
        let output = Pipe()
        child.standardOutput = output
        child.standardError = FileHandle.standardError
        try child.run()
        let lines = AsyncStream<String> { continuation in
            output.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                if data.isEmpty {
                    continuation.finish()
                    handle.readabilityHandler = nil
                } else {
                    for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
                        continuation.yield(String(line))
                    }
                }
            }
        }
        var iterator = lines.makeAsyncIterator()
        guard await iterator.next() == "ready" else { throw RelayError.database("fanout clients did not connect") }
        let started = ContinuousClock.now
        _ = try await Self.call(relay.port, token: producer, "updateProgressTopic", Self.progress(topic: topic, 1))
        let acknowledged = (ContinuousClock.now - started).seconds * 1000
        guard await iterator.next() == "done" else { throw RelayError.database("fanout clients did not all receive") }
        let elapsed = (ContinuousClock.now - started).seconds * 1000
        child.waitUntilExit()
        return (acknowledged, elapsed)
    }

    /// Raises the open-file limit to its hard limit (one socket per WebSocket client).
    static func raiseFileLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}

/// `bimrelay bench-clients`: the fan-out scenario's WebSocket clients (run by `bench`, not by hand).
struct BenchClientsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-clients", abstract: "The WebSocket clients of `bimrelay bench` (internal).",
        shouldDisplay: false)

    @Option var port: Int
    @Option var token: String
    @Option var topic: Int64
    @Option var count: Int

    func run() async throws {
        BenchScenarios.raiseFileLimit()
        let ready = Counter()
        let received = Counter()
        let (allReady, readyContinuation) = AsyncStream<Void>.makeStream()
        let (allReceived, receivedContinuation) = AsyncStream<Void>.makeStream()
        let everyoneReceived = Gate()
        let (port, token, topic, count) = (port, token, topic, count)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<count {
                // Connect in waves, so the listen backlog is not overrun.
                if index % 200 == 199 { try await Task.sleep(for: .milliseconds(20)) }
                group.addTask {
                    try await BenchScenarios.streamSession(port: port) { messages, outbound in
                        let endpoint = try await BenchScenarios.attach(token: token, &messages, outbound)
                        try await outbound.write(
                            .text(
                                #"{"id":1,"token":"\#(token)","request":{"interface":"NotificationRegistryInterface","method":"registerProgressHandler","parameters":{"topicId":\#(topic),"endPointId":\#(endpoint)}}}"#
                            ))
                        _ = try await messages.next()
                        if ready.increment() == count { readyContinuation.yield() }
                        while let message = try await messages.next() {
                            if case .text(let text) = message, text.contains(#""method":"progress""#) {
                                if received.increment() == count { receivedContinuation.yield() }
                                break
                            }
                        }
                        // Stay connected until every client has the frame: 10,000 closes (and the
                        // relay's endpoint bookkeeping for each) are not part of the fan-out.
                        await everyoneReceived.wait()
                        try await outbound.close(.normalClosure, reason: nil)
                    }
                }
            }
            var readyIterator = allReady.makeAsyncIterator()
            await readyIterator.next()
            FileHandle.standardOutput.write(Data("ready\n".utf8))
            var receivedIterator = allReceived.makeAsyncIterator()
            await receivedIterator.next()
            FileHandle.standardOutput.write(Data("done\n".utf8))
            everyoneReceived.open()
            try await group.waitForAll()
        }
    }
}

/// A gate tasks wait at until it opens once; waiting at an open gate returns at once.
final class Gate: Sendable {
    private struct State {
        var isOpen = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let open = state.withLock { state -> Bool in
                if state.isOpen { return true }
                state.waiters.append(continuation)
                return false
            }
            if open { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.isOpen = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
