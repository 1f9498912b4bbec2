import Foundation
import RelayCore
import RelayStore
import RelayTestSupport
import Testing

/// The admin console's store operations, on every backend.
@Suite("Console store")
struct ConsoleStoreTests {
    typealias Conformance = StoreConformanceTests
    static let t0 = Conformance.t0

    @Test("a session lives while unexpired and its token is a live admin token", arguments: StoreBackend.all)
    func sessions(_ backend: StoreBackend) async throws {
        try await backend.with { storage in
            let (admin, client) = try await storage.write { tx in
                (
                    try tx.tokens.issue(user: "alice", role: .admin, projects: nil, now: Self.t0).record,
                    try tx.tokens.issue(user: "bob", role: .client, projects: nil, now: Self.t0).record
                )
            }
            @Sendable func session(_ hash: String, _ token: TokenRecord) -> ConsoleSession {
                ConsoleSession(
                    idHash: hash, tokenID: token.id!, createdAt: Self.t0, lastSeenAt: Self.t0,
                    expiresAt: Self.t0.addingTimeInterval(1800), endsAt: Self.t0.addingTimeInterval(3600))
            }
            try await storage.write { tx in
                try tx.console.createSession(session("a", admin))
                try tx.console.createSession(session("c", client))
            }
            func find(_ hash: String, at seconds: Double) async throws -> String? {
                try await storage.read { tx in
                    try tx.console.session(idHash: hash, now: Self.t0.addingTimeInterval(seconds))?.token.user
                }
            }
            #expect(try await find("a", at: 10) == "alice")
            #expect(try await find("c", at: 10) == nil, "a client token's session is no session")
            #expect(try await find("x", at: 10) == nil)
            #expect(try await find("a", at: 1800) == nil, "idle expiry")
            // Used: the idle expiry moves on, never past the end.
            try await storage.write { tx in
                try tx.console.touchSession(
                    idHash: "a", now: Self.t0.addingTimeInterval(1700), expiresAt: Self.t0.addingTimeInterval(9999))
            }
            #expect(try await find("a", at: 3500) == "alice")
            #expect(try await find("a", at: 3600) == nil, "absolute end")
            // A revoked token ends its sessions at once.
            _ = try await storage.write { tx in try tx.tokens.revoke(idOrPrefix: "\(admin.id!)", now: Self.t0) }
            #expect(try await find("a", at: 10) == nil)
            let pruned = try await storage.write { tx in
                try tx.console.pruneSessions(now: Self.t0.addingTimeInterval(4000), limit: 10)
            }
            #expect(pruned == 2)
            try await storage.write { tx in try tx.console.endSession(idHash: "a") }
        }
    }

    @Test(
        "deliveries filter by service, state, project, revision and id window, newest first, a page at a time",
        arguments: StoreBackend.all)
    func deliveryFilters(_ backend: StoreBackend) async throws {
        try await backend.with { storage in
            let services = try await Conformance.fill(
                storage, [Conformance.service("a"), Conformance.service("b")], events: 30)
            // Kill a's first three deliveries.
            let claimed = try await Conformance.claim(storage, limit: 3, only: services[0])
            for delivery in claimed {
                _ = try await storage.write { tx in
                    try tx.deliveries.record(
                        Conformance.result(delivery, .dead, status: 500), now: Self.t0, disableAfter: .seconds(86_400))
                }
            }
            let ids = services.compactMap(\.id)
            func page(_ filter: DeliveryFilter, limit: Int = 100) async throws -> [DeliverySummary] {
                try await storage.read { tx in try tx.console.deliveryPage(filter, services: ids, limit: limit) }
            }
            let all = try await page(DeliveryFilter())
            #expect(all.count == 60 && all.map(\.id) == all.map(\.id).sorted(by: >))
            let dead = try await page(DeliveryFilter(state: .dead))
            #expect(dead.count == 3 && Set(dead.map(\.service)) == ["a"])
            #expect(try await page(DeliveryFilter(serviceID: ids[1], state: .dead)).isEmpty)
            let byRevision = try await page(DeliveryFilter(roid: 7))
            #expect(byRevision.count == 2 && byRevision.allSatisfy { $0.roid == 7 })
            // Paging: every delivery of project 1 once, in order, through the cursor.
            var seen: [Int64] = []
            var filter = DeliveryFilter(poid: 1)
            while true {
                let rows = try await page(filter, limit: 7)
                seen += rows.map(\.id)
                guard rows.count == 7 else { break }
                filter.beforeID = rows.last!.id
            }
            #expect(seen == all.map(\.id))
            let counts = try await storage.read { tx in try tx.console.deliveryCounts() }
            #expect(counts.first { $0.serviceID == ids[0] && $0.state == "dead" }?.count == 3)
            #expect(counts.reduce(0) { $0 + $1.count } == 60)
            let oldest = try await storage.read { tx in try tx.console.oldestPending(serviceID: ids[1]) }
            #expect(oldest == Self.t0)
            let failures = try await storage.read { tx in try tx.console.consecutiveFailures() }
            #expect(failures[ids[0]] == 3 && failures[ids[1]] == 0)
        }
    }

    @Test("a time is an id bound found by bisection; rows count per minute", arguments: StoreBackend.all)
    func timeBounds(_ backend: StoreBackend) async throws {
        try await backend.with { storage in
            let added = try await storage.write { tx in try tx.services.add(Conformance.service("a")) }
            // 100 events, one every 10 s from t0.
            try await storage.write { tx in
                for roid in 0..<Int64(100) {
                    _ = try tx.ingest.record(
                        Conformance.event(added.identifier, roid: roid), producerTokenID: nil, fanOutTrigger: nil,
                        now: Self.t0.addingTimeInterval(Double(roid) * 10))
                }
            }
            let (first, since, none, minutes) = try await storage.read { tx in
                (
                    try tx.console.firstID(of: .deliveries, since: Self.t0.addingTimeInterval(-5)),
                    try tx.console.firstID(of: .deliveries, since: Self.t0.addingTimeInterval(495)),
                    try tx.console.firstID(of: .events, since: Self.t0.addingTimeInterval(1000)),
                    try tx.console.perMinute(of: .events, fromID: 0)
                )
            }
            let ids = try await storage.read { tx in try tx.queue.list(state: nil, serviceID: nil, limit: 100) }
                .map(\.id).sorted()
            #expect(first == ids[0])
            #expect(since == ids[50], "the first row at or after t0+495 s is the 51st (t0+500 s)")
            #expect(none == nil)
            #expect(minutes.map(\.count) == [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 4])
            #expect(
                minutes.first?.minute
                    == Date(timeIntervalSince1970: (Self.t0.timeIntervalSince1970 / 60).rounded(.down) * 60))
        }
    }
}
