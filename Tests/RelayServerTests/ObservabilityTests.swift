import Foundation
import GRDB
import RelayCore
import RelayServer
import RelayTestSupport
import Testing

@testable import RelayStore

/// `/metrics`, `/health` and background retention, against a real relay, receiver and WebSocket.
@Suite("Observability and retention")
struct ObservabilityTests {
    /// The value of one sample line (`name{labels} value`) of a Prometheus page, or nil.
    static func sample(_ page: String, _ series: String) -> Double? {
        page.split(separator: "\n").first { $0.hasPrefix(series + " ") }
            .flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    /// `/metrics` behind a bearer token.
    static func metricsToken(_ configuration: inout RelayConfiguration) {
        configuration.metricsTokenHash = Secrets.hash(token: "scrape-secret")
    }

    /// Delivered rows kept 1 h (instead of 7 days).
    static func shortRetention(_ configuration: inout RelayConfiguration) {
        configuration.deliveredRetention = .seconds(3600)
    }

    /// Delivered rows kept 1 h, 2 frames per endpoint.
    static func shortRetentionTwoFrames(_ configuration: inout RelayConfiguration) {
        shortRetention(&configuration)
        configuration.maxFramesPerEndpoint = 2
    }

    static func metrics(_ relay: TestRelay, headers: [(String, String)] = []) async throws -> TestResponse {
        try await TestHTTP.request("\(relay.baseURL)/metrics", headers: headers)
    }

    @Test("metrics count ingest, deliveries by outcome, attempt latency, queue depth, disabled services")
    func deliveryMetrics() async throws {
        let receiver = try await TestReceiver.start()
        defer { Task { await receiver.stop() } }
        receiver.script([.init(status: 503)])
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            try await relay.addService("svc", url: receiver.url) { $0.retrySchedule = "1s" }
            try await relay.addService("off", url: receiver.url, enabled: false)
            let before = try await Self.metrics(relay).body
            #expect(Self.sample(before, #"bimrelay_events_ingested_total{method="newRevision"}"#) == 0)
            #expect(Self.sample(before, #"bimrelay_deliveries_total{outcome="delivered"}"#) == 0)
            #expect(Self.sample(before, "bimrelay_services_disabled") == 1)

            try await relay.ingestNewRevision(producer: producer, roid: 1)
            try await relay.ingestNewRevision(producer: producer, roid: 2)
            try await poll(until: "both delivered after one failure") {
                try await relay.count("deliveries", where: "state = 'delivered'") == 2
            }
            let response = try await Self.metrics(relay)
            #expect(response.status == 200)
            #expect(response.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
            let page = response.body
            #expect(Self.sample(page, #"bimrelay_events_ingested_total{method="newRevision"}"#) == 2)
            #expect(Self.sample(page, #"bimrelay_deliveries_total{outcome="delivered"}"#) == 2)
            #expect(Self.sample(page, #"bimrelay_deliveries_total{outcome="failed"}"#) == 1)
            #expect(Self.sample(page, #"bimrelay_deliveries_total{outcome="dead"}"#) == 0)
            #expect(Self.sample(page, "bimrelay_delivery_attempt_duration_seconds_count") == 3)
            #expect(Self.sample(page, "bimrelay_ingest_batch_size_count").map { $0 >= 1 } == true)
            #expect(Self.sample(page, "bimrelay_ingest_batch_size_sum") == 2)
            // The database gauges are read at most every 5 s: the first scrape's values may be kept.
            #expect(Self.sample(page, #"bimrelay_queue_depth{state="pending"}"#) != nil)
            #expect(Self.sample(page, #"bimrelay_queue_depth{state="delivered"}"#) != nil)
        }
    }

    @Test("the queue depth gauge is read from the database on the first scrape")
    func queueDepth() async throws {
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            try await relay.addService("paused", enabled: false)
            try await relay.ingestNewRevision(producer: producer, roid: 1, serviceIdentifier: "paused")
            let page = try await Self.metrics(relay).body
            #expect(Self.sample(page, #"bimrelay_queue_depth{state="paused"}"#) == 1)
            #expect(Self.sample(page, #"bimrelay_queue_depth{state="pending"}"#) == 0)
            #expect(Self.sample(page, "bimrelay_services_disabled") == 1)
        }
    }

    @Test("stream metrics: open endpoints, frames pushed live and frames replayed after a resume")
    func streamMetrics() async throws {
        try await withTestRelay { relay in
            let viewer = try await StreamTests.subscribedViewer(relay)
            for progress in 1...3 { try await viewer.publish(relay, progress: progress) }
            for _ in 1...3 { _ = try await viewer.client.next() }
            var page = try await Self.metrics(relay).body
            #expect(Self.sample(page, "bimrelay_stream_endpoints_open") == 1)
            #expect(Self.sample(page, "bimrelay_stream_frames_pushed_total") == 3)
            await viewer.client.close()
            try await poll(until: "endpoint dropped") {
                try await relay.count("endpoints", where: "connected = 0") == 1
            }
            for progress in 4...5 { try await viewer.publish(relay, progress: progress) }
            let (client, _, _) = try await StreamTests.handshake(
                relay, token: viewer.viewer, extra: #","endpointid":\#(viewer.endpoint),"seq":3"#)
            for _ in 1...2 { _ = try await client.next() }
            page = try await Self.metrics(relay).body
            #expect(Self.sample(page, "bimrelay_stream_frames_replayed_total") == 2)
            #expect(Self.sample(page, "bimrelay_stream_endpoints_open") == 1)
            await client.close()
        }
    }

    @Test("with --metrics-token, /metrics refuses a missing or wrong bearer token")
    func metricsToken() async throws {
        try await withTestRelay(configure: Self.metricsToken) { relay in
            let missing = try await Self.metrics(relay)
            #expect(missing.status == 401)
            #expect(!missing.body.contains("bimrelay_"))
            let wrong = try await Self.metrics(relay, headers: [("Authorization", "Bearer scrape-secreT")])
            #expect(wrong.status == 401)
            let right = try await Self.metrics(relay, headers: [("Authorization", "Bearer scrape-secret")])
            #expect(right.status == 200)
            #expect(right.body.contains("bimrelay_deliveries_total"))
        }
    }

    @Test("/health is 200 with everything running and 503 naming the part that is not")
    func health() async throws {
        try await withTestRelay { relay in
            let health = try await TestHTTP.request("\(relay.baseURL)/health")
            #expect(health.status == 200)
            let body = try health.jsonObject()
            #expect(body["worker"] as? String == "running")
            #expect(body["stream"] as? String == "running")
            #expect(body["database"] as? String == "ok")
        }
        let relay = try await TestRelay.start(runWorker: false)
        let health = try await TestHTTP.request("\(relay.baseURL)/health")
        await relay.stop()
        #expect(health.status == 503)
        let body = try health.jsonObject()
        #expect(body["status"] as? String == "unavailable")
        #expect(body["worker"] as? String == "stopped")
        #expect(body["database"] as? String == "ok")
    }

    @Test("retention deletes old delivered deliveries with their attempts and events, keeps the rest")
    func retention() async throws {
        let receiver = try await TestReceiver.start()
        defer { Task { await receiver.stop() } }
        try await withTestRelay(configure: Self.shortRetention) { relay in
            let producer = try await relay.issueToken(role: .producer)
            try await relay.addService("svc", url: receiver.url)
            try await relay.addService("paused", enabled: false)
            let total = Retention.batchSize + 20
            for roid in 1...Int64(total) {
                try await relay.ingestNewRevision(producer: producer, roid: roid)
            }
            for roid in 1...3 {
                try await relay.ingestNewRevision(producer: producer, roid: Int64(roid), serviceIdentifier: "paused")
            }
            try await poll(until: "all delivered", timeout: .seconds(30)) {
                try await relay.count("deliveries", where: "state = 'delivered'") == total
            }
            // Nothing is old yet: a pass now deletes nothing.
            #expect(try await relay.runtime.retention.pass(now: Date()).total == 0)
            // Two hours later every delivered row is past the 1 h horizon, in batches, with its
            // attempts and its event; the paused deliveries stay, and so do their events.
            let removed = try await relay.runtime.retention.pass(now: Date().addingTimeInterval(7200))
            #expect(removed.deliveries == total)
            #expect(removed.events == total)
            #expect(try await relay.count("deliveries") == 3)
            #expect(try await relay.count("deliveries", where: "state = 'paused'") == 3)
            #expect(try await relay.count("attempts") == 0)
            #expect(try await relay.count("events") == 3)
            // Once the paused deliveries go too (service removed), their events go with the next pass.
            try await relay.database.pool.write { db in _ = try db.store.services.remove("paused") }
            let second = try await relay.runtime.retention.pass(now: Date().addingTimeInterval(7200))
            #expect(second.events == 3)
            #expect(try await relay.count("events") == 0)
        }
    }

    @Test("retention keeps the newest frames per endpoint, forgets idempotency keys and dropped endpoints")
    func retentionOfKeysAndEndpoints() async throws {
        try await withTestRelay(configure: Self.shortRetentionTwoFrames) { relay in
            let producer = try await relay.issueToken(role: .producer)
            let body = BIMserverRequests.newRevision(
                userToken: producer, poid: 1, roid: 1, serviceIdentifier: "bimrelay")
            _ = try await relay.json(body, headers: [("Idempotency-Key", "k-1")])
            let viewer = try await StreamTests.subscribedViewer(relay)
            for progress in 1...4 {
                try await viewer.publish(relay, progress: progress)
                _ = try await viewer.client.next()
            }
            await viewer.client.close()
            try await poll(until: "endpoint dropped") {
                try await relay.count("endpoints", where: "connected = 0") == 1
            }
            #expect(try await relay.count("stream_messages") == 4)
            // After 2 h the key (1 h horizon) goes and only the 2 newest frames stay; the endpoint (24 h) stays.
            let early = try await relay.runtime.retention.pass(now: Date().addingTimeInterval(7200))
            #expect(early.idempotencyKeys == 1)
            #expect(early.frames == 2)
            #expect(early.endpoints == 0)
            #expect(try await relay.count("idempotency_keys") == 0)
            #expect(try await relay.count("stream_messages", where: "seq IN (3, 4)") == 2)
            // After 25 h the endpoint goes with its subscriptions and frames.
            let late = try await relay.runtime.retention.pass(now: Date().addingTimeInterval(25 * 3600))
            #expect(late.endpoints == 1)
            #expect(try await relay.count("endpoints") == 0)
            #expect(try await relay.count("subscriptions") == 0)
            #expect(try await relay.count("stream_messages") == 0)
            // The topic had no update for longer than the delivered retention (1 h here): gone at +2 h.
            #expect(early.topics == 1 && late.topics == 0)
            #expect(try await relay.count("topics") == 0)
        }
    }

    @Test("/health is 503 naming a stuck worker while its claims keep failing, and 200 again once they succeed")
    func stuckWorker() async throws {
        try await withTestRelay(
            configure: { $0.unhealthyAfter = .milliseconds(200) },
            { relay in
                // Claims cannot read the queue any more (as if the file were damaged under the relay).
                try await relay.database.pool.write { db in
                    try db.execute(sql: "ALTER TABLE deliveries RENAME TO deliveries_away")
                }
                try await poll(until: "health names the stuck worker") {
                    let health = try await TestHTTP.request("\(relay.baseURL)/health")
                    return health.status == 503 && health.body.contains("stuck: claims failing")
                }
                try await relay.database.pool.write { db in
                    try db.execute(sql: "ALTER TABLE deliveries_away RENAME TO deliveries")
                }
                try await poll(until: "healthy again") {
                    try await TestHTTP.request("\(relay.baseURL)/health").status == 200
                }
            })
    }

    @Test("retention prunes topics closed longer than the endpoint retention and idle open ones; active ones stay")
    func retentionOfTopics() async throws {
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            let closed = try await StreamTests.createTopic(
                relay, producer: producer, #""type":"UPLOAD","description":"a""#)
            let active = try await StreamTests.createTopic(
                relay, producer: producer, #""type":"UPLOAD","description":"b""#)
            try await StreamTests.registry(relay, token: producer, "unregisterProgressTopic", #""topicId":\#(closed)"#)
            // A day and a bit later (default horizons: 24 h after closing, 7 days idle).
            let removed = try await relay.runtime.retention.pass(now: Date().addingTimeInterval(25 * 3600))
            #expect(removed.topics == 1)
            #expect(try await relay.count("topics", where: "id = \(active)") == 1)
            let week = try await relay.runtime.retention.pass(now: Date().addingTimeInterval(8 * 86_400))
            #expect(week.topics == 1)
            #expect(try await relay.count("topics") == 0)
        }
    }
}
