import Foundation
import Hummingbird
import RelayDelivery
import RelayStore

/// `GET /health`: 200 when the database answers and the delivery worker and the stream hub run;
/// 503 with the reason otherwise (also while the relay shuts down, so a proxy stops sending to it).
struct HealthController: Sendable {
    let database: RelayDatabase
    let worker: DeliveryWorker
    let hub: StreamHub

    func addRoutes(to router: Router<some RequestContext>) {
        router.get("/health") { _, _ -> Response in
            await self.check()
        }
    }

    func check() async -> Response {
        var body: [String: String] = [
            "worker": worker.isRunning ? "running" : "stopped", "stream": hub.isRunning ? "running" : "stopped",
        ]
        do {
            let version = try await database.pool.read { db in try SchemaMigrator.currentVersion(db) }
            body["database"] = "ok"
            body["schema_version"] = "\(version)"
        } catch {
            body["database"] = "unreachable"
        }
        let healthy = body["database"] == "ok" && worker.isRunning && hub.isRunning
        body["status"] = healthy ? "ok" : "unavailable"
        return JSONResponse.make(status: healthy ? .ok : .serviceUnavailable, body)
    }
}
