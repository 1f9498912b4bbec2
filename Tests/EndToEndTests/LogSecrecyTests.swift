import Foundation
import RelayCore
import RelayTestSupport
import Testing

/// Secrets never reach the log, even at trace level: tokens, signing secrets, signatures.
@Suite("Log secrecy")
struct LogSecrecyTests {
    @Test("at trace level in JSON format, no token, secret or signature appears in the log")
    func noSecretsInLogs() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let receiver = try await TestReceiver.start()
        defer { Task { await receiver.stop() } }
        receiver.script([.init(status: 500, body: "try later")])
        let (db, producer) = try await RelayExecutable.prepareDatabase(in: folder)
        let viewer = try await RelayExecutable.issueToken(db: db, user: "viewer", role: "client")
        let serviceUserToken = "svc-user-token-5f1e2d"
        let added = try await RelayExecutable.run([
            "service", "add", "--identifier", "svc", "--name", "Svc", "--url", receiver.url, "--trigger",
            "NEW_REVISION", "--user-token", serviceUserToken, "--retry-schedule", "1s", "--json", "--db", db,
        ])
        #expect(added.status == 0, "\(added)")
        let secret = try #require(try added.jsonObject()["secret"] as? String)
        let metricsToken = "scrape-secret-9c8b7a"
        let relay = try await RelayProcess.start(
            database: db, arguments: ["--log-level", "trace", "--log-format", "json"],
            environment: ["BIMRELAY_METRICS_TOKEN": metricsToken])

        // Ingest with the token in the body, in a Bearer header, and a wrong one.
        let body = BIMserverRequests.newRevision(userToken: producer, poid: 1, roid: 2, serviceIdentifier: "bimrelay")
        let accepted = try await TestHTTP.request("\(relay.baseURL)/json", method: "POST", body: body)
        #expect(accepted.body == #"{"response":{"result":{}}}"#)
        let wrongToken = "brt_not-a-real-token-0042"
        _ = try await TestHTTP.request(
            "\(relay.baseURL)/json", method: "POST", headers: [("Authorization", "Bearer \(wrongToken)")],
            body: BIMserverRequests.newRevision(userToken: wrongToken, poid: 1, roid: 3, serviceIdentifier: "bimrelay"))
        _ = try await TestHTTP.request(
            "\(relay.baseURL)/json", method: "POST", body: #"{"token":"\#(wrongToken)","request":{"#)
        // The stream handshake with a good and a bad token.
        let client = try await TestStreamClient.connect(port: relay.port)
        _ = try await client.next()
        client.send(#"{"token":"\#(viewer)"}"#)
        _ = try await client.next()
        await client.close()
        let refused = try await TestStreamClient.connect(port: relay.port)
        _ = try await refused.next()
        refused.send(#"{"token":"\#(wrongToken)"}"#)
        _ = try await refused.next()
        await refused.close()
        let metrics = try await TestHTTP.request(
            "\(relay.baseURL)/metrics", headers: [("Authorization", "Bearer \(metricsToken)")])
        #expect(metrics.status == 200)

        // One failed attempt, then the delivery.
        try await poll(until: "delivered after a failure", timeout: .seconds(20)) { receiver.received.count == 2 }
        let status = await relay.terminate()
        #expect(status == 0)

        let log = relay.log
        let lines = log.split(separator: "\n")
        #expect(lines.count > 10)
        #expect(lines.allSatisfy { (try? JSONValue.parse(String($0)))?["level"] != nil }, "not JSON lines: \(log)")
        #expect(log.contains(#""message":"delivered""#))
        #expect(log.contains(#""message":"attempt failed, will retry""#))
        let signatures = receiver.received.compactMap { $0.header("webhook-signature") }
        #expect(signatures.count == 2)
        var secrets = [
            producer, viewer, wrongToken, secret, String(secret.dropFirst("whsec_".count)),
            serviceUserToken, metricsToken, "3a0e4b1c9d2f",
        ]
        secrets += signatures.flatMap { $0.split(separator: " ").map { String($0.dropFirst(3)) } }
        for value in secrets {
            #expect(!log.contains(value), "the log shows a secret: \(value)")
        }
    }

    @Test("user-supplied text reaches the text log and CLI tables with its control characters escaped")
    func controlCharactersEscaped() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let (db, producer) = try await RelayExecutable.prepareDatabase(in: folder)
        let relay = try await RelayProcess.start(database: db, arguments: ["--log-level", "info"])
        // A service identifier that would clear the screen and forge a log line when its refusal is logged.
        let forged = #"X\u001b[2J\n2026-11-30T00:00:00+0000 critical bimrelay: forged"#
        let refused = try await TestHTTP.request(
            "\(relay.baseURL)/json", method: "POST",
            body:
                #"{"request":{"interface":"RemoteServiceInterface","method":"getService","parameters":{"serviceIdentifier":"\#(forged)"}}}"#
        )
        #expect(refused.body.contains("No service found"))
        let description = #"Check\u001b[31m in\nFAKE ROW"#
        let topic = try await TestHTTP.request(
            "\(relay.baseURL)/json", method: "POST",
            body:
                #"{"token":"\#(producer)","request":{"interface":"NotificationRegistryInterface","method":"registerProgressTopic","parameters":{"type":"UPLOAD","description":"\#(description)"}}}"#
        )
        #expect(topic.body.contains("result"), "\(topic.body)")
        let listed = try await RelayExecutable.run(["topic", "list", "--db", db])
        #expect(listed.status == 0)
        #expect(!listed.stdout.contains("\u{1B}") && !listed.stdout.contains("\nFAKE ROW"), "\(listed.stdout)")
        #expect(listed.stdout.contains(#"\u{1B}[31m in\nFAKE ROW"#), "\(listed.stdout)")
        #expect(await relay.terminate() == 0)
        #expect(!relay.log.contains("\u{1B}"))
        #expect(!relay.log.split(separator: "\n").contains { $0.hasPrefix("2026-11-30T00:00:00+0000 critical") })
        #expect(relay.log.contains(#"\u{1B}[2J\n2026-11-30"#), "\(relay.log)")
    }

    @Test("gateway mode at trace level: no password, BIMserver token or callback token appears in the log")
    func gatewayLogsNoSecrets() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let bimserver = try await FakeBIMserver.start(projects: [1: "Alpha"])
        let password = "pw-7d1c9e-never-logged"
        bimserver.addUser("alice@example.org", password: password, projects: [1])
        let (db, producer) = try await RelayExecutable.prepareDatabase(in: folder)
        let relay = try await RelayProcess.start(
            database: db, arguments: ["--log-level", "trace", "--log-format", "json", "--upstream", bimserver.url])
        func post(_ body: String) async throws -> String {
            try await TestHTTP.request("\(relay.baseURL)/json", method: "POST", body: body).body
        }
        let login = try await post(
            #"{"request":{"interface":"AuthInterface","method":"login","parameters":{"username":"alice@example.org","password":"\#(password)"}}}"#
        )
        let token = try #require(try JSONValue.parse(login)["response"]?["result"]?.stringValue)
        let wrong = try await post(
            #"{"request":{"interface":"AuthInterface","method":"login","parameters":{"username":"alice@example.org","password":"wrong-\#(password)"}}}"#
        )
        #expect(wrong.contains("Invalid username/password"))
        let mixed = try await post(
            #"{"token":"\#(token)","requests":[{"interface":"ServiceInterface","method":"getAllProjects","parameters":{}},{"interface":"NotificationRegistryInterface","method":"getProgressTopicsOnServer","parameters":{}}]}"#
        )
        #expect(mixed.contains("Alpha"))
        let forged = "forged-bimserver-token-31f"
        #expect(
            try await post(
                #"{"token":"\#(forged)","request":{"interface":"NotificationRegistryInterface","method":"getProgressTopicsOnServer","parameters":{}}}"#
            ).contains("InvalidToken"))
        let callback = bimserver.mintCallbackToken(for: "alice@example.org")
        let ingest = BIMserverRequests.newRevision(userToken: producer, poid: 1, roid: 2, serviceIdentifier: "bimrelay")
            .replacingOccurrences(of: "3a0e4b1c9d2f", with: callback)
        #expect(try await post(ingest) == #"{"response":{"result":{}}}"#)
        let topic = try await post(
            #"{"token":"\#(callback)","request":{"interface":"NotificationRegistryInterface","method":"registerProgressOnProjectTopic","parameters":{"type":"RUNNING_SERVICE","poid":1,"description":"x"}}}"#
        )
        #expect(topic.contains("result"), "\(topic)")
        let client = try await TestStreamClient.connect(port: relay.port)
        _ = try await client.next()
        client.send(#"{"token":"\#(token)"}"#)
        _ = try await client.next()
        await client.close()
        #expect(await relay.terminate() == 0)
        await bimserver.stop()
        let log = relay.log
        #expect(log.contains("BIMserver refused a token"))
        for value in [password, token, forged, callback, producer] {
            #expect(!log.contains(value), "the log shows a secret: \(value)")
        }
    }
}
