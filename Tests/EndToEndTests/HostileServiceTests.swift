import Foundation
import GRDB
import RelayTestSupport
import Testing

@testable import RelayStore

/// Services that answer what they like, against a real `bimrelay serve` process.
@Suite("Hostile services")
struct HostileServiceTests {
    func addService(_ db: String, _ identifier: String, url: String, _ extra: String...) async throws {
        let added = try await RelayExecutable.run(
            [
                "service", "add", "--identifier", identifier, "--name", identifier, "--url", url, "--trigger",
                "NEW_REVISION",
                "--db", db,
            ] + extra)
        #expect(added.status == 0, "\(added)")
    }

    func ingest(_ relay: RelayProcess, producer: String, roid: Int64, to identifier: String) async throws {
        let response = try await TestHTTP.request(
            "\(relay.baseURL)/json", method: "POST",
            body: BIMserverRequests.newRevision(userToken: producer, poid: 1, roid: roid, serviceIdentifier: identifier)
        )
        #expect(response.body == #"{"response":{"result":{}}}"#)
    }

    func scalar<T: DatabaseValueConvertible & Sendable>(_ db: String, _ sql: String) async throws -> T? {
        let database = try RelayDatabase.open(path: db, mode: .existing)
        return try await database.pool.read { db in try T.fetchOne(db, sql: sql) }
    }

    @Test(
        "a 503 with an absurd Retry-After is clamped to 24 h: the relay stays up, and a requeue delivers",
        arguments: ["9999999999999999", "99999999999999999999999999999", "Fri, 31 Dec 9999 23:59:59 GMT"])
    func absurdRetryAfter(header: String) async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let receiver = try await TestReceiver.start()
        receiver.script([.init(status: 503, headers: [("Retry-After", header)])])
        let (db, producer) = try await RelayExecutable.prepareDatabase(in: folder)
        try await addService(db, "svc", url: receiver.url)
        let relay = try await RelayProcess.start(database: db)
        try await ingest(relay, producer: producer, roid: 1, to: "svc")
        try await poll(until: "the 503 recorded") { try await scalar(db, "SELECT count(*) FROM attempts") == 1 }
        // Still serving, and the wait is at most a day (plus jitter on the schedule's own 5 s).
        #expect(try await TestHTTP.request("\(relay.baseURL)/health").status == 200)
        let wait: Double? = try await scalar(
            db, "SELECT (julianday(next_attempt_at) - julianday('now')) * 86400 FROM deliveries")
        #expect((wait ?? 0) > 86_000 && (wait ?? .infinity) <= 86_400, "\(String(describing: wait))")
        let retried = try await RelayExecutable.run(["queue", "retry", "1", "--db", db])
        #expect(retried.status == 0, "\(retried)")
        try await poll(until: "delivered after the requeue") {
            try await scalar(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'") == 1
        }
        #expect(await relay.terminate() == 0, "\(relay.log)")
        #expect(!relay.wasSignalled)
        await receiver.stop()
    }

    @Test("a service that stalls its body times out and frees its slot: with --max-in-flight 2, others keep flowing")
    func stalledBody() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let stalling = try await TestReceiver.start()
        stalling.setFallback(.stalled)
        let healthy = try await TestReceiver.start()
        let (db, producer) = try await RelayExecutable.prepareDatabase(in: folder)
        try await addService(db, "stall", url: stalling.url, "--timeout", "1s")
        try await addService(db, "ok", url: healthy.url)
        let relay = try await RelayProcess.start(database: db, arguments: ["--max-in-flight", "2"])
        for roid in 1...2 { try await ingest(relay, producer: producer, roid: Int64(roid), to: "stall") }
        try await poll(until: "both slots taken by the stalling service") { stalling.received.count >= 2 }
        for roid in 3...6 { try await ingest(relay, producer: producer, roid: Int64(roid), to: "ok") }
        try await poll(until: "the healthy service's deliveries", timeout: .seconds(20)) { healthy.received.count == 4 }
        try await poll(until: "the stalled attempts recorded as timeouts") {
            try await scalar(db, "SELECT count(*) FROM attempts WHERE error_class = 'timeout'") ?? 0 >= 2
        }
        #expect(await relay.terminate() == 0, "\(relay.log)")
        await healthy.stop()
        await stalling.stop()
    }
}
