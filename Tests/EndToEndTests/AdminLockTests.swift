import Foundation
import GRDB
import RelayHarness
import RelayStore
import RelayTestSupport
import Testing

/// An admin's `sqlite3` session holding the write lock, against a real `bimrelay serve`.
@Suite("Admins holding locks")
struct AdminLockTests {
    /// A `sqlite3` process inside `BEGIN IMMEDIATE` until ``release()``.
    final class LockingSession: @unchecked Sendable {
        let process = ChildProcess()
        let input = Pipe()
        let output = Pipe()

        init(database: String) throws {
            process.executableURL = URL(fileURLWithPath: try #require(Subprocess.find("sqlite3")))
            process.arguments = [database]
            process.standardInput = input
            process.standardOutput = output
            try process.run()
            input.fileHandleForWriting.write(Data("BEGIN IMMEDIATE;\nSELECT 'locked';\n".utf8))
            // The SELECT answers only once BEGIN IMMEDIATE holds the lock.
            var seen = Data()
            while !String(decoding: seen, as: UTF8.self).contains("locked") {
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                seen += chunk
            }
        }

        func release() {
            input.fileHandleForWriting.write(Data("COMMIT;\n.quit\n".utf8))
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
        }
    }

    @Test(
        "sqlite3 holds BEGIN IMMEDIATE for 8 s while five events arrive: all five answered 200 after it, committed, delivered",
        .enabled(if: Subprocess.find("sqlite3") != nil))
    func lockHeldWhileEventsArrive() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let receiver = try await TestReceiver.start()
        let (db, producer) = try await RelayExecutable.prepareDatabase(in: folder)
        let added = try await RelayExecutable.run(
            [
                "service", "add", "--identifier", "svc", "--name", "Svc", "--url", receiver.url, "--trigger",
                "NEW_REVISION",
                "--db", db,
            ])
        #expect(added.status == 0, "\(added)")
        let relay = try await RelayProcess.start(database: db)

        let session = try LockingSession(database: db)
        let locked = ContinuousClock.now
        let answers = Task {
            try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for roid in 1...5 {
                    group.addTask {
                        let response = try await TestHTTP.request(
                            "\(relay.baseURL)/json", method: "POST",
                            body: BIMserverRequests.newRevision(
                                userToken: producer, poid: 1, roid: Int64(roid), serviceIdentifier: "bimrelay"),
                            timeout: .seconds(60))
                        return (response.status, response.body)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
        // While the lock is held past the busy timeout, /health says writes are waiting.
        try await poll(until: "health reports the waiting writes", timeout: .seconds(8)) {
            try await TestHTTP.request("\(relay.baseURL)/health").body.contains("writes_failing_since")
        }
        try await Task.sleep(until: locked + .seconds(8))  // the admin's session, not a guess
        session.release()
        let replies = try await answers.value
        #expect(replies.count == 5)
        #expect(replies.allSatisfy { $0 == (200, #"{"response":{"result":{}}}"#) }, "\(replies)")
        try await poll(until: "five delivered", timeout: .seconds(20)) { receiver.received.count == 5 }
        let health = try await TestHTTP.request("\(relay.baseURL)/health")
        #expect(health.status == 200 && !health.body.contains("writes_failing_since"), "\(health.body)")
        #expect(await relay.terminate() == 0, "\(relay.log)")
        #expect(relay.log.contains("the database is locked by another connection"))
        await receiver.stop()
    }
}
