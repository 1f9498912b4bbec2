import Foundation
import Logging
import PostgresNIO
import RelayCore
import ServiceLifecycle
import Synchronization

/// ``RelayStorage`` on a PostgreSQL database (`--db postgres://user@host:port/dbname`).
///
/// Writes run one transaction at a time on a writer connection of their own thread, reads on a
/// reader connection with a snapshot of their own (`REPEATABLE READ READ ONLY`). Signals are
/// emitted to this process's subscribers after each commit.
public final class PostgresStorage: RelayStorage {
    /// The URL without its password.
    public let location: String
    /// This relay's name among the relays sharing the database (``RelayConfiguration/nodeID``).
    public let node: String
    private let writer: PostgresSession
    private let reader: PostgresSession
    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private let hub: SignalHub
    private let trouble: Trouble

    private init(
        configuration: PostgresConnection.Configuration, location: String, node: String, serving: Bool, logger: Logger
    ) {
        self.location = location
        self.node = node
        self.logger = logger
        // `pg_stat_activity` shows which relay each connection belongs to.
        var configuration = configuration
        configuration.options.additionalStartupParameters = [("application_name", "bimrelay \(node)")]
        self.configuration = configuration
        let hub = SignalHub()
        let trouble = Trouble()
        self.hub = hub
        self.trouble = trouble
        writer = PostgresSession(
            configuration: configuration, label: "pg-writer", node: node, logger: logger,
            prepare: { connection in
                // The writer's connection holds this relay's liveness lock while it lives (see
                // ``gone(_:tx:)``); no write runs without it. After a lost connection the old
                // session may hold it a moment longer: try for 10 s, then refuse (another relay
                // with the same node id is the likely cause).
                // Only a serving relay has one: the CLI, run next to it under the same node id,
                // holds no lease and no socket.
                guard serving else { return }
                let key = Self.livenessKey(node)
                var taken = false
                for _ in 0..<100 where !taken {
                    taken =
                        try connection.query("SELECT pg_try_advisory_lock(\(key)) AS taken", logger: logger).wait()
                        .rows.first?.makeRandomAccess()["taken"].decode(Bool.self) ?? false
                    if !taken { Thread.sleep(forTimeInterval: 0.1) }
                }
                guard taken else {
                    throw RelayError.database(
                        "another relay process on this database runs with node id \(node): give each its own --node-id"
                    )
                }
                // Another connection before this one: while it was gone the other relays may have
                // taken this relay's sockets for dropped; the stream hub checks them.
                if trouble.connected.exchange(true, ordering: .relaxed) { hub.emit([.resync]) }
            },
            committed: { tx in hub.emit(tx.raised) },
            trouble: { failing in trouble.since.withLock { $0 = failing ? ($0 ?? Date()) : nil } })
        reader = PostgresSession(configuration: configuration, label: "pg-reader", node: node, logger: logger)
    }

    /// What the writer's group commit has committed so far (transactions, writes, the largest batch).
    public var writeStatistics: WriteStatistics { writer.statistics }

    /// Counts statements and transactions in `metrics` from now on (`serve` passes its own).
    public func report(to metrics: RelayMetrics) {
        writer.report(to: metrics)
        reader.report(to: metrics)
    }

    /// Whether `text` names a PostgreSQL database rather than an SQLite file.
    public static func isURL(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    /// Connects to the database at `url` and, per `mode`, migrates it (under an advisory lock, so
    /// several relays may start at once) or checks that it is at this binary's schema version.
    public static func open(
        url: String, mode: RelayDatabase.OpenMode, node: String = RelayConfiguration.hostName, serving: Bool = false,
        logger: Logger
    ) async throws -> PostgresStorage {
        let storage = try await connect(url: url, node: node, serving: serving, logger: logger)
        do {
            switch mode {
            case .createAndMigrate:
                _ = try await storage.migrate()
            case .existing:
                let version = try await storage.schemaVersion()
                try SchemaMigrator.checkUsable(
                    version: version, latest: SchemaMigrator.embeddedPostgres.last?.version ?? 0, path: storage.location
                )
            }
        } catch {
            await storage.close()
            throw error
        }
        return storage
    }

    /// Connects to the database at `url` as relay `node` (nothing is checked or migrated: see ``migrate()``).
    /// - Parameter serving: a relay that serves (`bimrelay serve`) holds its liveness lock on its
    ///   writer connection, so the others can tell when it is gone; the CLI does not.
    public static func connect(
        url: String, node: String = RelayConfiguration.hostName, serving: Bool = false, logger: Logger
    ) async throws -> PostgresStorage {
        let (configuration, location) = try parse(url)
        return PostgresStorage(
            configuration: configuration, location: location, node: node, serving: serving, logger: logger)
    }

    /// Creates (or, with `drop`, removes) database `name` on the server of `url` and returns its
    /// URL: the scratch databases of `bimrelay bench --db` (the role needs CREATEDB).
    @discardableResult
    public static func scratchDatabase(_ name: String, on url: String, drop: Bool = false, logger: Logger)
        async throws -> String
    {
        guard !name.isEmpty, name.utf8.allSatisfy({ (97...122).contains($0) || (48...57).contains($0) || $0 == 95 })
        else { throw RelayError.invalidArgument("\(name): a scratch database name is [a-z0-9_]") }
        let (configuration, _) = try parse(url)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 9, logger: logger)
        do {
            let statement = drop ? "DROP DATABASE IF EXISTS \(name) WITH (FORCE)" : "CREATE DATABASE \(name)"
            _ = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            try await connection.close()
        } catch {
            try? await connection.close()
            throw translate(error, location: "postgres://\(configuration.username)@\(configuration.host ?? "")")
        }
        guard var components = URLComponents(string: url) else { return url + "/" + name }
        components.path = "/" + name
        return components.string ?? url + "/" + name
    }

    /// `postgres://user[:password]@host[:port]/dbname` as a connection configuration, and the URL
    /// without its password (for messages).
    static func parse(_ url: String) throws(RelayError) -> (PostgresConnection.Configuration, String) {
        guard let components = URLComponents(string: url), isURL(url), let host = components.host, !host.isEmpty,
            let user = components.user, !user.isEmpty
        else {
            throw .invalidArgument(
                "--db \(url.split(separator: "@").last ?? ""): not a URL such as postgres://user@host:5432/dbname")
        }
        let database = String(components.path.drop { $0 == "/" })
        let port = components.port ?? 5432
        let configuration = PostgresConnection.Configuration(
            host: host, port: port, username: user, password: components.password,
            database: database.isEmpty ? nil : database, tls: .disable)
        return (configuration, "postgres://\(user)@\(host):\(port)/\(database)")
    }

    /// Applies every PostgreSQL migration newer than the database, each in its own transaction,
    /// holding an advisory lock so that relays starting together apply each file once.
    /// - Returns: the migrations applied now.
    @discardableResult
    public func migrate() async throws -> [Migration] {
        let location = location
        return try await writer.submit { connection in
            let tx = PostgresTransaction(connection: connection, logger: self.logger, node: self.node)
            do {
                try tx.execute("SELECT pg_advisory_lock(\(Self.migrationLock))")
                defer { _ = try? tx.execute("SELECT pg_advisory_unlock(\(Self.migrationLock))") }
                let current = try Self.version(tx)
                let latest = SchemaMigrator.embeddedPostgres.last?.version ?? 0
                if current > latest {
                    throw RelayError.database(
                        "database \(location) is at schema version \(current), newer than this bimrelay (\(latest)): use a newer bimrelay"
                    )
                }
                var applied: [Migration] = []
                for migration in SchemaMigrator.embeddedPostgres where migration.version > current {
                    // One transaction per file, its statements one by one (a prepared statement
                    // holds one command).
                    try tx.execute("BEGIN")
                    for statement in Self.statements(migration.sql) {
                        try tx.execute(PostgresQuery(unsafeSQL: statement))
                    }
                    try tx.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))"
                    )
                    try tx.execute("COMMIT")
                    applied.append(migration)
                }
                return applied
            } catch {
                _ = try? tx.execute("ROLLBACK")
                throw Self.translate(error, location: location)
            }
        }
    }

    /// A migration file's statements: `--` comments dropped, split at each `;` (the files hold no
    /// function bodies or quoted semicolons).
    static func statements(_ sql: String) -> [String] {
        sql.split(separator: "\n").map { line in
            line.range(of: "--").map { String(line[..<$0.lowerBound]) } ?? String(line)
        }.joined(separator: "\n").split(separator: ";").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .filter { !$0.isEmpty }
    }

    /// Listens for the other relays' commits on a connection of its own until cancelled: each
    /// ``ClusterNotice`` from another node becomes local signals. Notifications are not stored, so
    /// every (re)connection signals ``StoreSignal/deliveriesDue`` and ``StoreSignal/resync`` as
    /// well (what was missed is found in the store by the worker and the stream hub).
    func listen(configuration: PostgresConnection.Configuration) async {
        var delay = Duration.milliseconds(200)
        while !Task.isCancelled {
            do {
                let connection = try await PostgresConnection.connect(
                    configuration: configuration, id: 3, logger: logger)
                defer { Task { try? await connection.close() } }
                let notifications = try await connection.listen(ClusterNotice.channel)
                hub.emit([.deliveriesDue, .resync])
                delay = .milliseconds(200)
                for try await notification in notifications {
                    guard let notice = ClusterNotice(payload: notification.payload) else {
                        logger.warning(
                            "a notification from another relay was not understood: is it another bimrelay version?",
                            metadata: ["bytes": "\(notification.payload.utf8.count)"])
                        continue
                    }
                    if notice.node != node { hub.emit(notice.signals) }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning(
                    "listening for other relays failed; polling until it is back",
                    metadata: ["error": "\(Self.translate(error, location: location))"])
            }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(10))
        }
    }

    /// The advisory lock migrations hold (an arbitrary constant of this program).
    static let migrationLock: Int64 = 0x6269_6D72_656C_6179 & 0x7FFF_FFFF_FFFF_FFFF

    private static func version(_ tx: PostgresTransaction) throws -> Int {
        guard let row = try tx.row("SELECT to_regclass('schema_migrations') IS NOT NULL AS present"),
            try row["present"].decode(Bool.self)
        else { return 0 }
        return try tx.row("SELECT coalesce(max(version), 0) AS version FROM schema_migrations")?["version"].decode(
            Int.self) ?? 0
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any StoreTransaction) throws -> T) async throws -> T {
        let (logger, location, node, reader) = (logger, location, node, reader)
        return try await reader.submit { connection in
            let tx = PostgresTransaction(connection: connection, logger: logger, node: node)
            defer { reader.count(jobs: 1, statements: tx.statements) }
            do {
                try tx.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                let value = try body(tx)
                try tx.execute("COMMIT")
                return value
            } catch {
                _ = try? tx.execute("ROLLBACK")
                throw Self.translate(error, location: location)
            }
        }
    }

    /// Runs `body` in a write transaction; an ingest may share it with the ingests submitted
    /// meanwhile (``PostgresSession``'s group commit). Returns once it has committed; the other
    /// relays are notified of what it did (``ClusterNotice``) by the same commit.
    ///
    /// Only ingests are batched: they insert rows of their own, while the worker's writes take
    /// per-service locks and row locks in an order a shared transaction would mix up (two relays'
    /// batches then deadlock).
    public func write<T: Sendable>(
        ingest: Bool, _ body: @escaping @Sendable (any StoreTransaction) throws -> T
    ) async throws -> T {
        do {
            return try await writer.write(batched: ingest) { tx in try body(tx) }
        } catch {
            throw Self.translate(error, location: location)
        }
    }

    public func signals() -> AsyncStream<StoreSignal> { hub.subscribe() }

    public var services: [any Service] { [Lifecycle(storage: self)] }

    public var failingSince: Date? { trouble.since.withLock { $0 } }

    /// Since when writes have been failing in the server or the connection (nil while they
    /// succeed), and whether the writer has had a connection before. A class: the writer's hooks
    /// keep it (a `Mutex` or `Atomic` must not be captured from the stack).
    private final class Trouble: Sendable {
        let since = Mutex<Date?>(nil)
        let connected = Atomic<Bool>(false)
    }

    public func schemaVersion() async throws -> Int {
        let location = location
        return try await reader.submit { connection in
            do {
                return try Self.version(
                    PostgresTransaction(connection: connection, logger: self.logger, node: self.node))
            } catch {
                throw Self.translate(error, location: location)
            }
        }
    }

    /// PostgreSQL keeps its own write-ahead log; the relay does not measure it.
    public var logBytes: Int { 0 }

    /// Nothing to do: autovacuum reclaims deleted rows.
    public func compact() async throws {}

    /// The leader holds a session advisory lock on the writer connection (taken once, kept while
    /// the connection lives; a relay that dies or loses its connection lets another take it).
    public func leads() async throws -> Bool {
        let location = location
        return try await writer.submit { connection in
            let tx = PostgresTransaction(connection: connection, logger: self.logger, node: self.node)
            do {
                // Held already by this session: do not stack it again.
                let held =
                    try tx.row(
                        """
                        SELECT count(*) AS n FROM pg_locks
                        WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
                          AND ((classid::bigint << 32) | objid::bigint) = \(Self.leaderLock)
                        """)?["n"].decode(Int64.self) ?? 0
                if held > 0 { return true }
                return try tx.row("SELECT pg_try_advisory_lock(\(Self.leaderLock)) AS taken")?["taken"].decode(
                    Bool.self)
                    ?? false
            } catch {
                throw Self.translate(error, location: location)
            }
        }
    }

    /// The advisory lock the leader holds (an arbitrary constant of this program).
    static let leaderLock: Int64 = 0x6272_6C65_6164_6572

    /// The advisory lock relay `node`'s writer connection holds while the relay runs: a constant
    /// high half (`brlv`) and a 31-bit FNV-1a hash of the node id. PostgreSQL drops it the moment
    /// that session ends (the process died, or its connection was lost), which is how the others
    /// tell a live relay from a gone one without heartbeats.
    static func livenessKey(_ node: String) -> Int64 {
        var hash: UInt32 = 2_166_136_261
        for byte in node.utf8 {
            hash ^= UInt32(byte)
            hash = hash &* 16_777_619
        }
        return (0x6272_6C76 << 32) | Int64(hash & 0x7FFF_FFFF)
    }

    /// Which of `nodes` have no live relay: their liveness lock is not held in this database
    /// (advisory locks are per database, `pg_locks` shows the whole server's; reading it takes no
    /// lock itself).
    static func gone(_ nodes: [String], tx: PostgresTransaction) throws -> [String] {
        guard !nodes.isEmpty else { return [] }
        let live = Set(
            try tx.rows(
                """
                SELECT (classid::bigint << 32) | objid::bigint AS key FROM pg_locks
                WHERE locktype = 'advisory' AND granted AND objsubid = 1
                  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                  AND ((classid::bigint << 32) | objid::bigint) = ANY(\(nodes.map(livenessKey)))
                """
            ).map { try $0["key"].decode(Int64.self) })
        return nodes.filter { !live.contains(livenessKey($0)) }
    }

    /// Runs `sql` in `tx` (a transaction of this storage): for tests that need a statement no
    /// store offers (`SET TRANSACTION READ ONLY`).
    public func executeForTests(_ tx: any StoreTransaction, _ sql: String) throws {
        guard let tx = tx as? PostgresTransaction else { throw RelayError.database("not a PostgreSQL transaction") }
        try tx.execute(PostgresQuery(unsafeSQL: sql))
    }

    /// Finishes the submitted work and closes both connections.
    public func close() async {
        await writer.stop()
        await reader.stop()
        hub.finish()
    }

    /// PostgreSQL's errors become ``RelayError``s with the server's message (never the query's
    /// values); what a store or its caller throws itself passes unchanged.
    static func translate(_ error: any Error, location: String) -> any Error {
        guard let error = error as? PSQLError else { return error }
        guard let message = error.serverInfo?[.message] else {
            return RelayError.database("database \(location): \(error.code)")
        }
        let state = error.serverInfo?[.sqlState]
        let text = "database \(location): \(message)\(state.map { " (SQLSTATE \($0))" } ?? "")"
        // A deadlock's victim or a serialization failure: the same write may simply be tried again.
        if state == "40P01" || state == "40001" { return RelayError.contention(text) }
        return RelayError.database(text)
    }

    /// Keeps the connections until graceful shutdown, then drains and closes them (after the
    /// services that use the storage have stopped).
    private struct Lifecycle: Service {
        let storage: PostgresStorage

        func run() async throws {
            // The other relays' commits wake this one's worker (no waiting for its poll).
            let listener = Task { await storage.listen(configuration: storage.configuration) }
            try? await gracefulShutdown()
            listener.cancel()
            await storage.close()
        }
    }
}
