import Foundation
import RelayCore
import RelayStore
import RelayTestSupport
import Testing

/// What every ``RelayStorage`` must do, through the protocol only (no SQL, no HTTP): the suite a
/// second backend runs as its conformance test.
@Suite("Store conformance")
struct StoreConformanceTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    /// A service row as the CLI adds it.
    static func service(
        _ identifier: String, maxInFlight: Int = 8, ordered: Bool = false, timeoutMs: Int64 = 10_000,
        enabled: Bool = true
    ) -> ServiceRecord {
        var service = ServiceRecord(
            identifier: identifier, name: identifier, url: "http://127.0.0.1:9/\(identifier)", triggers: "NEW_REVISION",
            signingSecret: Secrets.newSigningSecret(), createdAt: t0, updatedAt: t0)
        service.maxInFlight = maxInFlight
        service.ordered = ordered
        service.timeoutMs = timeoutMs
        service.enabled = enabled
        return service
    }

    static func event(_ identifier: String, roid: Int64) -> IncomingEvent {
        IncomingEvent(
            method: .newRevision, poid: 1, roid: roid, edid: nil, soid: 3, serviceIdentifier: identifier,
            profileIdentifier: nil, token: "callback-token", apiUrl: nil)
    }

    /// Adds the services and `count` events for each, received at `t0`; returns the services.
    static func fill(_ storage: any RelayStorage, _ services: [ServiceRecord], events count: Int) async throws
        -> [ServiceRecord]
    {
        try await storage.write { tx in
            let added = try services.map { try tx.services.add($0) }
            for roid in 1...Int64(count) {
                for service in added {
                    _ = try tx.ingest.record(
                        event(service.identifier, roid: roid), producerTokenID: nil, fanOutTrigger: nil, now: t0)
                }
            }
            return added
        }
    }

    static func claim(
        _ storage: any RelayStorage, limit: Int, at now: Date = t0, only: ServiceRecord? = nil
    ) async throws -> [ClaimedDelivery] {
        try await storage.write { tx in
            try tx.deliveries.claim(limit: limit, now: now, leaseMargin: .seconds(30), only: only)
        }
    }

    static func result(_ delivery: ClaimedDelivery, _ next: AttemptResult.Next, status: Int?) -> AttemptResult {
        AttemptResult(
            deliveryID: delivery.id, serviceID: delivery.service.id!, attempt: delivery.attempt, startedAt: t0,
            durationMs: 1, statusCode: status, errorClass: status == 200 ? nil : "http_status",
            error: status == 200 ? nil : "HTTP \(status ?? 0)", responseBody: nil, next: next,
            disableReason: status == 410 ? "the service answered 410 Gone" : nil, lease: delivery.lease)
    }

    struct SignalsMissing: Error {
        let expected: Int
    }

    /// The first `count` signals of `stream`, or an error after 10 s.
    static func first(_ count: Int, of stream: AsyncStream<StoreSignal>) async throws -> [StoreSignal] {
        try await withThrowingTaskGroup(of: [StoreSignal]?.self) { group in
            group.addTask {
                var received: [StoreSignal] = []
                for await signal in stream {
                    received.append(signal)
                    if received.count == count { break }
                }
                return received
            }
            group.addTask {
                try await Task.sleep(for: .seconds(10))
                return nil
            }
            defer { group.cancelAll() }
            guard let received = try await group.next() ?? nil else { throw SignalsMissing(expected: count) }
            return received
        }
    }

    static func counts(_ storage: any RelayStorage) async throws -> [String: Int] {
        try await storage.read { tx in try tx.queue.countsByState() }
    }

    @Test(
        "a claim honours the global limit, each service's in-flight limit, and due times", arguments: StoreBackend.all)
    func claimLimits(_ backend: StoreBackend) async throws {
        try await backend.with { storage in
            _ = try await Self.fill(storage, [Self.service("a", maxInFlight: 2), Self.service("b")], events: 5)
            // Not due before their time.
            #expect(try await Self.claim(storage, limit: 10, at: Self.t0.addingTimeInterval(-1)).isEmpty)
            let first = try await Self.claim(storage, limit: 4)
            #expect(first.count == 4)
            #expect(first.filter { $0.service.identifier == "a" }.count == 2)
            #expect(first.allSatisfy { $0.attempt == 1 && $0.lease != nil })
            let second = try await Self.claim(storage, limit: 10)
            #expect(second.allSatisfy { $0.service.identifier == "b" } && second.count == 3)
            #expect(try await Self.counts(storage)["in_flight"] == 7)
            #expect(Set((first + second).map(\.id)).count == 7)
        }
    }

    @Test("an ordered service has one delivery in flight, the oldest open one", arguments: StoreBackend.all)
    func orderedClaim(_ backend: StoreBackend) async throws {
        try await backend.with { storage in
            _ = try await Self.fill(storage, [Self.service("o", ordered: true)], events: 3)
            let first = try await Self.claim(storage, limit: 10)
            #expect(first.map(\.event.roid) == [1])
            #expect(try await Self.claim(storage, limit: 10).isEmpty)
            // A failure puts it back; it stays first in line once due again.
            _ = try await storage.write { tx in
                try tx.deliveries.record(
                    Self.result(first[0], .retry(at: Self.t0.addingTimeInterval(60)), status: 500), now: Self.t0,
                    disableAfter: .seconds(86_400))
            }
            #expect(try await Self.claim(storage, limit: 10, at: Self.t0.addingTimeInterval(30)).isEmpty)
            let again = try await Self.claim(storage, limit: 10, at: Self.t0.addingTimeInterval(61))
            #expect(again.map(\.event.roid) == [1] && again[0].attempt == 2)
        }
    }

    @Test(
        "leases: expired ones are released, a start-up releases all, a disabled service's go to paused",
        arguments: StoreBackend.all)
    func leases(_ backend: StoreBackend) async throws {
        try await backend.with { storage in
            let services = try await Self.fill(
                storage, [Self.service("a", timeoutMs: 1_000), Self.service("b", timeoutMs: 100_000)], events: 1)
            #expect(try await Self.claim(storage, limit: 10).count == 2)
            // a's lease (1 s + 30 s margin) ran out; b's has not.
            let later = Self.t0.addingTimeInterval(40)
            #expect(try await storage.write { tx in try tx.deliveries.releaseExpiredLeases(now: later) } == 1)
            #expect(try await Self.counts(storage)["in_flight"] == 1)
            _ = try await storage.write { tx in try tx.services.disable("b", reason: "test", now: later) }
            #expect(try await storage.write { tx in try tx.deliveries.releaseAllLeases(now: later) } == 1)
            let counts = try await Self.counts(storage)
            #expect(counts["pending"] == 1 && counts["paused"] == 1 && counts["in_flight"] == 0)
            #expect(services.count == 2)
        }
    }

    @Test("a slot's claim reuses the service record until the service changes", arguments: StoreBackend.all)
    func recordCache(_ backend: StoreBackend) async throws {
        try await backend.with { storage in
            let services = try await Self.fill(storage, [Self.service("a", maxInFlight: 1)], events: 3)
            var stale = services[0]
            stale.name = "not what the store holds"
            let reused = try await Self.claim(storage, limit: 1, only: stale)
            #expect(reused.first?.service.name == "not what the store holds")
            // An update stamps updated_at: the next claim reads the row again.
            let updated = try await storage.write { tx in
                var service = try tx.services.find("a")
                service.url = "http://127.0.0.1:9/moved"
                return try tx.services.update(service, now: Self.t0.addingTimeInterval(5))
            }
            _ = try await storage.write { tx in
                try tx.deliveries.record(
                    Self.result(reused[0], .delivered, status: 200), now: Self.t0, disableAfter: .seconds(60))
            }
            let reread = try await Self.claim(storage, limit: 1, only: stale)
            #expect(reread.first?.service.url == updated.url)
            // A disabled service gets nothing through a slot.
            _ = try await storage.write { tx in try tx.services.disable("a", reason: "test", now: Self.t0) }
            #expect(try await Self.claim(storage, limit: 1, only: updated).isEmpty)
        }
    }

    @Test(
        "recording: 410 disables and pauses, a failing streak disables, a stale result changes nothing",
        arguments: StoreBackend.all)
    func recording(_ backend: StoreBackend) async throws {
        try await backend.with { storage in
            _ = try await Self.fill(
                storage, [Self.service("gone"), Self.service("flaky"), Self.service("fenced")], events: 1)
            let claimed = try await Self.claim(storage, limit: 10)
            let byService = Dictionary(uniqueKeysWithValues: claimed.map { ($0.service.identifier, $0) })
            let retryAt = Self.t0.addingTimeInterval(60)
            let gone = try await storage.write { tx in
                try tx.deliveries.record(
                    Self.result(byService["gone"]!, .retry(at: retryAt), status: 410), now: Self.t0,
                    disableAfter: .seconds(86_400))
            }
            #expect(gone.disabled?.contains("410") == true && !gone.stale)
            // Failing since t0; a failure two minutes on, with disable-after 60 s, disables it.
            _ = try await storage.write { tx in
                try tx.deliveries.record(
                    Self.result(byService["flaky"]!, .retry(at: retryAt), status: 500), now: Self.t0,
                    disableAfter: .seconds(60))
            }
            let flaky = try await Self.claim(storage, limit: 10, at: Self.t0.addingTimeInterval(120))
            #expect(flaky.map(\.service.identifier) == ["flaky"])
            let streak = try await storage.write { tx in
                try tx.deliveries.record(
                    Self.result(flaky[0], .retry(at: Self.t0.addingTimeInterval(600)), status: 500),
                    now: Self.t0.addingTimeInterval(120), disableAfter: .seconds(60))
            }
            #expect(streak.disabled?.contains("without a success") == true)
            // The fenced one's lease is released and taken again: the first attempt's late result is stale.
            let fenced = byService["fenced"]!
            _ = try await storage.write { tx in try tx.deliveries.releaseAllLeases(now: Self.t0) }
            let retaken = try await Self.claim(storage, limit: 10, at: Self.t0.addingTimeInterval(1))
            #expect(retaken.map(\.id) == [fenced.id])
            let late = try await storage.write { tx in
                try tx.deliveries.record(
                    Self.result(fenced, .delivered, status: 200), now: Self.t0, disableAfter: .seconds(60))
            }
            #expect(late.stale)
            let current = try await storage.write { tx in
                try tx.deliveries.record(
                    Self.result(retaken[0], .delivered, status: 200), now: Self.t0, disableAfter: .seconds(60))
            }
            #expect(!current.stale)
            let counts = try await Self.counts(storage)
            #expect(counts["paused"] == 2 && counts["delivered"] == 1 && counts["in_flight"] == 0)
            let attempts = try await storage.read { tx in try tx.queue.attempts(deliveryID: fenced.id) }
            #expect(attempts.map(\.attempt) == [1, 2] && attempts.allSatisfy { $0.outcome == "delivered" })
        }
    }

    @Test("requeue: dead and delivered ones start over, paused for a disabled service", arguments: StoreBackend.all)
    func requeue(_ backend: StoreBackend) async throws {
        try await backend.with { storage in
            _ = try await Self.fill(storage, [Self.service("a"), Self.service("b")], events: 1)
            let claimed = try await Self.claim(storage, limit: 10)
            for delivery in claimed {
                _ = try await storage.write { tx in
                    try tx.deliveries.record(
                        Self.result(delivery, .dead, status: 500), now: Self.t0, disableAfter: .seconds(86_400))
                }
            }
            _ = try await storage.write { tx in try tx.services.disable("b", reason: "test", now: Self.t0) }
            let requeued = try await storage.writeInBatches(of: 1) { tx, limit in
                try tx.queue.retryDead(serviceID: nil, since: nil, now: Self.t0, limit: limit)
            }
            #expect(requeued == 2)
            let counts = try await Self.counts(storage)
            #expect(counts["pending"] == 1 && counts["paused"] == 1 && counts["dead"] == 0)
            let again = try await Self.claim(storage, limit: 10)
            #expect(again.map(\.service.identifier) == ["a"] && again[0].attempt == 1)
        }
    }

    @Test(
        "publish numbers each endpoint's frames from 1, in order; frames read back after a seq",
        arguments: StoreBackend.all)
    func publishSequence(_ backend: StoreBackend) async throws {
        try await backend.with { storage in
            let (one, two) = try await storage.write { tx in
                let token = try tx.tokens.issue(user: "viewer", role: .client, projects: nil, now: Self.t0).record
                return (
                    try tx.stream.createEndpoint(token: token, now: Self.t0),
                    try tx.stream.createEndpoint(token: token, now: Self.t0)
                )
            }
            var frames: [StreamFrame] = []
            for n in 1...3 {
                frames += try await storage.write { tx in
                    try tx.stream.publish(
                        to: n == 2 ? [one.id] : [one.id, two.id], method: "progress", payload: "{\"n\":\(n)}",
                        now: Self.t0)
                }
            }
            #expect(frames.filter { $0.endpointID == one.id }.map(\.seq) == [1, 2, 3])
            #expect(frames.filter { $0.endpointID == two.id }.map(\.seq) == [1, 2])
            let replay = try await storage.read { tx in try tx.stream.frames(endpointID: one.id, after: 1) }
            #expect(replay.map(\.seq) == [2, 3])
            #expect(replay.map(\.text) == frames.filter { $0.endpointID == one.id }.dropFirst().map(\.text))
            #expect(try await storage.read { tx in try tx.stream.oldestSeq(endpointID: two.id) } == 1)
        }
    }

    @Test("an endpoint's detach from an older connection does not undo a newer attach", arguments: StoreBackend.all)
    func attachGenerations(_ backend: StoreBackend) async throws {
        try await backend.with { storage in
            let endpoint = try await storage.write { tx in
                let token = try tx.tokens.issue(user: "viewer", role: .client, projects: nil, now: Self.t0).record
                return try tx.stream.createEndpoint(token: token, now: Self.t0)
            }
            let first = try await storage.write { tx in try tx.stream.attach(endpointID: endpoint.id, now: Self.t0) }
            let second = try await storage.write { tx in try tx.stream.attach(endpointID: endpoint.id, now: Self.t0) }
            #expect(second > first)
            try await storage.write { tx in
                try tx.stream.detach(endpointID: endpoint.id, generation: first, sentSeq: 5, now: Self.t0)
            }
            #expect(try await storage.read { tx in try tx.stream.endpoint(id: endpoint.id)?.connected } == true)
            try await storage.write { tx in
                try tx.stream.detach(endpointID: endpoint.id, generation: second, sentSeq: 7, now: Self.t0)
            }
            let dropped = try await storage.read { tx in try tx.stream.endpoint(id: endpoint.id) }
            #expect(dropped?.connected == false && dropped?.sentSeq == 7)
        }
    }

    @Test(
        "signals follow commits: due deliveries and frames after a commit, nothing for a rollback",
        arguments: StoreBackend.all)
    func signals(_ backend: StoreBackend) async throws {
        try await backend.with { storage in
            let signals = storage.signals()
            struct Refused: Error {}
            await #expect(throws: Refused.self) {
                try await storage.write { tx in
                    _ = try tx.services.add(Self.service("rolled-back"))
                    _ = try tx.ingest.record(
                        Self.event("rolled-back", roid: 1), producerTokenID: nil, fanOutTrigger: nil, now: Self.t0)
                    throw Refused()
                }
            }
            #expect(try await storage.read { tx in try tx.services.lookup(identifier: "rolled-back") } == nil)
            _ = try await Self.fill(storage, [Self.service("a")], events: 1)
            let frames = try await storage.write { tx in
                let token = try tx.tokens.issue(user: "viewer", role: .client, projects: nil, now: Self.t0).record
                let endpoint = try tx.stream.createEndpoint(token: token, now: Self.t0)
                return try tx.stream.publish(to: [endpoint.id], method: "m", payload: "{}", now: Self.t0)
            }
            // Read with a deadline: a backend that drops a signal fails here instead of hanging.
            let received = try await Self.first(3, of: signals)
            #expect(received == [.deliveriesDue, .tokensChanged, .framesPublished(frames)])
        }
    }

    @Test("writes that fail roll back alone: concurrent writes sharing a commit are kept", arguments: StoreBackend.all)
    func failingWriteAlone(_ backend: StoreBackend) async throws {
        try await backend.with { storage in
            struct Refused: Error {}
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for n in 0..<40 {
                    group.addTask {
                        do {
                            // As ingests: the writes the PostgreSQL store batches.
                            try await storage.write(ingest: true) { tx in
                                _ = try tx.services.add(Self.service("s\(n)"))
                                if n % 2 == 1 { throw Refused() }
                            }
                            return true
                        } catch is Refused {
                            return false
                        }
                    }
                }
                var kept = 0
                for try await ok in group where ok { kept += 1 }
                #expect(kept == 20)
            }
            let names = try await storage.read { tx in try tx.services.list().map(\.identifier) }
            #expect(Set(names) == Set(stride(from: 0, to: 40, by: 2).map { "s\($0)" }))
            // They did share commits: 40 writes in fewer transactions.
            let statistics =
                (storage as? SQLiteStorage)?.writeStatistics ?? (storage as? PostgresStorage)?.writeStatistics
            #expect((statistics?.largestBatch ?? 0) > 1, "\(String(describing: statistics))")
        }
    }
}
