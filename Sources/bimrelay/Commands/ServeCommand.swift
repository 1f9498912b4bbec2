import ArgumentParser
import Foundation
import Logging
import Metrics
import RelayCore
import RelayServer
import RelayStore
import ServiceLifecycle

/// `bimrelay serve`: the relay itself.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the relay: JSON API, WebSocket stream and delivery worker over one SQLite file.")

    @OptionGroup var options: ServeOptions

    func run() async throws {
        MallocTuning.apply()
        let environment = ProcessInfo.processInfo.environment
        let configuration = try options.resolve(environment: environment)
        let level = try options.resolveLogLevel(environment: environment)
        LoggingSystem.bootstrap { label in
            switch configuration.logFormat {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return EscapingLogHandler(handler)
            case .json:
                return JSONLogHandler(label: label, logLevel: level)
            }
        }
        let logger = Logger(label: "bimrelay")

        let announce: @Sendable (Int) async -> Void = { port in
            // Tests and scripts wait for this line to learn the port (with --port 0).
            FileHandle.standardOutput.write(Data("bimrelay listening on http://\(configuration.host):\(port)\n".utf8))
        }
        var serveLock: ServeLock?
        let runtime: RelayRuntime
        if PostgresStorage.isURL(configuration.databasePath) {
            let storage = try await PostgresStorage.connect(
                url: configuration.databasePath, node: configuration.resolvedNodeID, serving: true, logger: logger)
            for migration in try await storage.migrate() {
                logger.notice(
                    "applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
            }
            runtime = RelayRuntime(
                configuration: configuration,
                storage: { metrics in
                    storage.report(to: metrics)
                    return storage
                }, logger: logger, onServerRunning: announce)
        } else {
            // Held until the process exits: a second serve on this file is refused.
            serveLock = try ServeLock.acquire(databasePath: configuration.databasePath)
            let database = try RelayDatabase.open(
                path: configuration.databasePath, durability: configuration.durability,
                busyTimeout: configuration.busyTimeout, mode: .createAndMigrate)
            for file in database.tightenedFiles {
                logger.notice("made a database file readable by its owner only (0600)", metadata: ["file": "\(file)"])
            }
            for migration in database.appliedMigrations {
                logger.notice(
                    "applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
            }
            runtime = RelayRuntime(
                configuration: configuration, database: database, logger: logger, onServerRunning: announce)
        }
        // Library metrics (Hummingbird, AsyncHTTPClient) go to the same /metrics page.
        MetricsSystem.bootstrap(runtime.metricsFactory)
        var groupConfiguration = ServiceGroupConfiguration(
            services: runtime.services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // In-flight deliveries end within their timeout; a client that never reads must not hold
        // the process forever. Whatever is unfinished then is released at the next start.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(30)
        groupConfiguration.maximumCancellationDuration = .seconds(5)
        let group = ServiceGroup(configuration: groupConfiguration)
        try await group.run()
        logger.notice("bimrelay stopped")
        withExtendedLifetime(serveLock) {}
    }
}
