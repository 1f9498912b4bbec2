import Foundation
import Logging
import RelayCore
import RelayHarness
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
    private let relay: RunningRelay

    /// `http://127.0.0.1:<port>`.
    public var baseURL: String { "http://127.0.0.1:\(port)" }
    /// The database.
    public var database: RelayDatabase { relay.database }
    /// The storage the relay runs over.
    public var storage: any RelayStorage { runtime.storage }
    /// The SQLite storage, for plain SQL checks and the writer's statistics.
    public var sqlite: SQLiteStorage { runtime.storage as! SQLiteStorage }
    /// The database file.
    public var databasePath: String { relay.database.path }

    private init(relay: RunningRelay, folder: TemporaryDirectory) {
        self.relay = relay
        runtime = relay.runtime
        port = relay.port
        self.folder = folder
    }

    /// Starts a relay; `configure` adjusts the defaults (host and port are always 127.0.0.1:0).
    /// - Parameter runWorker: false leaves the delivery worker out (what `/health` must notice).
    /// - Parameter time: the relay's time (a ``ManualClock``'s to move it by hand).
    public static func start(
        configure: (inout RelayConfiguration) -> Void = { _ in }, runWorker: Bool = true, time: RelayTime = .system
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
        let relay = try await RunningRelay.start(
            configuration: configuration, database: database, logger: logger, runWorker: runWorker, time: time)
        return TestRelay(relay: relay, folder: folder)
    }

    /// Stops the relay gracefully and removes its folder.
    public func stop() async {
        await relay.stop()
        folder.remove()
    }

    /// POSTs a body to `/json`.
    public func json(
        _ body: String, headers: [(String, String)] = [], timeout: Duration = .seconds(10)
    ) async throws -> TestResponse {
        try await TestHTTP.request(
            "\(baseURL)/json", method: "POST", headers: [("Content-Type", "application/json")] + headers, body: body,
            timeout: timeout)
    }

    /// Issues a token directly in the database and returns it.
    public func issueToken(role: TokenRole, user: String = "test", projects: [Int64]? = nil) async throws -> String {
        try await storage.write { tx in
            try tx.tokens.issue(user: user, role: role, projects: projects, now: Date()).token
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
        return try await storage.write { tx in try tx.services.add(candidate) }
    }

    /// Moves `clock` (the relay's, see ``start(configure:runWorker:time:)``) forward `step` at a time
    /// until `condition` holds, only while no attempt is in flight: a request the receiver is still
    /// answering must not time out on the moved clock.
    public func advance(
        _ clock: ManualClock, by step: Duration, until what: String, timeout: Duration = .seconds(20),
        _ condition: () async throws -> Bool
    ) async throws {
        try await poll(until: what, timeout: timeout) {
            if try await condition() { return true }
            // Idle: no slot attempting, and no claimed delivery a slot has yet to take.
            if runtime.worker.deliveriesInFlight == 0, try await count("deliveries", where: "state = 'in_flight'") == 0,
                runtime.worker.deliveriesInFlight == 0
            {
                clock.advance(by: step)
            }
            return false
        }
    }

    /// Counts the rows of a table.
    public func count(_ table: String, where condition: String = "1") async throws -> Int {
        try await sqlite.integer("SELECT count(*) FROM \(table) WHERE \(condition)") ?? 0
    }
}

/// Runs `body` against a fresh in-process relay and stops it afterwards, whatever happens.
public func withTestRelay<T: Sendable>(
    configure: (inout RelayConfiguration) -> Void = { _ in }, time: RelayTime = .system,
    _ body: (TestRelay) async throws -> T
) async throws -> T {
    let relay = try await TestRelay.start(configure: configure, time: time)
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
        try await sqlite.text("SELECT state FROM deliveries WHERE id = ?", arguments: [id])
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
