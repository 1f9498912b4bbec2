import Foundation
import RelayCore
import RelayTestSupport
import Testing

/// Who may create and change progress topics.
@Suite("Topic access")
struct TopicAccessTests {
    @Test("a producer limited to projects creates topics of its projects only, never server-wide ones")
    func scopedProducer() async throws {
        try await withTestRelay { relay in
            let scoped = try await relay.issueToken(role: .producer, user: "svc", projects: [1])
            await #expect(throws: APIException.self) {
                try await StreamTests.createTopic(
                    relay, producer: scoped, #""type":"RUNNING_SERVICE","description":"x""#)
            }
            await #expect(throws: APIException.self) {
                try await StreamTests.createTopic(
                    relay, producer: scoped, #""type":"UPLOAD","poid":2,"description":"x""#)
            }
            _ = try await StreamTests.createTopic(
                relay, producer: scoped, #""type":"UPLOAD","poid":1,"description":"x""#)
            #expect(try await relay.count("topics") == 1)
        }
    }

    @Test("only the producer that registered a topic, or an admin, updates or closes it")
    func ownerOnly() async throws {
        try await withTestRelay { relay in
            let owner = try await relay.issueToken(role: .producer, user: "a")
            let other = try await relay.issueToken(role: .producer, user: "b")
            let admin = try await relay.issueToken(role: .admin, user: "root")
            let topic = try await StreamTests.createTopic(relay, producer: owner, #""type":"UPLOAD","description":"x""#)
            let state = #""topicId":\#(topic),"state":{"progress":1}"#
            for method in ["updateProgressTopic", "unregisterProgressTopic"] {
                do {
                    try await StreamTests.registry(
                        relay, token: other, method, method == "updateProgressTopic" ? state : #""topicId":\#(topic)"#)
                    Issue.record("\(method) by another producer succeeded")
                } catch let error as APIException {
                    #expect(error.message.contains("Only the producer that registered topic"))
                }
            }
            #expect(try await relay.count("topics", where: "latest_state IS NULL AND closed_at IS NULL") == 1)
            try await StreamTests.registry(relay, token: owner, "updateProgressTopic", state)
            try await StreamTests.registry(relay, token: admin, "unregisterProgressTopic", #""topicId":\#(topic)"#)
            #expect(try await relay.count("topics", where: "closed_at IS NOT NULL") == 1)
        }
    }
}
