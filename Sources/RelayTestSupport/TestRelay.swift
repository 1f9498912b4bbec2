import Foundation
import GRDB
import Logging
import RelayCore
import RelayServer
import RelayStore
import ServiceLifecycle

/// A relay running in-process on 127.0.0.1 and a free port, over a fresh database file.
public final class TestRelay: Sendable {
    /// Everything the relay runs.
    public let runtime: RelayRuntime
    /// The bound port.
    public let port: Int
    /// The folder holding the database.
    public let folder: TemporaryDirectory
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    /// `http://127.0.0.1:<port>`.
    public var baseURL: String { "http://127.0.0.1:\(port)" }
    /// The database.
    public var database: RelayDatabase { runtime.database }
    /// The database file.
    public var databasePath: String { runtime.database.path }

    private init(
        runtime: RelayRuntime, port: Int, folder: TemporaryDirectory, group: ServiceGroup, task: Task<Void, any Error>
    ) {
        self.runtime = runtime
        self.port = port
        self.folder = folder
        self.group = group
        self.task = task
    }

    /// Starts a relay; `configure` adjusts the defaults (host and port are always 127.0.0.1:0).
    /// - Parameter runWorker: false leaves the delivery worker out (what `/health` must notice).
    public static func start(
        configure: (inout RelayConfiguration) -> Void = { _ in }, runWorker: Bool = true
    ) async throws -> TestRelay {
        let folder = try TemporaryDirectory()
        var configuration = RelayConfiguration()
        configuration.databasePath = folder.path("relay.sqlite")
        configure(&configuration)
        configuration.host = "127.0.0.1"
        configuration.port = 0
        let logger = Logger(label: "test-relay") { _ in SwiftLogNoOpLogHandler() }
        let database = try RelayDatabase.open(
            path: configuration.databasePath, durability: configuration.durability, mode: .createAndMigrate)
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let runtime = RelayRuntime(configuration: configuration, database: database, logger: logger) { port in
            portContinuation.yield(port)
        }
        let services = runtime.services.filter { runWorker || $0 as AnyObject !== runtime.worker }
        let group = ServiceGroup(configuration: .init(services: services, logger: logger))
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw PollTimeout(what: "the relay to listen") }
        return TestRelay(runtime: runtime, port: port, folder: folder, group: group, task: task)
    }

    /// Stops the relay gracefully and removes its folder.
    public func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
        folder.remove()
    }

    /// POSTs a body to `/json`.
    public func json(_ body: String, headers: [(String, String)] = []) async throws -> TestResponse {
        try await TestHTTP.request(
            "\(baseURL)/json", method: "POST", headers: [("Content-Type", "application/json")] + headers, body: body)
    }

    /// Issues a token directly in the database and returns it.
    public func issueToken(role: TokenRole, user: String = "test", projects: [Int64]? = nil) async throws -> String {
        try await database.pool.write { db in
            try TokenQueries.issue(db, user: user, role: role, projects: projects, now: Date()).token
        }
    }

    /// Registers a service directly in the database.
    @discardableResult
    public func addService(
        _ identifier: String, url: String = "http://127.0.0.1:9", triggers: [Trigger] = [.newRevision],
        enabled: Bool = true, configure: @Sendable (inout ServiceRecord) -> Void = { _ in }
    ) async throws -> ServiceRecord {
        var service = ServiceRecord(
            identifier: identifier, name: identifier, url: url, triggers: Trigger.listText(triggers),
            signingSecret: Secrets.newSigningSecret(), createdAt: Date(), updatedAt: Date())
        service.enabled = enabled
        configure(&service)
        let candidate = service
        return try await database.pool.write { db in try ServiceQueries.add(db, candidate) }
    }

    /// Counts the rows of a table.
    public func count(_ table: String, where condition: String = "1") async throws -> Int {
        try await database.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table) WHERE \(condition)") ?? 0
        }
    }
}

/// Runs `body` against a fresh in-process relay and stops it afterwards, whatever happens.
public func withTestRelay<T: Sendable>(
    configure: (inout RelayConfiguration) -> Void = { _ in }, _ body: (TestRelay) async throws -> T
) async throws -> T {
    let relay = try await TestRelay.start(configure: configure)
    do {
        let result = try await body(relay)
        await relay.stop()
        return result
    } catch {
        await relay.stop()
        throw error
    }
}

extension TestRelay {
    /// Sends BIMserver's `newRevision` for revision `roid` and checks it was acknowledged.
    public func ingestNewRevision(
        producer: String, poid: Int64 = 131_073, roid: Int64, serviceIdentifier: String = "bimrelay"
    ) async throws {
        let response = try await json(
            BIMserverRequests.newRevision(
                userToken: producer, poid: poid, roid: roid, serviceIdentifier: serviceIdentifier))
        guard response.body == #"{"response":{"result":{}}}"# else {
            throw CommandResult.CommandError.notAnObject("ingest refused: \(response.body)")
        }
    }

    /// The state of one delivery.
    public func deliveryState(_ id: Int64) async throws -> String? {
        try await database.pool.read { db in
            try String.fetchOne(db, sql: "SELECT state FROM deliveries WHERE id = ?", arguments: [id])
        }
    }
}

/// Request bodies as BIMserver sends them.
public enum BIMserverRequests {
    /// `RemoteServiceInterface.newRevision`, exactly as BIMserver's JsonChannel posts it.
    public static func newRevision(userToken: String, poid: Int64, roid: Int64, serviceIdentifier: String) -> String {
        """
        {"request":{"interface":"RemoteServiceInterface","method":"newRevision","parameters":{\
        "poid":\(poid),"roid":\(roid),"soid":196609,"serviceIdentifier":"\(serviceIdentifier)",\
        "profileIdentifier":"default","userToken":"\(userToken)",\
        "token":"3a0e4b1c9d2f","apiUrl":"http://bimserver.example.org:8080"}}}
        """
    }
}
