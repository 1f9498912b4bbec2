import Foundation
import Logging
import RelayCore
import RelayServer
import RelayStore
import ServiceLifecycle

/// A relay running in this process (for tests and `bimrelay bench`): the runtime's services in a
/// `ServiceGroup`, started on the configured host and port (0: any free one).
public final class RunningRelay: Sendable {
    /// Everything the relay runs.
    public let runtime: RelayRuntime
    /// The database file it runs over.
    public let database: RelayDatabase
    /// The bound port.
    public let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    private init(
        runtime: RelayRuntime, database: RelayDatabase, port: Int, group: ServiceGroup, task: Task<Void, any Error>
    ) {
        self.runtime = runtime
        self.database = database
        self.port = port
        self.group = group
        self.task = task
    }

    /// Starts a relay over `database` and returns once it listens.
    /// - Parameter runWorker: false leaves the delivery worker out.
    /// - Parameter time: what the relay's background parts take the time from.
    public static func start(
        configuration: RelayConfiguration, database: RelayDatabase, logger: Logger, runWorker: Bool = true,
        time: RelayTime = .system
    ) async throws -> RunningRelay {
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let runtime = RelayRuntime(configuration: configuration, database: database, logger: logger, time: time) {
            port in
            portContinuation.yield(port)
        }
        let services = runtime.services.filter { runWorker || $0 as AnyObject !== runtime.worker }
        let group = ServiceGroup(configuration: .init(services: services, logger: logger))
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            throw RelayError.database("the relay stopped before it listened")
        }
        return RunningRelay(runtime: runtime, database: database, port: port, group: group, task: task)
    }

    /// Stops the relay gracefully and waits until it has.
    public func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}
