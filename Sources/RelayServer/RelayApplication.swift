import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import Prometheus
import RelayCore
import RelayDelivery
import RelayStore
import ServiceLifecycle

/// Everything `bimrelay serve` runs, wired together over one database.
///
/// ``services`` is in dependency order for a `ServiceGroup`: the write queue starts first and stops
/// last, so requests still in flight when the server stops are committed before the process exits.
public struct RelayRuntime: Sendable {
    /// The settings.
    public let configuration: RelayConfiguration
    /// Where everything is stored.
    public let storage: any RelayStorage
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

    /// Builds the relay over an opened SQLite database, writing through a group-commit writer.
    /// - Parameter onServerRunning: called with the bound port once the server listens.
    public init(
        configuration: RelayConfiguration, database: RelayDatabase, logger: Logger, time: RelayTime = .system,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) {
        self.init(
            configuration: configuration,
            storage: { metrics in
                SQLiteStorage(database: database, logger: logger, metrics: metrics, lockWait: configuration.lockWait)
            }, logger: logger, time: time, onServerRunning: onServerRunning)
    }

    /// Builds the relay over the storage `makeStorage` returns (given the relay's metrics).
    /// - Parameter time: what the worker, retention and the stream take the time from.
    /// - Parameter onServerRunning: called with the bound port once the server listens.
    public init(
        configuration: RelayConfiguration, storage makeStorage: (RelayMetrics) -> any RelayStorage, logger: Logger,
        time: RelayTime = .system, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) {
        let publicURL = PublicURL(configured: configuration.publicURL, host: configuration.host)
        self.publicURL = publicURL
        self.configuration = configuration
        metricsRegistry = PrometheusCollectorRegistry()
        metricsFactory = Self.metricsFactory(registry: metricsRegistry)
        let metrics = RelayMetrics(factory: metricsFactory)
        metrics.prime()
        let storage = makeStorage(metrics)
        self.storage = storage
        streamHub = StreamHub(storage: storage, metrics: metrics, time: time)
        retention = Retention(storage: storage, configuration: configuration, logger: logger, time: time)
        let upstream = configuration.upstream.map { url in
            Upstream(
                baseURL: url, timeout: configuration.upstreamTimeout, connectTimeout: configuration.connectTimeout,
                logger: logger)
        }
        self.upstream = upstream
        dispatcher = APIDispatcher(
            configuration: configuration, publicURL: publicURL, storage: storage, metrics: metrics, upstream: upstream,
            logger: logger, time: time)
        var settings = DeliveryWorker.Settings(configuration)
        settings.time = time
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
            storage: storage, settings: settings, logger: logger, metrics: metrics)
        self.worker = worker

        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: BIMserverCORSMiddleware(allowedOrigins: configuration.allowedOrigins))
        let health = HealthController(
            storage: storage, worker: worker, hub: streamHub, metrics: metrics,
            unhealthyAfter: configuration.unhealthyAfter)
        health.addRoutes(to: router)
        if configuration.adminConsole {
            ConsoleController(
                storage: storage, health: health, publicURL: publicURL, idle: configuration.consoleSessionIdle,
                logger: logger, time: time
            ).addRoutes(to: router)
        }
        MetricsController(
            storage: storage, registry: metricsRegistry, metrics: metrics, hub: streamHub,
            tokenHash: configuration.metricsTokenHash
        ).addRoutes(to: router)
        JSONAPIController(dispatcher: dispatcher, maxBodyBytes: configuration.maxBodyBytes).addRoutes(to: router)
        let stream = StreamController(
            configuration: configuration, storage: storage, dispatcher: dispatcher, hub: streamHub, time: time)
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
        services = storage.services + [worker, streamHub, retention] + (upstream.map { [$0] } ?? []) + [app]
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
