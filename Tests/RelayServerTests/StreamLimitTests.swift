import Foundation
import RelayCore
import RelayTestSupport
import Testing

@testable import RelayServer

/// What one `/stream` client, or many, can make the relay hold.
@Suite("Stream limits")
struct StreamLimitTests {
    @Test("a request frame before the handshake is refused with an exception echoing its id, and opens nothing")
    func requestBeforeHandshake() async throws {
        try await withTestRelay { relay in
            let client = try await TestStreamClient.connect(port: relay.port)
            _ = try await client.next()
            client.send(
                #"{"id":4,"request":{"interface":"AdminInterface","method":"getServerInfo","parameters":{}}}"#)
            let answer = try await client.nextJSON()
            #expect(answer["id"] == 4)
            #expect(answer["response"]?["exception"]?["message"]?.stringValue?.contains("before any request") == true)
            #expect(try await relay.count("endpoints") == 0)
            await client.close()
        }
    }

    @Test("a socket that sends no token within the handshake timeout is closed with 1008")
    func handshakeTimeout() async throws {
        try await withTestRelay(
            configure: { $0.handshakeTimeout = .milliseconds(200) },
            { relay in
                let client = try await TestStreamClient.connect(port: relay.port)
                _ = try await client.next()
                #expect(try await client.nextJSON()["error"] == "No token sent")
                try await poll(until: "closed") { client.closed.0 }
                #expect(client.closed.1 == 1008)
            })
    }

    @Test("past --max-stream-connections a socket gets an error and close 1013; the others keep working")
    func connectionCap() async throws {
        try await withTestRelay(
            configure: { $0.maxStreamConnections = 2 },
            { relay in
                let token = try await relay.issueToken(role: .client)
                let (first, _, _) = try await StreamTests.handshake(relay, token: token)
                let (second, _, _) = try await StreamTests.handshake(relay, token: token)
                let third = try await TestStreamClient.connect(port: relay.port)
                #expect(try await third.nextJSON()["error"] == "Too many connections: try again later")
                try await poll(until: "the third closed") { third.closed.0 }
                #expect(third.closed.1 == 1013)
                await first.close()
                try await poll(until: "a place freed") {
                    relay.runtime.streamHub.openSockets.load(ordering: .relaxed) == 1
                }
                let (fourth, _, reply) = try await StreamTests.handshake(relay, token: token)
                #expect(reply["endpointid"] != nil)
                await second.close()
                await fourth.close()
            })
    }

    @Test("a token keeps at most --max-endpoints-per-token: the oldest dropped makes room, all connected is refused")
    func endpointCap() async throws {
        try await withTestRelay(
            configure: { $0.maxEndpointsPerToken = 2 },
            { relay in
                let token = try await relay.issueToken(role: .client)
                let (a, _, _) = try await StreamTests.handshake(relay, token: token)
                let (b, _, _) = try await StreamTests.handshake(relay, token: token)
                let c = try await TestStreamClient.connect(port: relay.port)
                _ = try await c.next()
                c.send(#"{"token":"\#(token)"}"#)
                #expect(try await c.nextJSON()["error"]?.stringValue?.contains("2 connected endpoints") == true)
                try await poll(until: "refused and closed") { c.closed.0 }
                #expect(try await relay.count("endpoints") == 2)
                await a.close()
                try await poll(until: "a dropped") { try await relay.count("endpoints", where: "connected = 0") == 1 }
                // A client asking for a new endpoint (-1) gets one in place of the dropped one.
                let (d, _, reply) = try await StreamTests.handshake(relay, token: token, extra: #","endpointid":-1"#)
                #expect(reply["payload"]?["resumed"] == false)
                #expect(try await relay.count("endpoints") == 2)
                await b.close()
                await d.close()
            })
    }

    @Test("a token holds at most --max-subscriptions-per-token registrations; repeating one is not a new one")
    func subscriptionCap() async throws {
        try await withTestRelay(
            configure: { $0.maxSubscriptionsPerToken = 2 },
            { relay in
                let token = try await relay.issueToken(role: .client)
                let (client, endpoint, _) = try await StreamTests.handshake(relay, token: token)
                try await StreamTests.registry(
                    relay, token: token, "registerNewRevisionHandler", #""endPointId":\#(endpoint)"#)
                try await StreamTests.registry(
                    relay, token: token, "registerNewRevisionOnSpecificProjectHandler",
                    #""endPointId":\#(endpoint),"poid":1"#)
                try await StreamTests.registry(
                    relay, token: token, "registerNewRevisionHandler", #""endPointId":\#(endpoint)"#)
                do {
                    try await StreamTests.registry(
                        relay, token: token, "registerNewRevisionOnSpecificProjectHandler",
                        #""endPointId":\#(endpoint),"poid":2"#)
                    Issue.record("a third registration was accepted")
                } catch let error as APIException {
                    #expect(error.message.contains("--max-subscriptions-per-token"))
                }
                #expect(try await relay.count("subscriptions") == 2)
                await client.close()
            })
    }

    @Test("the reader waits while a socket's queued answers exceed the byte bound, and goes on once they are taken")
    func answerBytesBound() async throws {
        let connection = StreamConnection(capacity: 10)
        connection.offer([.text(String(repeating: "x", count: 2048))])
        let waiter = Task { await connection.waitForRoom(limit: 1024) }
        try await poll(until: "the reader waits") { connection.drained.waiting == 1 }
        _ = connection.take()
        await waiter.value
        #expect(connection.drained.waiting == 0)
    }
}
