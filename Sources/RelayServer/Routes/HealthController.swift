import Foundation
import Hummingbird
import RelayStore

/// `GET /health`: 200 when the database answers, 503 with the reason otherwise.
struct HealthController: Sendable {
    let database: RelayDatabase

    func addRoutes(to router: Router<some RequestContext>) {
        router.get("/health") { _, _ -> Response in
            await self.check()
        }
    }

    func check() async -> Response {
        do {
            let version = try await database.pool.read { db in try SchemaMigrator.currentVersion(db) }
            return JSONResponse.make(status: .ok, ["status": "ok", "database": "ok", "schema_version": "\(version)"])
        } catch {
            return JSONResponse.make(
                status: .serviceUnavailable, ["status": "unavailable", "database": "unreachable"])
        }
    }
}
