import Foundation
import Hummingbird
import HummingbirdWebSocket
import NIOCore
import RelayCore
import RelayHarness
import RelayServer
import RelayStore
import Synchronization

/// The bench's scenarios; each builds its own relay over a fresh database in `folder`.
struct BenchScenarios: Sendable {
    let folder: URL
    let quick: Bool

    /// A fresh database at durability FULL with a producer token and one service.
    func database(_ name: String, serviceURL: String, enabled: Bool = true) async throws -> (RelayDatabase, String) {
        let database = try RelayDatabase.open(
            path: folder.appendingPathComponent("\(name).sqlite").path, durability: .full, mode: .createAndMigrate)
        let token = try await SQLiteStorage(database: database).write { tx in
            var service = ServiceRecord(
                identifier: "svc", name: "Bench service", url: serviceURL, triggers: "NEW_REVISION",
                signingSecret: Secrets.newSigningSecret(), createdAt: Date(), updatedAt: Date())
            service.enabled = enabled
            service.maxInFlight = RelayConfiguration.defaultMaxInFlight
            _ = try tx.services.add(service)
            return try tx.tokens.issue(user: "bench", role: .producer, projects: nil, now: Date()).token
        }
        return (database, token)
    }

    func start(
        _ database: RelayDatabase, runWorker: Bool = true, configure: (inout RelayConfiguration) -> Void = { _ in }
    ) async throws -> RunningRelay {
        var configuration = RelayConfiguration()
        configure(&configuration)
        configuration.databasePath = database.path
        configuration.port = 0
        // The bench measures capacity: one token drives all its clients, and the fan-out scenario
        // holds 10,000 sockets, so the per-token and connection limits (policies) are lifted.
        configuration.maxStreamConnections = 1_000_000
        configuration.maxEndpointsPerToken = 1_000_000
        configuration.maxSubscriptionsPerToken = 10_000_000
        return try await RunningRelay.start(
            configuration: configuration, database: database, logger: quietLogger, runWorker: runWorker)
    }

    static func newRevision(token: String, roid: Int, service: String = "bimrelay") -> String {
        """
        {"request":{"interface":"RemoteServiceInterface","method":"newRevision","parameters":{\
        "poid":131073,"roid":\(roid),"soid":196609,"serviceIdentifier":"\(service)",\
        "profileIdentifier":"default","userToken":"\(token)","token":"bimserver-api-token",\
        "apiUrl":"http://bimserver.example.org:8080"}}}
        """
    }

    // MARK: ingest

    struct Ingest {
        var relay = 0.0
        var httpCeiling = 0.0
        var sqliteBatched = 0.0
        var sqlitePerRequestFsync = 0.0
    }

    /// Accepted requests/s of the relay, of the same server stack answering without storing, of raw
    /// SQLite inserting the same rows in batches, and of one fsync per request.
    func ingest(concurrency: Int) async throws -> Ingest {
        let total = quick ? 3_000 : 30_000
        var result = Ingest()
        // The target service is disabled: every request writes its event and a (paused) delivery,
        // and no delivery traffic competes with ingest.
        let (database, token) = try await database("ingest", serviceURL: "http://127.0.0.1:9", enabled: false)
        let relay = try await start(database, runWorker: false)
        let load = LoadGenerator(connections: concurrency)
        let url = "http://127.0.0.1:\(relay.port)/json"
        _ = try await load.run(url, total: 500, concurrency: concurrency) {
            Self.newRevision(token: token, roid: $0, service: "svc")
        }
        let measured = try await load.run(url, total: total, concurrency: concurrency) {
            Self.newRevision(token: token, roid: $0, service: "svc")
        }
        guard measured.accepted == total else { throw RelayError.database("ingest: \(measured.accepted)/\(total)") }
        result.relay = Double(total) / measured.seconds
        await relay.stop()

        // (a) The HTTP ceiling: same stack, same clients, decode the envelope and answer.
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.post("/json") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            _ = try APIRequest.parse(try JSONValue.parse(Array(body.readableBytesView)))
            return BenchServer.ok()
        }
        let ceiling = try await BenchServer.start(router)
        let ceilingURL = "http://127.0.0.1:\(ceiling.port)/json"
        _ = try await load.run(ceilingURL, total: 500, concurrency: concurrency) {
            Self.newRevision(token: token, roid: $0)
        }
        let http = try await load.run(ceilingURL, total: total, concurrency: concurrency) {
            Self.newRevision(token: token, roid: $0)
        }
        result.httpCeiling = Double(total) / http.seconds
        await ceiling.stop()
        await load.shutdown()

        // (b) Raw SQLite: the same rows, same pragmas, `concurrency` requests per transaction.
        let (file, _) = try await self.database("ingest-raw", serviceURL: "http://127.0.0.1:9", enabled: false)
        // One transaction per call, no group-commit writer: what the relay's writer adds is not in it.
        let raw = SQLiteStorage(database: file)
        let event = IncomingEvent(
            method: .newRevision, poid: 131_073, roid: 1, edid: nil, soid: 196_609, serviceIdentifier: "svc",
            profileIdentifier: "default", token: "bimserver-api-token", apiUrl: "http://bimserver.example.org:8080")
        var started = ContinuousClock.now
        for _ in 0..<(total / concurrency) {
            try await raw.write { tx in
                for _ in 0..<concurrency {
                    _ = try tx.ingest.record(event, producerTokenID: 1, fanOutTrigger: .newRevision, now: Date())
                }
            }
        }
        result.sqliteBatched = Double(total / concurrency * concurrency) / (ContinuousClock.now - started).seconds
        // (c) One transaction, one fsync, per request.
        let single = quick ? 300 : 2_000
        started = ContinuousClock.now
        for _ in 0..<single {
            try await raw.write { tx in
                _ = try tx.ingest.record(event, producerTokenID: 1, fanOutTrigger: .newRevision, now: Date())
            }
        }
        result.sqlitePerRequestFsync = Double(single) / (ContinuousClock.now - started).seconds
        return result
    }

    // MARK: delivery and backlog

    /// Inserts `count` events, each with one pending delivery to service 1, in one transaction.
    static func fillBacklog(_ database: RelayDatabase, count: Int) async throws {
        let storage = SQLiteStorage(database: database)
        let now = Timestamp.format(Date())
        try await storage.execute(
            """
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
            INSERT INTO events (method, poid, roid, soid, service_identifier, profile_identifier, token,
                                api_url, received_at)
            SELECT 'newRevision', 131073, i, 196609, 'bimrelay', 'default', 'bimserver-api-token',
                   'http://bimserver.example.org:8080', ? FROM n
            """, arguments: [count, now])
        try await storage.execute(
            """
            INSERT INTO deliveries (event_id, service_id, webhook_id, state, next_attempt_at, created_at,
                                    updated_at)
            SELECT id, 1, 'msg_' || lower(hex(randomblob(16))), 'pending', ?, ?, ? FROM events
            """, arguments: [now, now, now])
    }

    /// Deliveries/s draining `backlog` pending rows, measured over the first `measured` of them.
    func drain(backlog: Int, measured: Int, name: String) async throws -> Double {
        let (receiver, port) = try await BenchReceiver.start()
        let (database, _) = try await database(name, serviceURL: "http://127.0.0.1:\(port)")
        try await Self.fillBacklog(database, count: backlog)
        let started = ContinuousClock.now
        let relay = try await start(database)
        let done = await waitUntil(timeout: .seconds(600)) { receiver.count >= measured }
        let seconds = (ContinuousClock.now - started).seconds
        await relay.stop()
        await receiver.stop()
        guard done else { throw RelayError.database("delivery: only \(receiver.count) of \(measured) arrived") }
        return Double(measured) / seconds
    }

    /// The same bodies POSTed straight to the same kind of receiver with the relay's concurrency.
    func rawDelivery(total: Int) async throws -> Double {
        let (receiver, port) = try await BenchReceiver.start()
        let load = LoadGenerator(connections: RelayConfiguration.defaultMaxInFlight)
        let url = "http://127.0.0.1:\(port)/json"
        let signature = [
            ("webhook-id", "msg_" + String(repeating: "a", count: 32)), ("webhook-timestamp", "1795336200"),
            ("webhook-signature", "v1," + String(repeating: "K", count: 44)), ("User-Agent", "bimrelay/bench"),
        ]
        let result = try await load.run(
            url, total: total, concurrency: RelayConfiguration.defaultMaxInFlight, headers: signature
        ) { Self.newRevision(token: "svc-user-token", roid: $0, service: "svc") }
        await load.shutdown()
        await receiver.stop()
        return Double(total) / result.seconds
    }

    // MARK: end to end

    /// Milliseconds from each ingest acknowledgement to the receiver's arrival, at `rate` events/s.
    func endToEnd(rate: Int) async throws -> (p50: Double, p99: Double) {
        let seconds = quick ? 2 : 10
        let total = rate * seconds
        let (receiver, port) = try await BenchReceiver.start(recordTimes: true)
        let (database, token) = try await database("e2e", serviceURL: "http://127.0.0.1:\(port)")
        let relay = try await start(database)
        let load = LoadGenerator(connections: 64)
        let url = "http://127.0.0.1:\(relay.port)/json"
        let acknowledged = Shared<[Int: ContinuousClock.Instant]>([:])
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<total {
                try await Task.sleep(until: start + .microseconds(Int64(index) * 1_000_000 / Int64(rate)))
                group.addTask {
                    if try await load.post(url, body: Self.newRevision(token: token, roid: index)) {
                        let now = ContinuousClock.now
                        acknowledged.update { $0[index] = now }
                    }
                }
            }
            try await group.waitForAll()
        }
        _ = await waitUntil(timeout: .seconds(60)) { receiver.count >= total }
        await load.shutdown()
        await relay.stop()
        await receiver.stop()
        let latencies = acknowledged.value.compactMap { index, ack -> Double? in
            guard let arrival = receiver.arrival(of: Int64(index)) else { return nil }
            return max(0, (arrival - ack).seconds * 1000)
        }.sorted()
        guard latencies.count == total else {
            throw RelayError.database("e2e: \(latencies.count) of \(total) acknowledged and delivered")
        }
        return (Self.percentile(latencies, 0.50), Self.percentile(latencies, 0.99))
    }

    // MARK: gateway

    /// Calls forwarded to an upstream (gateway mode), next to the same calls sent to it directly.
    struct Gateway {
        /// Milliseconds of one call, p50 and p99, one at a time over one kept-alive connection.
        var direct: (p50: Double, p99: Double)
        var forwarded: (p50: Double, p99: Double)
        /// Calls per second over many connections.
        var directPerSecond: Double
        var forwardedPerSecond: Double
    }

    /// A call the relay does not own, answered by an upstream that answers at once, straight and
    /// through the relay, alternating, so that both see the same machine.
    func gateway(concurrency: Int) async throws -> Gateway {
        let (upstream, port) = try await BenchReceiver.start()
        let (database, _) = try await database("gateway", serviceURL: "http://127.0.0.1:9")
        let relay = try await start(database) { $0.upstream = "http://127.0.0.1:\(port)" }
        let direct = "http://127.0.0.1:\(port)/json"
        let forwarded = "http://127.0.0.1:\(relay.port)/json"
        let body =
            #"{"token":"bimserver-token","request":{"interface":"ServiceInterface","method":"getAllProjects","parameters":{"onlyTopLevel":false,"onlyActive":true}}}"#
        let single = LoadGenerator(connections: 1)
        let calls = quick ? 500 : 5_000
        var times: (direct: [Double], forwarded: [Double]) = ([], [])
        for index in -50..<calls {
            for (url, forward) in [(direct, false), (forwarded, true)] {
                let started = ContinuousClock.now
                guard try await single.post(url, body: body) else {
                    throw RelayError.database("gateway: \(url) did not answer the upstream's reply")
                }
                let milliseconds = (ContinuousClock.now - started).seconds * 1000
                guard index >= 0 else { continue }  // warm-up
                if forward { times.forwarded.append(milliseconds) } else { times.direct.append(milliseconds) }
            }
        }
        await single.shutdown()
        let load = LoadGenerator(connections: concurrency)
        let total = quick ? 5_000 : 30_000
        let straight = try await load.run(direct, total: total, concurrency: concurrency) { _ in body }
        let through = try await load.run(forwarded, total: total, concurrency: concurrency) { _ in body }
        await load.shutdown()
        await relay.stop()
        await upstream.stop()
        guard straight.accepted == total, through.accepted == total else {
            throw RelayError.database("gateway: \(through.accepted) of \(total) forwarded calls answered")
        }
        let (d, f) = (times.direct.sorted(), times.forwarded.sorted())
        return Gateway(
            direct: (Self.percentile(d, 0.5), Self.percentile(d, 0.99)),
            forwarded: (Self.percentile(f, 0.5), Self.percentile(f, 0.99)),
            directPerSecond: Double(total) / straight.seconds, forwardedPerSecond: Double(total) / through.seconds)
    }

    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.down)))]
    }

    /// Peak resident memory of this process, from /proc.
    static func peakRSSMegabytes() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kilobytes / 1024
    }
}
