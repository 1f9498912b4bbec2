import Foundation
import GRDB
import RelayTestSupport
import Testing

@testable import RelayStore

/// Acknowledged means durable: a relay killed with SIGKILL keeps everything it acknowledged.
@Suite("Crash safety")
struct CrashTests {
    @Test("a relay killed with SIGKILL right after acknowledging 50 requests has all 50 events and deliveries")
    func killAfterAcknowledging() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let (db, producer) = try await RelayExecutable.prepareDatabase(in: folder)
        for identifier in ["a", "b"] {
            let added = try await RelayExecutable.run([
                "service", "add", "--identifier", identifier, "--name", identifier, "--url", "http://127.0.0.1:9",
                "--trigger", "NEW_REVISION", "--db", db,
            ])
            #expect(added.status == 0)
        }
        let relay = try await RelayProcess.start(database: db)
        // Ten clients at once, so acknowledgements come out of shared (group) commits.
        let acknowledged = try await withThrowingTaskGroup(of: [Int].self) { group in
            for client in 0..<10 {
                group.addTask {
                    var mine: [Int] = []
                    for index in 0..<5 {
                        let roid = client * 100 + index
                        let body = """
                            {"request":{"interface":"RemoteServiceInterface","method":"newRevision","parameters":{
                            "poid":1,"roid":\(roid),"soid":3,"serviceIdentifier":"bimrelay","profileIdentifier":"p",
                            "userToken":"\(producer)","token":"t","apiUrl":"u"}}}
                            """
                        let response = try await TestHTTP.request(
                            "\(relay.baseURL)/json", method: "POST", body: body)
                        if response.body == #"{"response":{"result":{}}}"# { mine.append(roid) }
                    }
                    return mine
                }
            }
            return try await group.reduce(into: [Int]()) { $0 += $1 }
        }
        await relay.kill()
        #expect(relay.wasSignalled)
        #expect(acknowledged.count == 50)

        let reopened = try RelayDatabase.open(path: db, mode: .createAndMigrate)
        let (roids, deliveries) = try await reopened.pool.read { db in
            (
                try Int.fetchAll(db, sql: "SELECT roid FROM events"),
                try Int.fetchOne(db, sql: "SELECT count(*) FROM deliveries") ?? 0
            )
        }
        #expect(Set(roids) == Set(acknowledged))
        #expect(deliveries == 100)
    }
}
