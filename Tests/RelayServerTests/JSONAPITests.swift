import Foundation
import GRDB
import RelayCore
import RelayTestSupport
import Testing

@testable import RelayStore

@Suite("JSON API envelope")
struct JSONAPITests {
    @Test(
        "every spelling of the interface, arguments for parameters, and an echoed id are accepted",
        arguments: [
            "RemoteServiceInterface", "org.bimserver.RemoteServiceInterface", "Bimsie1RemoteServiceInterface",
            "org.buildingsmart.bimsie1.Bimsie1RemoteServiceInterface",
        ])
    func interfaceSpellings(interface: String) async throws {
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            try await relay.addService("a")
            let body = """
                {"id":7,"request":{"interface":"\(interface)","method":"newRevision","arguments":{
                "poid":1,"roid":2,"soid":3,"serviceIdentifier":"bimrelay","profileIdentifier":null,
                "userToken":"\(producer)","token":null,"apiUrl":null}}}
                """
            let response = try await relay.json(body)
            #expect(response.body == #"{"id":7,"response":{"result":{}}}"#)
            #expect(try await relay.count("deliveries") == 1)
        }
    }

    @Test("requests get responses, one per call, each with its own result or exception")
    func multiRequest() async throws {
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            try await relay.addService("a")
            let body = """
                {"id":"abc","requests":[
                {"interface":"RemoteServiceInterface","method":"newRevision","parameters":{"poid":1,"roid":2,"soid":3,
                 "serviceIdentifier":"bimrelay","profileIdentifier":"p","userToken":"\(producer)","token":"t","apiUrl":"u"}},
                {"interface":"RemoteServiceInterface","method":"newRevision","parameters":{"poid":1}},
                {"interface":"RemoteServiceInterface","method":"getService","parameters":{"serviceIdentifier":"a"}}]}
                """
            let reply = try JSONValue.parse(try await relay.json(body).body)
            #expect(reply["id"] == "abc")
            let responses = try #require(reply["responses"]?.arrayValue)
            #expect(responses.count == 3)
            #expect(responses[0] == .object([("result", .emptyObject)]))
            #expect(responses[1]["exception"]?["message"] == "Missing parameter: newRevision -> roid")
            #expect(responses[2]["result"]?["__type"] == "SServiceDescriptor")
            // The failing call rolled back alone.
            #expect(try await relay.count("events") == 1)
        }
    }

    @Test("a producer token may come from the top level, Authorization: Bearer or a Token header")
    func envelopeTokens() async throws {
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            try await relay.addService("a")
            let call = """
                "request":{"interface":"RemoteServiceInterface","method":"newRevision","parameters":{"poid":1,"roid":2,
                "soid":3,"serviceIdentifier":"bimrelay","profileIdentifier":"p","userToken":null,"token":"t","apiUrl":"u"}}
                """
            let ok = #"{"response":{"result":{}}}"#
            #expect(try await relay.json("{\"token\":\"\(producer)\",\(call)}").body == ok)
            #expect(try await relay.json("{\(call)}", headers: [("Authorization", "Bearer \(producer)")]).body == ok)
            #expect(try await relay.json("{\(call)}", headers: [("Token", producer)]).body == ok)
            let none = try await relay.json("{\(call)}")
            #expect(none.body.contains("InvalidTokenException"))
            #expect(try await relay.count("events") == 3)
        }
    }

    @Test("numeric strings are read as longs, as BIMserver does")
    func numericStrings() async throws {
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            let body = GoldenRequests.newRevision(userToken: producer, poid: "\"131073\"")
            #expect(try await relay.json(body).body == #"{"response":{"result":{}}}"#)
            let poid = try await relay.database.pool.read { db in try Int64.fetchOne(db, sql: "SELECT poid FROM events")
            }
            #expect(poid == 131_073)
        }
    }

    @Test("getService describes a registered service with the relay as its URL, and the fan-out identifier too")
    func serviceDescriptors() async throws {
        try await withTestRelay(
            configure: { $0.publicURL = "https://relay.example.org" },
            { relay in
                try await relay.addService("clash", triggers: [.newExtendedData]) {
                    $0.name = "Clash"
                    $0.readRevision = true
                    $0.providerName = "ACME"
                }
                func describe(_ identifier: String) async throws -> JSONValue {
                    let body = """
                        {"request":{"interface":"RemoteServiceInterface","method":"getService",
                        "parameters":{"serviceIdentifier":"\(identifier)"}}}
                        """
                    return try JSONValue.parse(try await relay.json(body).body)
                }
                let clash = try #require(try await describe("clash")["response"]?["result"])
                let keys = try #require(clash.objectPairs).map(\.0)
                // BIMserver's wire order: __type, then the fields sorted by name.
                #expect(
                    keys == [
                        "__type", "authorizeUrl", "companyUrl", "description", "identifier", "name", "newProfileUrl",
                        "notificationProtocol", "providerName", "readExtendedData", "readRevision", "registerUrl",
                        "token", "tokenUrl", "trigger", "url", "writeExtendedData", "writeRevision",
                    ])
                // Absent settings are null, never "" (BIMvie.ws would look up a schema named "").
                #expect(clash["readExtendedData"] == .null && clash["companyUrl"] == .null)
                #expect(clash["url"] == "https://relay.example.org")
                #expect(clash["trigger"] == "NEW_EXTENDED_DATA" && clash["readRevision"] == true)
                #expect(clash["notificationProtocol"] == "JSON" && clash["providerName"] == "ACME")
                let fanOut = try #require(try await describe("bimrelay")["response"]?["result"])
                #expect(fanOut["identifier"] == "bimrelay" && fanOut["__type"] == "SServiceDescriptor")
                let unknown = try await describe("nope")
                #expect(unknown["response"]?["exception"]?["message"] == "No service found with identifier 'nope'")
            })
    }

    @Test("public profiles need no token; private ones need a valid one")
    func profiles() async throws {
        try await withTestRelay { relay in
            let client = try await relay.issueToken(role: .client)
            let service = try await relay.addService("clash")
            try await relay.database.pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO profiles (service_id, identifier, name, public_profile) VALUES (?, 'open', 'Open', 1), (?, 'mine', 'Mine', 0)
                        """, arguments: [service.id, service.id])
            }
            func profiles(_ method: String, _ extra: String = "") async throws -> JSONValue {
                let body = """
                    {"request":{"interface":"RemoteServiceInterface","method":"\(method)",
                    "parameters":{"serviceIdentifier":"clash"\(extra)}}}
                    """
                return try JSONValue.parse(try await relay.json(body).body)
            }
            let open = try #require(try await profiles("getPublicProfiles")["response"]?["result"]?.arrayValue)
            #expect(open.map { $0["identifier"] } == ["open"])
            #expect(
                open[0]
                    == .object([
                        ("__type", "SProfileDescriptor"), ("name", "Open"), ("description", ""),
                        ("publicProfile", true),
                        ("identifier", "open"),
                    ]))
            let all = try #require(
                try await profiles("getPrivateProfiles", #","token":"\#(client)""#)["response"]?["result"]?.arrayValue)
            #expect(Set(all.compactMap { $0["identifier"]?.stringValue }) == ["open", "mine"])
            let refused = try await profiles("getPrivateProfiles", #","token":"brt_wrong""#)
            #expect(refused["response"]?["exception"]?["__type"] == "InvalidTokenException")
        }
    }

    @Test("CORS: OPTIONS is answered with BIMserver's headers; a disallowed origin gets 403")
    func cors() async throws {
        try await withTestRelay(
            configure: { $0.allowedOrigins = ["https://viewer.example.org"] },
            { relay in
                let preflight = try await TestHTTP.request(
                    "\(relay.baseURL)/json", method: "OPTIONS", headers: [("Origin", "https://viewer.example.org")])
                #expect(preflight.status == 200)
                #expect(preflight.header("Access-Control-Allow-Origin") == "https://viewer.example.org")
                #expect(preflight.header("Access-Control-Allow-Headers")?.contains("Token") == true)
                let refused = try await TestHTTP.request(
                    "\(relay.baseURL)/json", method: "POST", headers: [("Origin", "https://evil.example.org")],
                    body: "{}")
                #expect(refused.status == 403)
                let plain = try await relay.json(#"{"request":{"interface":"RemoteServiceInterface","method":"x"}}"#)
                #expect(plain.header("Access-Control-Allow-Origin") == "*")
            })
    }
}
