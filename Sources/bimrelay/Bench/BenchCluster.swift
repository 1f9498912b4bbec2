import Foundation
import RelayCore
import RelayHarness
import RelayStore

/// `bimrelay bench --db postgres://… [--relays N]`: the same ingest-and-deliver load against the
/// SQLite file, one relay on PostgreSQL and N relays on one PostgreSQL, each relay a real `serve`
/// process, measured in one run: throughput, CPU seconds per 1,000 events (each relay process,
/// and the PostgreSQL server's processes when it runs on this machine), statements and
/// transactions per event (PostgreSQL), and end-to-end latency at a paced rate.
struct ClusterBench: Sendable {
    /// A server URL; the bench creates and drops scratch databases on it.
    let url: String
    let relays: Int
    let quick: Bool
    let clients: Int
    let folder: URL

    /// One configuration's numbers.
    struct Row: Sendable {
        var name: String
        var relays: Int
        var ingestPerSecond = 0.0
        var deliveredPerSecond = 0.0
        /// CPU seconds per 1,000 events of each relay process.
        var relayCPU: [Double] = []
        /// CPU seconds per 1,000 events of the PostgreSQL server's processes (nil: not on this machine, or SQLite).
        var databaseCPU: Double?
        var statementsPerEvent: Double?
        var transactionsPerEvent: Double?
        var p50 = 0.0
        var p99 = 0.0

        /// CPU seconds per 1,000 events of everything measured.
        var totalCPU: Double { relayCPU.reduce(0, +) + (databaseCPU ?? 0) }
    }

    func run() async throws -> [Row] {
        var rows: [Row] = []
        let sqlite = folder.appendingPathComponent("cluster.sqlite").path
        rows.append(try await measure(name: "sqlite", database: sqlite, relays: 1))
        for count in Set([1, relays]).sorted() {
            let name = "bimrelay_bench_\(UInt32.random(in: 0...UInt32.max))"
            let database = try await PostgresStorage.scratchDatabase(name, on: url, logger: quietLogger)
            do {
                rows.append(try await measure(name: "postgres x\(count)", database: database, relays: count))
            } catch {
                try? await PostgresStorage.scratchDatabase(name, on: url, drop: true, logger: quietLogger)
                throw error
            }
            try await PostgresStorage.scratchDatabase(name, on: url, drop: true, logger: quietLogger)
        }
        return rows
    }

    /// Sets `database` up (a service to the bench's receiver, a producer token), starts `relays`
    /// processes on it and measures.
    private func measure(name: String, database: String, relays: Int) async throws -> Row {
        FileHandle.standardError.write(Data("bench: \(name)…\n".utf8))
        let (receiver, port) = try await BenchReceiver.start(recordTimes: true)
        let token = try await Self.prepare(database, serviceURL: "http://127.0.0.1:\(port)")
        var processes: [RelayChild] = []
        defer { for process in processes { process.stop() } }
        for index in 0..<relays {
            processes.append(try await RelayChild.start(database: database, node: "bench\(index)", folder: folder))
        }
        let postgres = PostgresStorage.isURL(database)
        var row = Row(name: name, relays: relays)
        let events = quick ? 2_000 : 20_000
        let urls = processes.map { "http://127.0.0.1:\($0.port)/json" }
        let load = LoadGenerator(connections: clients)
        defer { Task { [load] in await load.shutdown() } }
        // Warm-up (connections, caches), not counted.
        let warm = 200
        _ = try await load.run(urls[0], total: warm, concurrency: min(clients, 8)) {
            BenchScenarios.newRevision(token: token, roid: 1_000_000 + $0, service: "svc")
        }
        guard await waitUntil(timeout: .seconds(60), { receiver.count >= warm }) else {
            throw RelayError.database("\(name): the warm-up was not delivered")
        }

        let cpuBefore = processes.map { CPUTime.of(pid: $0.pid) }
        let databaseBefore = postgres ? CPUTime.ofProcesses(named: "postgres") : nil
        let countersBefore = try await processes.asyncSum { try await $0.databaseCounters() }
        let started = ContinuousClock.now
        let share = max(1, clients / relays)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, url) in urls.enumerated() {
                group.addTask {
                    // Relay `index` takes the roids index, index + relays, …
                    let count = (events - index + relays - 1) / relays
                    let result = try await load.run(url, total: count, concurrency: share) {
                        BenchScenarios.newRevision(token: token, roid: index + $0 * relays, service: "svc")
                    }
                    guard result.accepted == count else {
                        throw RelayError.database("\(name): \(result.accepted) of \(count) acknowledged")
                    }
                }
            }
            try await group.waitForAll()
        }
        row.ingestPerSecond = Double(events) / (ContinuousClock.now - started).seconds
        guard await waitUntil(timeout: .seconds(600), { receiver.count >= warm + events }) else {
            throw RelayError.database("\(name): \(receiver.count - warm) of \(events) delivered")
        }
        row.deliveredPerSecond = Double(events) / (ContinuousClock.now - started).seconds
        let perThousand = 1_000 / Double(events)
        row.relayCPU = zip(processes, cpuBefore).map { (CPUTime.of(pid: $0.pid) - $1) * perThousand }
        if let databaseBefore {
            let used = CPUTime.ofProcesses(named: "postgres") - databaseBefore
            row.databaseCPU = used > 0 ? used * perThousand : nil
        }
        if postgres {
            let counters = try await processes.asyncSum { try await $0.databaseCounters() }
            row.statementsPerEvent = (counters.statements - countersBefore.statements) / Double(events)
            row.transactionsPerEvent = (counters.transactions - countersBefore.transactions) / Double(events)
        }

        // Latency at a paced rate, alternating relays.
        let rate = 200
        let paced = rate * (quick ? 2 : 5)
        let acknowledged = Shared<[Int: ContinuousClock.Instant]>([:])
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<paced {
                try await Task.sleep(until: start + .microseconds(Int64(index) * 1_000_000 / Int64(rate)))
                group.addTask {
                    let roid = 2_000_000 + index
                    if try await load.post(
                        urls[index % urls.count], body: BenchScenarios.newRevision(token: token, roid: roid))
                    {
                        let now = ContinuousClock.now
                        acknowledged.update { $0[roid] = now }
                    }
                }
            }
            try await group.waitForAll()
        }
        _ = await waitUntil(timeout: .seconds(60)) { receiver.count >= warm + events + paced }
        let latencies = acknowledged.value.compactMap { roid, ack -> Double? in
            receiver.arrival(of: Int64(roid)).map { max(0, ($0 - ack).seconds * 1000) }
        }.sorted()
        guard latencies.count == paced else {
            throw RelayError.database("\(name): \(latencies.count) of \(paced) paced events delivered")
        }
        row.p50 = BenchScenarios.percentile(latencies, 0.5)
        row.p99 = BenchScenarios.percentile(latencies, 0.99)
        await receiver.stop()
        return row
    }

    /// Migrates `database`, adds the service `svc` (NEW_REVISION, at `serviceURL`) and returns a producer token.
    static func prepare(_ database: String, serviceURL: String) async throws -> String {
        let storage: any RelayStorage
        var close: () async -> Void = {}
        if PostgresStorage.isURL(database) {
            let postgres = try await PostgresStorage.open(url: database, mode: .createAndMigrate, logger: quietLogger)
            storage = postgres
            close = { await postgres.close() }
        } else {
            storage = SQLiteStorage(
                database: try RelayDatabase.open(path: database, durability: .full, mode: .createAndMigrate))
        }
        let token = try await storage.write { tx in
            var service = ServiceRecord(
                identifier: "svc", name: "Bench service", url: serviceURL, triggers: "NEW_REVISION",
                signingSecret: Secrets.newSigningSecret(), createdAt: Date(), updatedAt: Date())
            service.maxInFlight = RelayConfiguration.defaultMaxInFlight
            _ = try tx.services.add(service)
            return try tx.tokens.issue(user: "bench", role: .producer, projects: nil, now: Date()).token
        }
        await close()
        return token
    }
}

/// A `bimrelay serve` child process of the bench.
struct RelayChild: Sendable {
    let process: ChildProcess
    let port: Int
    var pid: Int32 { process.processIdentifier }

    static func start(database: String, node: String, folder: URL) async throws -> RelayChild {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = [
            "serve", "--db", database, "--host", "127.0.0.1", "--port", "0", "--node-id", node, "--log-level",
            "warning",
        ]
        let output = Pipe()
        process.standardOutput = output
        let log = folder.appendingPathComponent("\(node)-\(UUID().uuidString.prefix(6)).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
        // The first line says where it listens.
        let port = await Task.detached { () -> Int? in
            var line = Data()
            while let byte = try? output.fileHandleForReading.read(upToCount: 1), let first = byte.first {
                if first == 10 { break }
                line.append(first)
            }
            let text = String(decoding: line, as: UTF8.self)
            return text.range(of: "listening on http://127.0.0.1:").flatMap { Int(text[$0.upperBound...]) }
        }.value
        guard let port else {
            process.terminate()
            let logged = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            throw RelayError.database("bench: bimrelay serve did not start: \(logged.suffix(2_000))")
        }
        return RelayChild(process: process, port: port)
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    /// `bimrelay_database_statements_total` and `…_transactions_total`, summed over sessions, from `/metrics`.
    func databaseCounters() async throws -> DatabaseCounters {
        let (status, body) = try await LoadGenerator.get("http://127.0.0.1:\(port)/metrics")
        guard status == 200 else { throw RelayError.database("bench: /metrics answered \(status)") }
        var counters = DatabaseCounters()
        for line in body.split(separator: "\n") where !line.hasPrefix("#") {
            guard let value = line.split(separator: " ").last.flatMap({ Double($0) }) else { continue }
            if line.hasPrefix("bimrelay_database_statements_total") { counters.statements += value }
            if line.hasPrefix("bimrelay_database_transactions_total") { counters.transactions += value }
        }
        return counters
    }
}

struct DatabaseCounters: Sendable {
    var statements = 0.0
    var transactions = 0.0
}

extension Array where Element == RelayChild {
    /// Every child's counters, added up.
    func asyncSum(_ counters: (RelayChild) async throws -> DatabaseCounters) async throws -> DatabaseCounters {
        var total = DatabaseCounters()
        for child in self {
            let one = try await counters(child)
            total.statements += one.statements
            total.transactions += one.transactions
        }
        return total
    }
}

/// CPU seconds (user + system) from `/proc`.
enum CPUTime {
    static let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// CPU seconds used so far by process `pid` (0 when it is gone).
    static func of(pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = stat.lastIndex(of: ")")
        else { return 0 }
        // After "pid (comm) ": state is field 3; utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / ticks
    }

    /// CPU seconds used so far by every process named `name` (its exited children not counted).
    static func ofProcesses(named name: String) -> Double {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap(Int32.init) ?? []
        return pids.reduce(0) { total, pid in
            let comm = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
            return comm == name ? total + of(pid: pid) : total
        }
    }
}

extension ClusterBench {
    /// The rows as a Markdown table, then the projection (labelled as one).
    static func table(_ rows: [Row], cores: Int) -> String {
        func number(_ value: Double?, _ digits: Int = 0) -> String {
            guard let value else { return "n/a" }
            return String(format: "%.\(digits)f", value)
        }
        var lines = [
            "| store | relays | ingest/s | delivered/s | relay CPU s per 1,000 (each) | PostgreSQL CPU s per 1,000 | statements/event | transactions/event | e2e p50 ms | e2e p99 ms |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in rows {
            let relayCPU = row.relayCPU.map { number($0, 3) }.joined(separator: " + ")
            lines.append(
                "| \(row.name) | \(row.relays) | \(number(row.ingestPerSecond)) | \(number(row.deliveredPerSecond)) | \(relayCPU) | \(number(row.databaseCPU, 3)) | \(number(row.statementsPerEvent, 1)) | \(number(row.transactionsPerEvent, 2)) | \(number(row.p50, 1)) | \(number(row.p99, 1)) |"
            )
        }
        lines.append("")
        lines.append(
            "Projection (not a measurement: assumes the work stays CPU-bound and splits evenly, and ignores the WAL flush and lock waits): events/s per core = 1000 / (all CPU s per 1,000 events)."
        )
        for row in rows where row.totalCPU > 0 {
            let perCore = 1_000 / row.totalCPU
            lines.append(
                "- \(row.name): \(number(perCore)) events/s per core; \(cores) cores (this machine) \(number(perCore * Double(cores))), 8 cores \(number(perCore * 8)), 16 cores \(number(perCore * 16))"
            )
        }
        return lines.joined(separator: "\n")
    }
}
