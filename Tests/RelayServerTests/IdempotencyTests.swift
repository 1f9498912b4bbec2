import Foundation
import RelayCore
import RelayTestSupport
import Testing

/// `Idempotency-Key`: per authenticated token, tied to the body, only for requests that wrote.
@Suite("Idempotency keys")
struct IdempotencyTests {
    static let ok = #"{"response":{"result":{}}}"#

    @Test("an unauthenticated request with a key stores nothing: the producer's later call with that key is written")
    func strangerCannotClaimAKey() async throws {
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            try await relay.addService("a")
            let stranger = try await relay.json(
                GoldenRequests.newRevision(userToken: "brt_not-a-token"), headers: [("Idempotency-Key", "K")])
            #expect(stranger.body.contains("InvalidTokenException"))
            let real = try await relay.json(
                GoldenRequests.newRevision(userToken: producer), headers: [("Idempotency-Key", "K")])
            #expect(real.body == Self.ok)
            #expect(try await relay.count("events") == 1)
            #expect(try await relay.count("idempotency_keys") == 1)
        }
    }

    @Test("keys belong to a token: two producers using one key are both written")
    func keysPerToken() async throws {
        try await withTestRelay { relay in
            let first = try await relay.issueToken(role: .producer, user: "one")
            let second = try await relay.issueToken(role: .producer, user: "two")
            try await relay.addService("a")
            let body = GoldenRequests.newRevision(userToken: "")
            for token in [first, second, first] {
                let reply = try await relay.json(
                    body, headers: [("Idempotency-Key", "same"), ("Authorization", "Bearer \(token)")])
                #expect(reply.body == Self.ok)
            }
            #expect(try await relay.count("events") == 2)
        }
    }

    @Test("the same key with another body is refused clearly and writes nothing")
    func otherBody() async throws {
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            try await relay.addService("a")
            #expect(
                try await relay.json(
                    GoldenRequests.newRevision(userToken: producer), headers: [("Idempotency-Key", "K")]
                )
                .body == Self.ok)
            let other = try await relay.json(
                GoldenRequests.newRevision(userToken: producer, poid: "7"), headers: [("Idempotency-Key", "K")])
            #expect(other.body.contains("Idempotency-Key was first used with another request"))
            #expect(try await relay.count("events") == 1)
        }
    }

    @Test("a refused call stores no answer: the same request succeeds once the cause is fixed")
    func refusedStoresNothing() async throws {
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            let body = GoldenRequests.newRevision(userToken: producer, serviceIdentifier: "clash")
            let refused = try await relay.json(body, headers: [("Idempotency-Key", "K")])
            #expect(refused.body.contains("No service found with identifier 'clash'"))
            try await relay.addService("clash")
            #expect(try await relay.json(body, headers: [("Idempotency-Key", "K")]).body == Self.ok)
            #expect(try await relay.count("events") == 1)
        }
    }

    @Test("a key longer than 255 bytes is refused with 400 before anything runs")
    func longKey() async throws {
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            try await relay.addService("a")
            let reply = try await relay.json(
                GoldenRequests.newRevision(userToken: producer),
                headers: [("Idempotency-Key", String(repeating: "k", count: 256))])
            #expect(reply.status == 400 && reply.body.contains("Idempotency-Key longer than 255 bytes"))
            #expect(try await relay.count("events") == 0)
        }
    }
}
