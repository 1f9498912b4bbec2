import Foundation
import RelayCore
import RelayTestSupport
import Testing

/// Two real relay processes on one PostgreSQL database, as `docs/operations.md` runs them.
@Suite(
    "Several relays on one PostgreSQL",
    // One at a time: each runs several relay processes, and together they would starve the
    // timing-sensitive tests of the rest of the suite on a 2-core machine.
    .serialized,
    .enabled(
        if: TemporaryPostgres.unavailableReason == nil || ProcessInfo.processInfo.environment["CI"] == "true",
        "PostgreSQL is not installed (scripts/install-deps installs it)"))
struct PostgresClusterTests {
    /// Calls NotificationRegistryInterface on `relay` and returns the result.
    @discardableResult
    static func registry(_ relay: RelayProcess, token: String, _ method: String, _ parameters: String) async throws
        -> JSONValue
    {
        let body = """
            {"token":"\(token)","request":{"interface":"NotificationRegistryInterface","method":"\(method)","parameters":{\(parameters)}}}
            """
        let reply = try JSONValue.parse(
            try await TestHTTP.request("\(relay.baseURL)/json", method: "POST", body: body).body)
        return try #require(reply["response"]?["result"], "\(reply.serialized)")
    }

    /// Connects to `relay`'s `/stream`, reads the welcome, sends `handshake`; returns the client and the reply.
    static func connect(_ relay: RelayProcess, _ handshake: String) async throws -> (TestStreamClient, JSONValue) {
        let client = try await TestStreamClient.connect(port: relay.port)
        _ = try await client.next()
        client.send(handshake)
        return (client, try await client.nextJSON())
    }

    /// Reads frames until one with seq `last`; returns their seqs in order.
    static func seqs(_ client: TestStreamClient, through last: Int64) async throws -> [Int64] {
        var seqs: [Int64] = []
        while seqs.last != last {
            guard case .int(let seq)? = try await client.nextJSON()["seq"] else { continue }
            seqs.append(seq)
        }
        return seqs
    }

    @Test(
        "the stream across relays: a socket on A gets frames published through B; a resume on B during a burst through both has no hole and no duplicate and closes the socket on A; after a kill -9 of B a token-only client gets its endpoint back on A and misses nothing"
    )
    func streamAcrossRelays() async throws {
        let server = try await TemporaryPostgres.shared()
        let url = try await server.newDatabase()
        #expect(try await RelayExecutable.run(["migrate", "--db", url]).status == 0)
        let producer = try await RelayExecutable.issueToken(db: url, user: "bim", role: "producer")
        let viewer = try await RelayExecutable.issueToken(db: url, user: "viewer", role: "client")
        let a = try await RelayProcess.start(database: url, arguments: ["--node-id", "a"])
        let b = try await RelayProcess.start(database: url, arguments: ["--node-id", "b"])
        guard
            case .int(let topic) = try await Self.registry(
                a, token: producer, "registerProgressTopic", #""type":"UPLOAD","description":"u""#)
        else { throw APIException(message: "no topic") }
        let publish: @Sendable (RelayProcess, Int) async throws -> Void = { relay, progress in
            let state =
                #"{"__type":"SLongActionState","progress":\#(progress),"state":"STARTED","title":"t","stage":1}"#
            try await Self.registry(
                relay, token: producer, "updateProgressTopic", #""topicId":\#(topic),"state":\#(state)"#)
        }

        // A socket on A; frames published through B reach it.
        let (first, reply) = try await Self.connect(a, #"{"token":"\#(viewer)"}"#)
        guard case .int(let endpoint)? = reply["endpointid"] else { throw APIException(message: "\(reply)") }
        try await Self.registry(
            a, token: viewer, "registerProgressHandler", #""topicId":\#(topic),"endPointId":\#(endpoint)"#)
        for progress in 1...3 { try await publish(b, progress) }
        #expect(try await Self.seqs(first, through: 3) == [1, 2, 3])

        // 200 more through both relays from two producers; the client resumes on B in the middle.
        let total: Int64 = 203
        let publishers = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for lane in 0..<2 {
                    group.addTask {
                        for progress in stride(from: 4 + lane, through: Int(total), by: 2) {
                            try await publish(lane == 0 ? a : b, progress)
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        let seen = try await Self.seqs(first, through: 20).last ?? 0
        let (second, resumed) = try await Self.connect(
            b, #"{"token":"\#(viewer)","endpointid":\#(endpoint),"seq":\#(seen)}"#)
        #expect(resumed["payload"]?["resumed"] == true, "\(resumed)")
        try await poll(until: "the socket on A closed by the takeover on B") { first.closed.0 }
        try await publishers.value
        let received = try await Self.seqs(second, through: total)
        #expect(received == Array((seen + 1)...total), "\(received.count) frames after \(seen)")

        // B dies with the socket; more is published through A; the stock client (token only)
        // reconnects to A once PostgreSQL has seen B's connections go.
        await b.kill()
        do {
            try await poll(until: "B's sessions gone", timeout: .seconds(20)) {
                try await PostgresServeTests.psql(
                    server, url,
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'bimrelay b' AND datname = current_database()"
                ) == "0"
            }
        } catch {
            let sessions = try await PostgresServeTests.psql(
                server, url,
                "SELECT pid, application_name, state, wait_event_type, wait_event, xact_start, left(query, 120) FROM pg_stat_activity WHERE datname = current_database()"
            )
            let waiting = try await PostgresServeTests.psql(
                server, url,
                "SELECT pid, locktype, mode, granted, relation::regclass, classid, objid FROM pg_locks WHERE database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            Issue.record(
                "B's sessions after the kill:\n\(sessions)\nlocks:\n\(waiting)\nA's log:\n\(a.log.suffix(3_000))")
            throw error
        }
        for progress in 1...5 { try await publish(a, 1_000 + progress) }
        let (third, back) = try await Self.connect(a, #"{"token":"\#(viewer)"}"#)
        let endpoints = try await PostgresServeTests.psql(
            server, url, "SELECT id, connected, node, generation, disconnected_at FROM endpoints ORDER BY id")
        let locks = try await PostgresServeTests.psql(
            server, url,
            "SELECT pid, (classid::bigint << 32) | objid::bigint, granted FROM pg_locks WHERE locktype = 'advisory'")
        #expect(back["endpointid"] == .int(endpoint), "\(back) endpoints: \(endpoints) locks: \(locks)")
        let replayed = try await Self.seqs(third, through: total + 5)
        // Frames B wrote before it died may come again (it could not record how far it got); none is missing.
        #expect(Set(replayed).isSuperset(of: (total + 1)...(total + 5)))
        #expect(replayed == replayed.sorted() && Set(replayed).count == replayed.count)
        await first.close()
        await second.close()
        await third.close()
        _ = await a.terminate()
        await server.dropDatabase(url)
    }

    /// A migrated database with a producer token and one service for NEW_REVISION at `receiver`.
    static func database(
        _ server: TemporaryPostgres, receiver: TestReceiver, service: [String]
    ) async throws -> (url: String, producer: String) {
        let url = try await server.newDatabase()
        #expect(try await RelayExecutable.run(["migrate", "--db", url]).status == 0)
        let producer = try await RelayExecutable.issueToken(db: url, user: "bim", role: "producer")
        let added = try await RelayExecutable.run(
            [
                "service", "add", "--identifier", "svc", "--name", "Service", "--url", receiver.url, "--trigger",
                "NEW_REVISION", "--db", url,
            ] + service)
        #expect(added.status == 0, "\(added)")
        return (url, producer)
    }

    /// Sends BIMserver's newRevision for `roid` to `relay` and checks it was acknowledged.
    static func ingest(_ relay: RelayProcess, producer: String, roid: Int) async throws {
        let body = BIMserverRequests.newRevision(
            userToken: producer, poid: 1, roid: Int64(roid), serviceIdentifier: "bimrelay")
        let response = try await TestHTTP.request("\(relay.baseURL)/json", method: "POST", body: body)
        guard response.body == #"{"response":{"result":{}}}"# else { throw APIException(message: response.body) }
    }

    @Test("an ordered service with both relays claiming: one request in flight at a time, in event order")
    func orderedAcrossRelays() async throws {
        let server = try await TemporaryPostgres.shared()
        let receiver = try await TestReceiver.start()
        receiver.setFallback(TestReceiver.Reply(delay: .milliseconds(20)))
        let (url, producer) = try await Self.database(server, receiver: receiver, service: ["--ordered"])
        let a = try await RelayProcess.start(database: url, arguments: ["--node-id", "a"])
        let b = try await RelayProcess.start(database: url, arguments: ["--node-id", "b"])
        // Ingested one after another, alternately through A and B: event order is roid order.
        for roid in 0..<60 { try await Self.ingest(roid % 2 == 0 ? a : b, producer: producer, roid: roid) }
        try await poll(until: "60 deliveries", timeout: .seconds(30)) { receiver.received.count >= 60 }
        let roids = receiver.received.compactMap { received -> Int64? in
            guard case .int(let roid)? = try? JSONValue.parse(received.body)["request"]?["parameters"]?["roid"]
            else { return nil }
            return roid
        }
        #expect(roids == Array(0..<60), "\(roids)")
        #expect(receiver.maxConcurrent == 1)
        _ = await a.terminate()
        _ = await b.terminate()
        await receiver.stop()
        await server.dropDatabase(url)
    }

    @Test(
        "kill -9 of the relay holding a delivery: the other sends it again once the lease (timeout + margin) has run out, not before"
    )
    func leaseTakeoverAfterKill() async throws {
        let server = try await TemporaryPostgres.shared()
        let receiver = try await TestReceiver.start()
        receiver.script([.stalled])
        let (url, producer) = try await Self.database(server, receiver: receiver, service: ["--timeout", "2s"])
        let margin = ["--lease-margin", "2s"]
        let a = try await RelayProcess.start(database: url, arguments: ["--node-id", "a"] + margin)
        let b = try await RelayProcess.start(database: url, arguments: ["--node-id", "b"] + margin)
        // The lease starts when a relay claims the delivery, after this instant.
        let sent = ContinuousClock.now
        try await Self.ingest(a, producer: producer, roid: 7)
        try await poll(until: "the first request (it stalls)") { receiver.received.count == 1 }
        let holder = try await PostgresServeTests.psql(
            server, url, "SELECT lease_node FROM deliveries WHERE state = 'in_flight'")
        let (dead, survivor) = holder == "a" ? (a, b) : (b, a)
        #expect(holder == "a" || holder == "b", "\(holder)")
        await dead.kill()
        try await poll(until: "sent again by the other relay", timeout: .seconds(20)) { receiver.received.count == 2 }
        let waited = ContinuousClock.now - sent
        // Leases are compared at millisecond resolution.
        #expect(waited >= .milliseconds(3_990), "sent again after \(waited): the lease is 2s + 2s")
        let ids = receiver.received.map { $0.header("webhook-id") }
        #expect(ids[0] != nil && ids[0] == ids[1])
        try await poll(until: "delivered") {
            try await PostgresServeTests.psql(server, url, "SELECT state FROM deliveries") == "delivered"
        }
        _ = await survivor.terminate()
        await receiver.stop()
        await server.dropDatabase(url)
    }

    /// `bimrelay_events_ingested_total{method="newRevision"}` on `relay`'s own `/metrics`.
    static func ingested(_ relay: RelayProcess) async throws -> Int {
        let metrics = try await TestHTTP.request("\(relay.baseURL)/metrics").body
        return metrics.firstMatch(of: #/bimrelay_events_ingested_total\{method="newRevision"\} ([0-9]+)/#)
            .flatMap { Int($0.output.1) } ?? 0
    }

    @Test(
        "deploy/nginx-cluster.conf in front of two relays: calls land on both; with one killed, /json and the WebSocket still answer through nginx and every event is delivered once",
        .enabled(if: Subprocess.find("nginx") != nil && Subprocess.find("openssl") != nil))
    func nginxCluster() async throws {
        let server = try await TemporaryPostgres.shared()
        let receiver = try await TestReceiver.start()
        let (url, producer) = try await Self.database(server, receiver: receiver, service: [])
        let a = try await RelayProcess.start(database: url, arguments: ["--node-id", "a"])
        let b = try await RelayProcess.start(database: url, arguments: ["--node-id", "b"])
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let nginx = try await DeployTests.Nginx.start(
            "nginx-cluster.conf", in: folder, upstreams: ["127.0.0.1:8085": a.port, "127.0.0.1:8086": b.port],
            name: "relay.example.org")
        defer { nginx.stop() }
        try await poll(until: "nginx answers /health", timeout: .seconds(20)) {
            try await nginx.curl(["\(nginx.base)/health"]).stdout.contains(#""status":"ok""#)
        }
        let ingest = { (roid: Int) in
            try await nginx.curl([
                "\(nginx.base)/json", "--data-binary",
                BIMserverRequests.newRevision(
                    userToken: producer, poid: 1, roid: Int64(roid), serviceIdentifier: "bimrelay"),
            ]).stdout
        }
        for roid in 0..<20 { #expect(try await ingest(roid) == #"{"response":{"result":{}}}"#) }
        let (onA, onB) = (try await Self.ingested(a), try await Self.ingested(b))
        #expect(onA > 0 && onB > 0 && onA + onB == 20, "a took \(onA), b took \(onB)")

        await a.kill()
        for roid in 20..<30 { #expect(try await ingest(roid) == #"{"response":{"result":{}}}"#) }
        let upgrade = try await nginx.upgrade()
        #expect(upgrade.stdout.hasPrefix("HTTP/1.1 101") && upgrade.stdout.contains(#"{"welcome":"#), "\(upgrade)")
        try await poll(until: "30 deliveries", timeout: .seconds(20)) { receiver.received.count >= 30 }
        let ids = receiver.received.compactMap { $0.header("webhook-id") }
        #expect(ids.count == 30 && Set(ids).count == 30, "\(ids.count) requests, \(Set(ids).count) distinct")
        _ = await b.terminate()
        await receiver.stop()
        await server.dropDatabase(url)
    }
}
