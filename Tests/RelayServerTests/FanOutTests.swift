import Foundation
import GRDB
import RelayCore
import RelayTestSupport
import Testing

@testable import RelayStore

/// The fan-out identifiers: one per trigger, descriptors that get subscribers working callback
/// tokens, and BIMserver's extended-data pair delivered only to NEW_EXTENDED_DATA subscribers.
@Suite("Fan-out identifiers")
struct FanOutTests {
    static func describe(_ relay: TestRelay, _ identifier: String) async throws -> JSONValue {
        try StockClientTests.result(try await relay.json(StockClientRequests.bimserverGetService(identifier)).body)
    }

    @Test(
        "both fan-out descriptors ask for read rights on the revision and carry null, never \"\", for absent settings")
    func descriptors() async throws {
        try await withTestRelay(
            configure: { $0.publicURL = "https://relay.example.org" },
            { relay in
                let revision = try await Self.describe(relay, "bimrelay")
                let extended = try await Self.describe(relay, "bimrelay-extended-data")
                #expect(revision["trigger"] == "NEW_REVISION" && extended["trigger"] == "NEW_EXTENDED_DATA")
                for descriptor in [revision, extended] {
                    #expect(descriptor["readRevision"] == true && descriptor["writeRevision"] == false)
                    #expect(
                        descriptor["url"] == "https://relay.example.org" && descriptor["notificationProtocol"] == "JSON"
                    )
                    for field in [
                        "readExtendedData", "writeExtendedData", "token", "tokenUrl", "registerUrl", "authorizeUrl",
                    ] {
                        #expect(descriptor[field] == .null, "\(field)")
                    }
                    #expect(!descriptor.serialized.contains(#""""#), "an empty string in \(descriptor.serialized)")
                }
                #expect(revision["identifier"] == "bimrelay" && extended["identifier"] == "bimrelay-extended-data")
            })
        try await withTestRelay(
            configure: {
                $0.fanOutReadRevision = false
                $0.extendedDataFanOutIdentifier = "relay-ed"
            },
            { relay in
                let revision = try await Self.describe(relay, "bimrelay")
                let extended = try await Self.describe(relay, "relay-ed")
                #expect(revision["readRevision"] == false && extended["trigger"] == "NEW_EXTENDED_DATA")
            })
    }

    @Test(
        "the extended-data pair reaches only NEW_EXTENDED_DATA subscribers, once each, in either order",
        arguments: [true, false])
    func extendedDataPair(companionFirst: Bool) async throws {
        let receiver = try await TestReceiver.start()
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            let viewer = try await relay.issueToken(role: .client)
            let revisionOnly = try await relay.addService("rev", url: "\(receiver.url)/rev", triggers: [.newRevision])
            let extendedOnly = try await relay.addService("ed", url: "\(receiver.url)/ed", triggers: [.newExtendedData])
            let both = try await relay.addService(
                "both", url: "\(receiver.url)/both", triggers: [.newRevision, .newExtendedData])
            let (client, endpoint, _) = try await StreamTests.handshake(relay, token: viewer)
            try await StreamTests.registry(
                relay, token: viewer, "registerNewRevisionHandler", #""endPointId":\#(endpoint)"#)
            try await StreamTests.registry(
                relay, token: viewer, "registerNewExtendedDataOnRevisionHandler",
                #""endPointId":\#(endpoint),"roid":65539"#)

            // BIMserver's NEW_REVISION hook, then its NEW_EXTENDED_DATA hook's two calls.
            let ok = #"{"response":{"result":{}}}"#
            #expect(try await relay.json(GoldenRequests.newRevision(userToken: producer)).body == ok)
            var pair = [
                GoldenRequests.newExtendedDataOnRevision(
                    userToken: producer, serviceIdentifier: "bimrelay-extended-data"),
                GoldenRequests.newRevision(userToken: producer, serviceIdentifier: "bimrelay-extended-data"),
            ]
            if companionFirst { pair.reverse() }
            for body in pair { #expect(try await relay.json(body).body == ok) }

            try await poll(until: "six deliveries delivered") {
                try await relay.count("deliveries", where: "state = 'delivered'") == 6
            }
            let delivered = try await relay.database.pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT d.service_id, e.method FROM deliveries d JOIN events e ON e.id = d.event_id
                        ORDER BY d.service_id, e.method
                        """
                ).map { "\($0["service_id"] as Int64):\($0["method"] as String)" }
            }
            #expect(
                delivered == [
                    "\(revisionOnly.id!):newRevision",
                    "\(extendedOnly.id!):newExtendedDataOnRevision", "\(extendedOnly.id!):newRevision",
                    "\(both.id!):newExtendedDataOnRevision", "\(both.id!):newRevision", "\(both.id!):newRevision",
                ])
            let arrived = try receiver.received.map {
                "\($0.path) \(try JSONValue.parse($0.body)["request"]?["method"]?.stringValue ?? "")"
            }
            #expect(arrived.filter { $0.hasPrefix("/rev/") } == ["/rev/json newRevision"])
            #expect(
                arrived.filter { $0.hasPrefix("/ed/") }.sorted() == [
                    "/ed/json newExtendedDataOnRevision", "/ed/json newRevision",
                ])
            #expect(arrived.count == 6)

            // /stream: one newRevision (the NEW_REVISION hook's) and one newExtendedData, nothing else.
            let frames = [try await client.nextJSON(), try await client.nextJSON()]
            #expect(
                frames.compactMap { $0["request"]?["method"]?.stringValue }.sorted() == [
                    "newExtendedData", "newRevision",
                ])
            #expect(try await relay.count("stream_messages", where: "endpoint_id = \(endpoint)") == 2)
            await client.close()
        }
        await receiver.stop()
    }
}
