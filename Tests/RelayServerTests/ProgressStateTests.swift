import Foundation
import RelayCore
import RelayTestSupport
import Testing

/// Progress states are BIMserver's `SLongActionState`, read as its JSON converter reads them.
@Suite("Progress states")
struct ProgressStateTests {
    static func update(_ relay: TestRelay, producer: String, topic: Int64, state: String) async throws -> JSONValue {
        try JSONValue.parse(
            try await relay.json(
                #"{"token":"\#(producer)","request":{"interface":"NotificationRegistryInterface","method":"updateProgressTopic","parameters":{"topicId":\#(topic),"state":\#(state)}}}"#
            ).body)
    }

    @Test("a state without __type gets SLongActionState first, on the socket and in getProgress")
    func typeFilledIn() async throws {
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            let viewer = try await relay.issueToken(role: .client)
            let topic = try await StreamTests.createTopic(
                relay, producer: producer, #""type":"UPLOAD","description":"x""#)
            let (client, endpoint, _) = try await StreamTests.handshake(relay, token: viewer)
            try await StreamTests.registry(
                relay, token: viewer, "registerProgressHandler", #""topicId":\#(topic),"endPointId":\#(endpoint)"#)
            let reply = try await Self.update(
                relay, producer: producer, topic: topic, state: #"{"progress":5,"state":"STARTED"}"#)
            #expect(reply["response"]?["result"] == .emptyObject)
            let expected = #"{"__type":"SLongActionState","progress":5,"state":"STARTED"}"#
            let frame = try await client.nextJSON()
            #expect(frame["request"]?["parameters"]?["state"]?.serialized == expected)
            #expect(
                try await StreamTests.registry(relay, token: viewer, "getProgress", #""topicId":\#(topic)"#).serialized
                    == expected)
            await client.close()
        }
    }

    @Test(
        "{} and null are null and refused, another __type or a non-object is refused; nothing is stored",
        arguments: [
            (#"{}"#, "must not be null"), ("null", "must not be null"),
            (#"{"__type":"SUser","name":"x"}"#, #"not "SUser""#), (#""RUNNING""#, "must be an SLongActionState object"),
        ])
    func refused(state: String, message: String) async throws {
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            let topic = try await StreamTests.createTopic(
                relay, producer: producer, #""type":"UPLOAD","description":"x""#)
            let reply = try await Self.update(relay, producer: producer, topic: topic, state: state)
            let text = try #require(reply["response"]?["exception"]?["message"]?.stringValue)
            #expect(text.contains(message), "\(text)")
            #expect(try await relay.count("topics", where: "latest_state IS NOT NULL") == 0)
        }
    }

    @Test("a checkin's SLongCheckinActionState is kept as it is")
    func checkinState() async throws {
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            let topic = try await StreamTests.createTopic(
                relay, producer: producer, #""type":"UPLOAD","description":"x""#)
            let state = #"{"__type":"SLongCheckinActionState","progress":100,"state":"FINISHED","roid":65539}"#
            #expect(
                try await Self.update(relay, producer: producer, topic: topic, state: state)["response"]?["result"]
                    == .emptyObject)
            #expect(
                try await StreamTests.registry(relay, token: producer, "getProgress", #""topicId":\#(topic)"#)
                    .serialized == state)
        }
    }
}
