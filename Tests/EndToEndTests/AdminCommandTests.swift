import Foundation
import GRDB
import RelayHarness
import RelayTestSupport
import Testing

@testable import RelayStore

/// Runs the real `bimrelay` binary against a temp database.
@Suite("Admin commands")
struct AdminCommandTests {
    let folder: TemporaryDirectory
    let db: String

    init() async throws {
        folder = try TemporaryDirectory()
        db = folder.path("relay.sqlite")
        let migrated = try await RelayExecutable.run(["migrate", "--db", db])
        #expect(migrated.status == 0, "\(migrated)")
    }

    func cli(_ arguments: String...) async throws -> CommandResult {
        try await RelayExecutable.run(arguments + ["--db", db])
    }

    @Test("token issue prints the token once, list never shows it, revoke refuses it afterwards")
    func tokens() async throws {
        defer { folder.remove() }
        let issued = try await cli("token", "issue", "--user", "bim", "--role", "producer", "--json")
        #expect(issued.status == 0, "\(issued)")
        let object = try issued.jsonObject()
        let token = try #require(object["token"] as? String)
        #expect(object["user"] as? String == "bim" && object["role"] as? String == "producer")
        #expect(token.hasPrefix("brt_"))

        let plain = try await cli("token", "issue", "--user", "web", "--role", "client", "--projects", "1,2")
        #expect(plain.status == 0)
        #expect(plain.stdout.trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix("brt_"))

        for arguments in [["token", "list"], ["token", "list", "--json"]] {
            let listed = try await RelayExecutable.run(arguments + ["--db", db])
            #expect(listed.status == 0)
            #expect(!listed.stdout.contains(token), "token list shows a token")
            #expect(listed.stdout.contains(String(token.prefix(12))))
        }
        let revoked = try await cli("token", "revoke", String(token.prefix(12)))
        #expect(revoked.status == 0, "\(revoked)")
        let database = try RelayDatabase.open(path: db, mode: .existing)
        #expect(try await database.pool.read { db in try db.store.tokens.authenticate(token: token) } == nil)
        let list = try await cli("token", "list", "--json")
        let rows = try #require(try list.json() as? [[String: Any]])
        #expect(rows.first { $0["user"] as? String == "bim" }?["revoked"] as? Bool == true)
    }

    @Test("service add prints a whsec_ secret once; show, update, disable, enable, profiles and remove work")
    func services() async throws {
        defer { folder.remove() }
        let added = try await cli(
            "service", "add", "--identifier", "clash", "--name", "Clash detective", "--url", "http://127.0.0.1:9000",
            "--trigger", "NEW_REVISION,NEW_EXTENDED_DATA", "--retry-schedule", "1s,5m,2h", "--timeout", "10s",
            "--max-in-flight", "4", "--ordered", "--read-revision", "--provider-name", "ACME",
            "--interface", "Bimsie1RemoteServiceInterface", "--user-token", "svc-user-token", "--json")
        #expect(added.status == 0, "\(added)")
        let object = try added.jsonObject()
        #expect(object["identifier"] as? String == "clash")
        let secret = try #require(object["secret"] as? String)
        #expect(secret.hasPrefix("whsec_"))

        let shown = try await cli("service", "show", "clash", "--json")
        let service = try shown.jsonObject()
        #expect(service["enabled"] as? Bool == true)
        #expect(service["secret"] == nil, "show prints the secret without --show-secret")
        #expect(service["retry_schedule"] as? String == "1s,5m,2h")
        #expect(service["timeout"] as? String == "10s")
        #expect(service["ordered"] as? Bool == true && service["read_revision"] as? Bool == true)
        #expect(service["triggers"] as? [String] == ["NEW_REVISION", "NEW_EXTENDED_DATA"])
        #expect(service["delivery_url"] as? String == "http://127.0.0.1:9000/json")
        #expect(service["notification_interface"] as? String == "Bimsie1RemoteServiceInterface")
        #expect(!shown.stdout.contains("svc-user-token"))

        #expect(
            try await cli("service", "update", "clash", "--no-ordered", "--exact-url", "--name", "Clash 2").status == 0)
        let updated = try await cli("service", "show", "clash", "--json").jsonObject()
        #expect(updated["ordered"] as? Bool == false && updated["exact_url"] as? Bool == true)
        #expect(
            updated["name"] as? String == "Clash 2" && updated["delivery_url"] as? String == "http://127.0.0.1:9000")

        #expect(try await cli("service", "disable", "clash", "--reason", "maintenance").status == 0)
        let disabled = try await cli("service", "show", "clash", "--json").jsonObject()
        #expect(disabled["enabled"] as? Bool == false && disabled["disabled_reason"] as? String == "maintenance")
        #expect(try await cli("service", "enable", "clash").status == 0)
        #expect(try await cli("service", "show", "clash", "--json").jsonObject()["enabled"] as? Bool == true)

        #expect(
            try await cli("service", "profile", "add", "clash", "--identifier", "strict", "--name", "Strict").status
                == 0)
        #expect(
            try await cli("service", "profile", "add", "clash", "--identifier", "mine", "--name", "Mine", "--private")
                .status == 0)
        let profiles = try #require(
            try await cli("service", "profile", "list", "clash", "--json").json() as? [[String: Any]])
        #expect(profiles.map { $0["identifier"] as? String } == ["mine", "strict"])
        #expect(profiles.map { $0["public_profile"] as? Bool } == [false, true])
        #expect(try await cli("service", "profile", "remove", "clash", "mine").status == 0)

        let listed = try await cli("service", "list")
        #expect(listed.stdout.contains("clash") && listed.stdout.contains("Clash 2"))
        #expect(try await cli("service", "remove", "clash").status == 0)
        #expect(try await cli("service", "show", "clash").status != 0)
    }

    @Test(
        "bad input gives one clear line on stderr, a non-zero exit, and changes nothing",
        arguments: [
            ["service", "add", "--identifier", "x", "--name", "X", "--url", "not a url", "--trigger", "NEW_REVISION"],
            [
                "service", "add", "--identifier", "x", "--name", "X", "--url", "ftp://host/", "--trigger",
                "NEW_REVISION",
            ],
            ["service", "add", "--identifier", "x", "--name", "X", "--url", "http://h", "--trigger", "NEW_SOMETHING"],
            ["service", "add", "--identifier", "x", "--name", "X", "--url", "http://h", "--trigger", "NEW_PROJECT"],
            ["service", "update", "taken", "--trigger", "NEW_REVISION,NEW_PROJECT"],
            [
                "service", "add", "--identifier", "taken", "--name", "X", "--url", "http://h", "--trigger",
                "NEW_REVISION",
            ],
            [
                "service", "add", "--identifier", "x", "--name", "X", "--url", "http://h", "--trigger", "NEW_REVISION",
                "--retry-schedule", "5,5m",
            ],
            [
                "service", "add", "--identifier", "x", "--name", "X", "--url", "http://h", "--trigger", "NEW_REVISION",
                "--timeout", "soon",
            ],
            [
                "service", "add", "--identifier", "bimrelay", "--name", "X", "--url", "http://h", "--trigger",
                "NEW_REVISION",
            ],
            [
                "service", "add", "--identifier", "bimrelay-extended-data", "--name", "X", "--url", "http://h",
                "--trigger", "NEW_EXTENDED_DATA",
            ],
            ["service", "update", "nope", "--name", "Y"],
            ["service", "update", "taken", "--url", "mailto:a@b"],
            ["service", "update", "taken", "--signing-secret", "whsec_not base64!"],
            ["service", "update", "taken", "--signing-secret", "c2hvcnQ="],
            ["service", "update", "taken", "--signing-secret", "whsec_c2hvcnQ="],
            ["service", "show", "nope"],
            ["service", "enable", "nope"],
            ["service", "remove", "nope"],
            ["service", "profile", "add", "nope", "--identifier", "p", "--name", "P"],
            ["token", "issue", "--user", "u", "--role", "superuser"],
            ["token", "issue", "--user", "u", "--role", "client", "--projects", "one,two"],
            ["token", "revoke", "999"],
            ["queue", "show", "999"],
            ["queue", "retry", "999"],
            ["queue", "list", "--state", "lost"],
            ["queue", "purge", "--older-than", "7d"],
            ["topic", "show", "42"],
        ])
    func badInput(arguments: [String]) async throws {
        defer { folder.remove() }
        #expect(
            try await cli(
                "service", "add", "--identifier", "taken", "--name", "T", "--url", "http://h",
                "--trigger", "NEW_REVISION"
            ).status == 0)
        let before = try databaseFingerprint(db)
        let result = try await RelayExecutable.run(arguments + ["--db", db])
        #expect(result.status != 0, "\(arguments) succeeded: \(result)")
        let lines = result.stderr.split(separator: "\n").filter { !$0.isEmpty }
        #expect(!lines.isEmpty, "no message for \(arguments)")
        #expect(!result.stderr.contains("Fatal error"), "\(result.stderr)")
        #expect(try databaseFingerprint(db) == before, "\(arguments) changed the database")
    }

    @Test("service update --signing-secret takes a valid whsec_ secret from another system")
    func signingSecret() async throws {
        defer { folder.remove() }
        let added = try await cli(
            "service", "add", "--identifier", "svc", "--name", "S", "--url", "http://h", "--trigger", "NEW_REVISION")
        #expect(added.status == 0)
        let secret = "whsec_" + Data((0..<32).map { UInt8($0) }).base64EncodedString()
        let updated = try await cli("service", "update", "svc", "--signing-secret", secret)
        #expect(updated.status == 0, "\(updated)")
        let database = try RelayDatabase.open(path: db, mode: .existing)
        let stored = try await database.pool.read { db in
            try String.fetchOne(db, sql: "SELECT signing_secret FROM services WHERE identifier = 'svc'")
        }
        #expect(stored == secret)
    }

    @Test("an unreadable or missing database is a clear error, not a new file")
    func unreadableDatabase() async throws {
        defer { folder.remove() }
        let junk = folder.path("junk.sqlite")
        try Data("this is not a database, it only has text in it".utf8).write(to: URL(fileURLWithPath: junk))
        let result = try await RelayExecutable.run(["token", "list", "--db", junk])
        #expect(result.status != 0)
        #expect(result.stderr.contains("not a database"))
        let missing = folder.path("missing.sqlite")
        let none = try await RelayExecutable.run(["queue", "stats", "--db", missing])
        #expect(none.status != 0 && none.stderr.contains("bimrelay migrate"))
        #expect(!FileManager.default.fileExists(atPath: missing))
    }

    @Test("BIMRELAY_DB names the database when --db is not given")
    func environmentDatabase() async throws {
        defer { folder.remove() }
        let result = try await RelayExecutable.run(
            ["token", "issue", "--user", "env", "--role", "admin"], environment: ["BIMRELAY_DB": db])
        #expect(result.status == 0, "\(result)")
        let listed = try await cli("token", "list", "--json")
        #expect(listed.stdout.contains("\"env\""))
    }

    @Test("queue stats, list, show, retry and purge work on real rows")
    func queue() async throws {
        defer { folder.remove() }
        let database = try RelayDatabase.open(path: db, mode: .existing)
        let (dead, delivered) = try await database.pool.write { db in
            let a = try StoreFixtures.service(db, identifier: "a")
            let b = try StoreFixtures.service(db, identifier: "b")
            let dead = try StoreFixtures.deliveries(db, serviceIDs: [a, b], state: "dead")
            try StoreFixtures.deliveries(db, serviceIDs: [a], state: "pending")
            let delivered = try StoreFixtures.deliveries(db, serviceIDs: [b], state: "delivered")
            try db.execute(
                sql: """
                    INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, outcome, status_code, error_class, response_body)
                    VALUES (?, 1, '2026-11-22 08:00:00.000', 12.5, 'failed', 503, 'http_status', 'try later')
                    """,
                arguments: [dead[0]])
            try db.execute(
                sql: "UPDATE deliveries SET delivered_at = '2026-01-01 00:00:00.000' WHERE state = 'delivered'")
            return (dead, delivered)
        }
        let stats = try await cli("queue", "stats", "--json").jsonObject()
        let totals = try #require(stats["totals"] as? [String: Int])
        #expect(totals == ["pending": 1, "in_flight": 0, "delivered": 1, "dead": 2, "paused": 0])
        let table = try await cli("queue", "stats")
        #expect(table.stdout.contains("dead:") && table.stdout.contains("SERVICE"))

        let deadRows = try #require(
            try await cli("queue", "list", "--state", "dead", "--json").json() as? [[String: Any]])
        #expect(deadRows.count == 2)
        let onlyB = try #require(try await cli("queue", "list", "--service", "b", "--json").json() as? [[String: Any]])
        #expect(onlyB.count == 2 && onlyB.allSatisfy { $0["service"] as? String == "b" })

        let shown = try await cli("queue", "show", String(dead[0]), "--json").jsonObject()
        let attempts = try #require(shown["attempts"] as? [[String: Any]])
        #expect(attempts.count == 1 && attempts[0]["status_code"] as? Int == 503)
        let shownText = try await cli("queue", "show", String(dead[0]))
        #expect(shownText.stdout.contains("try later") && shownText.stdout.contains("webhook-id"))

        #expect(try await cli("queue", "retry", String(dead[0])).status == 0)
        let retried = try await cli("queue", "retry", "--dead", "--service", "b", "--since", "1h", "--json")
            .jsonObject()
        #expect(retried["requeued"] as? Int == 1)
        let afterRetry = try #require(
            try await cli("queue", "stats", "--json").jsonObject()["totals"] as? [String: Int])
        #expect(afterRetry["dead"] == 0 && afterRetry["pending"] == 3)

        let purged = try await cli("queue", "purge", "--delivered", "--older-than", "7d", "--json").jsonObject()
        #expect(purged["deliveries"] as? Int == 1)
        #expect(try await cli("queue", "show", String(delivered[0])).status != 0)
    }

    @Test("topic list and show read progress topics")
    func topics() async throws {
        defer { folder.remove() }
        let database = try RelayDatabase.open(path: db, mode: .existing)
        try await database.pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO topics (type, scope, poid, description, latest_state)
                    VALUES ('UPLOAD', 'project', 131073, 'Checkin', '{"__type":"SLongActionState","progress":42}')
                    """)
        }
        let list = try #require(try await cli("topic", "list", "--json").json() as? [[String: Any]])
        #expect(list.count == 1 && list[0]["description"] as? String == "Checkin")
        let shown = try await cli("topic", "show", "1")
        #expect(shown.status == 0 && shown.stdout.contains("\"progress\":42"))
    }

    @Test("the binary carries its migrations: copied alone into an empty folder it creates a database")
    func selfContainedBinary() async throws {
        defer { folder.remove() }
        let alone = try TemporaryDirectory(prefix: "bimrelay-alone")
        defer { alone.remove() }
        let copy = alone.path("bimrelay")
        try FileManager.default.copyItem(atPath: RelayExecutable.path, toPath: copy)
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: copy)
        process.arguments = ["migrate", "--db", "x.sqlite"]
        process.currentDirectoryURL = alone.url
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let database = try RelayDatabase.open(path: alone.path("x.sqlite"), mode: .existing)
        let version = try await database.pool.read { db in try SchemaMigrator.currentVersion(db) }
        #expect(version == SchemaMigrator.latestVersion)
    }
}
