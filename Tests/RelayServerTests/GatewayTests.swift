import Foundation
import GRDB
import RelayCore
import RelayTestSupport
import Testing

@testable import RelayStore

/// Gateway mode (`--upstream`): the relay in front of a (fake) BIMserver, over real HTTP and
/// WebSocket connections on both sides.
@Suite("Gateway mode")
struct GatewayTests {
    /// A fake BIMserver with projects 1 and 2, revision 11 in project 1 and 22 in project 2, a user
    /// `alice` with rights on project 1 only, and `svc-owner`, who added a service.
    static func bimserver() async throws -> FakeBIMserver {
        let bimserver = try await FakeBIMserver.start(projects: [1: "Alpha", 2: "Beta"])
        bimserver.addUser("alice@example.org", password: "alice-secret-pw", projects: [1])
        bimserver.addUser("svc-owner@example.org", password: "owner-secret-pw", projects: [1, 2])
        bimserver.addRevision(11, project: 1)
        bimserver.addRevision(22, project: 2)
        return bimserver
    }

    /// Runs `body` with a fake BIMserver and a relay in front of it.
    static func withGateway(
        authCache: Duration = .seconds(30), _ body: (TestRelay, FakeBIMserver) async throws -> Void
    ) async throws {
        let bimserver = try await bimserver()
        do {
            try await withTestRelay(
                configure: {
                    $0.upstream = bimserver.url
                    $0.upstreamAuthCache = authCache
                    $0.upstreamTimeout = .seconds(10)
                },
                { relay in try await body(relay, bimserver) })
        } catch {
            await bimserver.stop()
            throw error
        }
        await bimserver.stop()
    }

    static func call(_ interface: String, _ method: String, _ parameters: String = "{}", token: String? = nil)
        -> String
    {
        let tokenField = token.map { #""token":"\#($0)","# } ?? ""
        return
            #"{\#(tokenField)"request":{"interface":"\#(interface)","method":"\#(method)","parameters":\#(parameters)}}"#
    }

    /// A NotificationRegistryInterface call through the relay.
    static func registry(
        _ relay: TestRelay, _ method: String, _ parameters: String = "{}", token: String? = nil
    ) async throws -> TestResponse {
        try await relay.json(call("NotificationRegistryInterface", method, parameters, token: token))
    }

    /// A `/stream` socket after the handshake with `token`, and its endpoint id.
    static func attach(_ relay: TestRelay, token: String) async throws -> (TestStreamClient, Int64) {
        let client = try await TestStreamClient.connect(port: relay.port)
        _ = try await client.next()
        client.send(#"{"token":"\#(token)"}"#)
        let reply = try await client.nextJSON()
        return (client, try #require(reply["endpointid"]?.intValue, "no endpoint: \(reply.serialized)"))
    }

    static func result(_ response: TestResponse) throws -> JSONValue {
        let reply = try JSONValue.parse(response.body)
        return try #require(reply["response"]?["result"], "no result in \(response.body)")
    }

    @Test("a BIMserver user logs in through the relay and its token works for BIMserver's calls")
    func loginThroughRelay() async throws {
        try await Self.withGateway { relay, bimserver in
            let login = try await relay.json(
                Self.call(
                    "AuthInterface", "login", #"{"username":"alice@example.org","password":"alice-secret-pw"}"#))
            #expect(login.status == 200)
            let token = try #require(try Self.result(login).stringValue)
            let user = try Self.result(
                try await relay.json(Self.call("AuthInterface", "getLoggedInUser", token: token)))
            #expect(user["username"] == "alice@example.org")
            // Forwarded in gateway mode: BIMserver answered, not the relay.
            #expect(bimserver.count("login") == 1)
            #expect(bimserver.count("getLoggedInUser") == 1)
            let info = try Self.result(try await relay.json(Self.call("AdminInterface", "getServerInfo")))
            #expect(info["__type"] == "SServerInfo")
            #expect(bimserver.count("getServerInfo") == 1)
            let wrong = try await relay.json(
                Self.call("AuthInterface", "login", #"{"username":"alice@example.org","password":"nope"}"#))
            #expect(wrong.body.contains("Invalid username/password combination"))
        }
    }

    @Test(
        "a forwarded call's reply is BIMserver's, byte for byte, with its status and cookies; credentials pass, Origin does not"
    )
    func forwardedByteIdentical() async throws {
        try await Self.withGateway { relay, bimserver in
            let token = bimserver.mintToken(for: "alice@example.org")
            let body = Self.call("ServiceInterface", "getAllRevisionsOfProject", #"{"poid":1, "ü":"ß"}"#, token: token)
            let direct = try await TestHTTP.request(
                "\(bimserver.url)/json", method: "POST", headers: [("Content-Type", "application/json")], body: body)
            let forwarded = try await relay.json(
                body, headers: [("Authorization", "Bearer \(token)"), ("Origin", "http://app.example.org")])
            #expect(forwarded.status == direct.status)
            #expect(forwarded.body == direct.body)
            #expect(forwarded.body.hasPrefix(#"{ "response" :  "#))
            #expect(forwarded.header("Set-Cookie") == "JSESSIONID=fake")
            #expect(forwarded.header("Content-Type") == "application/json; charset=UTF-8")
            let seen = try #require(bimserver.calls.last)
            #expect(seen.method == "getAllRevisionsOfProject")
            #expect(seen.headers["authorization"] == "Bearer \(token)")
            #expect(seen.headers["origin"] == nil)
            // A body the relay cannot read goes to BIMserver too: its answer is the one the client gets.
            let unreadable = try await relay.json(#"{"request":"#)
            #expect(unreadable.body.contains("Unreadable request"))
        }
    }

    @Test("a multi-call envelope mixing BIMserver's calls and the relay's is split and re-joined in order")
    func mixedEnvelope() async throws {
        try await Self.withGateway { relay, bimserver in
            let token = bimserver.mintToken(for: "alice@example.org")
            let body = """
                {"token":"\(token)","id":7,"requests":[
                {"interface":"ServiceInterface","method":"getProjectByPoid","parameters":{"poid":1}},
                {"interface":"ServiceInterface","method":"getSomething","parameters":{"n":2}},
                {"interface":"NotificationRegistryInterface","method":"getProgressTopicsOnServer","parameters":{}},
                {"interface":"NotificationRegistryInterface","method":"getProgress","parameters":{"topicId":1099511627999}},
                {"interface":"AuthInterface","method":"getLoggedInUser","parameters":{}},
                {"interface":"NotificationRegistryInterface","method":"noSuchRelayMethod","parameters":{}}
                ]}
                """
            let reply = try JSONValue.parse(try await relay.json(body).body)
            #expect(reply["id"] == 7)
            let responses = try #require(reply["responses"]?.arrayValue)
            #expect(responses.count == 6)
            #expect(responses[0]["result"]?["name"] == "Alpha")
            #expect(responses[1]["result"]?["echo"]?["parameters"]?["n"] == 2)
            #expect(responses[2]["result"] == .array([]))
            #expect(responses[3]["exception"]?["message"] == "No topic found with topicId 1099511627999")
            #expect(responses[4]["result"]?["username"] == "alice@example.org")
            // getProgress of BIMserver's own topic (a checkin's, say) is BIMserver's to answer.
            let progress = try JSONValue.parse(
                try await Self.registry(relay, "getProgress", #"{"topicId":3}"#, token: token).body)
            #expect(progress["response"]?["result"]?["echo"]?["method"] == "getProgress")
            // A NotificationRegistryInterface method the relay does not serve is BIMserver's to answer.
            #expect(responses[5]["result"]?["echo"]?["method"] == "noSuchRelayMethod")
            // BIMserver's calls in order; between them the relay's own questions about the token.
            #expect(
                bimserver.calls.map(\.method) == [
                    "getProjectByPoid", "getSomething", "getLoggedInUser", "getAllProjects", "getLoggedInUser",
                    "noSuchRelayMethod", "getProgress",
                ])
        }
    }

    @Test("a BIMserver token opens /stream and registers for progress; BIMserver is asked once per cache time")
    func bimserverTokenAccepted() async throws {
        try await Self.withGateway { relay, bimserver in
            let token = bimserver.mintToken(for: "alice@example.org")
            let (client, endpoint) = try await Self.attach(relay, token: token)
            defer { Task { await client.close() } }
            let registered = try await Self.registry(
                relay, "registerChangeProgressOnProject", #"{"endPointId":\#(endpoint),"poid":1}"#, token: token)
            #expect(registered.body == #"{"response":{"result":{}}}"#)
            #expect(bimserver.count("getLoggedInUser") == 1)
            #expect(bimserver.count("getAllProjects") == 1)
            #expect(bimserver.count("getProjectByPoid") == 1)
            let row = try await relay.database.pool.read { db in
                try db.store.tokens.upstream(hash: Secrets.hash(token: token))
            }
            #expect(row?.origin == .bimserver)
            #expect(row?.user == "bimserver:alice@example.org")
            #expect(row?.role == .client)
            #expect(row?.projectIDs == [1])
            // Nothing of the token is stored but its hash.
            let stored = try await relay.count("tokens", where: "instr(prefix, '\(token.prefix(8))') > 0")
            #expect(stored == 0)
            // A producer's topic on project 1 reaches the BIMserver user.
            let producer = try await relay.issueToken(role: .producer)
            let topic = try Self.result(
                try await Self.registry(
                    relay, "registerProgressOnProjectTopic",
                    #"{"type":"RUNNING_SERVICE","poid":1,"description":"Check"}"#, token: producer))
            let frame = try await client.nextJSON()
            #expect(frame["request"]?["method"] == "newProgressOnProjectTopic")
            #expect(frame["request"]?["parameters"]?["topicId"] == topic)
        }
    }

    @Test("a token BIMserver stops accepting is refused once the cache time has passed")
    func revokedTokenRefused() async throws {
        try await Self.withGateway(authCache: .seconds(2)) { relay, bimserver in
            let token = bimserver.mintToken(for: "alice@example.org")
            let list = Self.call("NotificationRegistryInterface", "getProgressTopicsOnServer", token: token)
            #expect(try await relay.json(list).body == #"{"response":{"result":[]}}"#)
            let (open, _) = try await Self.attach(relay, token: token)
            bimserver.revoke(token)
            try await poll(until: "the revoked token refused", timeout: .seconds(15), interval: .milliseconds(100)) {
                try await relay.json(list).body.contains("InvalidTokenException")
            }
            // Asked once per cache time (and by the socket's watch), not once per call.
            let asked = bimserver.calls.count { $0.method == "getLoggedInUser" && $0.token == token }
            #expect(asked >= 2 && asked <= 3)
            // The socket opened before is closed once BIMserver refuses the token.
            try await poll(until: "the open socket closed", timeout: .seconds(15)) { open.closed.0 }
            #expect(open.closed.1 == 1008)
            #expect(try await open.nextJSON()["error"] == "Invalid token")
            // On /stream too.
            let client = try await TestStreamClient.connect(port: relay.port)
            _ = try await client.next()
            client.send(#"{"token":"\#(token)"}"#)
            #expect(try await client.nextJSON()["error"] == "Invalid token")
            await client.close()
            // A token BIMserver never knew costs BIMserver one question per cache time, not one per call.
            let unknown = Self.call("NotificationRegistryInterface", "getProgressTopicsOnServer", token: "forged")
            for _ in 0..<3 { #expect(try await relay.json(unknown).body.contains("InvalidTokenException")) }
            #expect(bimserver.calls.count { $0.token == "forged" } == 1)
        }
    }

    @Test("a BIMserver user is refused registrations on projects and revisions BIMserver says it may not read")
    func rightsChecked() async throws {
        try await Self.withGateway(authCache: .seconds(1)) { relay, bimserver in
            let token = bimserver.mintToken(for: "alice@example.org")
            let (client, endpoint) = try await Self.attach(relay, token: token)
            defer { Task { await client.close() } }
            func register(_ method: String, _ parameters: String) async throws -> String {
                try await Self.registry(relay, method, parameters, token: token).body
            }
            let refusedProject = try await register(
                "registerNewRevisionOnSpecificProjectHandler", #"{"endPointId":\#(endpoint),"poid":2}"#)
            #expect(refusedProject.contains("has no rights on this project"))
            let refusedRevision = try await register(
                "registerNewExtendedDataOnRevisionHandler", #"{"endPointId":\#(endpoint),"roid":22}"#)
            #expect(refusedRevision.contains("has no rights on this project"))
            let allowedRevision = try await register(
                "registerNewExtendedDataOnRevisionHandler", #"{"endPointId":\#(endpoint),"roid":11}"#)
            #expect(allowedRevision == #"{"response":{"result":{}}}"#)
            // A topic of project 2: refused its progress.
            let producer = try await relay.issueToken(role: .producer)
            let topic = try Self.result(
                try await Self.registry(
                    relay, "registerProgressOnProjectTopic",
                    #"{"type":"RUNNING_SERVICE","poid":2,"description":"Other"}"#, token: producer))
            let refusedTopic = try await register(
                "registerProgressHandler", #"{"endPointId":\#(endpoint),"topicId":\#(topic.serialized)}"#)
            #expect(refusedTopic.contains("has no rights on this project"))
            #expect(try await relay.count("subscriptions") == 1)
            // BIMserver's word beats the listing: rights on project 1 reach its subproject 3, which
            // getAllProjects does not list; the user's scope grows, so its notifications arrive.
            bimserver.addProject(3, name: "Alpha annex", parent: 1)
            let sub = try await register(
                "registerChangeProgressOnProject", #"{"endPointId":\#(endpoint),"poid":3}"#)
            #expect(sub == #"{"response":{"result":{}}}"#)
            _ = try await Self.registry(
                relay, "registerProgressOnProjectTopic", #"{"type":"RUNNING_SERVICE","poid":3,"description":"Annex"}"#,
                token: producer)
            #expect(try await client.nextJSON()["request"]?["parameters"]?["poid"] == 3)
            #expect(try await relay.count("subscriptions") == 2)
            // When BIMserver is asked again, the scope is BIMserver's listing plus what it still allows.
            let asked = bimserver.count("getLoggedInUser")
            let list = Self.call("NotificationRegistryInterface", "getProgressTopicsOnServer", token: token)
            try await poll(until: "BIMserver asked again", interval: .milliseconds(100)) {
                _ = try await relay.json(list)
                return bimserver.count("getLoggedInUser") > asked
            }
            let scope = try await relay.database.pool.read { db in
                try db.store.tokens.upstream(hash: Secrets.hash(token: token))?.projectIDs
            }
            #expect(scope == [1, 3])
        }
    }

    @Test("deliveries carry the relay's apiUrl; a service's progress with its callback token lands in the relay")
    func serviceCallsBackTheRelay() async throws {
        let receiver = try await TestReceiver.start()
        defer { Task { await receiver.stop() } }
        try await Self.withGateway { relay, bimserver in
            try await relay.addService("checker", url: receiver.url)
            let producer = try await relay.issueToken(role: .producer, user: "bimserver")
            let callback = bimserver.mintCallbackToken(for: "svc-owner@example.org")
            let ingest = BIMserverRequests.newRevision(
                userToken: producer, poid: 1, roid: 11, serviceIdentifier: "bimrelay"
            )
            .replacingOccurrences(of: "3a0e4b1c9d2f", with: callback)
            .replacingOccurrences(of: "http://bimserver.example.org:8080", with: bimserver.url)
            #expect(try await relay.json(ingest).body == #"{"response":{"result":{}}}"#)
            try await poll(until: "the delivery") { receiver.received.count == 1 }
            let delivered = try JSONValue.parse(receiver.received[0].body)["request"]?["parameters"]
            #expect(delivered?["apiUrl"] == .string(relay.baseURL))
            #expect(delivered?["token"] == .string(callback))

            // A browser of a user with rights on project 1 listens for topics of revision 11.
            let viewer = bimserver.mintToken(for: "alice@example.org")
            let (client, endpoint) = try await Self.attach(relay, token: viewer)
            defer { Task { await client.close() } }
            let registered = try await Self.registry(
                relay, "registerChangeProgressOnRevision", #"{"endPointId":\#(endpoint),"poid":1,"roid":11}"#,
                token: viewer)
            #expect(registered.body == #"{"response":{"result":{}}}"#)

            // The service, as BIMserver's service base does, at the apiUrl it was given.
            let apiURL = try #require(delivered?["apiUrl"]?.stringValue)
            let topicReply = try await TestHTTP.request(
                "\(apiURL)/json", method: "POST",
                body: Self.call(
                    "NotificationRegistryInterface", "registerProgressOnRevisionTopic",
                    #"{"type":"RUNNING_SERVICE","poid":1,"roid":11,"description":"Checking"}"#, token: callback))
            let topic = try #require(try Self.result(topicReply).intValue)
            // Clear of BIMserver's own topic ids, which count from 1.
            #expect(topic >= 1 << 40)
            let announced = try await client.nextJSON()
            #expect(announced["request"]?["method"] == "newProgressOnRevisionTopic")
            // The browser follows the new topic, as BIMvie.ws does.
            let following = try await Self.registry(
                relay, "registerProgressHandler", #"{"endPointId":\#(endpoint),"topicId":\#(topic)}"#, token: viewer)
            #expect(following.body == #"{"response":{"result":{}}}"#)
            let update = try await TestHTTP.request(
                "\(apiURL)/json", method: "POST",
                body: Self.call(
                    "NotificationRegistryInterface", "updateProgressTopic",
                    #"{"topicId":\#(topic),"state":{"__type":"SLongActionState","progress":40,"state":"STARTED","title":"Checking","stage":1,"errors":[],"warnings":[],"infos":[]}}"#,
                    token: callback))
            #expect(update.body == #"{"response":{"result":{}}}"#)
            let state = try await relay.database.pool.read { db in
                try String.fetchOne(db, sql: "SELECT latest_state FROM topics WHERE id = ?", arguments: [topic])
            }
            #expect(state?.contains(#""progress":40"#) == true)
            let owner = try await relay.database.pool.read { db in
                try TokenRecord.fetchOne(
                    db, sql: "SELECT t.* FROM tokens t JOIN topics p ON p.owner_token_id = t.id WHERE p.id = ?",
                    arguments: [topic])
            }
            #expect(owner?.origin == .callback)
            #expect(owner?.role == .producer)
            #expect(owner?.projectIDs == [1])
            // One identity per callback token, named after the service's BIMserver user.
            #expect(owner?.user.hasPrefix("bimserver-callback:svc-owner@example.org#") == true)
            // The callback token is a producer for its own project only.
            let elsewhere = try await TestHTTP.request(
                "\(apiURL)/json", method: "POST",
                body: Self.call(
                    "NotificationRegistryInterface", "registerProgressOnProjectTopic",
                    #"{"type":"RUNNING_SERVICE","poid":2,"description":"Elsewhere"}"#, token: callback))
            #expect(elsewhere.body.contains("may not use project 2"))
            // ... and never speaks for BIMserver: no notifications to other services.
            let forged = BIMserverRequests.newRevision(userToken: "", poid: 1, roid: 12, serviceIdentifier: "bimrelay")
                .replacingOccurrences(of: #"{"request""#, with: #"{"token":"\#(callback)","request""#)
            #expect(try await relay.json(forged).body.contains("Only a relay producer token may publish events"))
            #expect(receiver.received.count == 1)
            // Its other calls (downloading the revision) go to BIMserver.
            let download = try await TestHTTP.request(
                "\(apiURL)/json", method: "POST",
                body: Self.call("ServiceInterface", "getRevision", #"{"roid":11}"#, token: callback))
            #expect(try Self.result(download)["projectId"] == 1)
            // The browser heard the progress, durably stored.
            let progress = try await client.nextJSON()
            #expect(progress["request"]?["method"] == "progress")
            #expect(progress["request"]?["parameters"]?["state"]?["progress"] == 40)
        }
    }

    @Test(
        "/stream download actions and BIMserver's request frames are carried to BIMserver, binary messages streamed back"
    )
    func streamDownloads() async throws {
        try await Self.withGateway { relay, bimserver in
            let token = bimserver.mintToken(for: "alice@example.org")
            let big = (0..<200_000).map { UInt8($0 % 251) }
            bimserver.setDownload(topicID: 7, parts: [[1, 2, 3], big])
            let client = try await TestStreamClient.connect(port: relay.port)
            defer { Task { await client.close() } }
            _ = try await client.next()
            // Before the handshake: nothing is carried.
            client.send(#"{"action":"download","topicId":7}"#)
            #expect(try await client.nextJSON()["error"]?.stringValue?.contains("before any action") == true)
            client.send(#"{"token":"\#(token)"}"#)
            _ = try await client.nextJSON()
            client.send(#"{"action":"download","topicId":7,"longActionId":7,"token":"\#(token)"}"#)
            try await poll(until: "the download's three messages") { client.binaries.count == 3 }
            let messages = client.binaries
            let header: (Int64, Int64) -> [UInt8] = { topic, end in
                withUnsafeBytes(of: topic.littleEndian, Array.init) + withUnsafeBytes(of: end.littleEndian, Array.init)
            }
            #expect(messages[0] == header(7, 0) + [1, 2, 3])
            #expect(messages[1] == header(7, 0) + big)
            #expect(messages[2] == header(7, 1))
            // A request frame for BIMserver is BIMserver's to answer, as on its own /stream.
            client.send(
                #"{"id":5,"token":"\#(token)","request":{"interface":"ServiceInterface","method":"getProjectByPoid","parameters":{"poid":1}}}"#
            )
            let answer = try await client.nextJSON()
            #expect(answer["id"] == 5)
            #expect(answer["response"]?["result"]?["name"] == "Alpha")
        }
    }

    @Test("BIMserver down: forwarded calls and BIMserver tokens get a clear exception, the relay stays healthy")
    func upstreamDown() async throws {
        // Held for the whole test: no other server of the run can take the port and answer.
        let closed = try ClosedLocalPort()
        let closedPort = closed.port
        try await withTestRelay(
            configure: {
                $0.upstream = "http://127.0.0.1:\(closedPort)"
                $0.upstreamTimeout = .seconds(30)
            },
            { relay in
                let started = ContinuousClock.now
                let forwarded = try await relay.json(
                    Self.call("ServiceInterface", "getAllProjects", token: "t"), timeout: .seconds(40))
                #expect(forwarded.status == 502)
                let exception = try JSONValue.parse(forwarded.body)["response"]?["exception"]
                #expect(exception?["__type"] == "ServerException")
                #expect(exception?["message"]?.stringValue?.hasPrefix("BIMserver did not answer the relay") == true)
                // Refused at once, not after the timeout (even on a machine slowed by other tests).
                #expect(ContinuousClock.now - started < .seconds(15))
                // A BIMserver token cannot be checked: said so, nothing accepted.
                let owned = try await Self.registry(relay, "getProgressTopicsOnServer", token: "bimserver-token")
                #expect(owned.status == 502)
                // Relay tokens and BIMserver's ingest still work.
                let producer = try await relay.issueToken(role: .producer)
                try await relay.ingestNewRevision(producer: producer, roid: 5)
                let client = try await Self.registry(relay, "getProgressTopicsOnServer", token: producer)
                #expect(client.body == #"{"response":{"result":[]}}"#)
                let health = try await TestHTTP.request("\(relay.baseURL)/health")
                #expect(health.status == 200)
            })
        withExtendedLifetime(closed) {}
    }

    @Test("BIMserver that stalls: a forwarded call ends at --upstream-timeout, never hangs")
    func upstreamStalls() async throws {
        let slow = try await TestReceiver.start()
        defer { Task { await slow.stop() } }
        slow.setFallback(.init(delay: .seconds(4)))
        try await withTestRelay(
            configure: {
                $0.upstream = slow.url
                $0.upstreamTimeout = .seconds(1)
            },
            { relay in
                let started = ContinuousClock.now
                let reply = try await relay.json(Self.call("ServiceInterface", "getAllProjects", token: "t"))
                #expect(reply.status == 504)
                #expect(reply.body.contains("no answer within the timeout (--upstream-timeout)"))
                #expect(ContinuousClock.now - started < .seconds(4))
                // A mixed envelope: the relay's call answered, BIMserver's marked as failed.
                let producer = try await relay.issueToken(role: .producer)
                let mixed = try JSONValue.parse(
                    try await relay.json(
                        #"{"token":"\#(producer)","requests":[{"interface":"NotificationRegistryInterface","method":"getProgressTopicsOnServer","parameters":{}},{"interface":"ServiceInterface","method":"getAllProjects","parameters":{}}]}"#
                    ).body)
                #expect(mixed["responses"]?.arrayValue?[0]["result"] == .array([]))
                #expect(mixed["responses"]?.arrayValue?[1]["exception"]?["__type"] == "ServerException")
                // A reply whose body stalls after its head is cut once nothing came for the timeout.
                slow.setFallback(.stalled)
                let cut = ContinuousClock.now
                _ = try? await relay.json(Self.call("ServiceInterface", "getAllProjects", token: "t"))
                #expect(ContinuousClock.now - cut < .seconds(5))
            })
    }

    @Test("BIMserver failing (a ServerException) is not a verdict on the token: nothing cached, 502")
    func upstreamServerException() async throws {
        try await Self.withGateway { relay, bimserver in
            let token = bimserver.mintToken(for: "alice@example.org")
            let list = Self.call("NotificationRegistryInterface", "getProgressTopicsOnServer", token: token)
            bimserver.fail("getLoggedInUser")
            let failed = try await relay.json(list)
            #expect(failed.status == 502)
            #expect(failed.body.contains("getLoggedInUser failed with ServerException"))
            bimserver.fail(nil)
            #expect(try await relay.json(list).body == #"{"response":{"result":[]}}"#)
        }
    }

    @Test("progress of BIMserver's own topics (a checkin's) reaches the client's /stream through the relay")
    func bimserverProgressBridged() async throws {
        try await Self.withGateway { relay, bimserver in
            let token = bimserver.mintToken(for: "alice@example.org")
            let (client, endpoint) = try await Self.attach(relay, token: token)
            defer { Task { await client.close() } }
            // As the stock client does after a checkin: register for BIMserver's topic 3.
            let registered = try await Self.registry(
                relay, "registerProgressHandler", #"{"topicId":3,"endPointId":\#(endpoint)}"#, token: token)
            #expect(registered.body == #"{"response":{"result":{}}}"#, "\(registered.body)")
            #expect(bimserver.count("registerProgressHandler") == 1)
            #expect(bimserver.pushProgress(topicID: 3, progress: 42) == 1)
            let pushed = try await client.nextJSON()
            #expect(pushed["request"]?["method"] == "progress")
            #expect(pushed["request"]?["parameters"]?["topicId"] == 3)
            #expect(pushed["request"]?["parameters"]?["state"]?["progress"] == 42)
            // Someone else's token cannot use this socket's endpoint.
            bimserver.addUser("bob@example.org", password: "bob-pw", projects: [1])
            let bob = bimserver.mintToken(for: "bob@example.org")
            let refused = try await Self.registry(
                relay, "registerProgressHandler", #"{"topicId":3,"endPointId":\#(endpoint)}"#, token: bob)
            #expect(refused.body.contains("Endpoint not found"))
            #expect(bimserver.count("registerProgressHandler") == 1)
        }
    }

    @Test("without --upstream, a BIMserver identity recorded earlier is not a credential")
    func plainModeIgnoresBIMserverRows() async throws {
        try await withTestRelay { relay in
            let token = "bimserver-token-seen-in-gateway-mode"
            try await relay.database.pool.write { db in
                try db.store.tokens.recordUpstream(
                    hash: Secrets.hash(token: token), user: "alice", projects: [], now: Date())
                try db.store.tokens.rememberCallback(token: "callback-token", poid: 1, now: Date())
            }
            for candidate in [token, "callback-token"] {
                let reply = try await Self.registry(relay, "getProgressTopicsOnServer", token: candidate)
                #expect(reply.body.contains("InvalidTokenException"))
            }
            // And the relay's own AuthInterface answers (BIMserver's is not there to ask).
            let login = try await relay.json(Self.call("AuthInterface", "login", #"{"username":"a","password":"b"}"#))
            #expect(login.body.contains("bimrelay token issue"))
        }
    }

    @Test(
        "retention forgets BIMserver tokens unused for the endpoint retention, never relay tokens or ones still in use")
    func upstreamTokensPruned() async throws {
        try await Self.withGateway { relay, bimserver in
            let producer = try await relay.issueToken(role: .producer)
            // A callback token per notification: each leaves a row once seen.
            for roid in 1...3 {
                let ingest = BIMserverRequests.newRevision(
                    userToken: producer, poid: 1, roid: Int64(roid), serviceIdentifier: "bimrelay"
                ).replacingOccurrences(of: "3a0e4b1c9d2f", with: "callback-\(roid)")
                #expect(try await relay.json(ingest).body == #"{"response":{"result":{}}}"#)
            }
            // A BIMserver user with an endpoint.
            let token = bimserver.mintToken(for: "alice@example.org")
            let (client, _) = try await Self.attach(relay, token: token)
            defer { Task { await client.close() } }
            #expect(try await relay.count("tokens", where: "origin = 'callback'") == 3)
            // A revoked row stays: its revocation must outlive BIMserver's session.
            try await relay.database.pool.write { db in
                try db.execute(
                    sql: "UPDATE tokens SET revoked_at = ? WHERE token_hash = ?",
                    arguments: [Date(), Secrets.hash(token: "callback-1")])
            }
            let removed = try await relay.runtime.retention.pass(now: Date().addingTimeInterval(2 * 86_400))
            #expect(removed.upstreamTokens == 2)
            #expect(try await relay.count("tokens", where: "revoked_at IS NOT NULL") == 1)
            #expect(try await relay.count("tokens", where: "origin = 'bimserver'") == 1)
            #expect(try await relay.count("tokens", where: "origin = 'relay'") == 1)
        }
    }
}
