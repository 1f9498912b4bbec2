import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import RelayCore
import RelayStore
import ServiceLifecycle
import Synchronization

/// Delivers the outbox: claims due deliveries, POSTs them through one pooled HTTP client, and
/// records every outcome with its attempt row in one write. That write also claims the service's
/// next due delivery for the same slot, and attempts finishing together share it
/// (``AttemptRecorder``), so the claiming loop runs only to start slots.
///
/// It sleeps until an ingest commit wakes it, the next retry is due, or a lease expires; it also
/// looks at the database at least once a second (a cheap read) so that changes made with the CLI
/// (`queue retry`, `service enable`) are picked up. At start it releases every lease: a relay that
/// was killed left them, and one relay process owns its database file.
public final class DeliveryWorker: Service, Sendable {
    /// The worker's settings (from ``RelayConfiguration``).
    public struct Settings: Sendable {
        /// Deliveries in flight at once, over all services.
        public var maxInFlight = RelayConfiguration.defaultMaxInFlight
        /// Connecting to a service.
        public var connectTimeout = RelayConfiguration.defaultConnectTimeout
        /// A service failing without success this long is disabled.
        public var disableAfter = RelayConfiguration.defaultDisableAfter
        /// Added to a service's timeout for the lease, so a lease outlives its request.
        public var leaseMargin = Duration.seconds(30)
        /// The longest sleep between two looks at the database.
        public var pollInterval = Duration.seconds(1)
        /// Gateway mode: the `apiUrl` put in notifications instead of BIMserver's (the relay's public
        /// URL), read when a request is built; nil passes BIMserver's on.
        public var apiURL: (@Sendable () -> String)?
        /// The time: due times and leases are compared with its `now`; backoff, poll and request
        /// timeouts wait on its clock.
        public var time = RelayTime.system

        /// Settings from the relay's configuration.
        public init(_ configuration: RelayConfiguration = RelayConfiguration()) {
            maxInFlight = configuration.maxInFlight
            connectTimeout = configuration.connectTimeout
            disableAfter = configuration.disableAfter
            pollInterval = configuration.deliveryPollInterval
            leaseMargin = configuration.leaseMargin
        }
    }

    /// How much of a response body is kept in `attempts`.
    public static let storedResponseBytes = 4096
    /// How much of a response body is read (to recognise an exception envelope).
    static let readResponseBytes = 1 << 20

    /// When the claiming loop last went round (it goes round at least every poll interval).
    private let heartbeat = Mutex(ContinuousClock.now)
    /// Since when claims have been failing; nil while they succeed.
    private let claimsFailingSince = Mutex<ContinuousClock.Instant?>(nil)

    let storage: any RelayStorage
    let wakeup = Wakeup()
    let settings: Settings
    let logger: Logger
    let metrics: RelayMetrics
    let recorder: AttemptRecorder
    let inFlight = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let running = Atomic<Bool>(false)

    /// A worker over `storage`, woken by its ``StoreSignal/deliveriesDue`` signals.
    public init(
        storage: any RelayStorage, settings: Settings, logger: Logger, metrics: RelayMetrics = RelayMetrics()
    ) {
        self.storage = storage
        self.settings = settings
        self.logger = logger
        self.metrics = metrics
        recorder = AttemptRecorder(
            storage: storage, disableAfter: settings.disableAfter, leaseMargin: settings.leaseMargin,
            time: settings.time)
    }

    /// Whether the worker is claiming deliveries (for `/health`): from its start until shutdown.
    public var isRunning: Bool { running.load(ordering: .relaxed) }

    /// Why the worker counts as stuck after `limit`: its claims have failed that long, or its loop
    /// has not gone round for that long plus a poll interval; nil when it is not.
    public func stuckReason(after limit: Duration) -> String? {
        guard isRunning else { return nil }
        let now = ContinuousClock.now
        if let since = claimsFailingSince.withLock({ $0 }), now - since > limit {
            return "claims failing for \(DurationText.format(now - since))"
        }
        let last = heartbeat.withLock { $0 }
        if now - last > limit + settings.pollInterval {
            return "delivery loop still for \(DurationText.format(now - last))"
        }
        return nil
    }

    /// Whether graceful shutdown has begun (slots finish their attempt and take no next one).
    var isStopping: Bool { stopping.load(ordering: .relaxed) }

    /// How finished attempts shared their write jobs so far.
    public var recordStatistics: AttemptRecorder.Statistics { recorder.statistics }

    /// Deliveries being attempted right now.
    public var deliveriesInFlight: Int { inFlight.load(ordering: .relaxed) }

    public func run() async throws {
        // Before the client exists: if this write fails (shutdown began first), there is no client
        // to leave running (a debug build traps in its deinit).
        let now = settings.time.now()
        let released = try await storage.write { tx in try tx.deliveries.releaseAllLeases(now: now) }
        if released > 0 { logger.notice("released deliveries left in flight", metadata: ["count": "\(released)"]) }

        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .milliseconds(DurationText.milliseconds(settings.connectTimeout)))
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(8, settings.maxInFlight))
        // The relay has its own retry schedule; a refused connection is one failed attempt.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.decompression = .disabled
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)

        // Commits that made deliveries due (an ingest, `service enable`, a requeue) wake the loop.
        let signals = storage.signals()
        let listener = Task {
            for await signal in signals where signal == .deliveriesDue { self.wakeup.signal() }
        }
        defer { listener.cancel() }
        running.store(true, ordering: .relaxed)
        defer { running.store(false, ordering: .relaxed) }
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                while !stopping.load(ordering: .relaxed) {
                    heartbeat.withLock { $0 = .now }
                    let (claimed, blocked) = await claimDue()
                    for delivery in claimed {
                        inFlight.add(1, ordering: .relaxed)
                        group.addTask {
                            // A slot keeps going with its service's next due delivery, claimed in
                            // the same write that records the attempt, until none is due.
                            var next: ClaimedDelivery? = delivery
                            while let current = next {
                                next = await self.attempt(current, client: client)
                            }
                            self.inFlight.subtract(1, ordering: .relaxed)
                            self.wakeup.signal()
                        }
                    }
                    // Due deliveries that could not be claimed wait for a slot of their service:
                    // a slot that ends signals, so look again then (or after the poll interval),
                    // not at once in an empty claim transaction after another.
                    await wakeup.wait(
                        timeout: blocked ? settings.pollInterval : await sleepDuration(), time: settings.time)
                }
            }
        } onGracefulShutdown: {
            self.running.store(false, ordering: .relaxed)
            self.stopping.store(true, ordering: .relaxed)
            self.wakeup.signal()
        }
        try? await client.shutdown()
    }

    /// Claims as many due deliveries as the global limit allows (a read first, so an idle relay never writes).
    /// - Returns: the claimed deliveries, and whether some were due but none could be claimed
    ///   (their services are at their in-flight limits).
    private func claimDue() async -> (claimed: [ClaimedDelivery], blocked: Bool) {
        let capacity = settings.maxInFlight - inFlight.load(ordering: .relaxed)
        guard capacity > 0 else { return ([], false) }
        do {
            let now = settings.time.now()
            let next = try await storage.read { tx in try tx.deliveries.nextWake() }
            // Compared as the claim compares them: at the store's millisecond resolution.
            guard let next, Timestamp.format(next) <= Timestamp.format(now) else {
                claimsFailingSince.withLock { $0 = nil }
                return ([], false)
            }
            let margin = settings.leaseMargin
            let claimed = try await storage.write { tx in
                try tx.deliveries.releaseExpiredLeases(now: now)
                return try tx.deliveries.claim(limit: capacity, now: now, leaseMargin: margin)
            }
            claimsFailingSince.withLock { $0 = nil }
            return (claimed, claimed.isEmpty)
        } catch {
            claimsFailingSince.withLock { $0 = $0 ?? .now }
            logger.error("could not claim deliveries", metadata: ["error": "\(error)"])
            return ([], false)
        }
    }

    /// Until the next due delivery or lease expiry, at most ``Settings/pollInterval``.
    private func sleepDuration() async -> Duration {
        guard settings.maxInFlight - inFlight.load(ordering: .relaxed) > 0 else { return settings.pollInterval }
        guard let next = try? await storage.read({ tx in try tx.deliveries.nextWake() }) else {
            return settings.pollInterval
        }
        // Rounded up: waking before the stored millisecond would find nothing due.
        let wait = Duration.milliseconds(
            max(0, Int64((next.timeIntervalSince(settings.time.now()) * 1000).rounded(.up))))
        return min(wait, settings.pollInterval)
    }
}
