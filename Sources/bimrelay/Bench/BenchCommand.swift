import ArgumentParser
import Foundation
import RelayCore

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

    func run() async throws {
        BenchScenarios.raiseFileLimit()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bimrelay-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let scenarios = BenchScenarios(folder: folder, quick: quick)
        func step(_ name: String) { FileHandle.standardError.write(Data("bench: \(name)…\n".utf8)) }

        step("backlog with many pending deliveries")
        let (largeBacklog, smallBacklog, measured) = quick ? (100_000, 10_000, 3_000) : (1_000_000, 10_000, 10_000)
        let large = try await scenarios.drain(backlog: largeBacklog, measured: measured, name: "backlog-large")
        let rss = BenchScenarios.peakRSSMegabytes()
        step("backlog with few pending deliveries")
        let small = try await scenarios.drain(backlog: smallBacklog, measured: measured, name: "backlog-small")
        step("delivery")
        let deliveries = quick ? 5_000 : 30_000
        let delivery = try await scenarios.drain(backlog: deliveries, measured: deliveries, name: "delivery")
        let rawDelivery = try await scenarios.rawDelivery(total: deliveries)
        step("ingest")
        let ingest = try await scenarios.ingest(concurrency: clients)
        step("end to end at \(rate) events/s")
        let e2e = try await scenarios.endToEnd(rate: rate)
        step("replay")
        let replay = try await scenarios.replay(frames: 10_000)
        step("fan-out")
        let fanoutClients = quick ? 1_000 : 10_000
        let fanout = try await scenarios.fanout(clients: fanoutClients)

        let ingestRaw = min(ingest.httpCeiling, ingest.sqliteBatched)
        let report: [(String, JSONValue)] = [
            ("ingest_per_s", .double(ingest.relay.rounded())),
            ("ingest_raw_per_s", .double(ingestRaw.rounded())),
            ("ingest_ratio", .double(Self.round(ingest.relay / ingestRaw))),
            ("ingest_http_ceiling_per_s", .double(ingest.httpCeiling.rounded())),
            ("ingest_sqlite_batched_per_s", .double(ingest.sqliteBatched.rounded())),
            ("ingest_fsync_per_request_per_s", .double(ingest.sqlitePerRequestFsync.rounded())),
            ("delivery_per_s", .double(delivery.rounded())),
            ("delivery_raw_per_s", .double(rawDelivery.rounded())),
            ("delivery_ratio", .double(Self.round(delivery / rawDelivery))),
            ("e2e_p50_ms", .double(Self.round(e2e.p50))),
            ("e2e_p99_ms", .double(Self.round(e2e.p99))),
            ("e2e_rate_per_s", .int(Int64(rate))),
            ("backlog_ratio", .double(Self.round(large / small))),
            ("backlog_large_per_s", .double(large.rounded())),
            ("backlog_small_per_s", .double(small.rounded())),
            ("fanout_10k_ms", .double(Self.round(fanout))),
            ("fanout_clients", .int(Int64(fanoutClients))),
            ("replay_10k_ms", .double(Self.round(replay))),
            ("rss_mb", .double(Self.round(rss))),
            ("backlog_rows_for_rss", .int(Int64(largeBacklog))),
            ("quick", .bool(quick)),
        ]
        if json {
            print(JSONValue.object(report).serialized)
        } else {
            for (key, value) in report {
                print(key.padding(toLength: 32, withPad: " ", startingAt: 0), value.serialized)
            }
        }
    }

    static func round(_ value: Double) -> Double { (value * 100).rounded() / 100 }
}
