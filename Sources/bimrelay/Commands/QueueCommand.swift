import ArgumentParser
import Foundation
import RelayCore
import RelayStore

/// `bimrelay queue …`: look at and repair the outbox.
struct QueueCommand: AsyncParsableCommand {
    /// Rows per write transaction of the bulk commands (`retry --dead`, `purge`).
    static let batchSize = 500

    static let configuration = CommandConfiguration(
        commandName: "queue", abstract: "Inspect and repair the delivery queue.",
        subcommands: [Stats.self, List.self, Show.self, Retry.self, Purge.self])

    /// `queue stats`.
    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deliveries per state and per service.")

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let (totals, overview) = try await database.open().read { tx in
                (try tx.queue.countsByState(), try tx.queue.overview())
            }
            if output.json {
                try Printer.json(StatsResult(totals: totals, services: overview))
                return
            }
            Printer.fields(DeliveryState.allCases.map { ($0.rawValue, String(totals[$0.rawValue] ?? 0)) })
            print("")
            Printer.table(
                ["SERVICE", "STATE", "DELIVERIES", "OLDEST", "NEXT ATTEMPT"],
                overview.map {
                    [
                        $0.service, $0.state, String($0.deliveries), Printer.cell($0.oldest),
                        Printer.cell($0.nextAttemptAt),
                    ]
                })
        }

        struct StatsResult: Encodable {
            let totals: [String: Int]
            let services: [QueueOverviewRow]
        }
    }

    /// `queue list [--state S] [--service ID] [--limit N]`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List deliveries, newest first.")

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions
        @Option(help: "pending, in_flight, delivered, dead or paused.") var state: String?
        @Option(help: "Only this service.") var service: String?
        @Option(help: "At most this many rows.") var limit = 50

        func run() async throws {
            let state = try state.map(QueueCommand.parseState)
            guard limit > 0 else { throw RelayError.invalidArgument("--limit must be positive") }
            let (service, limit) = (self.service, self.limit)
            let rows = try await database.open().read { tx in
                let serviceID = try service.map { try tx.services.find($0).id ?? 0 }
                return try tx.queue.list(state: state, serviceID: serviceID, limit: limit)
            }
            if output.json {
                try Printer.json(rows)
                return
            }
            Printer.table(
                ["ID", "SERVICE", "METHOD", "POID", "ROID", "STATE", "ATTEMPTS", "NEXT ATTEMPT", "LAST"],
                rows.map {
                    [
                        String($0.id), $0.service, $0.method, Printer.cell($0.poid), Printer.cell($0.roid), $0.state,
                        String($0.attemptCount), Printer.cell($0.nextAttemptAt), QueueCommand.lastOutcome($0),
                    ]
                })
        }
    }

    /// `queue show ID`: a delivery and its attempts.
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a delivery with its attempts.")

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The delivery id.") var id: Int64

        func run() async throws {
            let id = self.id
            let (delivery, attempts) = try await database.open().read { tx in
                (try tx.queue.show(id: id), try tx.queue.attempts(deliveryID: id))
            }
            if output.json {
                try Printer.json(ShowResult(delivery: delivery, attempts: attempts))
                return
            }
            Printer.fields([
                ("delivery", String(delivery.id)), ("service", delivery.service), ("event", String(delivery.eventId)),
                ("method", delivery.method), ("poid", Printer.cell(delivery.poid)),
                ("roid", Printer.cell(delivery.roid)),
                ("webhook-id", delivery.webhookId), ("state", delivery.state),
                ("attempts", String(delivery.attemptCount)), ("next attempt", Printer.cell(delivery.nextAttemptAt)),
                ("created", Printer.cell(delivery.createdAt)), ("delivered", Printer.cell(delivery.deliveredAt)),
                ("dead", Printer.cell(delivery.deadAt)), ("last", QueueCommand.lastOutcome(delivery)),
            ])
            print("")
            Printer.table(
                ["#", "STARTED", "MS", "OUTCOME", "STATUS", "ERROR", "RESPONSE"],
                attempts.map {
                    [
                        String($0.attempt), Printer.cell($0.startedAt), String(format: "%.1f", $0.durationMs),
                        $0.outcome,
                        Printer.cell($0.statusCode),
                        [$0.errorClass, $0.error].compactMap { $0 }.joined(separator: ": "),
                        String(($0.responseBody ?? "").prefix(80)).replacingOccurrences(of: "\n", with: " "),
                    ]
                })
        }

        struct ShowResult: Encodable {
            let delivery: DeliverySummary
            let attempts: [AttemptRecord]
        }
    }

    /// `queue retry ID…` or `queue retry --dead [--service ID] [--since TIME]`.
    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Requeue deliveries (due now, with a fresh retry schedule).")

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "Delivery ids.") var ids: [Int64] = []
        @Flag(help: "Requeue every dead delivery.") var dead = false
        @Option(help: "With --dead: only this service.") var service: String?
        @Option(
            help:
                "With --dead: only those dead since this time (UTC, e.g. '2026-11-22 08:00') or for this long (e.g. 24h)."
        )
        var since: String?

        func validate() throws {
            if dead == !ids.isEmpty {
                throw ValidationError("give delivery ids or --dead (not both)")
            }
            if !dead, service != nil || since != nil {
                throw ValidationError("--service and --since go with --dead")
            }
        }

        func run() async throws {
            let now = Date()
            let since = try self.since.map { try Timestamp.parse($0, orAgoFrom: now) }
            let (ids, dead, service) = (self.ids, self.dead, self.service)
            let opened = try await database.open()
            let count: Int
            if dead {
                var serviceID: Int64?
                if let service {
                    serviceID = try await opened.read { tx in try tx.services.find(service).id ?? 0 }
                }
                count = try await opened.retryDead(
                    serviceID: serviceID, since: since, now: now, batchSize: QueueCommand.batchSize)
            } else {
                count = try await opened.write { tx in try tx.queue.retry(ids: ids, now: now) }
            }
            if output.json { try Printer.json(["requeued": count]) } else { print("requeued \(count) deliveries") }
        }
    }

    /// `queue purge --delivered --older-than 7d`.
    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete old delivered deliveries and their attempts.")

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions
        @Flag(help: "Purge delivered deliveries (the only kind that can be purged).") var delivered = false
        @Option(help: "Delivered longer ago than this, e.g. 7d.") var olderThan: String

        func run() async throws {
            guard delivered else { throw RelayError.invalidArgument("only --delivered deliveries can be purged") }
            let cutoff = Date().addingTimeInterval(-DurationText.seconds(try DurationText.parse(olderThan)))
            let opened = try await database.open()
            let result = try await opened.purgeDelivered(before: cutoff, batchSize: QueueCommand.batchSize)
            if output.json {
                try Printer.json(["deliveries": result.deliveries, "events": result.events])
            } else {
                print("purged \(result.deliveries) deliveries and \(result.events) events")
            }
        }
    }

    static func parseState(_ text: String) throws -> DeliveryState {
        guard let state = DeliveryState(rawValue: text.lowercased()) else {
            throw RelayError.invalidArgument(
                "unknown state '\(text)' (known: \(DeliveryState.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return state
    }

    static func lastOutcome(_ delivery: DeliverySummary) -> String {
        switch (delivery.lastStatus, delivery.lastError) {
        case (nil, nil): "-"
        case (let status?, nil): "HTTP \(status)"
        case (nil, let error?): error
        case (let status?, let error?): "HTTP \(status): \(error)"
        }
    }
}
