import Foundation
import RelayTestSupport
import Testing

/// The backup and restore procedure of docs/operations.md, on a real relay with a real receiver.
@Suite("Backup and restore")
struct BackupRestoreTests {
    @Test(
        "a .backup taken while serve runs restores (stop, replace, remove the WAL, start) and its pending deliveries go out",
        .enabled(if: Subprocess.find("sqlite3") != nil))
    func backupAndRestore() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let receiver = try await TestReceiver.start()
        defer { Task { await receiver.stop() } }
        await receiver.stop()  // The service is down: deliveries stay pending.
        let (db, producer) = try await RelayExecutable.prepareDatabase(in: folder)
        let added = try await RelayExecutable.run([
            "service", "add", "--identifier", "svc", "--name", "Svc", "--url", receiver.url, "--trigger",
            "NEW_REVISION", "--retry-schedule", "200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms", "--db", db,
        ])
        #expect(added.status == 0, "\(added)")
        var relay = try await RelayProcess.start(database: db)
        func ingest(_ roid: Int) async throws {
            let body = BIMserverRequests.newRevision(
                userToken: producer, poid: 1, roid: Int64(roid), serviceIdentifier: "bimrelay")
            let response = try await TestHTTP.request("\(relay.baseURL)/json", method: "POST", body: body)
            #expect(response.body == #"{"response":{"result":{}}}"#)
        }
        for roid in 1...5 { try await ingest(roid) }

        // The documented online backup, while the relay runs and keeps accepting.
        let sqlite3 = try #require(Subprocess.find("sqlite3"))
        let environment = ProcessInfo.processInfo.environment
        let backupPath = folder.path("backup.sqlite")
        let backup = try await Subprocess.run(sqlite3, [db, ".backup \(backupPath)"], environment: environment)
        #expect(backup.status == 0, "\(backup)")
        for roid in 6...8 { try await ingest(roid) }
        let check = try await Subprocess.run(sqlite3, [backupPath, "pragma integrity_check"], environment: environment)
        #expect(check.stdout == "ok\n")

        // The documented restore: stop, replace the file, remove the old WAL files, start.
        #expect(await relay.terminate() == 0)
        let files = FileManager.default
        try files.removeItem(atPath: db)
        try files.copyItem(atPath: backupPath, toPath: db)
        for suffix in ["-wal", "-shm"] { try? files.removeItem(atPath: db + suffix) }
        try await receiver.restart()
        relay = try await RelayProcess.start(database: db)
        // The backup's five pending notifications are delivered; the three taken after it are not there.
        try await poll(until: "the backup's deliveries arrive", timeout: .seconds(20)) {
            Set(receiver.received.compactMap { Self.roid(in: $0.body) }) == Set(1...5)
        }
        let stats = try await RelayExecutable.run(["queue", "stats", "--json", "--db", db])
        #expect(stats.status == 0, "\(stats)")
        let events = try await Subprocess.run(sqlite3, [db, "select count(*) from events"], environment: environment)
        #expect(events.stdout == "5\n")
        #expect(await relay.terminate() == 0)
    }

    /// The `roid` parameter of a delivered body.
    static func roid(in body: String) -> Int? {
        body.firstMatch(of: #/"roid":([0-9]+)/#).flatMap { Int($0.output.1) }
    }
}
