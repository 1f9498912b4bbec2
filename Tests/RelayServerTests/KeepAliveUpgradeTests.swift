import Foundation
import RelayCore
import RelayTestSupport
import Testing

/// WebSocket upgrades on a connection that already carried HTTP requests, over one raw socket: what
/// Node's built-in WebSocket does after `fetch` calls, and what proxies reusing connections do.
@Suite("WebSocket upgrade on a kept-alive connection")
struct KeepAliveUpgradeTests {
    @Test("GET /health, a JSON API call, then an upgrade on the same socket: 101 and a working /stream session")
    func upgradeAfterRequests() async throws {
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer, user: "node")
            let client = try await relay.issueToken(role: .client, user: "node")
            let connection = try await RawConnection.connect(port: relay.port)
            try await connection.request("GET", "/health")
            let health = try await connection.response()
            #expect(health.status == 200 && health.headers["connection"] != "close")
            try await connection.request(
                "POST", "/json", headers: [("Content-Type", "application/json; charset=UTF-8")],
                body: StockClientRequests.javaScriptInit)
            let info = try JSONValue.parse(try await connection.response().body)
            #expect(info["response"]?["result"]?["serverState"] == "RUNNING")

            try await connection.upgrade()
            let switched = try await connection.response()
            #expect(switched.status == 101, "\(switched)")
            #expect(switched.headers["sec-websocket-accept"] == RawConnection.expectedAccept)
            #expect(switched.headers["upgrade"]?.lowercased() == "websocket")
            let welcome = try JSONValue.parse(try await connection.text())
            #expect(welcome["welcome"] != nil)
            try await connection.sendText(#"{"token":"\#(client)"}"#)
            let endpoint = try JSONValue.parse(try await connection.text())
            guard case .int(let endpointID)? = endpoint["endpointid"] else {
                Issue.record("no endpoint: \(endpoint.serialized)")
                return
            }
            // A pushed notification arrives on the switched socket.
            try await StreamTests.registry(
                relay, token: client, "registerNewRevisionHandler", #""endPointId":\#(endpointID)"#)
            try await relay.ingestNewRevision(producer: producer, roid: 65_539)
            let pushed = try JSONValue.parse(try await connection.text())
            #expect(
                pushed["request"]?["method"] == "newRevision" && pushed["request"]?["parameters"]?["roid"] == 65_539)
            // A request frame is answered on it too.
            try await connection.sendText(
                #"{"id":5,"token":"\#(client)","request":{"interface":"AdminInterface","method":"getServerInfo","parameters":{}}}"#
            )
            let answer = try JSONValue.parse(try await connection.text())
            #expect(answer["id"] == 5 && answer["response"]?["result"]?["__type"] == "SServerInfo")

            await connection.close()
            try await poll(until: "the endpoint is marked disconnected") {
                try await relay.count("endpoints", where: "id = \(endpointID) AND connected = 0") == 1
            }
        }
    }

    @Test("a switched socket left open does not hold up the relay's graceful stop")
    func stopWithSwitchedSocket() async throws {
        let relay = try await TestRelay.start()
        let token = try await relay.issueToken(role: .client)
        let connection = try await RawConnection.connect(port: relay.port)
        try await connection.request("GET", "/health")
        _ = try await connection.response()
        try await connection.upgrade()
        #expect(try await connection.response().status == 101)
        _ = try await connection.text()
        try await connection.sendText(#"{"token":"\#(token)"}"#)
        _ = try await connection.text()
        await relay.stop()
        #expect(await connection.closedByServer())
    }

    @Test(
        "a kept-alive upgrade to another path, or without a key, is refused with 400 and the connection closes",
        arguments: [
            ("/json", [("Sec-WebSocket-Key", RawConnection.key)]),
            ("/stream", []),
        ])
    func refusedUpgrade(path: String, key: [(String, String)]) async throws {
        try await withTestRelay { relay in
            let connection = try await RawConnection.connect(port: relay.port)
            try await connection.request("GET", "/health")
            #expect(try await connection.response().status == 200)
            try await connection.request(
                "GET", path,
                headers: [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13")] + key)
            #expect(try await connection.response().status == 400)
            #expect(await connection.closedByServer())
            #expect(try await relay.count("endpoints") == 0)
        }
    }

    @Test("a first-request upgrade still goes through NIO's upgrader, and other paths are refused there too")
    func firstRequestUpgrade() async throws {
        try await withTestRelay { relay in
            let connection = try await RawConnection.connect(port: relay.port)
            try await connection.upgrade()
            let switched = try await connection.response()
            #expect(switched.status == 101 && switched.headers["sec-websocket-accept"] == RawConnection.expectedAccept)
            #expect(try JSONValue.parse(try await connection.text())["welcome"] != nil)
            await connection.close()

            let other = try await RawConnection.connect(port: relay.port)
            try await other.upgrade("/json")
            #expect(try await other.response().status == 400)
        }
    }
}
