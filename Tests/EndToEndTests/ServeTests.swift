import Foundation
import RelayHarness
import RelayStore
import RelayTestSupport
import Testing

/// `bimrelay serve` as a real child process on 127.0.0.1.
@Suite("Serve")
struct ServeTests {
    @Test("serve creates the database, answers /health, and exits 0 on SIGTERM")
    func healthAndGracefulStop() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let db = folder.path("fresh.sqlite")
        #expect(!FileManager.default.fileExists(atPath: db))
        let relay = try await RelayProcess.start(database: db)
        #expect(FileManager.default.fileExists(atPath: db))
        let health = try await TestHTTP.request("\(relay.baseURL)/health")
        #expect(health.status == 200)
        #expect(try health.jsonObject()["status"] as? String == "ok")
        let status = await relay.terminate()
        #expect(status == 0, "exit \(status): \(relay.log)")
        #expect(!relay.wasSignalled)
    }

    @Test("a second serve on the same database exits 1 naming the database and the first one's pid; the first goes on")
    func secondServeRefused() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let db = folder.path("relay.sqlite")
        let first = try await RelayProcess.start(database: db)
        let second = try await RelayExecutable.run(["serve", "--db", db, "--port", "0"])
        #expect(second.status == 1, "\(second)")
        #expect(
            second.stderr.contains(db) && second.stderr.contains("pid \(first.process.processIdentifier)"),
            "\(second.stderr)")
        #expect(second.stderr.split(separator: "\n").count == 1)
        #expect(try await TestHTTP.request("\(first.baseURL)/health").status == 200)
        #expect(await first.terminate() == 0)
        // Once the first has stopped, the file can be served again.
        let again = try await RelayProcess.start(database: db)
        #expect(await again.terminate() == 0)
    }

    @Test("the database, WAL and SHM are 0600; an existing file readable by others is tightened, with a log line")
    func filePermissions() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let db = folder.path("relay.sqlite")
        func mode(_ file: String) throws -> Int {
            try #require((FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? NSNumber)?.intValue)
        }
        let relay = try await RelayProcess.start(database: db)
        _ = try await TestHTTP.request("\(relay.baseURL)/health")
        for file in [db, db + "-wal", db + "-shm"] { #expect(try mode(file) == 0o600, "\(file)") }
        #expect(await relay.terminate() == 0)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: db)
        let again = try await RelayProcess.start(database: db)
        #expect(try mode(db) == 0o600)
        #expect(await again.terminate() == 0)
        #expect(again.log.contains("readable by its owner only"), "\(again.log)")
    }

    @Test("--metrics-token-file keeps the /metrics token off the command line; with --metrics-token too, serve refuses")
    func metricsTokenFile() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let file = folder.path("metrics-token")
        try "scrape-secret\n".write(toFile: file, atomically: true, encoding: .utf8)
        let db = folder.path("relay.sqlite")
        let relay = try await RelayProcess.start(database: db, arguments: ["--metrics-token-file", file])
        #expect(try await TestHTTP.request("\(relay.baseURL)/metrics").status != 200)
        let scraped = try await TestHTTP.request(
            "\(relay.baseURL)/metrics", headers: [("Authorization", "Bearer scrape-secret")])
        #expect(scraped.status == 200 && scraped.body.contains("bimrelay_wal_bytes"))
        #expect(await relay.terminate() == 0)
        let both = try await RelayExecutable.run(
            ["serve", "--db", db, "--port", "0", "--metrics-token", "x", "--metrics-token-file", file])
        #expect(both.status != 0 && both.stderr.contains("not both"), "\(both)")
    }

    @Test("SIGINT also stops the relay cleanly")
    func interrupt() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let relay = try await RelayProcess.start(database: folder.path("relay.sqlite"))
        kill(relay.process.processIdentifier, SIGINT)
        while relay.process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        #expect(relay.process.terminationStatus == 0)
    }

    @Test("admin commands and sqlite3 work on the database while serve runs")
    func adminWhileServing() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let db = folder.path("relay.sqlite")
        let relay = try await RelayProcess.start(database: db)
        let issued = try await RelayExecutable.run([
            "token", "issue", "--user", "bim", "--role", "producer", "--db", db,
        ])
        #expect(issued.status == 0, "\(issued)")
        let added = try await RelayExecutable.run([
            "service", "add", "--identifier", "svc", "--name", "Svc", "--url", "http://127.0.0.1:9",
            "--trigger", "NEW_REVISION", "--db", db,
        ])
        #expect(added.status == 0, "\(added)")
        let stats = try await RelayExecutable.run(["queue", "stats", "--db", db])
        #expect(stats.status == 0, "\(stats)")
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3") {
            let process = ChildProcess()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            process.arguments = [db, "select count(*) from queue_overview; select identifier from services;"]
            let out = Pipe()
            process.standardOutput = out
            try process.run()
            let text = String(decoding: ProcessLaunch.readToEnd(out.fileHandleForReading), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
            #expect(text == "0\nsvc\n")
        }
        #expect(try await TestHTTP.request("\(relay.baseURL)/health").status == 200)
        #expect(await relay.terminate() == 0)
    }

    @Test(
        "a bad setting is one clear line and a non-zero exit",
        arguments: [
            (["--port", "99999"], [String: String]()),
            ([], ["BIMRELAY_PORT": "eighty"]),
            (["--durability", "maybe"], [:]),
            (["--max-body", "lots"], [:]),
        ])
    func badSetting(arguments: [String], environment: [String: String]) async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let result = try await RelayExecutable.run(
            ["serve", "--db", folder.path("r.sqlite")] + arguments, environment: environment)
        #expect(result.status != 0)
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
    }
}
