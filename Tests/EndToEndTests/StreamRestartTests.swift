import Foundation
import RelayCore
import RelayTestSupport
import Testing

/// Topics, their state, endpoints and registrations live in SQLite: a restart keeps them.
@Suite("Stream across restarts")
struct StreamRestartTests {
    func call(_ relay: RelayProcess, token: String, _ method: String, _ parameters: String) async throws -> JSONValue {
        let body = """
            {"token":"\(token)","request":{"interface":"NotificationRegistryInterface","method":"\(method)","parameters":{\(parameters)}}}
            """
        let reply = try JSONValue.parse(
            try await TestHTTP.request("\(relay.baseURL)/json", method: "POST", body: body).body)
        return try #require(reply["response"]?["result"], "\(reply.serialized)")
    }

    @Test(
        "after a restart the topic keeps its state and the client gets its endpoint, registrations and new frames back")
    func survivesRestart() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let (db, producer) = try await RelayExecutable.prepareDatabase(in: folder)
        let viewer = try await RelayExecutable.issueToken(db: db, user: "viewer", role: "client")
        let state = #"{"__type":"SLongActionState","progress":50,"state":"STARTED","title":"Half","stage":1}"#

        var relay = try await RelayProcess.start(database: db)
        guard
            case .int(let topic) = try await call(
                relay, token: producer, "registerProgressTopic", #""type":"UPLOAD","description":"u""#)
        else {
            Issue.record("no topic")
            return
        }
        let first = try await TestStreamClient.connect(port: relay.port)
        _ = try await first.next()
        first.send(#"{"token":"\#(viewer)"}"#)
        guard case .int(let endpoint)? = try await first.nextJSON()["endpointid"] else {
            Issue.record("no endpoint")
            return
        }
        _ = try await call(
            relay, token: viewer, "registerProgressHandler", #""topicId":\#(topic),"endPointId":\#(endpoint)"#)
        _ = try await call(relay, token: producer, "updateProgressTopic", #""topicId":\#(topic),"state":\#(state)"#)
        #expect(try await first.nextJSON()["seq"] == 1)
        #expect(await relay.terminate() == 0)
        await first.close()

        relay = try await RelayProcess.start(database: db)
        #expect(
            try await call(relay, token: viewer, "getProgress", #""topicId":\#(topic)"#) == (try JSONValue.parse(state))
        )
        #expect(try await call(relay, token: viewer, "getProgressTopicsOnServer", "") == .array([.int(topic)]))
        let second = try await TestStreamClient.connect(port: relay.port)
        _ = try await second.next()
        second.send(#"{"token":"\#(viewer)"}"#)
        #expect(try await second.nextJSON()["endpointid"] == .int(endpoint))
        _ = try await call(relay, token: producer, "updateProgressTopic", #""topicId":\#(topic),"state":\#(state)"#)
        let frame = try await second.nextJSON()
        #expect(frame["seq"] == 2 && frame["request"]?["method"] == "progress")
        await second.close()
        #expect(await relay.terminate() == 0)
    }
}
