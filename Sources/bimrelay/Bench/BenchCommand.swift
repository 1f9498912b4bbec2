import ArgumentParser
import Foundation
import RelayCore
import RelayStore

/// `bimrelay bench`: ingest, delivery, latency, backlog, fan-out and replay on 127.0.0.1, each next
/// to this machine's own limit measured in the same run.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the relay on this machine (use a release build): ratios to the machine's own limits.")

    @Flag(help: "A smaller version of every scenario (under a minute; CI runs it as a smoke test).")
    var quick = false
    @Flag(help: "Print one JSON object instead of a table.") var json = false
    @Option(help: "Concurrent ingest clients.") var clients = 32
    @Option(help: "Events/s offered in the end-to-end scenario.") var rate = 1000
    @Option(
        name: .customLong("only"),
        help:
            "Run only these scenarios (repeatable; --json then prints their keys only): backlog, delivery, ingest, e2e, replay, fanout, gateway, console."
    )
    var only: [Scenario] = []
    @Option(
        help:
            "A PostgreSQL server (postgres://user@host:port/dbname; the role needs CREATEDB): run the cluster scenario instead, on scratch databases it creates and drops, next to SQLite."
    )
    var db: String?
    @Option(help: "Relay processes on one PostgreSQL database in the cluster scenario (with --db).") var relays = 2

    enum Scenario: String, ExpressibleByArgument, CaseIterable {
        case backlog, delivery, ingest, e2e, replay, fanout, gateway, console
    }

    private func runs(_ scenario: Scenario) -> Bool { only.isEmpty || only.contains(scenario) }

    func run() async throws {
        MallocTuning.apply()
        BenchScenarios.raiseFileLimit()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bimrelay-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let scenarios = BenchScenarios(folder: folder, quick: quick)
        func step(_ name: String) { FileHandle.standardError.write(Data("bench: \(name)…\n".utf8)) }

        var report: [(String, JSONValue)] = []
        func add(_ key: String, _ value: Double) { report.append((key, .double(Self.round(value)))) }
        func add(_ key: String, count: Int) { report.append((key, .int(Int64(count)))) }

        if let db {
            guard PostgresStorage.isURL(db), relays >= 1 else {
                throw ValidationError("--db takes a postgres:// URL, --relays at least 1")
            }
            let rows = try await ClusterBench(url: db, relays: relays, quick: quick, clients: clients, folder: folder)
                .run()
            if json {
                for row in rows {
                    let key = row.name.replacingOccurrences(of: " ", with: "_")
                    add("\(key)_ingest_per_s", row.ingestPerSecond.rounded())
                    add("\(key)_delivered_per_s", row.deliveredPerSecond.rounded())
                    add("\(key)_relay_cpu_s_per_1000", row.relayCPU.reduce(0, +))
                    if let cpu = row.databaseCPU { add("\(key)_db_cpu_s_per_1000", cpu) }
                    if let statements = row.statementsPerEvent { add("\(key)_statements_per_event", statements) }
                    if let transactions = row.transactionsPerEvent {
                        add("\(key)_transactions_per_event", transactions)
                    }
                    add("\(key)_e2e_p50_ms", row.p50)
                    add("\(key)_e2e_p99_ms", row.p99)
                }
                add("cores", count: ProcessInfo.processInfo.activeProcessorCount)
                report.append(("quick", .bool(quick)))
                print(JSONValue.object(report).serialized)
            } else {
                print(ClusterBench.table(rows, cores: ProcessInfo.processInfo.activeProcessorCount))
            }
            return
        }

        let (largeBacklog, smallBacklog, measured) = quick ? (100_000, 10_000, 3_000) : (1_000_000, 10_000, 10_000)
        if runs(.backlog) {
            step("backlog with \(largeBacklog) pending deliveries")
            let large = try await scenarios.drain(backlog: largeBacklog, measured: measured, name: "backlog-large")
            let rss = BenchScenarios.peakRSSMegabytes()
            step("backlog with \(smallBacklog) pending deliveries")
            let small = try await scenarios.drain(backlog: smallBacklog, measured: measured, name: "backlog-small")
            add("backlog_ratio", large / small)
            add("backlog_large_per_s", large.rounded())
            add("backlog_small_per_s", small.rounded())
            add("rss_mb", rss)
            add("backlog_rows_for_rss", count: largeBacklog)
        }
        if runs(.ingest) {
            step("ingest")
            let ingest = try await scenarios.ingest(concurrency: clients)
            let ingestRaw = min(ingest.httpCeiling, ingest.sqliteBatched)
            add("ingest_per_s", ingest.relay.rounded())
            add("ingest_raw_per_s", ingestRaw.rounded())
            add("ingest_ratio", ingest.relay / ingestRaw)
            add("ingest_http_ceiling_per_s", ingest.httpCeiling.rounded())
            add("ingest_sqlite_batched_per_s", ingest.sqliteBatched.rounded())
            add("ingest_fsync_per_request_per_s", ingest.sqlitePerRequestFsync.rounded())
        }
        if runs(.delivery) {
            step("delivery")
            let deliveries = quick ? 5_000 : 30_000
            let delivery = try await scenarios.drain(backlog: deliveries, measured: deliveries, name: "delivery")
            let rawDelivery = try await scenarios.rawDelivery(total: deliveries)
            add("delivery_per_s", delivery.rounded())
            add("delivery_raw_per_s", rawDelivery.rounded())
            add("delivery_ratio", delivery / rawDelivery)
        }
        if runs(.e2e) {
            step("end to end at \(rate) events/s")
            let e2e = try await scenarios.endToEnd(rate: rate)
            add("e2e_p50_ms", e2e.p50)
            add("e2e_p99_ms", e2e.p99)
            add("e2e_rate_per_s", count: rate)
        }
        if runs(.replay) {
            step("replay")
            add("replay_10k_ms", try await scenarios.replay(frames: 10_000))
        }
        if runs(.fanout) {
            step("fan-out")
            let fanoutClients = quick ? 1_000 : 10_000
            let fanout = try await scenarios.fanout(clients: fanoutClients)
            add("fanout_10k_ms", fanout.received)
            add("fanout_acknowledged_ms", fanout.acknowledged)
            add("fanout_clients", count: fanoutClients)
        }
        if runs(.gateway) {
            step("gateway: calls forwarded to an upstream")
            let gateway = try await scenarios.gateway(concurrency: clients)
            add("gateway_direct_p50_ms", gateway.direct.p50)
            add("gateway_direct_p99_ms", gateway.direct.p99)
            add("gateway_forward_p50_ms", gateway.forwarded.p50)
            add("gateway_forward_p99_ms", gateway.forwarded.p99)
            add("gateway_added_p50_ms", gateway.forwarded.p50 - gateway.direct.p50)
            add("gateway_added_p99_ms", gateway.forwarded.p99 - gateway.direct.p99)
            add("gateway_forward_per_s", gateway.forwardedPerSecond.rounded())
            add("gateway_direct_per_s", gateway.directPerSecond.rounded())
            add("gateway_ratio", gateway.forwardedPerSecond / gateway.directPerSecond)
        }
        if runs(.console) {
            let deliveries = quick ? 100_000 : 1_000_000
            step("admin console pages over \(deliveries) deliveries")
            let pages = try await scenarios.console(deliveries: deliveries, requests: quick ? 20 : 200)
            let floor = pages.first { $0.name == "static" }?.p99 ?? 1
            for page in pages {
                add("console_\(page.name)_p50_ms", page.p50)
                add("console_\(page.name)_p99_ms", page.p99)
                if page.name != "static" && page.name != "counts_uncached" {
                    add("console_\(page.name)_p99_ratio", page.p99 / max(floor, 0.001))
                }
            }
            add("console_deliveries", count: deliveries)
        }
        report.append(("quick", .bool(quick)))
        if json {
            print(JSONValue.object(report).serialized)
        } else {
            for (key, value) in report {
                print(key.padding(toLength: 44, withPad: " ", startingAt: 0), value.serialized)
            }
        }
    }

    static func round(_ value: Double) -> Double { (value * 100).rounded() / 100 }
}
