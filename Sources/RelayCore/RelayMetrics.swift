import CoreMetrics

/// The relay's metrics, all named `bimrelay_…`, made from one swift-metrics factory.
///
/// `serve` gives it a Prometheus factory whose registry `GET /metrics` prints; tests give each relay
/// its own registry; the default factory records nothing.
public struct RelayMetrics: Sendable {
    /// A delivery attempt's result, the `outcome` label of `bimrelay_deliveries_total`.
    public enum Outcome: String, Sendable, CaseIterable {
        /// The service took it.
        case delivered
        /// The attempt failed; the delivery will be retried.
        case failed
        /// The attempt failed and was the last one.
        case dead
    }

    /// Where the metrics go.
    public let factory: any MetricsFactory

    /// Metrics made by `factory`.
    public init(factory: any MetricsFactory = NOOPMetricsHandler.instance) {
        self.factory = factory
    }

    /// Creates every counter at 0, so that `rate()` works from the first scrape.
    public func prime() {
        for method in NotificationMethod.allCases {
            _ = Counter(
                label: "bimrelay_events_ingested_total", dimensions: [("method", method.rawValue)], factory: factory)
        }
        for outcome in Outcome.allCases {
            _ = Counter(
                label: "bimrelay_deliveries_total", dimensions: [("outcome", outcome.rawValue)], factory: factory)
        }
        for label in ["bimrelay_stream_frames_pushed_total", "bimrelay_stream_frames_replayed_total"] {
            _ = Counter(label: label, factory: factory)
        }
    }

    /// `bimrelay_events_ingested_total{method}`: events committed to the outbox.
    public func eventIngested(_ method: String) {
        Counter(label: "bimrelay_events_ingested_total", dimensions: [("method", method)], factory: factory)
            .increment()
    }

    /// `bimrelay_ingest_batch_size`: ingest requests committed by one group-commit transaction.
    public func ingestBatch(size: Int) {
        Recorder(label: "bimrelay_ingest_batch_size", factory: factory).record(size)
    }

    /// `bimrelay_deliveries_total{outcome}` and `bimrelay_delivery_attempt_duration_seconds`.
    public func attempt(_ outcome: Outcome, duration: Duration) {
        Counter(label: "bimrelay_deliveries_total", dimensions: [("outcome", outcome.rawValue)], factory: factory)
            .increment()
        let (seconds, attoseconds) = duration.components
        Timer(label: "bimrelay_delivery_attempt_duration_seconds", factory: factory)
            .recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// `bimrelay_queue_depth{state}`: deliveries per state, refreshed from the database.
    public func queueDepth(_ state: String, _ count: Int) {
        Gauge(label: "bimrelay_queue_depth", dimensions: [("state", state)], factory: factory).record(count)
    }

    /// `bimrelay_wal_bytes`: the size of the database's write-ahead log (it grows while a reader,
    /// such as a long `sqlite3` session, keeps checkpoints from resetting it).
    public func walBytes(_ bytes: Int) {
        Gauge(label: "bimrelay_wal_bytes", factory: factory).record(bytes)
    }

    /// `bimrelay_services_disabled`: services that receive nothing until enabled.
    public func servicesDisabled(_ count: Int) {
        Gauge(label: "bimrelay_services_disabled", factory: factory).record(count)
    }

    /// `bimrelay_stream_endpoints_open`: endpoints with an open WebSocket.
    public func endpointsOpen(_ count: Int) {
        Gauge(label: "bimrelay_stream_endpoints_open", factory: factory).record(count)
    }

    /// `bimrelay_stream_frames_pushed_total` (live) or `…_replayed_total` (from the database after a resume).
    public func framesSent(_ count: Int, replayed: Bool) {
        guard count > 0 else { return }
        let label = replayed ? "bimrelay_stream_frames_replayed_total" : "bimrelay_stream_frames_pushed_total"
        Counter(label: label, factory: factory).increment(by: count)
    }

    /// `bimrelay_database_transactions_total{session}`, `bimrelay_database_statements_total{session}`
    /// and, for writes, `bimrelay_database_batch_size` (callers per commit): PostgreSQL only
    /// (`session` is `pg-writer` or `pg-reader`).
    public func databaseTransaction(session: String, jobs: Int, statements: Int) {
        Counter(label: "bimrelay_database_transactions_total", dimensions: [("session", session)], factory: factory)
            .increment()
        Counter(label: "bimrelay_database_statements_total", dimensions: [("session", session)], factory: factory)
            .increment(by: statements)
        if session == "pg-writer" { Recorder(label: "bimrelay_database_batch_size", factory: factory).record(jobs) }
    }
}
