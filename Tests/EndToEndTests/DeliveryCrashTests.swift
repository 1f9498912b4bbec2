import Foundation
import GRDB
import RelayTestSupport
import Testing

@testable import RelayStore

/// Services receive every notification at least once, across receiver outages and relay crashes.
@Suite("Delivery across crashes")
struct DeliveryCrashTests {
    /// A migrated database with a producer token and one service pointing at `url`.
    func prepare(_ folder: TemporaryDirectory, url: String, extra: [String] = []) async throws -> (String, String) {
        let (db, producer) = try await RelayExecutable.prepareDatabase(in: folder)
        let added = try await RelayExecutable.run(
            [
                "service", "add", "--identifier", "svc", "--name", "Svc", "--url", url, "--trigger", "NEW_REVISION",
                "--db", db,
            ]
                + extra)
        #expect(added.status == 0, "\(added)")
        return (db, producer)
    }

    func ingest(_ relay: RelayProcess, producer: String, roid: Int) async throws {
        let response = try await TestHTTP.request(
            "\(relay.baseURL)/json", method: "POST",
            body: BIMserverRequests.newRevision(
                userToken: producer, poid: 1, roid: Int64(roid), serviceIdentifier: "bimrelay"))
        #expect(response.body == #"{"response":{"result":{}}}"#)
    }

    func delivered(_ db: String) async throws -> Int {
        let database = try RelayDatabase.open(path: db, mode: .existing)
        return try await database.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM deliveries WHERE state = 'delivered'") ?? 0
        }
    }

    @Test("receiver down while 60 events arrive, relay killed and restarted, receiver back: all 60 delivered")
    func outageAndKill() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let receiver = try await TestReceiver.start()
        await receiver.stop()
        let schedule = Array(repeating: "200ms", count: 100).joined(separator: ",")
        let (db, producer) = try await prepare(folder, url: receiver.url, extra: ["--retry-schedule", schedule])

        let first = try await RelayProcess.start(database: db)
        for roid in 1...60 { try await ingest(first, producer: producer, roid: roid) }
        await first.kill()
        #expect(first.wasSignalled)
        #expect(receiver.received.isEmpty)

        let second = try await RelayProcess.start(database: db)
        try await receiver.restart()
        try await poll(until: "60 distinct deliveries", timeout: .seconds(60)) {
            Set(receiver.received.compactMap { $0.header("webhook-id") }).count == 60
        }
        try await poll(until: "60 delivered rows") { try await delivered(db) == 60 }
        let roids = Set(
            receiver.received.compactMap { received -> Int? in
                let body = received.body
                guard let range = body.range(of: #""roid":"#) else { return nil }
                return Int(body[range.upperBound...].prefix { $0.isNumber })
            })
        #expect(roids == Set(1...60))
        #expect(await second.terminate() == 0)
        await receiver.stop()
    }

    @Test("a relay killed while a request is in flight sends it again after a restart, with the same webhook-id")
    func killMidRequest() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let receiver = try await TestReceiver.start()
        receiver.script([.init(delay: .seconds(3))])
        let (db, producer) = try await prepare(folder, url: receiver.url, extra: ["--timeout", "60s"])

        let first = try await RelayProcess.start(database: db)
        try await ingest(first, producer: producer, roid: 7)
        try await poll(until: "the request reaches the receiver") { receiver.received.count == 1 }
        await first.kill()

        let second = try await RelayProcess.start(database: db)
        try await poll(until: "delivered again", timeout: .seconds(20)) { try await delivered(db) == 1 }
        let ids = receiver.received.compactMap { $0.header("webhook-id") }
        #expect(ids.count == 2 && Set(ids).count == 1)
        #expect(await second.terminate() == 0)
        await receiver.stop()
    }
}
