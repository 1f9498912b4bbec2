import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Prometheus
import RelayCore
import RelayStore
import Synchronization

/// `GET /metrics`: the relay's metrics in Prometheus text format.
///
/// Counters and histograms are kept as things happen; the gauges that need the database (queue
/// depth per state, disabled services) are read again only when the last read is older than
/// ``refreshInterval``, so scraping often cannot load the database.
final class MetricsController: Sendable {
    /// The longest the database-backed gauges may be stale.
    static let refreshInterval = Duration.seconds(5)

    let storage: any RelayStorage
    let registry: PrometheusCollectorRegistry
    let metrics: RelayMetrics
    let hub: StreamHub
    /// When set, only `Authorization: Bearer <token>` with this SHA-256 gets the page.
    let tokenHash: String?
    private let lastRefresh = Mutex<ContinuousClock.Instant?>(nil)

    init(
        storage: any RelayStorage, registry: PrometheusCollectorRegistry, metrics: RelayMetrics, hub: StreamHub,
        tokenHash: String?
    ) {
        self.storage = storage
        self.registry = registry
        self.metrics = metrics
        self.hub = hub
        self.tokenHash = tokenHash
    }

    func addRoutes(to router: Router<some RequestContext>) {
        router.get("/metrics") { request, _ -> Response in
            guard self.authorized(request) else {
                return Response(
                    status: .unauthorized, headers: [.wwwAuthenticate: "Bearer"],
                    body: .init(byteBuffer: ByteBuffer(string: "metrics need a bearer token\n")))
            }
            await self.refreshIfStale()
            var buffer: [UInt8] = []
            self.registry.emit(into: &buffer)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
    }

    private func authorized(_ request: Request) -> Bool {
        guard let tokenHash else { return true }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return false }
        return Secrets.constantTimeEquals(Secrets.hash(token: String(header.dropFirst(7))), tokenHash)
    }

    private func refreshIfStale() async {
        metrics.endpointsOpen(hub.openEndpoints)
        metrics.walBytes(storage.logBytes)
        let now = ContinuousClock.now
        let stale = lastRefresh.withLock { last in
            guard last.map({ now - $0 >= Self.refreshInterval }) ?? true else { return false }
            last = now
            return true
        }
        guard stale else { return }
        guard
            let (counts, disabled) = try? await storage.read({ tx in
                (try tx.queue.countsByState(), try tx.services.disabledCount())
            })
        else { return }
        for (state, count) in counts { metrics.queueDepth(state, count) }
        metrics.servicesDisabled(disabled)
    }
}
