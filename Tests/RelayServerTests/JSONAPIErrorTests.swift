import Foundation
import GRDB
import RelayCore
import RelayTestSupport
import Testing

@testable import RelayStore

/// Every way a request can be wrong: a clear answer in BIMserver's envelope, and nothing written.
@Suite("JSON API errors")
struct JSONAPIErrorTests {
    /// A bad request, the HTTP status it gets, and a part of the exception message.
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let body: @Sendable (_ producer: String, _ client: String) -> String
        let status: Int
        let type: String
        let message: String
        var testDescription: String { name }
    }

    static func newRevision(_ parameters: String) -> String {
        #"{"request":{"interface":"RemoteServiceInterface","method":"newRevision","parameters":{\#(parameters)}}}"#
    }

    static let full =
        #""roid":2,"soid":3,"serviceIdentifier":"bimrelay","profileIdentifier":"p","token":"t","apiUrl":"u""#

    static let cases: [Case] = [
        Case(
            name: "invalid JSON", body: { _, _ in #"{"request": {"interface": "# }, status: 400, type: "UserException",
            message: "Invalid JSON"),
        Case(
            name: "a JSON array", body: { _, _ in "[1,2]" }, status: 400, type: "UserException", message: "JSON object"),
        Case(name: "an empty body", body: { _, _ in "" }, status: 400, type: "UserException", message: "Invalid JSON"),
        Case(
            name: "no request", body: { _, _ in #"{"id":1}"# }, status: 400, type: "UserException",
            message: #"No "request" or "requests" field found"#),
        Case(
            name: "no interface", body: { _, _ in #"{"request":{"method":"newRevision"}}"# }, status: 200,
            type: "UserException", message: #"No "interface" parameter found in request"#),
        Case(
            name: "no method", body: { _, _ in #"{"request":{"interface":"RemoteServiceInterface"}}"# }, status: 200,
            type: "UserException", message: #"No "method" parameter found in request"#),
        Case(
            name: "an unknown interface",
            body: { _, _ in #"{"request":{"interface":"PluginInterface","method":"x"}}"# },
            status: 200, type: "UserException", message: "No service found with name PluginInterface"),
        Case(
            name: "an unknown method",
            body: { _, _ in #"{"request":{"interface":"RemoteServiceInterface","method":"reboot"}}"# },
            status: 200, type: "UserException", message: "Method reboot not found on RemoteServiceInterface"),
        Case(
            name: "no parameters at all",
            body: { _, _ in #"{"request":{"interface":"RemoteServiceInterface","method":"newRevision"}}"# },
            status: 200, type: "UserException", message: "Missing 'parameters' field, expected 8 parameters"),
        Case(
            name: "a missing parameter",
            body: { p, _ in newRevision(#""poid":1,"roid":2,"soid":3,"userToken":"\#(p)""#) },
            status: 200, type: "UserException", message: "Missing parameter: newRevision -> serviceIdentifier"),
        Case(
            name: "an object where a long is expected",
            body: { p, _ in newRevision(#""poid":{"a":1},\#(full),"userToken":"\#(p)""#) },
            status: 200, type: "UserException", message: "Parameter newRevision -> poid must be a number"),
        Case(
            name: "a word where a long is expected",
            body: { p, _ in newRevision(#""poid":"twelve",\#(full),"userToken":"\#(p)""#) },
            status: 200, type: "UserException", message: "is not a number"),
        Case(
            name: "an unknown user token", body: { _, _ in newRevision(#""poid":1,\#(full),"userToken":"brt_nope""#) },
            status: 200, type: "InvalidTokenException", message: "Invalid token"),
        Case(
            name: "a client token", body: { _, c in newRevision(#""poid":1,\#(full),"userToken":"\#(c)""#) },
            status: 200, type: "UserException", message: "A client token may not publish events"),
        Case(
            name: "an invalid top-level token",
            body: { p, _ in
                #"{"token":"brt_bad","request":{"interface":"RemoteServiceInterface","method":"newRevision","parameters":{"poid":1,\#(full),"userToken":"\#(p)"}}}"#
            }, status: 200, type: "InvalidTokenException", message: "Invalid token"),
        Case(
            name: "an unknown service identifier",
            body: { p, _ in
                newRevision(
                    #""poid":1,"roid":2,"soid":3,"serviceIdentifier":"nobody","profileIdentifier":"p","token":"t","apiUrl":"u","userToken":"\#(p)""#
                )
            }, status: 200, type: "UserException", message: "No service found with identifier 'nobody'"),
        Case(
            name: "parameters that are not an object",
            body: { _, _ in
                #"{"request":{"interface":"RemoteServiceInterface","method":"newRevision","parameters":[1]}}"#
            }, status: 200, type: "UserException", message: "must be a JSON object"),
        Case(
            name: "nesting too deep", body: { _, _ in String(repeating: "[", count: 5000) }, status: 400,
            type: "UserException", message: "nesting deeper"),
    ]

    @Test("a bad request gets the exception envelope and leaves the database unchanged", arguments: cases)
    func refused(_ testCase: Case) async throws {
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            let client = try await relay.issueToken(role: .client)
            try await relay.addService("a")
            let before = try databaseFingerprint(relay.databasePath)
            let response = try await relay.json(testCase.body(producer, client))
            #expect(response.status == testCase.status, "\(response.body)")
            let exception = try #require(try JSONValue.parse(response.body)["response"]?["exception"])
            #expect(exception["__type"]?.stringValue == testCase.type)
            let message = exception["message"]?.stringValue ?? ""
            #expect(message.contains(testCase.message), "\(message)")
            #expect(try databaseFingerprint(relay.databasePath) == before)
        }
    }

    @Test("a body over the limit gets 413 with the envelope, and nothing is written")
    func tooLarge() async throws {
        try await withTestRelay(
            configure: { $0.maxBodyBytes = 4096 },
            { relay in
                let producer = try await relay.issueToken(role: .producer)
                try await relay.addService("a")
                let padding = String(repeating: "x", count: 5000)
                let body = Self.newRevision(
                    #""poid":1,\#(Self.full),"userToken":"\#(producer)","padding":"\#(padding)""#)
                let response = try await relay.json(body)
                #expect(response.status == 413)
                #expect(try JSONValue.parse(response.body)["response"]?["exception"]?["__type"] == "UserException")
                #expect(try await relay.count("events") == 0)
                // Just under the limit is fine.
                let small = Self.newRevision(#""poid":1,\#(Self.full),"userToken":"\#(producer)""#)
                #expect(try await relay.json(small).status == 200)
                #expect(try await relay.count("events") == 1)
            })
    }

    @Test("a producer scoped to projects may not publish for another project")
    func projectScope() async throws {
        try await withTestRelay { relay in
            let scoped = try await relay.issueToken(role: .producer, projects: [131_073])
            try await relay.addService("a")
            let allowed = try await relay.json(GoldenRequests.newRevision(userToken: scoped))
            #expect(allowed.body == #"{"response":{"result":{}}}"#)
            let refused = try await relay.json(GoldenRequests.newRevision(userToken: scoped, poid: "999"))
            #expect(refused.body.contains("may not publish events for project 999"))
            #expect(try await relay.count("events") == 1)
        }
    }

    @Test("a token revoked by another process after use is refused at its next request")
    func revokedAfterUse() async throws {
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            let first = try await relay.json(GoldenRequests.newRevision(userToken: producer, poid: "1"))
            #expect(first.body == #"{"response":{"result":{}}}"#)
            // What `bimrelay token revoke` does: its own connection to the same file.
            let cli = try RelayDatabase.open(path: relay.databasePath, mode: .existing)
            _ = try await cli.pool.write { db in
                try db.store.tokens.revoke(
                    idOrPrefix: String(producer.prefix(Secrets.visiblePrefixLength)), now: Date())
            }
            let second = try await relay.json(GoldenRequests.newRevision(userToken: producer, poid: "2"))
            #expect(second.body.contains("InvalidTokenException"))
            #expect(try await relay.count("events") == 1)
        }
    }

    @Test("a revoked token is refused")
    func revokedToken() async throws {
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            try await relay.database.pool.write { db in
                try db.execute(sql: "UPDATE tokens SET revoked_at = '2026-01-01 00:00:00.000'")
            }
            let response = try await relay.json(GoldenRequests.newRevision(userToken: producer))
            #expect(response.body.contains("InvalidTokenException"))
            #expect(try await relay.count("events") == 0)
        }
    }
}
