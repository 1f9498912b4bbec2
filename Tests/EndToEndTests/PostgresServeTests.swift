import Foundation
import Logging
import RelayCore
import RelayHarness
import RelayStore
import RelayTestSupport
import Testing

/// The relay on PostgreSQL, as an admin runs it: the CLI and `serve` with `--db postgres://…`.
@Suite(
    "PostgreSQL backend",
    // One at a time: several run relay processes (see PostgresClusterTests).
    .serialized,
    .enabled(
        if: TemporaryPostgres.unavailableReason == nil || ProcessInfo.processInfo.environment["CI"] == "true",
        "PostgreSQL is not installed (scripts/install-deps installs it)"))
struct PostgresServeTests {
    struct IngestRefused: Error {
        let body: String
    }

    /// One value read with `psql` from the database at `url` (as an admin would look).
    static func psql(_ server: TemporaryPostgres, _ url: String, _ query: String) async throws -> String {
        let result = try await Subprocess.run(
            "/usr/bin/psql",
            [
                "-h", "127.0.0.1", "-p", "\(server.port)", "-U", "postgres", "-tAc", query,
                url.components(separatedBy: "/").last!,
            ],
            environment: [:])
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("three relays starting at once on an empty database apply each migration once")
    func concurrentMigrations() async throws {
        let server = try await TemporaryPostgres.shared()
        let url = try await server.newDatabase()
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let storages = try await withThrowingTaskGroup(of: PostgresStorage.self) { group in
            for _ in 0..<3 {
                group.addTask { try await PostgresStorage.open(url: url, mode: .createAndMigrate, logger: logger) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let latest = SchemaMigrator.embeddedPostgres.last?.version ?? 0
        for storage in storages { #expect(try await storage.schemaVersion() == latest) }
        let rows = try await storages[0].read { tx in try tx.queue.countsByState() }
        #expect(rows["pending"] == 0)
        for storage in storages { await storage.close() }
        // An admin command on a database the migrations have not reached is told what to run.
        let empty = try await server.newDatabase()
        let refused = try await RelayExecutable.run(["queue", "stats", "--db", empty])
        #expect(refused.status != 0 && refused.stderr.contains("bimrelay migrate"), "\(refused)")
        await server.dropDatabase(url)
        await server.dropDatabase(empty)
    }

    @Test(
        "serve on PostgreSQL: set up with the CLI, an event delivered, a kill -9 mid-delivery delivered again after a restart"
    )
    func serveAndCrash() async throws {
        let server = try await TemporaryPostgres.shared()
        let url = try await server.newDatabase()
        let migrated = try await RelayExecutable.run(["migrate", "--db", url])
        #expect(migrated.status == 0 && migrated.stdout.contains("0001_initial"), "\(migrated)")
        let producer = try await RelayExecutable.issueToken(db: url, user: "bim", role: "producer")
        let receiver = try await TestReceiver.start()
        let added = try await RelayExecutable.run([
            "service", "add", "--identifier", "svc", "--name", "Service", "--url", receiver.url, "--trigger",
            "NEW_REVISION", "--db", url,
        ])
        #expect(added.status == 0, "\(added)")

        var relay = try await RelayProcess.start(database: url)
        let body = { (roid: Int) in
            BIMserverRequests.newRevision(
                userToken: producer, poid: 1, roid: Int64(roid), serviceIdentifier: "bimrelay")
        }
        let first = try await TestHTTP.request("\(relay.baseURL)/json", method: "POST", body: body(1))
        #expect(first.body == #"{"response":{"result":{}}}"#)
        try await poll(until: "the first delivery") { receiver.received.count == 1 }

        // The second one is in flight (the receiver never answers) when the relay is killed.
        receiver.script([.stalled])
        _ = try await TestHTTP.request("\(relay.baseURL)/json", method: "POST", body: body(2))
        try await poll(until: "the second request is in flight") { receiver.received.count == 2 }
        await relay.kill()
        receiver.setFallback(.ok)
        relay = try await RelayProcess.start(database: url)
        try await poll(until: "the second delivered after the restart", timeout: .seconds(20)) {
            receiver.received.count == 3
        }
        let ids = receiver.received.map { $0.header("webhook-id") }
        #expect(ids[1] != nil && ids[1] == ids[2])
        // Recorded once the receiver's answer is in: poll the CLI's count.
        try await poll(until: "both recorded delivered", timeout: .seconds(10)) {
            let stats = try await RelayExecutable.run(["queue", "stats", "--json", "--db", url])
            return (try stats.jsonObject()["totals"] as? [String: Any])?["delivered"] as? Int == 2
        }
        _ = await relay.terminate()
        await receiver.stop()
        await server.dropDatabase(url)
    }

    @Test(
        "two relays on one database: 1,000 events ingested through both, each delivered exactly once while both claim; a relay restarting takes back only its own leases"
    )
    func twoRelays() async throws {
        let server = try await TemporaryPostgres.shared()
        let url = try await server.newDatabase()
        #expect(try await RelayExecutable.run(["migrate", "--db", url]).status == 0)
        let producer = try await RelayExecutable.issueToken(db: url, user: "bim", role: "producer")
        let receiver = try await TestReceiver.start()
        let added = try await RelayExecutable.run([
            "service", "add", "--identifier", "svc", "--name", "Service", "--url", receiver.url, "--trigger",
            "NEW_REVISION", "--timeout", "10m", "--db", url,
        ])
        #expect(added.status == 0, "\(added)")
        let a = try await RelayProcess.start(database: url, arguments: ["--node-id", "a"])
        let b = try await RelayProcess.start(database: url, arguments: ["--node-id", "b"])
        // 1,000 events, half through each relay, from 8 clients at once; both relays' workers claim.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in 0..<8 {
                group.addTask {
                    for n in stride(from: client, to: 1_000, by: 8) {
                        let relay = n % 2 == 0 ? a : b
                        let body = BIMserverRequests.newRevision(
                            userToken: producer, poid: 1, roid: Int64(n), serviceIdentifier: "bimrelay")
                        let response = try await TestHTTP.request("\(relay.baseURL)/json", method: "POST", body: body)
                        guard response.body == #"{"response":{"result":{}}}"# else {
                            throw IngestRefused(body: response.body)
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        try await poll(until: "1,000 deliveries", timeout: .seconds(60)) { receiver.received.count >= 1_000 }
        let ids = receiver.received.compactMap { $0.header("webhook-id") }
        #expect(ids.count == 1_000 && Set(ids).count == 1_000, "\(ids.count) requests, \(Set(ids).count) distinct")

        // Every result recorded (the receiver has them before the relays commit them).
        do {
            try await poll(until: "1,000 recorded delivered", timeout: .seconds(60)) {
                try await Self.psql(server, url, "SELECT count(*) FROM deliveries WHERE state = 'delivered'") == "1000"
            }
        } catch {
            let states = try await Self.psql(
                server, url, "SELECT state, lease_node, count(*) FROM deliveries GROUP BY 1, 2")
            let errors = [a, b].map { relay in
                relay.log.split(separator: "\n").filter { $0.contains("error") || $0.contains("warning") }.suffix(10)
                    .joined(separator: "\n")
            }
            Issue.record("states:\n\(states)\nA:\n\(errors[0])\nB:\n\(errors[1])")
            throw error
        }
        // One relay holds a lease (its receiver stalls; the timeout is 10 min) when the other
        // restarts: the restarting one takes back only its own.
        receiver.script([.stalled])
        let body = BIMserverRequests.newRevision(
            userToken: producer, poid: 1, roid: 1_000, serviceIdentifier: "bimrelay")
        _ = try await TestHTTP.request("\(a.baseURL)/json", method: "POST", body: body)
        try await poll(until: "the stalled request", timeout: .seconds(10)) { receiver.received.count == 1_001 }
        let holder = try await Self.psql(server, url, "SELECT lease_node FROM deliveries WHERE state = 'in_flight'")
        #expect(holder == "a" || holder == "b", "\(holder)")
        let (keeper, restarting) = holder == "a" ? (a, b) : (b, a)
        _ = await restarting.terminate()
        let restarted = try await RelayProcess.start(
            database: url, arguments: ["--node-id", holder == "a" ? "b" : "a"])
        let after = try await Self.psql(server, url, "SELECT lease_node FROM deliveries WHERE state = 'in_flight'")
        #expect(after == holder, "the lease of \(holder) after the other relay restarted: \(after)")
        await keeper.kill()  // its request stalls: no graceful wait for it
        _ = await restarted.terminate()
        await receiver.stop()
        await server.dropDatabase(url)
    }

    @Test("an admin console session made on one relay works on another of the same database, CSRF token included")
    func consoleAcrossRelays() async throws {
        let server = try await TemporaryPostgres.shared()
        let url = try await server.newDatabase()
        #expect(try await RelayExecutable.run(["migrate", "--db", url]).status == 0)
        let admin = try await RelayExecutable.issueToken(db: url, user: "alice", role: "admin")
        let added = try await RelayExecutable.run([
            "service", "add", "--identifier", "clash", "--name", "Clash", "--url", "http://127.0.0.1:9", "--trigger",
            "NEW_REVISION", "--db", url,
        ])
        #expect(added.status == 0, "\(added)")
        let a = try await RelayProcess.start(database: url, arguments: ["--node-id", "a", "--admin-console"])
        let b = try await RelayProcess.start(database: url, arguments: ["--node-id", "b", "--admin-console"])
        let onA = ConsoleClient(baseURL: a.baseURL)
        let onB = ConsoleClient(baseURL: b.baseURL)
        #expect(try await onA.signIn(token: admin).status == 303)
        // The load balancer sends the same browser to the other relay.
        onB.setCookie("bimrelay_console", onA.cookie("bimrelay_console"))
        let services = try await onB.get("/admin/services")
        #expect(services.status == 200 && services.body.contains("clash"))
        let csrf = try #require(try await onA.get("/admin/services").csrf)
        #expect(services.csrf == csrf)
        let disabled = try await onB.post("/admin/services/clash/disable", form: [("csrf", csrf)])
        #expect(disabled.status == 303)
        #expect(try await Self.psql(server, url, "SELECT enabled FROM services WHERE identifier = 'clash'") == "f")
        // Signed out on B: refused on A too.
        #expect(try await onB.post("/admin/signout", form: [("csrf", csrf)]).status == 303)
        #expect(try await onA.get("/admin/overview").status == 401)
        try await onA.close()
        try await onB.close()
        _ = await a.terminate()
        _ = await b.terminate()
        await server.dropDatabase(url)
    }

    @Test("one relay on a database leads (retention); another takes over when it goes")
    func leadership() async throws {
        let server = try await TemporaryPostgres.shared()
        let url = try await server.newDatabase()
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let first = try await PostgresStorage.open(url: url, mode: .createAndMigrate, node: "a", logger: logger)
        let second = try await PostgresStorage.open(url: url, mode: .existing, node: "b", logger: logger)
        #expect(try await first.leads())
        #expect(try await first.leads())  // kept, not taken twice
        #expect(try await !second.leads())
        await first.close()
        try await poll(until: "the second relay leads") { try await second.leads() }
        await second.close()
        await server.dropDatabase(url)
    }

    @Test(
        "endpoints left connected by a relay that is gone count as dropped; a live relay's stay connected, and a relay of the same name on another database does not keep them"
    )
    func goneRelaysEndpoints() async throws {
        let server = try await TemporaryPostgres.shared()
        let (url, elsewhere) = (try await server.newDatabase(), try await server.newDatabase())
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let open = { (url: String, node: String) in
            try await PostgresStorage.open(url: url, mode: .createAndMigrate, node: node, serving: true, logger: logger)
        }
        let connected = { (storage: PostgresStorage) in
            try await storage.write { tx in
                let token = try tx.tokens.issue(user: "viewer", role: .client, projects: nil, now: Date()).record
                return try tx.stream.createEndpoint(token: token, now: Date()).id
            }
        }
        // A live "b" on another database of the same server (advisory locks are per database).
        let namesake = try await open(elsewhere, "b")
        _ = try await connected(namesake)
        let gone = try await open(url, "b")
        let left = try await connected(gone)
        await gone.close()
        let live = try await open(url, "c")
        let kept = try await connected(live)
        let a = try await open(url, "a")
        try await poll(until: "b's endpoint dropped", timeout: .seconds(10)) {
            try await a.write { tx in try tx.stream.detachGone(tokenID: nil, now: Date()) } == 1
        }
        let states = try await a.read { tx in
            (try tx.stream.endpoint(id: left)?.connected, try tx.stream.endpoint(id: kept)?.connected)
        }
        #expect(states.0 == false && states.1 == true)
        for storage in [namesake, live, a] { await storage.close() }
        await server.dropDatabase(url)
        await server.dropDatabase(elsewhere)
    }

    @Test(
        "a second relay process with the same node id on a database is refused (it would take the first one's leases and sockets for its own)"
    )
    func duplicateNodeID() async throws {
        let server = try await TemporaryPostgres.shared()
        let url = try await server.newDatabase()
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let first = try await PostgresStorage.open(
            url: url, mode: .createAndMigrate, node: "same", serving: true, logger: logger)
        let started = ContinuousClock.now
        let second = try await PostgresStorage.open(
            url: url, mode: .existing, node: "same", serving: true, logger: logger)
        await #expect(throws: RelayError.self) { _ = try await second.write { tx in try tx.queue.countsByState() } }
        await second.close()
        // The CLI on the relay's own host (same default node id) holds no liveness lock: it works.
        let cli = try await PostgresStorage.open(url: url, mode: .existing, node: "same", logger: logger)
        #expect(try await cli.write { tx in try tx.queue.countsByState()["pending"] } == 0)
        await cli.close()
        // It waited for the lock first (a lost connection's old session may hold it a moment).
        #expect(ContinuousClock.now - started >= .seconds(5))
        let refused = try await RelayExecutable.run(["serve", "--db", url, "--node-id", "not a name!", "--port", "0"])
        #expect(refused.status != 0 && refused.stderr.contains("--node-id"), "\(refused)")
        await first.close()
        await server.dropDatabase(url)
    }

    @Test("a write refused by the server (a read-only transaction) shows in failingSince until a write goes through")
    func serverTrouble() async throws {
        try await StoreBackend.postgres.with { storage in
            let postgres = try #require(storage as? PostgresStorage)
            await #expect(throws: RelayError.self) {
                try await postgres.write { tx in
                    try postgres.executeForTests(tx, "SET TRANSACTION READ ONLY")
                    _ = try tx.tokens.issue(user: "u", role: .client, projects: nil, now: Date())
                }
            }
            #expect(postgres.failingSince != nil)
            _ = try await postgres.write { tx in
                try tx.tokens.issue(user: "u", role: .client, projects: nil, now: Date())
            }
            #expect(postgres.failingSince == nil)
        }
    }

    @Test("a change made through another process wakes the relays at once (NOTIFY), not at their next poll")
    func notifiedAcrossProcesses() async throws {
        let server = try await TemporaryPostgres.shared()
        let url = try await server.newDatabase()
        #expect(try await RelayExecutable.run(["migrate", "--db", url]).status == 0)
        let producer = try await RelayExecutable.issueToken(db: url, user: "bim", role: "producer")
        let receiver = try await TestReceiver.start()
        let service = ["--identifier", "svc", "--name", "S", "--url", receiver.url, "--trigger", "NEW_REVISION"]
        #expect(try await RelayExecutable.run(["service", "add"] + service + ["--db", url]).status == 0)
        #expect(try await RelayExecutable.run(["service", "disable", "svc", "--db", url]).status == 0)
        // Both relays look at the store only once a minute by themselves.
        let slow = ["--delivery-poll-interval", "60s"]
        let a = try await RelayProcess.start(database: url, arguments: ["--node-id", "a"] + slow)
        let b = try await RelayProcess.start(database: url, arguments: ["--node-id", "b"] + slow)
        let body = BIMserverRequests.newRevision(userToken: producer, poid: 1, roid: 7, serviceIdentifier: "svc")
        let ingested = try await TestHTTP.request("\(a.baseURL)/json", method: "POST", body: body)
        #expect(ingested.body == #"{"response":{"result":{}}}"#)
        #expect(receiver.received.isEmpty)  // paused: the service is disabled
        // The CLI (a third process) enables it: its commit notifies both relays.
        #expect(try await RelayExecutable.run(["service", "enable", "svc", "--db", url]).status == 0)
        try await poll(until: "delivered well before a poll", timeout: .seconds(20)) { receiver.received.count == 1 }
        _ = await a.terminate()
        _ = await b.terminate()
        await receiver.stop()
        await server.dropDatabase(url)
    }
}
