import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import Prometheus
import RelayCore
import RelayDelivery
import RelayStore
import ServiceLifecycle
import Synchronization

/// Everything `bimrelay serve` runs, wired together over one database.
///
/// ``services`` is in dependency order for a `ServiceGroup`: the write queue starts first and stops
/// last, so requests still in flight when the server stops are committed before the process exits.
public struct RelayRuntime: Sendable {
    /// The settings.
    public let configuration: RelayConfiguration
    /// The database.
    public let database: RelayDatabase
    /// Group commit for every server-side write.
    public let writeQueue: WriteQueue
    /// Signalled after commits that created due deliveries.
    public let deliveryWakeup: Wakeup
    /// The URL put in service descriptors.
    public let publicURL: PublicURL
    /// Answers JSON API envelopes.
    public let dispatcher: APIDispatcher
    /// Delivers the outbox.
    public let worker: DeliveryWorker
    /// Pushes frames to `/stream` sockets.
    public let streamHub: StreamHub
    /// Deletes rows past their retention.
    public let retention: Retention
    /// Gateway mode: BIMserver behind the relay; nil for the plain relay.
    public let upstream: Upstream?
    /// What `GET /metrics` prints.
    public let metricsRegistry: PrometheusCollectorRegistry
    /// Makes the relay's metrics into ``metricsRegistry``; `serve` also bootstraps swift-metrics with it.
    public let metricsFactory: PrometheusMetricsFactory
    /// The services to run, in dependency order.
    public let services: [any Service]

    /// Builds the relay over an opened database.
    /// - Parameter onServerRunning: called with the bound port once the server listens.
    public init(
        configuration: RelayConfiguration, database: RelayDatabase, logger: Logger,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) {
        self.database = database
        let publicURL = PublicURL(configured: configuration.publicURL, host: configuration.host)
        self.publicURL = publicURL
        self.configuration = configuration
        metricsRegistry = PrometheusCollectorRegistry()
        metricsFactory = Self.metricsFactory(registry: metricsRegistry)
        let metrics = RelayMetrics(factory: metricsFactory)
        metrics.prime()
        writeQueue = WriteQueue(database: database, logger: logger, metrics: metrics, lockWait: configuration.lockWait)
        deliveryWakeup = Wakeup()
        streamHub = StreamHub(writeQueue: writeQueue, metrics: metrics)
        retention = Retention(database: database, writeQueue: writeQueue, configuration: configuration, logger: logger)
        let upstream = configuration.upstream.map { url in
            Upstream(
                baseURL: url, timeout: configuration.upstreamTimeout, connectTimeout: configuration.connectTimeout,
                logger: logger)
        }
        self.upstream = upstream
        dispatcher = APIDispatcher(
            configuration: configuration, publicURL: publicURL, database: database, writeQueue: writeQueue,
            deliveryWakeup: deliveryWakeup, streamHub: streamHub, metrics: metrics, upstream: upstream, logger: logger)
        var settings = DeliveryWorker.Settings(configuration)
        if let upstream {
            logger.notice("gateway mode: BIMserver behind the relay", metadata: ["upstream": "\(upstream.baseURL)"])
            if configuration.publicURL == nil {
                logger.warning(
                    "gateway mode without --public-url: deliveries give services http://<host>:<port> as apiUrl; set --public-url to the address services reach the relay at"
                )
            }
            // Services call back the relay: their progress is stored, their other calls forwarded.
            settings.apiURL = { publicURL.value }
        }
        let worker = DeliveryWorker(
            database: database, writeQueue: writeQueue, wakeup: deliveryWakeup, settings: settings, logger: logger,
            metrics: metrics)
        self.worker = worker

        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: BIMserverCORSMiddleware(allowedOrigins: configuration.allowedOrigins))
        HealthController(
            database: database, writeQueue: writeQueue, worker: worker, hub: streamHub, metrics: metrics,
            unhealthyAfter: configuration.unhealthyAfter
        ).addRoutes(to: router)
        MetricsController(
            database: database, registry: metricsRegistry, metrics: metrics, hub: streamHub,
            tokenHash: configuration.metricsTokenHash
        ).addRoutes(to: router)
        JSONAPIController(dispatcher: dispatcher, maxBodyBytes: configuration.maxBodyBytes).addRoutes(to: router)
        let stream = StreamController(
            configuration: configuration, database: database, writeQueue: writeQueue, dispatcher: dispatcher,
            hub: streamHub)
        let app = Application(
            router: router,
            server: .relay(
                http1: .init(idleTimeout: .seconds(120)),
                webSocket: .init(
                    maxFrameSize: configuration.maxFrameBytes,
                    autoPing: .enabled(timePeriod: .milliseconds(DurationText.milliseconds(configuration.pingInterval)))
                )
            ) { inbound, outbound, context in
                await stream.handle(inbound, outbound, logger: context.logger)
            },
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port),
                serverName: "bimrelay"
            ),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                publicURL.bound(port: port)
                await onServerRunning(port)
            },
            logger: logger
        )
        services = [writeQueue, worker, streamHub, retention] + (upstream.map { [$0] } ?? []) + [app]
    }

    /// Prometheus output with buckets fitting the relay's histograms.
    private static func metricsFactory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.valueHistogramBuckets["bimrelay_ingest_batch_size"] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
        factory.durationHistogramBuckets["bimrelay_delivery_attempt_duration_seconds"] = [
            .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5),
            .seconds(10), .seconds(30),
        ]
        return factory
    }
}

/// The relay's public URL: `--public-url` when set, else `http://host:<bound port>` once bound.
public final class PublicURL: Sendable {
    private let configured: String?
    private let host: String
    private let port = Mutex(0)

    init(configured: String?, host: String) {
        self.configured = configured
        self.host = host
    }

    func bound(port: Int) {
        self.port.withLock { $0 = port }
    }

    /// The URL BIMserver should post to (without `/json`).
    public var value: String {
        configured ?? "http://\(host):\(port.withLock { $0 })"
    }
}
