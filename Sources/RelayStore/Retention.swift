import Foundation
import Logging
import RelayCore
import ServiceLifecycle

/// Deletes, in the background and in small batches through the write queue, what has outlived its
/// horizon: delivered deliveries and their attempts (`--delivered-retention`), then events no
/// delivery refers to and `Idempotency-Key`s of that age, dropped endpoints with their frames
/// (`--endpoint-retention`), frames beyond `--max-frames-per-endpoint`, and progress topics closed
/// longer than the endpoint retention or without an update for the delivered retention, and the
/// rows of BIMserver tokens (gateway mode; one per notification's callback token) unused for the
/// endpoint retention, and expired admin console sessions.
///
/// Each batch is one job among the ingest jobs of a group-commit transaction, so a large purge
/// never stalls ingest; a pass repeats batches until nothing is left, then sleeps
/// `--retention-interval`.
public final class Retention: Service, Sendable {
    /// Rows deleted per statement.
    public static let batchSize = 500

    /// What one pass deleted.
    public struct Removed: Sendable, Equatable {
        /// Delivered deliveries (their attempts went with them).
        public var deliveries = 0
        /// Events no delivery referred to.
        public var events = 0
        /// Remembered `Idempotency-Key`s.
        public var idempotencyKeys = 0
        /// Dropped endpoints (their subscriptions and frames went with them).
        public var endpoints = 0
        /// Frames beyond the per-endpoint limit.
        public var frames = 0
        /// Progress topics closed longer than the endpoint retention, or idle longer than the delivered one.
        public var topics = 0
        /// BIMserver tokens (gateway mode) unused for the endpoint retention, with no endpoint or open topic.
        public var upstreamTokens = 0
        /// Expired admin console sessions.
        public var consoleSessions = 0

        /// Every row deleted.
        public var total: Int {
            deliveries + events + idempotencyKeys + endpoints + frames + topics + upstreamTokens + consoleSessions
        }
    }

    /// A write-ahead log larger than this is truncated after a pass. SQLite's automatic checkpoints
    /// reuse the log but never shrink it, and a long read transaction (an admin's `sqlite3`) lets it grow.
    public static let walTruncateBytes = 64 << 20

    private let storage: any RelayStorage
    private let configuration: RelayConfiguration
    private let logger: Logger
    private let time: RelayTime

    /// Retention over `storage` with `configuration`'s horizons and interval, on `time`.
    public init(storage: any RelayStorage, configuration: RelayConfiguration, logger: Logger, time: RelayTime = .system)
    {
        self.storage = storage
        self.configuration = configuration
        self.logger = logger
        self.time = time
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully {
            do {
                // One relay on a shared store deletes; the others stand by.
                guard try await storage.leads() else {
                    try? await cancelWhenGracefulShutdown {
                        try await self.time.sleep(for: self.configuration.retentionInterval)
                    }
                    continue
                }
                let removed = try await pass(now: time.now())
                if removed.total > 0 {
                    logger.info(
                        "retention removed old rows",
                        metadata: [
                            "deliveries": "\(removed.deliveries)", "events": "\(removed.events)",
                            "idempotency_keys": "\(removed.idempotencyKeys)", "endpoints": "\(removed.endpoints)",
                            "frames": "\(removed.frames)", "topics": "\(removed.topics)",
                        ])
                }
            } catch {
                logger.error("retention failed; will try again", metadata: ["error": "\(error)"])
            }
            await truncateLargeLog()
            try? await cancelWhenGracefulShutdown {
                try await self.time.sleep(for: self.configuration.retentionInterval)
            }
        }
    }

    /// Checkpoints and truncates the write-ahead log once it is larger than ``walTruncateBytes``.
    /// A reader still holding an old snapshot makes SQLite give up after the busy timeout; the next
    /// pass tries again.
    func truncateLargeLog() async {
        let before = storage.logBytes
        guard before > Self.walTruncateBytes else { return }
        do {
            try await storage.compact()
            logger.notice(
                "write-ahead log truncated", metadata: ["bytes_before": "\(before)", "bytes": "\(storage.logBytes)"])
        } catch {
            logger.warning(
                "write-ahead log not truncated: a reader holds an old snapshot (a long sqlite3 session?)",
                metadata: ["bytes": "\(before)"])
        }
    }

    /// Deletes everything past its horizon as of `now`, batch by batch.
    public func pass(now: Date) async throws -> Removed {
        let delivered = now.addingTimeInterval(-DurationText.seconds(configuration.deliveredRetention))
        let dropped = now.addingTimeInterval(-DurationText.seconds(configuration.endpointRetention))
        let keep = configuration.maxFramesPerEndpoint
        var removed = Removed()
        removed.deliveries = try await drain { tx, limit in
            try tx.retention.pruneDelivered(before: delivered, limit: limit)
        }
        removed.events = try await drain { tx, limit in
            try tx.retention.pruneEvents(before: delivered, limit: limit)
        }
        removed.idempotencyKeys = try await drain { tx, limit in
            try tx.retention.pruneIdempotencyKeys(before: delivered, limit: limit)
        }
        // Endpoints still marked connected to relays that are gone become dropped (and age from now).
        _ = try await storage.write { tx in try tx.stream.detachGone(tokenID: nil, now: now) }
        removed.endpoints = try await drain { tx, limit in
            try tx.stream.pruneEndpoints(droppedBefore: dropped, limit: limit)
        }
        removed.frames = try await drain { tx, limit in try tx.stream.pruneFrames(keep: keep, limit: limit) }
        removed.topics = try await drain { tx, limit in
            try tx.stream.pruneTopics(closedBefore: dropped, idleBefore: delivered, limit: limit)
        }
        removed.upstreamTokens = try await drain { tx, limit in
            try tx.retention.pruneUpstreamTokens(unusedSince: dropped, limit: limit)
        }
        removed.consoleSessions = try await drain { tx, limit in try tx.console.pruneSessions(now: now, limit: limit) }
        return removed
    }

    /// Runs `batch` until it deletes nothing (or shutdown begins); returns the rows deleted.
    private func drain(_ batch: @escaping @Sendable (any StoreTransaction, Int) throws -> Int) async throws -> Int {
        var total = 0
        while !Task.isShuttingDownGracefully {
            let removed = try await storage.write { tx in try batch(tx, Self.batchSize) }
            total += removed
            if removed < Self.batchSize { break }
        }
        return total
    }
}
