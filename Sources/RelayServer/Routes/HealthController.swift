import Foundation
import Hummingbird
import RelayCore
import RelayDelivery
import RelayStore

/// `GET /health`: 200 when the database answers, writes succeed, and the delivery worker and the
/// stream hub run; 503 with the reason otherwise (also while the relay shuts down, so a proxy stops
/// sending to it). It also reports the write-ahead log's size.
struct HealthController: Sendable {
    let storage: any RelayStorage
    let worker: DeliveryWorker
    let hub: StreamHub
    let metrics: RelayMetrics
    /// Writes or claims failing (or waiting for a lock held elsewhere) longer than this, or the
    /// delivery loop standing still, make the relay unhealthy.
    let unhealthyAfter: Duration

    func addRoutes(to router: Router<some RequestContext>) {
        router.get("/health") { _, _ -> Response in
            await self.check()
        }
    }

    func check() async -> Response {
        let (healthy, body) = await report()
        return JSONResponse.make(status: healthy ? .ok : .serviceUnavailable, body)
    }

    /// Whether the relay is healthy, and the facts `/health` prints.
    func report() async -> (healthy: Bool, facts: [String: String]) {
        var body: [String: String] = [
            "worker": worker.isRunning ? "running" : "stopped", "stream": hub.isRunning ? "running" : "stopped",
        ]
        do {
            let version = try await storage.schemaVersion()
            body["database"] = "ok"
            body["schema_version"] = "\(version)"
        } catch {
            body["database"] = "unreachable"
        }
        let wal = storage.logBytes
        body["wal_bytes"] = "\(wal)"
        metrics.walBytes(wal)
        var writesOK = true
        if let since = storage.failingSince {
            body["writes_failing_since"] = Timestamp.format(since)
            writesOK = Date().timeIntervalSince(since) < DurationText.seconds(unhealthyAfter)
        }
        body["writes"] = writesOK ? "ok" : "failing"
        let stuck = worker.stuckReason(after: unhealthyAfter)
        if let stuck { body["worker"] = "stuck: \(stuck)" }
        let healthy = body["database"] == "ok" && writesOK && stuck == nil && worker.isRunning && hub.isRunning
        body["status"] = healthy ? "ok" : "unavailable"
        return (healthy, body)
    }
}
