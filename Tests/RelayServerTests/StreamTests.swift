import Foundation
import RelayCore
import RelayTestSupport
import Testing

/// `/stream` with real WebSocket clients against a real relay on 127.0.0.1.
@Suite("WebSocket stream")
struct StreamTests {
    /// Calls NotificationRegistryInterface over `/json` and returns the result (or fails on an exception).
    @discardableResult
    static func registry(
        _ relay: TestRelay, token: String, _ method: String, _ parameters: String = ""
    ) async throws -> JSONValue {
        let body = """
            {"token":"\(token)","request":{"interface":"org.bimserver.NotificationRegistryInterface",
            "method":"\(method)","parameters":{\(parameters)}}}
            """
        let reply = try JSONValue.parse(try await relay.json(body).body)
        if let exception = reply["response"]?["exception"] { throw APIException(message: exception.serialized) }
        return reply["response"]?["result"] ?? .null
    }

    /// Connects, reads the welcome, sends the token, and returns the client and its endpoint id.
    static func handshake(_ relay: TestRelay, token: String, extra: String = "") async throws -> (
        TestStreamClient, Int64, JSONValue
    ) {
        let client = try await TestStreamClient.connect(port: relay.port)
        let welcome = try await client.nextJSON()
        guard case .int = welcome["welcome"] else { throw APIException(message: "no welcome: \(welcome.serialized)") }
        client.send(#"{"token":"\#(token)"\#(extra)}"#)
        let reply = try await client.nextJSON()
        guard case .int(let id)? = reply["endpointid"] else {
            throw APIException(message: "no endpoint: \(reply.serialized)")
        }
        return (client, id, reply)
    }

    static func state(_ progress: Int) -> String {
        #"{"__type":"SLongActionState","progress":\#(progress),"state":"STARTED","title":"Step \#(progress)","stage":1,"errors":[],"warnings":[],"infos":[]}"#
    }

    /// Creates a progress topic over `/json` and returns its id.
    static func createTopic(_ relay: TestRelay, producer: String, _ parameters: String) async throws -> Int64 {
        let method = parameters.contains("poid") ? "registerProgressOnProjectTopic" : "registerProgressTopic"
        guard case .int(let topic) = try await registry(relay, token: producer, method, parameters) else {
            throw APIException(message: "no topic id")
        }
        return topic
    }

    /// A producer, a viewer connected on `/stream`, and a server topic the viewer's endpoint listens to.
    struct Subscribed {
        let producer: String
        let viewer: String
        let topic: Int64
        let client: TestStreamClient
        let endpoint: Int64

        /// Publishes one progress update to the topic.
        func publish(_ relay: TestRelay, progress: Int) async throws {
            try await StreamTests.registry(
                relay, token: producer, "updateProgressTopic",
                #""topicId":\#(topic),"state":\#(StreamTests.state(progress))"#)
        }
    }

    static func subscribedViewer(_ relay: TestRelay) async throws -> Subscribed {
        let producer = try await relay.issueToken(role: .producer, user: "bim")
        let viewer = try await relay.issueToken(role: .client, user: "viewer")
        let topic = try await createTopic(relay, producer: producer, #""type":"DOWNLOAD","description":"d""#)
        let (client, endpoint, _) = try await handshake(relay, token: viewer)
        try await registry(
            relay, token: viewer, "registerProgressHandler", #""topicId":\#(topic),"endPointId":\#(endpoint)"#)
        return Subscribed(producer: producer, viewer: viewer, topic: topic, client: client, endpoint: endpoint)
    }

    @Test("the handshake: welcome, then the endpoint in BIMserver's shape; a request frame is answered with its id")
    func handshakeAndRequest() async throws {
        try await withTestRelay { relay in
            let token = try await relay.issueToken(role: .client)
            let (client, id, reply) = try await Self.handshake(relay, token: token)
            #expect(reply.serialized == #"{"type":"endpoint","payload":{"endpointid":\#(id)},"endpointid":\#(id)}"#)
            client.send(#"{"hb":true}"#)
            client.send(
                #"{"id":3,"token":"\#(token)","request":{"interface":"NotificationRegistryInterface","method":"getProgressTopicsOnServer","parameters":{}}}"#
            )
            #expect(try await client.next() == #"{"id":3,"response":{"result":[]}}"#)
            await client.close()
        }
    }

    @Test("a bad token gets {\"error\":\"Invalid token\"} and a close with 1008")
    func badToken() async throws {
        try await withTestRelay { relay in
            let client = try await TestStreamClient.connect(port: relay.port)
            _ = try await client.next()
            client.send(#"{"token":"brt_wrong"}"#)
            #expect(try await client.next() == #"{"error":"Invalid token"}"#)
            try await poll(until: "closed") { client.closed.0 }
            #expect(client.closed.1 == 1008)
            #expect(try await relay.count("endpoints") == 0)
        }
    }

    @Test("a download action frame gets a clear error and opens no endpoint; the socket goes on serving")
    func downloadAction() async throws {
        try await withTestRelay { relay in
            let token = try await relay.issueToken(role: .client)
            let client = try await TestStreamClient.connect(port: relay.port)
            _ = try await client.next()
            client.send(#"{"action":"download","topicId":3,"token":"\#(token)"}"#)
            let refusal = try await client.nextJSON()
            #expect(refusal["error"]?.stringValue?.contains("download") == true)
            #expect(refusal["endpointid"] == nil)
            #expect(try await relay.count("endpoints") == 0)
            client.send(#"{"token":"\#(token)"}"#)
            #expect(try await client.nextJSON()["endpointid"] != nil)
            await client.close()
        }
    }

    @Test("a binary frame is refused with close 1003; the relay goes on serving others")
    func binaryFrame() async throws {
        try await withTestRelay { relay in
            let token = try await relay.issueToken(role: .client)
            let (client, _, _) = try await Self.handshake(relay, token: token)
            client.sendBinary([0x01, 0x02, 0x03])
            try await poll(until: "closed") { client.closed.0 }
            #expect(client.closed.1 == 1003)
            try await poll(until: "endpoint dropped") {
                try await relay.count("endpoints", where: "connected = 0") == 1
            }
            let (other, _, reply) = try await Self.handshake(relay, token: token)
            #expect(reply["endpointid"] != nil)
            await other.close()
        }
    }

    @Test("progress frames have seq and BIMserver's shape; registering pushes nothing, getProgress reads the state")
    func progressFrames() async throws {
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer, user: "bim")
            let viewer = try await relay.issueToken(role: .client, user: "viewer")
            let topic = try await StreamTests.createTopic(
                relay, producer: producer, #""type":"UPLOAD","poid":131073,"description":"Checkin""#)
            try await Self.registry(
                relay, token: producer, "updateProgressTopic", #""topicId":\#(topic),"state":\#(Self.state(10))"#)
            let (client, endpoint, _) = try await Self.handshake(relay, token: viewer)
            try await Self.registry(
                relay, token: viewer, "registerProgressHandler", #""topicId":\#(topic),"endPointId":\#(endpoint)"#)
            let expected = { (seq: Int, progress: Int) in
                #"{"seq":\#(seq),"request":{"interface":"NotificationInterface","method":"progress","parameters":{"topicId":\#(topic),"state":\#(Self.state(progress))}}}"#
            }
            // As BIMserver: the stock client reads the current state itself after registering.
            #expect(
                try await Self.registry(relay, token: viewer, "getProgress", #""topicId":\#(topic)"#)
                    == (try JSONValue.parse(Self.state(10))))
            try await Self.registry(
                relay, token: producer, "updateProgressTopic", #""topicId":\#(topic),"state":\#(Self.state(42))"#)
            // The first frame is the update: registering pushed nothing.
            #expect(try await client.next() == expected(1, 42))
            #expect(
                try await Self.registry(relay, token: viewer, "getProgress", #""topicId":\#(topic)"#)
                    == (try JSONValue.parse(Self.state(42))))
            #expect(
                try await Self.registry(relay, token: viewer, "getProgressTopicsOnProject", #""poid":131073"#)
                    == .array([.int(topic)]))
            await client.close()
        }
    }

    @Test("unknown endpoints and topics get BIMserver's errors")
    func unknownIDs() async throws {
        try await withTestRelay { relay in
            let viewer = try await relay.issueToken(role: .client)
            let body =
                #"{"token":"\#(viewer)","request":{"interface":"NotificationRegistryInterface","method":"registerNewRevisionHandler","parameters":{"endPointId":999}}}"#
            let reply = try JSONValue.parse(try await relay.json(body).body)
            #expect(
                reply["response"]?["exception"]
                    == .object([
                        ("__type", "UserException"), ("message", "Endpoint with id 999 not found"),
                        ("errorType", "DefaultErrorCode"),
                        ("errorCode", 1),
                    ]))
            let (client, endpoint, _) = try await Self.handshake(relay, token: viewer)
            await #expect(throws: APIException.self) {
                try await Self.registry(
                    relay, token: viewer, "registerProgressHandler", #""topicId":77,"endPointId":\#(endpoint)"#)
            }
            let progress = try JSONValue.parse(
                try await relay.json(
                    #"{"token":"\#(viewer)","request":{"interface":"NotificationRegistryInterface","method":"getProgress","parameters":{"topicId":77}}}"#
                ).body)
            #expect(progress["response"]?["exception"]?["message"] == "No topic found with topicId 77")
            let anonymous = try await relay.json(
                #"{"request":{"interface":"NotificationRegistryInterface","method":"getProgressTopicsOnServer","parameters":{}}}"#
            )
            #expect(anonymous.body.contains("InvalidTokenException"))
            await client.close()
        }
    }

    @Test("an ingested newRevision reaches endpoints registered for it, as newRevision(poid, roid)")
    func newRevisionFrames() async throws {
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            let viewer = try await relay.issueToken(role: .client, user: "viewer")
            let (client, endpoint, _) = try await Self.handshake(relay, token: viewer)
            try await Self.registry(relay, token: viewer, "registerNewRevisionHandler", #""endPointId":\#(endpoint)"#)
            try await Self.registry(
                relay, token: viewer, "registerNewRevisionOnSpecificProjectHandler",
                #""endPointId":\#(endpoint),"poid":131073"#)
            try await relay.ingestNewRevision(producer: producer, roid: 65539)
            #expect(
                try await client.next()
                    == #"{"seq":1,"request":{"interface":"NotificationInterface","method":"newRevision","parameters":{"poid":131073,"roid":65539}}}"#
            )
            await client.close()
        }
    }

    @Test("a resume replays exactly the missed frames, then live ones")
    func resumeReplaysThenLive() async throws {
        try await withTestRelay { relay in
            let viewer = try await Self.subscribedViewer(relay)
            try await viewer.publish(relay, progress: 1)
            #expect(try await viewer.client.nextJSON()["seq"] == 1)
            await viewer.client.close()
            for progress in 2...6 { try await viewer.publish(relay, progress: progress) }
            let (second, resumed, reply) = try await Self.handshake(
                relay, token: viewer.viewer, extra: #","endpointid":\#(viewer.endpoint),"seq":1"#)
            #expect(resumed == viewer.endpoint)
            #expect(
                reply.serialized
                    == #"{"type":"endpoint","payload":{"endpointid":\#(resumed),"resumed":true,"replayed":5,"gap":false},"endpointid":\#(resumed)}"#
            )
            for seq in 2...6 { #expect(try await second.nextJSON()["seq"] == .int(Int64(seq))) }
            try await viewer.publish(relay, progress: 7)
            #expect(try await second.nextJSON()["seq"] == 7)
            #expect(second.unread == 0)
            await second.close()
        }
    }

    @Test("a resume while producers keep publishing has no hole and no duplicate")
    func resumeDuringBurst() async throws {
        try await withTestRelay { relay in
            let viewer = try await Self.subscribedViewer(relay)
            let total = 300
            let publisher = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for lane in 0..<4 {
                        group.addTask {
                            for step in stride(from: lane, to: total, by: 4) {
                                try await viewer.publish(relay, progress: step)
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            var seen: [Int64] = []
            while seen.count < 40 {
                if case .int(let seq)? = try await viewer.client.nextJSON()["seq"] { seen.append(seq) }
            }
            await viewer.client.close()
            let (second, _, reply) = try await Self.handshake(
                relay, token: viewer.viewer, extra: #","endpointid":\#(viewer.endpoint),"seq":\#(seen.last!)"#)
            #expect(reply["payload"]?["resumed"] == true)
            try await publisher.value
            while seen.count < total {
                if case .int(let seq)? = try await second.nextJSON()["seq"] { seen.append(seq) }
            }
            #expect(seen == Array(1...Int64(total)))
            await second.close()
        }
    }

    @Test(
        "a token-only reconnect (the stock BIMserver client) gets its endpoint back with its registrations and missed frames"
    )
    func tokenOnlyReconnect() async throws {
        try await withTestRelay { relay in
            let viewer = try await Self.subscribedViewer(relay)
            try await viewer.publish(relay, progress: 1)
            #expect(try await viewer.client.nextJSON()["seq"] == 1)
            await viewer.client.close()
            try await poll(until: "the endpoint is dropped") {
                try await relay.count("endpoints", where: "connected = 0 AND sent_seq = 1") == 1
            }
            try await viewer.publish(relay, progress: 2)
            let (second, again, reply) = try await Self.handshake(relay, token: viewer.viewer)
            #expect(again == viewer.endpoint)
            #expect(
                reply.serialized == #"{"type":"endpoint","payload":{"endpointid":\#(again)},"endpointid":\#(again)}"#)
            let missed = try await second.nextJSON()
            #expect(missed["seq"] == 2 && missed["request"]?["parameters"]?["state"]?["progress"] == 2)
            try await viewer.publish(relay, progress: 3)
            #expect(try await second.nextJSON()["seq"] == 3)
            await second.close()
        }
    }

    @Test("a resume while the old socket is still open: the old socket's close leaves the endpoint connected")
    func resumeWhileOldSocketOpen() async throws {
        try await withTestRelay { relay in
            let viewer = try await Self.subscribedViewer(relay)
            try await viewer.publish(relay, progress: 1)
            #expect(try await viewer.client.nextJSON()["seq"] == 1)
            // The old socket is still open (its client has not noticed anything yet).
            let jobs = relay.sqlite.writeStatistics.jobs
            let (second, resumed, reply) = try await Self.handshake(
                relay, token: viewer.viewer, extra: #","endpointid":\#(viewer.endpoint),"seq":1"#)
            #expect(resumed == viewer.endpoint && reply["payload"]?["resumed"] == true)
            // The relay closes the old socket; its session ends and records the drop (two writes:
            // the new socket's attach, then the old one's drop).
            try await poll(until: "the old socket closed") { viewer.client.closed.0 }
            try await poll(until: "the old session's drop written") {
                relay.sqlite.writeStatistics.jobs >= jobs + 2
            }
            #expect(try await relay.count("endpoints", where: "id = \(resumed) AND connected = 1") == 1)
            // Retention a day later keeps it, and it still gets frames.
            let removed = try await relay.runtime.retention.pass(now: Date().addingTimeInterval(25 * 3600))
            #expect(removed.endpoints == 0)
            try await viewer.publish(relay, progress: 2)
            #expect(try await second.nextJSON()["seq"] == 2)
            await second.close()
        }
    }

    @Test("a narrower token of the same user cannot resume a broader endpoint; a token that covers it can")
    func resumeNeverWidens() async throws {
        try await withTestRelay { relay in
            let broad = try await relay.issueToken(role: .client, user: "alice", projects: [1, 2])
            let narrow = try await relay.issueToken(role: .client, user: "alice", projects: [1])
            let all = try await relay.issueToken(role: .client, user: "alice")
            let (first, endpoint, _) = try await Self.handshake(relay, token: broad)
            await first.close()
            try await poll(until: "dropped") { try await relay.count("endpoints", where: "connected = 0") == 1 }
            let (narrowClient, other, refused) = try await Self.handshake(
                relay, token: narrow, extra: #","endpointid":\#(endpoint),"seq":0"#)
            #expect(other != endpoint && refused["payload"]?["resumed"] == false)
            await narrowClient.close()
            let (allClient, same, resumed) = try await Self.handshake(
                relay, token: all, extra: #","endpointid":\#(endpoint),"seq":0"#)
            #expect(same == endpoint && resumed["payload"]?["resumed"] == true)
            await allClient.close()
        }
    }

    @Test("another user's endpoint is never resumed")
    func otherUsersEndpoint() async throws {
        try await withTestRelay { relay in
            let alice = try await relay.issueToken(role: .client, user: "alice")
            let mallory = try await relay.issueToken(role: .client, user: "mallory")
            let (first, endpoint, _) = try await Self.handshake(relay, token: alice)
            await first.close()
            let (second, other, reply) = try await Self.handshake(
                relay, token: mallory, extra: #","endpointid":\#(endpoint),"seq":0"#)
            #expect(other != endpoint)
            #expect(reply["payload"]?["resumed"] == false)
            await #expect(throws: APIException.self) {
                try await Self.registry(
                    relay, token: mallory, "registerNewRevisionHandler", #""endPointId":\#(endpoint)"#)
            }
            await second.close()
        }
    }

    @Test("a client scoped to projects gets nothing about other projects and cannot subscribe to them")
    func projectScope() async throws {
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            let scoped = try await relay.issueToken(role: .client, user: "viewer", projects: [1])
            let (client, endpoint, _) = try await Self.handshake(relay, token: scoped)
            try await Self.registry(relay, token: scoped, "registerNewRevisionHandler", #""endPointId":\#(endpoint)"#)
            await #expect(throws: APIException.self) {
                try await Self.registry(
                    relay, token: scoped, "registerNewRevisionOnSpecificProjectHandler",
                    #""endPointId":\#(endpoint),"poid":2"#)
            }
            try await relay.ingestNewRevision(producer: producer, poid: 2, roid: 20)
            try await relay.ingestNewRevision(producer: producer, poid: 1, roid: 10)
            let frame = try await client.nextJSON()
            #expect(frame["request"]?["parameters"]?["poid"] == 1)
            #expect(try await relay.count("stream_messages") == 1)
            let other = try await StreamTests.createTopic(
                relay, producer: producer, #""type":"UPLOAD","poid":2,"description":"x""#)
            await #expect(throws: APIException.self) {
                try await Self.registry(
                    relay, token: scoped, "registerProgressHandler", #""topicId":\#(other),"endPointId":\#(endpoint)"#)
            }
            await #expect(throws: APIException.self) {
                try await Self.registry(
                    relay, token: scoped, "updateProgressTopic", #""topicId":\#(other),"state":\#(Self.state(1))"#)
            }
            await client.close()
        }
    }
}
