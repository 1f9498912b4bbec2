import Foundation
import RelayCore
import RelayHarness
import RelayStore

/// The admin console's pages over a large outbox: each page's response time, signed in, next to
/// the stylesheet's on the same relay (the floor: one request through the same server, no query).
extension BenchScenarios {
    /// One page's times.
    struct PageTimes: Sendable {
        var name: String
        var p50: Double
        var p99: Double
    }

    /// The pages measured, by name: the overview, each list and filter (a deep page and a rare state
    /// among them), a delivery's story, services and streams.
    static func consolePages(deliveries: Int) -> [(String, String)] {
        [
            ("static", "/admin/console.css"),
            ("overview", "/admin/overview"),
            ("services", "/admin/services"),
            ("deliveries", "/admin/deliveries"),
            ("deliveries_dead", "/admin/deliveries?state=dead"),
            ("deliveries_service", "/admin/deliveries?service=svc-3"),
            ("deliveries_service_deep", "/admin/deliveries?service=svc-3&before=\(deliveries / 4)"),
            ("deliveries_service_pending", "/admin/deliveries?service=svc-2&state=pending"),
            ("deliveries_poid", "/admin/deliveries?poid=7"),
            ("deliveries_roid", "/admin/deliveries?roid=\(deliveries / 2)"),
            ("deliveries_since_24h", "/admin/deliveries?since=24h"),
            ("deliveries_until_3d_ago", "/admin/deliveries?until=72h"),
            ("deliveries_deep_page", "/admin/deliveries?before=\(deliveries / 2)"),
            ("delivery_story", "/admin/deliveries/\(deliveries / 2)"),
            ("streams", "/admin/streams"),
        ]
    }

    /// Fills a database with `deliveries` deliveries to five services over the last week (94 %
    /// delivered, 5 % pending, 1 % dead with two failed attempts each; no ANALYZE, as a relay's own
    /// database has none), starts a relay with the console
    /// and no worker (the backlog stays as it is), signs in, and times every page `requests` times.
    func console(deliveries: Int, requests: Int) async throws -> [PageTimes] {
        let (database, _) = try await database("console", serviceURL: "http://127.0.0.1:9")
        let storage = SQLiteStorage(database: database)
        let admin = try await storage.write { tx in
            for index in 2...5 {
                _ = try tx.services.add(
                    ServiceRecord(
                        identifier: "svc-\(index)", name: "Service \(index)", url: "http://127.0.0.1:9",
                        triggers: "NEW_REVISION", signingSecret: Secrets.newSigningSecret(), createdAt: Date(),
                        updatedAt: Date()))
            }
            return try tx.tokens.issue(user: "admin", role: .admin, projects: nil, now: Date()).token
        }
        let now = Date().timeIntervalSince1970 / 86_400 + 2_440_587.5  // Julian day
        try await storage.execute(
            """
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
            INSERT INTO events (method, poid, roid, soid, service_identifier, profile_identifier, token,
                                api_url, received_at)
            SELECT 'newRevision', i % 50, i, 196609, 'bimrelay', 'default', 'bimserver-api-token',
                   'http://bimserver.example.org:8080',
                   strftime('%Y-%m-%d %H:%M:%f', ? - (? - i) * 7.0 / ?) FROM n
            """, arguments: [deliveries, now, deliveries, deliveries])
        let pendingFrom = deliveries - deliveries / 20
        try await storage.execute(
            """
            INSERT INTO deliveries (event_id, service_id, webhook_id, state, attempt_count, next_attempt_at,
                                    created_at, updated_at, delivered_at, dead_at, last_status, last_error)
            SELECT id, 1 + id % 5, 'msg_' || lower(hex(randomblob(16))),
                   CASE WHEN id % 100 = 0 THEN 'dead' WHEN id > ? THEN 'pending' ELSE 'delivered' END,
                   CASE WHEN id % 100 = 0 THEN 2 WHEN id > ? THEN 0 ELSE 1 END,
                   received_at, received_at, received_at,
                   CASE WHEN id % 100 <> 0 AND id <= ? THEN received_at END,
                   CASE WHEN id % 100 = 0 THEN received_at END,
                   CASE WHEN id % 100 = 0 THEN 503 END,
                   CASE WHEN id % 100 = 0 THEN 'http_status: HTTP 503' END
            FROM events
            """, arguments: [pendingFrom, pendingFrom, pendingFrom])
        try await storage.execute(
            """
            INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, outcome, status_code,
                                  error_class, error, response_body)
            SELECT d.id, a.n, d.created_at, 12.5, 'failed', 503, 'http_status', 'HTTP 503', 'Service Unavailable'
            FROM deliveries d, (SELECT 1 AS n UNION ALL SELECT 2) a WHERE d.state = 'dead'
            UNION ALL
            SELECT id, 1, created_at, 8.0, 'delivered', 200, NULL, NULL, '{"response":{"result":{}}}'
            FROM deliveries WHERE id = ?
            """, arguments: [deliveries / 2])
        // The count behind the overview and the services page (shared for 5 s between requests,
        // so most page loads below do not pay it): timed alone, uncached.
        var countTimes: [Double] = []
        for _ in 0..<(quick ? 5 : 20) {
            let started = ContinuousClock.now
            _ = try await storage.read { tx in try tx.console.deliveryCounts() }
            countTimes.append((ContinuousClock.now - started).seconds * 1000)
        }
        countTimes.sort()
        let relay = try await start(database, runWorker: false) { $0.adminConsole = true }
        let client = ConsoleClient(baseURL: "http://127.0.0.1:\(relay.port)")
        var results: [PageTimes] = []
        do {
            guard try await client.signIn(token: admin).status == 303 else {
                throw RelayError.database("console bench: sign-in refused")
            }
            for (name, path) in Self.consolePages(deliveries: deliveries) {
                var times: [Double] = []
                for round in 0..<(requests + 5) {
                    let started = ContinuousClock.now
                    let page = try await client.get(path)
                    let elapsed = (ContinuousClock.now - started).seconds * 1000
                    guard page.status == 200 else {
                        throw RelayError.database("console bench: \(path) answered \(page.status)")
                    }
                    if round >= 5 { times.append(elapsed) }  // the first few warm the caches
                }
                times.sort()
                results.append(
                    PageTimes(name: name, p50: Self.percentile(times, 0.5), p99: Self.percentile(times, 0.99)))
            }
        } catch {
            try? await client.close()
            await relay.stop()
            throw error
        }
        try await client.close()
        await relay.stop()
        results.append(
            PageTimes(
                name: "counts_uncached", p50: Self.percentile(countTimes, 0.5), p99: Self.percentile(countTimes, 0.99)))
        return results
    }
}
